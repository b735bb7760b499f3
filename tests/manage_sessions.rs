//! A person managing their own sessions: the page, the API, revocation that is instant
//! everywhere, CSRF protection, and isolation between users.

mod common;

use std::time::Duration;

use common::browser::{Browser, Page, APP_ORIGIN};
use common::keycloak_admin::KeycloakAdmin;
use common::{app, eventually, figment, TestDb};
use figment::providers::Serialized;
use rocket::http::{Method, Status};
use serde_json::Value;

const FIREFOX_LINUX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
const CHROME_MAC: &str =
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const SAFARI_IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";

#[tokio::test]
async fn alice_sees_each_of_her_devices_and_which_one_she_is_on() {
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;
    let _laptop = Browser::signed_in(&app, "alice", FIREFOX_LINUX).await;
    let mut mac = Browser::signed_in(&app, "alice", CHROME_MAC).await;
    let _phone = Browser::signed_in(&app, "alice", SAFARI_IPHONE).await;

    let sessions = mac.sessions().await;
    let page = mac.get("/sessions").await;

    let labels: Vec<&str> = sessions.iter().map(|s| s["device"]["label"].as_str().expect("label")).collect();
    assert_eq!(sessions.len(), 3);
    for label in ["Firefox on Linux", "Chrome on Mac OSX", "Safari on iPhone"] {
        assert!(labels.contains(&label), "{label} missing from {labels:?}");
        assert!(page.body.contains(label), "{label} missing from the page");
    }
    let current: Vec<&Value> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["device"]["label"], "Chrome on Mac OSX");
    assert_eq!(page.body.matches("This device").count(), 1);
    let row = page.body.split("<tr").find(|row| row.contains("This device")).expect("current row");
    assert!(row.contains("Chrome on Mac OSX"), "{row}");
    assert!(sessions.iter().all(|s| s["ip"] == "127.0.0.1" && s["provider"] == "keycloak"));
}

#[tokio::test]
async fn revoking_one_session_signs_out_that_device_on_its_next_request_only() {
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;
    let mut laptop = Browser::signed_in(&app, "alice", FIREFOX_LINUX).await;
    let mut phone = Browser::signed_in(&app, "alice", SAFARI_IPHONE).await;
    let mut mac = Browser::signed_in(&app, "alice", CHROME_MAC).await;
    let phone_id = phone.current_session_id().await;
    let phone_sid: String = sqlx::query_scalar("SELECT idp_sid FROM sessions WHERE id = $1")
        .bind(uuid::Uuid::parse_str(&phone_id).expect("a session id"))
        .fetch_one(&mut db.connect().await)
        .await
        .expect("the phone's Keycloak session");
    let token = laptop.csrf_token().await;

    let revoked = laptop.post_form(&format!("/sessions/{phone_id}/revoke"), &[("csrf_token", &token)]).await;

    assert_eq!(revoked.status, Status::SeeOther);
    assert_eq!(revoked.location.as_deref(), Some("/sessions"));
    assert!(!phone.is_signed_in().await, "the revoked device is still signed in");
    assert!(laptop.is_signed_in().await && mac.is_signed_in().await);
    // The phone's Keycloak session is ended too, apart from the request (the service
    // account's call). Waiting for it keeps that call from ending the phone's next
    // sign-in half-way, which would only make its owner sign in once more.
    let keycloak = KeycloakAdmin::connect().await;
    let ended =
        eventually(Duration::from_secs(10), || async { !keycloak.session_ids("alice").await.contains(&phone_sid) })
            .await;
    assert!(ended, "the phone's Keycloak session was not ended");
    let next = phone.get("/sessions").await.location.expect("sent to sign-in");
    assert_eq!(next, "/auth/login?return_to=%2Fsessions");
    // The sign-in asks for the password whatever single sign-on session the phone's
    // browser may still hold: a revoked device does not slip back in silently.
    let authorize = phone.get(&next).await.location.expect("authorize URL");
    assert!(authorize.contains("prompt=login"), "{authorize}");
    let callback = phone.keycloak_login(&authorize, "alice", "alice").await;
    assert_eq!(phone.follow(&callback).await.location.as_deref(), Some("/sessions"));
}

#[tokio::test]
async fn revoking_all_others_keeps_only_this_device() {
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;
    let mut laptop = Browser::signed_in(&app, "alice", FIREFOX_LINUX).await;
    let mut phone = Browser::signed_in(&app, "alice", SAFARI_IPHONE).await;
    let mut mac = Browser::signed_in(&app, "alice", CHROME_MAC).await;
    let token = laptop.csrf_token().await;

    let page = laptop.post_form("/sessions/revoke-others", &[("csrf_token", &token)]).await;

    assert_eq!(page.status, Status::SeeOther);
    assert!(laptop.is_signed_in().await);
    assert!(!phone.is_signed_in().await && !mac.is_signed_in().await);
    assert_eq!(laptop.sessions().await.len(), 1);
}

#[tokio::test]
async fn signing_out_everywhere_ends_every_session_including_this_one() {
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;
    let mut laptop = Browser::signed_in(&app, "alice", FIREFOX_LINUX).await;
    let mut phone = Browser::signed_in(&app, "alice", SAFARI_IPHONE).await;
    let mut bob = Browser::signed_in(&app, "bob", CHROME_MAC).await;
    let token = laptop.csrf_token().await;

    let page = laptop.post_form("/sessions/revoke-all", &[("csrf_token", &token)]).await;

    assert_eq!(page.status, Status::SeeOther);
    assert!(page.set_cookies.iter().any(|c| c.starts_with("latchkey_session=;")), "cookie cleared");
    assert!(!laptop.is_signed_in().await && !phone.is_signed_in().await);
    assert!(bob.is_signed_in().await, "bob's session is untouched");
    assert_eq!(db.count("sessions").await, 1);
}

#[tokio::test]
async fn the_json_api_lists_and_revokes() {
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;
    let mut laptop = Browser::signed_in(&app, "alice", FIREFOX_LINUX).await;
    let mut phone = Browser::signed_in(&app, "alice", SAFARI_IPHONE).await;
    let mut mac = Browser::signed_in(&app, "alice", CHROME_MAC).await;
    let phone_id = phone.current_session_id().await;
    let token = laptop.csrf_token().await;
    let headers = [("Origin", APP_ORIGIN), ("X-CSRF-Token", token.as_str())];

    let deleted = laptop.send(Method::Delete, &format!("/api/sessions/{phone_id}"), None, &headers).await;
    assert_eq!(deleted.status, Status::NoContent);
    assert!(!phone.is_signed_in().await);
    let again = laptop.send(Method::Delete, &format!("/api/sessions/{phone_id}"), None, &headers).await;
    assert_eq!(again.status, Status::NotFound);

    let others = laptop.send(Method::Post, "/api/sessions/revoke-others", None, &headers).await;
    assert_eq!(others.status, Status::Ok);
    assert_eq!(others.json()["revoked"], 1);
    assert!(!mac.is_signed_in().await);
    assert_eq!(laptop.sessions().await.len(), 1);
}

#[tokio::test]
async fn bob_can_neither_list_nor_revoke_alices_sessions() {
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;
    let mut alice = Browser::signed_in(&app, "alice", FIREFOX_LINUX).await;
    let mut bob = Browser::signed_in(&app, "bob", CHROME_MAC).await;
    let alice_id = alice.current_session_id().await;
    let token = bob.csrf_token().await;

    let bob_list = bob.sessions().await;
    let bob_page = bob.get("/sessions").await;
    let via_form = bob.post_form(&format!("/sessions/{alice_id}/revoke"), &[("csrf_token", &token)]).await;
    let via_api = bob
        .send(
            Method::Delete,
            &format!("/api/sessions/{alice_id}"),
            None,
            &[("Origin", APP_ORIGIN), ("X-CSRF-Token", &token)],
        )
        .await;

    assert_eq!(bob_list.len(), 1);
    assert!(!bob_page.body.contains(&alice_id) && !bob_page.body.contains("Firefox"));
    assert_eq!(via_form.status, Status::NotFound);
    assert_eq!(via_api.status, Status::NotFound);
    assert_eq!(via_api.json()["error"], "not_found");
    assert!(alice.is_signed_in().await);
    assert_eq!(db.count("sessions").await, 2);
}

#[tokio::test]
async fn a_malformed_session_id_is_not_found_and_changes_nothing() {
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;
    let mut alice = Browser::signed_in(&app, "alice", FIREFOX_LINUX).await;
    let token = alice.csrf_token().await;
    let headers = [("Origin", APP_ORIGIN), ("X-CSRF-Token", token.as_str())];

    for id in ["not-a-uuid", "1%27%20OR%20%271%27=%271", "00000000-0000-0000-0000-000000000000"] {
        let page = alice.send(Method::Delete, &format!("/api/sessions/{id}"), None, &headers).await;
        assert_eq!(page.status, Status::NotFound, "{id}");
        let form = alice.post_form(&format!("/sessions/{id}/revoke"), &[("csrf_token", &token)]).await;
        assert_eq!(form.status, Status::NotFound, "{id}");
    }
    assert_eq!(db.count("sessions").await, 1);
}

async fn assert_csrf_refused(db: &TestDb, page: Page, what: &str) {
    assert_eq!(page.status, Status::Forbidden, "{what}: {}", page.body);
    assert!(page.body.contains("csrf"), "{what}: {}", page.body);
    assert_eq!(db.count("sessions").await, 3, "{what} changed something");
}

#[tokio::test]
async fn state_changes_without_a_valid_csrf_token_or_from_another_origin_are_refused() {
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;
    let mut laptop = Browser::signed_in(&app, "alice", FIREFOX_LINUX).await;
    let mut phone = Browser::signed_in(&app, "alice", SAFARI_IPHONE).await;
    let _mac = Browser::signed_in(&app, "alice", CHROME_MAC).await;
    let phone_id = phone.current_session_id().await;
    let token = laptop.csrf_token().await;
    let phones_token = phone.csrf_token().await;
    let revoke = format!("/sessions/{phone_id}/revoke");
    let form = |token: &str| Some(format!("csrf_token={token}"));

    let missing =
        laptop.send(Method::Post, "/sessions/revoke-others", Some(String::new()), &[("Origin", APP_ORIGIN)]).await;
    assert_csrf_refused(&db, missing, "missing token").await;
    let wrong = laptop.post_form(&revoke, &[("csrf_token", "AAAA")]).await;
    assert_csrf_refused(&db, wrong, "wrong token").await;
    let other_sessions = laptop.post_form(&revoke, &[("csrf_token", &phones_token)]).await;
    assert_csrf_refused(&db, other_sessions, "another session's token").await;
    let cross_origin = laptop.send(Method::Post, &revoke, form(&token), &[("Origin", "https://evil.example")]).await;
    assert_csrf_refused(&db, cross_origin, "cross-origin Origin").await;
    let cross_site = laptop
        .send(Method::Post, &revoke, form(&token), &[("Origin", APP_ORIGIN), ("Sec-Fetch-Site", "cross-site")])
        .await;
    assert_csrf_refused(&db, cross_site, "Sec-Fetch-Site cross-site").await;
    let no_origin = laptop.send(Method::Post, &revoke, form(&token), &[]).await;
    assert_csrf_refused(&db, no_origin, "no Origin at all").await;
    let api_no_header =
        laptop.send(Method::Delete, &format!("/api/sessions/{phone_id}"), None, &[("Origin", APP_ORIGIN)]).await;
    assert_eq!(api_no_header.json()["error"], "csrf");
    assert_csrf_refused(&db, api_no_header, "API without X-CSRF-Token").await;

    // The same request with the right token from this origin goes through.
    let fine = laptop.send(Method::Post, &revoke, form(&token), &[("Sec-Fetch-Site", "same-origin")]).await;
    assert_eq!(fine.status, Status::SeeOther, "{}", fine.body);
    assert_eq!(db.count("sessions").await, 2);
}

#[tokio::test]
async fn a_revoke_on_one_instance_is_seen_by_another_within_moments() {
    let db = TestDb::create().await;
    let instance_a = app(figment(&db)).await;
    let instance_b = app(figment(&db)).await;
    let mut laptop = Browser::signed_in(&instance_a, "alice", FIREFOX_LINUX).await;
    let mut phone = Browser::signed_in(&instance_a, "alice", SAFARI_IPHONE).await;
    let phone_id = phone.current_session_id().await;
    let mut phone_on_b = Browser::new(&instance_b, SAFARI_IPHONE);
    phone_on_b.cookies = phone.cookies.clone();
    assert!(phone_on_b.is_signed_in().await, "a session made on A works on B");

    let token = laptop.csrf_token().await;
    laptop.post_form(&format!("/sessions/{phone_id}/revoke"), &[("csrf_token", &token)]).await;

    // B hears of it from PostgreSQL (its cache, if it had one, drops the session).
    let refused = common::eventually(Duration::from_secs(1), || async {
        !Browser::with_cookies(&instance_b, &phone_on_b).is_signed_in().await
    })
    .await;
    assert!(refused, "B still accepts a session revoked on A");
}

#[tokio::test]
async fn last_seen_moves_at_most_once_per_activity_interval() {
    let db = TestDb::create().await;
    let app = app(figment(&db).merge(Serialized::global("auth.session.activity_interval", "2s"))).await;
    let mut alice = Browser::signed_in(&app, "alice", FIREFOX_LINUX).await;
    let last_seen = |sessions: Vec<Value>| sessions[0]["last_seen_at"].as_str().map(str::to_string);
    let first = last_seen(alice.sessions().await);

    for _ in 0..5 {
        alice.get("/api/session").await;
    }
    let unchanged = last_seen(alice.sessions().await);
    tokio::time::sleep(Duration::from_millis(2200)).await;
    alice.get("/api/session").await;
    let moved = last_seen(alice.sessions().await);

    assert_eq!(unchanged, first, "last_seen_at moved within activity_interval");
    assert_ne!(moved, first, "last_seen_at did not move after activity_interval");
}

/// Adds `count` live sessions of the person with this email, the k-th last active k
/// minutes ago, straight into the database.
async fn seed_sessions(db: &TestDb, email: &str, count: i32) {
    sqlx::query(
        "INSERT INTO sessions (token_hash, user_id, expires_at, absolute_expires_at, created_at, last_seen_at,
                               user_agent, ip, provider)
         SELECT sha256(convert_to('seeded-' || k, 'UTF8')), u.id, now() + interval '1 day', now() + interval '2 days',
                now() - k * interval '1 minute' - interval '1 hour', now() - k * interval '1 minute',
                $3, '10.0.0.7', 'keycloak'
           FROM users u, generate_series(1, $2) AS k
          WHERE u.email = $1",
    )
    .bind(email)
    .bind(count)
    .bind(CHROME_MAC)
    .execute(&mut db.connect().await)
    .await
    .expect("seed sessions");
}

fn ids(listing: &Value) -> Vec<String> {
    let sessions = listing["sessions"].as_array().expect("sessions");
    sessions.iter().map(|s| s["id"].as_str().expect("id").to_string()).collect()
}

#[tokio::test]
async fn many_sessions_are_listed_a_page_at_a_time_this_device_first() {
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;
    let mut alice = Browser::signed_in(&app, "alice", FIREFOX_LINUX).await;
    seed_sessions(&db, "alice@example.com", 120).await;
    let current = alice.current_session_id().await;

    let first = alice.get("/api/sessions").await.json();
    assert_eq!(
        (first["total"].as_u64(), first["pages"].as_u64(), first["per_page"].as_u64()),
        (Some(121), Some(3), Some(50))
    );
    assert_eq!(first["sessions"][0]["id"], current.as_str());
    assert_eq!(first["sessions"][0]["current"], true);
    let seen: Vec<&str> = first["sessions"].as_array().expect("rows")[1..]
        .iter()
        .map(|s| s["last_seen_at"].as_str().expect("last_seen_at"))
        .collect();
    let mut newest_first = seen.clone();
    newest_first.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, newest_first, "not the most recently active first");

    let mut all = ids(&first);
    for page in [2, 3] {
        let listing = alice.get(&format!("/api/sessions?page={page}")).await.json();
        assert_eq!(listing["page"], page);
        all.extend(ids(&listing));
    }
    assert_eq!(all.len(), 121);
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 121, "a session listed twice or missed");

    let html = alice.get("/sessions").await;
    assert_eq!(html.status, Status::Ok);
    assert_eq!(html.body.matches("data-session-id=").count(), 50);
    assert!(html.body.contains("Page 1 of 3 (121 sessions)"), "{}", html.body);
    assert!(html.body.contains(r#"href="/sessions?page=2" rel="next""#));
    assert!(html.body.contains(&format!(r#"data-session-id="{current}""#)));
    let last = alice.get("/sessions?page=3").await;
    assert_eq!(last.body.matches("data-session-id=").count(), 21);
    assert!(last.body.contains(r#"href="/sessions?page=2" rel="prev""#) && !last.body.contains(r#"rel="next""#));
    assert!(!last.body.contains(&format!(r#"data-session-id="{current}""#)));
}

#[tokio::test]
async fn a_bad_or_missing_page_of_sessions_is_refused_and_changes_nothing() {
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;
    let mut alice = Browser::signed_in(&app, "alice", FIREFOX_LINUX).await;
    seed_sessions(&db, "alice@example.com", 3).await;

    for page in ["0", "-1", "abc", "1.5", "", "99999999999", "100001"] {
        for base in ["/sessions", "/api/sessions"] {
            let answer = alice.get(&format!("{base}?page={page}")).await;
            assert_eq!(answer.status, Status::BadRequest, "{base}?page={page}");
            assert!(answer.body.contains("bad_request"), "{base}?page={page}: {}", answer.body);
        }
    }
    for base in ["/sessions", "/api/sessions"] {
        let past_the_end = alice.get(&format!("{base}?page=2")).await;
        assert_eq!(past_the_end.status, Status::NotFound, "{base}?page=2");
    }
    assert_eq!(db.count("sessions").await, 4);
    assert!(alice.is_signed_in().await);
    assert_eq!(alice.sessions().await.len(), 4);
}

#[tokio::test]
async fn signing_in_again_in_the_same_browser_ends_the_session_it_had() {
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;
    let mut browser = Browser::signed_in(&app, "alice", FIREFOX_LINUX).await;
    let before = browser.current_session_id().await;
    let old_cookie = browser.session_cookie().cloned().expect("cookie");

    // Keycloak's single sign-on answers at once; the app makes a new session.
    let authorize = browser.start_sign_in("/").await;
    let callback = browser.idp_redirect(&authorize).await;
    assert_eq!(browser.follow(&callback).await.status, Status::SeeOther);

    let after = browser.current_session_id().await;
    assert_ne!(after, before);
    assert_eq!(db.count("sessions").await, 1, "the earlier session ended with the new sign-in");
    let mut leaked = Browser::new(&app, "elsewhere");
    leaked.cookies.insert("latchkey_session".into(), old_cookie);
    assert!(!leaked.is_signed_in().await, "the old cookie still signs in");
}

#[tokio::test]
async fn a_person_keeps_at_most_max_per_user_sessions_and_the_oldest_end() {
    let db = TestDb::create().await;
    let app = app(figment(&db).merge(Serialized::global("auth.session.max_per_user", 2))).await;
    let mut first = Browser::signed_in(&app, "alice", FIREFOX_LINUX).await;
    let mut second = Browser::signed_in(&app, "alice", CHROME_MAC).await;
    let mut bob = Browser::signed_in(&app, "bob", FIREFOX_LINUX).await;

    let mut third = Browser::signed_in(&app, "alice", SAFARI_IPHONE).await;

    assert!(!first.is_signed_in().await, "the oldest session outlived the cap");
    assert!(second.is_signed_in().await && third.is_signed_in().await && bob.is_signed_in().await);
    assert_eq!(third.sessions().await.len(), 2);
}
