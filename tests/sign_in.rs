//! Sign-in through the real Keycloak: what it writes, the cookie it sets, and the guard.

mod common;

use common::browser::Browser;
use common::{app, figment, TestDb};
use rocket::http::Status;
use sqlx::Row;

#[tokio::test]
async fn alice_signs_in_and_the_rows_are_as_expected() {
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;
    let mut alice = Browser::new(&app, "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0");

    let callback = alice.sign_in("alice", "alice", "/sessions?tab=all").await;

    assert_eq!(callback.status, Status::SeeOther, "{}", callback.body);
    assert_eq!(callback.location.as_deref(), Some("/sessions?tab=all"));
    let token = alice.session_cookie().expect("session cookie set").clone();
    let mut connection = db.connect().await;
    let user = sqlx::query("SELECT id, name, email, email_verified FROM users")
        .fetch_one(&mut connection)
        .await
        .expect("user");
    assert_eq!(user.get::<Option<String>, _>("name").as_deref(), Some("Alice Liddell"));
    assert_eq!(user.get::<Option<String>, _>("email").as_deref(), Some("alice@example.com"));
    assert!(user.get::<Option<chrono::DateTime<chrono::Utc>>, _>("email_verified").is_some());
    let account = sqlx::query(
        "SELECT provider, provider_account_id, access_token, id_token, token_type, session_state FROM accounts",
    )
    .fetch_one(&mut connection)
    .await
    .expect("account");
    assert_eq!(account.get::<String, _>("provider"), "keycloak");
    assert!(!account.get::<String, _>("provider_account_id").is_empty());
    assert!(account.get::<Option<String>, _>("access_token").is_some());
    assert!(account.get::<Option<String>, _>("id_token").is_some());
    assert!(account.get::<Option<String>, _>("session_state").is_some());
    let session = sqlx::query(
        "SELECT token_hash, user_agent, host(ip) AS ip, provider, idp_sid, id_token,
                expires_at > now() + interval '29 days' AS sliding_ok,
                absolute_expires_at > now() + interval '89 days' AS absolute_ok
           FROM sessions",
    )
    .fetch_one(&mut connection)
    .await
    .expect("session");
    let hash: Vec<u8> = session.get("token_hash");
    assert_eq!(hash, <sha2::Sha256 as sha2::Digest>::digest(token.as_bytes()).to_vec());
    assert_ne!(hash, token.as_bytes());
    assert_eq!(
        session.get::<Option<String>, _>("user_agent").as_deref(),
        Some("Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0")
    );
    assert_eq!(session.get::<Option<String>, _>("ip").as_deref(), Some("127.0.0.1"));
    assert!(session.get::<Option<String>, _>("idp_sid").is_some(), "the sid claim is kept for back-channel logout");
    assert!(session.get::<Option<String>, _>("id_token").is_some());
    assert!(session.get::<bool, _>("sliding_ok") && session.get::<bool, _>("absolute_ok"));
}

#[tokio::test]
async fn the_session_cookie_is_httponly_lax_and_host_wide() {
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;
    let mut alice = Browser::new(&app, "test");

    let callback = alice.sign_in("alice", "alice", "/").await;

    let cookie = callback.set_cookies.iter().find(|c| c.starts_with("latchkey_session=")).expect("session cookie");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(cookie.contains("Path=/"), "{cookie}");
    assert!(!cookie.contains("Secure"), "plain http must not get Secure: {cookie}");
    assert!(cookie.contains("Max-Age=2592000"), "{cookie}");
}

#[tokio::test]
async fn the_guarded_home_page_and_api_show_the_signed_in_user() {
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;
    let mut alice = Browser::new(&app, "test");
    alice.sign_in("alice", "alice", "/").await;

    let home = alice.get("/").await;
    let api = alice.get("/api/session").await;

    assert_eq!(home.status, Status::Ok);
    assert!(home.body.contains("Alice Liddell") && home.body.contains("alice@example.com"), "{}", home.body);
    assert_eq!(api.status, Status::Ok);
    let json = api.json();
    assert_eq!(json["user"]["name"], "Alice Liddell");
    assert_eq!(json["user"]["email"], "alice@example.com");
    assert!(json["user"]["id"].is_string() && json["expires"].is_string(), "{json}");
}

#[tokio::test]
async fn without_a_session_pages_redirect_to_sign_in_and_the_api_answers_401() {
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;
    let mut stranger = Browser::new(&app, "test");

    let page = stranger.get("/?tab=1").await;
    let api = stranger.get("/api/session").await;

    assert_eq!(page.status, Status::SeeOther);
    assert_eq!(page.location.as_deref(), Some("/auth/login?return_to=%2F%3Ftab%3D1"));
    assert_eq!(api.status, Status::Unauthorized);
    assert_eq!(api.json()["error"], "unauthenticated");
}

#[tokio::test]
async fn over_https_the_cookie_is_secure_with_the_host_prefix() {
    let db = TestDb::create().await;
    let https = figment(&db).merge(figment::providers::Serialized::global("auth.base_url", "https://127.0.0.1:8443"));
    let app = app(https).await;
    let mut alice = Browser::new(&app, "test");

    let callback = alice.sign_in("alice", "alice", "/").await;

    assert_eq!(callback.status, Status::SeeOther, "{}", callback.body);
    let cookie =
        callback.set_cookies.iter().find(|c| c.starts_with("__Host-latchkey_session=")).expect("__Host- cookie");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Secure"] {
        assert!(cookie.contains(attribute), "{attribute} missing: {cookie}");
    }
    assert!(!cookie.contains("Domain"), "__Host- cookies carry no Domain: {cookie}");
    assert_eq!(alice.get("/api/session").await.status, Status::Ok);
}

#[tokio::test]
async fn over_https_the_sign_in_flow_cookie_is_host_prefixed_so_no_other_origin_can_plant_one() {
    let db = TestDb::create().await;
    let https = figment(&db).merge(figment::providers::Serialized::global("auth.base_url", "https://127.0.0.1:8443"));
    let app = app(https).await;
    let mut alice = Browser::new(&app, "test");

    let login = alice.get("/auth/login?return_to=%2F").await;

    let flow = login.set_cookies.iter().find(|c| c.contains("latchkey_flow_")).expect("a flow cookie");
    assert!(flow.starts_with("__Host-latchkey_flow_"), "{flow}");
    for attribute in ["Secure", "Path=/;", "HttpOnly"] {
        assert!(flow.contains(attribute) || flow.ends_with(attribute.trim_end_matches(';')), "{attribute}: {flow}");
    }
    assert!(!flow.contains("Domain"), "{flow}");
    // A flow cookie of the plain name (as a sibling subdomain could set) is not read.
    let planted: Vec<(String, String)> = alice
        .cookies
        .iter()
        .map(|(name, value)| (name.trim_start_matches("__Host-").to_string(), value.clone()))
        .collect();
    let mut victim = Browser::new(&app, "test");
    victim.cookies = planted.into_iter().collect();
    let callback = alice.keycloak_login(login.location.as_deref().expect("authorize"), "alice", "alice").await;
    let refused = victim.follow(&callback).await;
    assert_eq!(refused.status, Status::BadRequest, "{}", refused.body);
    assert!(refused.body.contains("flow_expired"), "{}", refused.body);
}
