//! Keycloak's roles and groups on the session, the guards that require them, and the
//! admin console for holders of `latchkey-admin`: against the real Keycloak (alice holds
//! the role, bob does not), with the stand-in provider only for tokens Keycloak will not
//! issue (forged, expired, or with roles at a claim path of the test's choosing).

mod common;

use common::browser::{Browser, Page, APP_ORIGIN};
use common::fake_idp::{browser_signed_in_with, setup, with, FakeIdp, Signer};
use common::keycloak_admin::KeycloakAdmin;
use common::{app, figment, TestDb};
use latchkey::{ClientRole, InGroup, Latchkey, Profile, RealmRole, Refusal, SignIn};
use rocket::http::{Method, Status};
use rocket::local::asynchronous::Client;
use rocket::{get, routes, Orbit, Rocket};
use serde_json::{json, Value};

const LAPTOP: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
const PHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";

/// An API change request from `browser`, with its Origin and CSRF token.
async fn api_change(browser: &mut Browser<'_>, method: Method, uri: &str) -> Page {
    let token = browser.csrf_token().await;
    browser.send(method, uri, None, &[("Origin", APP_ORIGIN), ("X-CSRF-Token", &token)]).await
}

/// The user id of the person signed in on `browser`.
async fn user_id(browser: &mut Browser<'_>) -> String {
    browser.get("/api/session").await.json()["user"]["id"].as_str().expect("user id").to_string()
}

/// The admin API's entry for the user with `email`.
async fn listed_user(admin: &mut Browser<'_>, email: &str) -> Value {
    let page = admin.get(&format!("/api/admin/users?q={email}")).await;
    assert_eq!(page.status, Status::Ok, "{}", page.body);
    let users = page.json()["users"].as_array().cloned().expect("users");
    users.into_iter().find(|user| user["email"] == email).unwrap_or_else(|| panic!("{email} not listed"))
}

fn assert_forbidden(page: &Page, what: &str) {
    assert_eq!(page.status, Status::Forbidden, "{what}: {}", page.body);
    assert!(page.body.contains("forbidden"), "{what}: {}", page.body);
}

#[tokio::test]
async fn the_session_carries_keycloaks_realm_roles_client_roles_and_groups() {
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;
    let mut alice = Browser::signed_in(&app, "alice", LAPTOP).await;
    let mut bob = Browser::signed_in(&app, "bob", LAPTOP).await;

    let alice_roles = alice.get("/api/session").await.json()["user"]["roles"].clone();
    let bob_roles = bob.get("/api/session").await.json()["user"]["roles"].clone();
    let home = alice.get("/").await;

    let realm: Vec<&str> = alice_roles["realm"].as_array().expect("realm").iter().filter_map(Value::as_str).collect();
    assert!(realm.contains(&"latchkey-admin"), "{alice_roles}");
    assert_eq!(alice_roles["client"], json!(["editor"]));
    assert_eq!(alice_roles["groups"], json!(["engineering"]));
    assert!(!bob_roles["realm"].as_array().expect("realm").contains(&json!("latchkey-admin")), "{bob_roles}");
    assert_eq!(bob_roles["client"], json!([]));
    assert_eq!(bob_roles["groups"], json!(["sales"]));
    assert!(home.body.contains(">latchkey-admin<") && home.body.contains(">engineering<"), "{}", home.body);
    // Only the admin sees the way to the console.
    assert!(home.body.contains("href=\"/admin\""));
    assert!(!bob.get("/").await.body.contains("href=\"/admin\""));
}

#[tokio::test]
async fn a_realm_role_granted_or_removed_in_keycloak_changes_what_the_next_sign_in_may_reach() {
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;
    let keycloak = KeycloakAdmin::connect().await;
    let username = keycloak.create_user().await;

    let mut before = Browser::signed_in(&app, &username, LAPTOP).await;
    let refused = before.get("/admin").await;
    keycloak.grant_realm_role(&username, "latchkey-admin").await;
    // A session holds what its own sign-in proved: the grant counts from the next one.
    let still_refused = before.get("/api/admin/users").await;
    let mut granted = Browser::signed_in(&app, &username, PHONE).await;
    let console = granted.get("/admin").await;
    keycloak.remove_realm_role(&username, "latchkey-admin").await;
    let mut removed = Browser::signed_in(&app, &username, LAPTOP).await;
    let refused_again = removed.get("/api/admin/users").await;
    keycloak.delete_user(&username).await;

    assert_forbidden(&refused, "before the grant");
    assert_forbidden(&still_refused, "the session signed in before the grant");
    assert_eq!(console.status, Status::Ok, "{}", console.body);
    assert!(console.body.contains("<h1 id=\"admin-title\">Users</h1>"));
    assert_forbidden(&refused_again, "after the removal");
}

#[tokio::test]
async fn bob_is_forbidden_on_every_admin_page_and_api_and_nothing_changes() {
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;
    let mut alice = Browser::signed_in(&app, "alice", LAPTOP).await;
    let mut bob = Browser::signed_in(&app, "bob", PHONE).await;
    let (alice_id, alice_session) = (user_id(&mut alice).await, alice.current_session_id().await);
    let token = bob.csrf_token().await;
    let headers = [("Origin", APP_ORIGIN), ("X-CSRF-Token", token.as_str())];

    let pages = [
        bob.get("/admin").await,
        bob.get("/admin?q=alice").await,
        bob.get(&format!("/admin/users/{alice_id}")).await,
        bob.post_form(&format!("/admin/users/{alice_id}/sessions/{alice_session}/revoke"), &[("csrf_token", &token)])
            .await,
        bob.post_form(&format!("/admin/users/{alice_id}/revoke-all"), &[("csrf_token", &token)]).await,
    ];
    let apis = [
        bob.get("/api/admin/users").await,
        bob.get(&format!("/api/admin/users/{alice_id}/sessions")).await,
        bob.send(Method::Delete, &format!("/api/admin/users/{alice_id}/sessions/{alice_session}"), None, &headers)
            .await,
        bob.send(Method::Post, &format!("/api/admin/users/{alice_id}/revoke-all"), None, &headers).await,
    ];

    for page in &pages {
        assert_forbidden(page, "admin page");
        assert!(page.body.contains("<!DOCTYPE html>") || page.body.contains("<!doctype html>"), "{}", page.body);
    }
    for api in &apis {
        assert_forbidden(api, "admin API");
        assert_eq!(api.json()["error"], "forbidden");
    }
    assert!(alice.is_signed_in().await && bob.is_signed_in().await);
}

#[tokio::test]
async fn signed_out_visitors_are_sent_to_sign_in_and_the_api_answers_401() {
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;
    let mut stranger = Browser::new(&app, LAPTOP);

    let page = stranger.get("/admin?q=bob").await;
    let api = stranger.get("/api/admin/users").await;

    assert_eq!(page.status, Status::SeeOther);
    assert_eq!(page.location.as_deref(), Some("/auth/login?return_to=%2Fadmin%3Fq%3Dbob"));
    assert_eq!(api.status, Status::Unauthorized);
    assert_eq!(api.json()["error"], "unauthenticated");
}

#[tokio::test]
async fn the_admin_lists_users_with_live_session_counts_and_searches_by_email() {
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;
    let mut alice = Browser::signed_in(&app, "alice", LAPTOP).await;
    let _bob_laptop = Browser::signed_in(&app, "bob", LAPTOP).await;
    let _bob_phone = Browser::signed_in(&app, "bob", PHONE).await;

    let everyone = alice.get("/api/admin/users").await.json();
    let searched = alice.get("/api/admin/users?q=BOB%40example").await.json();
    let page = alice.get("/admin?q=bob%40").await;
    let nobody = alice.get("/api/admin/users?q=%25").await.json();

    assert_eq!(everyone["total"], 2);
    let counts: Vec<(&str, i64)> = everyone["users"]
        .as_array()
        .expect("users")
        .iter()
        .map(|user| (user["email"].as_str().expect("email"), user["live_sessions"].as_i64().expect("count")))
        .collect();
    assert_eq!(counts, [("alice@example.com", 1), ("bob@example.com", 2)]);
    assert_eq!(searched["total"], 1);
    assert_eq!(searched["users"][0]["email"], "bob@example.com");
    assert_eq!(page.status, Status::Ok);
    assert!(page.body.contains("bob@example.com") && !page.body.contains("alice@example.com</a>"), "{}", page.body);
    let row = page.body.split("<tr").find(|row| row.contains("bob@example.com")).expect("bob's row");
    assert!(row.contains("<td class=\"live-sessions\">2</td>"), "{row}");
    // `%` is a character searched for, not a wildcard.
    assert_eq!(nobody["total"], 0);
}

#[tokio::test]
async fn the_admin_sees_one_users_sessions_with_device_ip_and_activity() {
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;
    let mut alice = Browser::signed_in(&app, "alice", LAPTOP).await;
    let mut bob = Browser::signed_in(&app, "bob", PHONE).await;
    let bob_id = user_id(&mut bob).await;

    let api = alice.get(&format!("/api/admin/users/{bob_id}/sessions")).await.json();
    let page = alice.get(&format!("/admin/users/{bob_id}")).await;

    assert_eq!(api["user"]["email"], "bob@example.com");
    assert_eq!(api["total"], 1);
    let session = &api["sessions"][0];
    assert_eq!(session["device"]["label"], "Safari on iPhone");
    assert_eq!(session["ip"], "127.0.0.1");
    assert_eq!(session["current"], false);
    assert!(session["last_seen_at"].is_string() && session["expires_at"].is_string(), "{session}");
    assert_eq!(page.status, Status::Ok);
    assert!(page.body.contains("Safari on iPhone") && page.body.contains("127.0.0.1"), "{}", page.body);
    assert!(
        page.body.contains("Revoke all of this user&#x27;s sessions")
            || page.body.contains("Revoke all of this user's sessions")
    );
}

#[tokio::test]
async fn unknown_users_and_malformed_ids_and_searches_are_clear_errors() {
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;
    let mut alice = Browser::signed_in(&app, "alice", LAPTOP).await;
    let alice_id = user_id(&mut alice).await;
    let long = "a".repeat(257);

    let unknown = alice.get(&format!("/api/admin/users/{}/sessions", uuid::Uuid::new_v4())).await;
    let malformed = alice.get("/api/admin/users/not-a-uuid/sessions").await;
    let too_long = alice.get(&format!("/api/admin/users?q={long}")).await;
    let past_the_end = alice.get("/api/admin/users?page=9").await;
    let someone_elses = api_change(
        &mut alice,
        Method::Delete,
        &format!("/api/admin/users/{alice_id}/sessions/{}", uuid::Uuid::new_v4()),
    )
    .await;

    assert_eq!((unknown.status, unknown.json()["error"].clone()), (Status::NotFound, json!("not_found")));
    // An id that cannot exist is simply not there, as for a person's own sessions.
    assert_eq!(malformed.status, Status::NotFound, "{}", malformed.body);
    assert_eq!((too_long.status, too_long.json()["error"].clone()), (Status::BadRequest, json!("bad_request")));
    assert_eq!(past_the_end.status, Status::NotFound);
    assert_eq!(someone_elses.status, Status::NotFound);
    assert!(alice.is_signed_in().await);
}

#[tokio::test]
async fn the_admin_revokes_one_of_bobs_sessions_and_that_device_alone_is_signed_out() {
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;
    let mut alice = Browser::signed_in(&app, "alice", LAPTOP).await;
    let mut bob_laptop = Browser::signed_in(&app, "bob", LAPTOP).await;
    let mut bob_phone = Browser::signed_in(&app, "bob", PHONE).await;
    let bob_id = user_id(&mut bob_laptop).await;
    let (laptop_session, phone_session) = (bob_laptop.current_session_id().await, bob_phone.current_session_id().await);
    let token = alice.csrf_token().await;

    let by_page = alice
        .post_form(&format!("/admin/users/{bob_id}/sessions/{phone_session}/revoke"), &[("csrf_token", &token)])
        .await;
    let phone_out = !bob_phone.is_signed_in().await;
    let laptop_in = bob_laptop.is_signed_in().await;
    let by_api =
        api_change(&mut alice, Method::Delete, &format!("/api/admin/users/{bob_id}/sessions/{laptop_session}")).await;

    assert_eq!(by_page.status, Status::SeeOther);
    assert_eq!(by_page.location, Some(format!("/admin/users/{bob_id}")));
    assert!(phone_out && laptop_in, "phone signed out: {phone_out}, laptop still in: {laptop_in}");
    assert_eq!(by_api.status, Status::NoContent, "{}", by_api.body);
    assert!(!bob_laptop.is_signed_in().await);
    assert!(alice.is_signed_in().await);
}

#[tokio::test]
async fn the_admin_revokes_every_session_of_bob() {
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;
    let mut alice = Browser::signed_in(&app, "alice", LAPTOP).await;
    let mut bob_laptop = Browser::signed_in(&app, "bob", LAPTOP).await;
    let mut bob_phone = Browser::signed_in(&app, "bob", PHONE).await;
    let bob_id = user_id(&mut bob_laptop).await;

    let answer = api_change(&mut alice, Method::Post, &format!("/api/admin/users/{bob_id}/revoke-all")).await;

    assert_eq!(answer.status, Status::Ok, "{}", answer.body);
    assert_eq!(answer.json()["revoked"], 2);
    assert_eq!(answer.json()["signed_out"], false);
    assert!(!bob_laptop.is_signed_in().await && !bob_phone.is_signed_in().await);
    assert_eq!(listed_user(&mut alice, "bob@example.com").await["live_sessions"], 0);
    assert!(alice.is_signed_in().await);
}

#[tokio::test]
async fn admin_changes_need_the_sessions_csrf_token() {
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;
    let mut alice = Browser::signed_in(&app, "alice", LAPTOP).await;
    let mut bob = Browser::signed_in(&app, "bob", PHONE).await;
    let (bob_id, bob_session) = (user_id(&mut bob).await, bob.current_session_id().await);
    let wrong = [("Origin", APP_ORIGIN), ("X-CSRF-Token", "not-the-token")];

    let form = alice
        .post_form(&format!("/admin/users/{bob_id}/sessions/{bob_session}/revoke"), &[("csrf_token", "nope")])
        .await;
    let all = alice.post_form(&format!("/admin/users/{bob_id}/revoke-all"), &[]).await;
    let api =
        alice.send(Method::Delete, &format!("/api/admin/users/{bob_id}/sessions/{bob_session}"), None, &wrong).await;
    let token = alice.csrf_token().await;
    let cross_site = alice
        .send(
            Method::Post,
            &format!("/api/admin/users/{bob_id}/revoke-all"),
            None,
            &[("Origin", "https://evil.example"), ("X-CSRF-Token", &token)],
        )
        .await;

    for page in [&form, &all, &api, &cross_site] {
        assert_eq!(page.status, Status::Forbidden, "{}", page.body);
        assert!(page.body.contains("csrf"), "{}", page.body);
    }
    assert!(bob.is_signed_in().await);
}

#[tokio::test]
async fn an_admin_revoking_their_own_current_session_is_signed_out_as_by_sign_out() {
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;
    let mut by_page = Browser::signed_in(&app, "alice", LAPTOP).await;
    let mut by_api = Browser::signed_in(&app, "alice", PHONE).await;
    let alice_id = user_id(&mut by_page).await;
    let (page_session, api_session) = (by_page.current_session_id().await, by_api.current_session_id().await);
    let token = by_page.csrf_token().await;

    let page = by_page
        .post_form(&format!("/admin/users/{alice_id}/sessions/{page_session}/revoke"), &[("csrf_token", &token)])
        .await;
    let api =
        api_change(&mut by_api, Method::Delete, &format!("/api/admin/users/{alice_id}/sessions/{api_session}")).await;

    // Off to Keycloak's end-session endpoint with the ID token hint, as sign-out does.
    let to = page.location.clone().expect("a redirect");
    assert_eq!(page.status, Status::SeeOther);
    assert!(to.starts_with(&common::keycloak_issuer()) && to.contains("id_token_hint="), "{to}");
    assert!(page.set_cookies.iter().any(|cookie| cookie.starts_with("latchkey_session=;")), "{:?}", page.set_cookies);
    assert_eq!(api.status, Status::Ok, "{}", api.body);
    assert_eq!(api.json()["signed_out"], true);
    assert!(api.json()["logout_url"].as_str().is_some_and(|url| url.contains("id_token_hint=")), "{}", api.body);
    assert!(!by_page.is_signed_in().await && !by_api.is_signed_in().await);
    assert_eq!(db.count("sessions").await, 0);
}

latchkey::role_name!(Admin = "latchkey-admin");
latchkey::role_name!(Editor = "editor");
latchkey::role_name!(Engineering = "engineering");
latchkey::role_name!(Auditor = "auditor");

#[get("/admin-only")]
fn admin_only(admin: RealmRole<Admin>) -> String {
    format!("admin {}", admin.email.as_deref().unwrap_or("?"))
}

#[get("/drafts")]
fn drafts(_editor: ClientRole<Editor>, _team: InGroup<Engineering>) -> &'static str {
    "drafts"
}

#[get("/audit")]
fn audit(_auditor: RealmRole<Auditor>) -> &'static str {
    "audit log"
}

#[get("/api/report")]
fn report(_editor: ClientRole<Editor>) -> &'static str {
    "report"
}

/// An app's hooks that map a claim of its own choosing onto a role: Keycloak's
/// `preferred_username` of bob makes him an auditor.
struct AuditorHooks;

#[latchkey::async_trait]
impl latchkey::Hooks for AuditorHooks {
    async fn profile(&self, sign_in: &SignIn<'_>, mut profile: Profile, _: &Rocket<Orbit>) -> Result<Profile, Refusal> {
        if sign_in.claims.str("preferred_username") == Some("bob") {
            profile.roles.realm.push("auditor".into());
        }
        Ok(profile)
    }
}

async fn host_app(db: &TestDb) -> Client {
    let rocket = rocket::custom(figment(db))
        .attach(Latchkey::fairing().hooks(AuditorHooks))
        .mount("/", routes![admin_only, drafts, audit, report])
        .register("/", latchkey::catchers());
    Client::untracked(rocket).await.expect("the host app ignites")
}

#[tokio::test]
async fn a_hosts_routes_require_realm_roles_client_roles_and_groups_through_their_signatures() {
    let db = TestDb::create().await;
    let app = host_app(&db).await;
    let mut alice = Browser::signed_in(&app, "alice", LAPTOP).await;
    let mut bob = Browser::signed_in(&app, "bob", PHONE).await;
    let mut stranger = Browser::new(&app, LAPTOP);

    assert_eq!(alice.get("/admin-only").await.body, "admin alice@example.com");
    assert_eq!(alice.get("/drafts").await.body, "drafts");
    assert_eq!(bob.get("/audit").await.body, "audit log");
    assert_forbidden(&alice.get("/audit").await, "alice is no auditor");
    for uri in ["/admin-only", "/drafts"] {
        let page = bob.get(uri).await;
        assert_forbidden(&page, uri);
        assert!(page.body.contains("not open to you"), "{}", page.body);
    }
    let api = bob.get("/api/report").await;
    assert_forbidden(&api, "report");
    assert_eq!(api.json()["error"], "forbidden");
    assert_eq!(stranger.get("/drafts").await.location.as_deref(), Some("/auth/login?return_to=%2Fdrafts"));
    assert_eq!(stranger.get("/api/report").await.status, Status::Unauthorized);
}

#[tokio::test]
async fn roles_are_read_from_a_claim_path_the_provider_is_configured_with() {
    let settings = json!({
        "realm_roles_claim": "/https:~1~1example.com~1roles",
        "client_roles_claim": "app.{client_id}.roles",
        "groups_claim": "teams",
    });
    let (_db, idp, app) = setup(settings).await;

    let (mut browser, page) = browser_signed_in_with(&app, &idp, |idp, nonce| {
        let claims = with(idp.valid_claims(nonce), "https://example.com/roles", json!(["latchkey-admin"]));
        let claims = with(claims, "app", json!({ "latchkey-test": { "roles": ["editor"] } }));
        idp.issue(&with(claims, "teams", json!(["/ops"])), Signer::Published)
    })
    .await;

    assert_eq!(page.status, Status::SeeOther, "{}", page.body);
    let roles = browser.get("/api/session").await.json()["user"]["roles"].clone();
    assert_eq!(roles, json!({ "realm": ["latchkey-admin"], "client": ["editor"], "groups": ["/ops"] }));
    assert_eq!(browser.get("/api/admin/users").await.status, Status::Ok);
}

#[tokio::test]
async fn a_role_in_a_forged_or_expired_token_grants_nothing() {
    let (db, idp, app) = setup(json!({})).await;
    let admin_claims = |idp: &FakeIdp, nonce: &str| {
        with(idp.valid_claims(nonce), "realm_access", json!({ "roles": ["latchkey-admin"] }))
    };

    let (_, forged) =
        browser_signed_in_with(&app, &idp, |idp, nonce| idp.issue(&admin_claims(idp, nonce), Signer::Impostor)).await;
    let (_, expired) = browser_signed_in_with(&app, &idp, |idp, nonce| {
        let past = chrono::Utc::now().timestamp() - 3600;
        let claims = with(with(admin_claims(idp, nonce), "iat", json!(past - 300)), "exp", json!(past));
        idp.issue(&claims, Signer::Published)
    })
    .await;
    // A person without the role cannot claim it with anything the request carries.
    let (mut plain, _) =
        browser_signed_in_with(&app, &idp, |idp, nonce| idp.issue(&idp.valid_claims(nonce), Signer::Published)).await;
    plain.cookies.insert("roles".into(), "latchkey-admin".into());
    let claimed =
        plain.send(Method::Get, "/api/admin/users?roles=latchkey-admin", None, &[("X-Roles", "latchkey-admin")]).await;

    for page in [&forged, &expired] {
        assert_eq!(page.status, Status::BadRequest, "{}", page.body);
        assert!(page.body.contains("invalid_id_token"), "{}", page.body);
    }
    assert_eq!(db.count("sessions").await, 1, "only the plain sign-in made a session");
    assert_forbidden(&claimed, "roles claimed by the request");
}

/// Everything this test binary logs, for the test that looks for the admin's id.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Hooks that keep every event they hear.
#[derive(Clone, Default)]
struct Recorder(std::sync::Arc<std::sync::Mutex<Vec<latchkey::Event>>>);

#[latchkey::async_trait]
impl latchkey::Hooks for Recorder {
    async fn on_event(&self, event: &latchkey::Event, _: &Rocket<Orbit>) {
        self.0.lock().expect("events").push(event.clone());
    }
}

#[tokio::test]
async fn every_admin_action_is_logged_with_the_admins_id_and_told_to_the_hooks() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt().with_ansi(false).with_writer(move || writer.clone()).init();
    let db = TestDb::create().await;
    let heard = Recorder::default();
    let rocket =
        rocket::custom(figment(&db)).attach(Latchkey::fairing().admin_console("latchkey-admin").hooks(heard.clone()));
    let app = Client::untracked(rocket).await.expect("the app ignites");
    let mut alice = Browser::signed_in(&app, "alice", LAPTOP).await;
    let mut bob = Browser::signed_in(&app, "bob", PHONE).await;
    let (alice_id, bob_id, bob_session) =
        (user_id(&mut alice).await, user_id(&mut bob).await, bob.current_session_id().await);

    let one =
        api_change(&mut alice, Method::Delete, &format!("/api/admin/users/{bob_id}/sessions/{bob_session}")).await;
    let all = api_change(&mut alice, Method::Post, &format!("/api/admin/users/{bob_id}/revoke-all")).await;

    assert_eq!((one.status, all.status), (Status::NoContent, Status::Ok));
    let logs = String::from_utf8(captured.0.lock().expect("logs").clone()).expect("utf-8 logs");
    // Other tests of this binary log alongside: look for this one's admin and user.
    let ids = [format!("admin_id={alice_id}"), format!("user_id={bob_id}")];
    let logged = |what: &str| logs.lines().any(|line| line.contains(what) && ids.iter().all(|id| line.contains(id)));
    assert!(logged("admin revoked a session"), "{logs}");
    assert!(logged("admin revoked every session of a user"), "{logs}");
    let events = heard.0.lock().expect("events").clone();
    let by_admin: Vec<String> = events
        .iter()
        .filter_map(|event| match event {
            latchkey::Event::AdminRevoked { admin_id, user_id, revoked } => {
                Some(format!("{admin_id} {user_id} {revoked:?}"))
            }
            _ => None,
        })
        .collect();
    assert_eq!(by_admin.len(), 2, "{events:?}");
    assert!(by_admin[0].starts_with(&format!("{alice_id} {bob_id} One")), "{by_admin:?}");
    assert!(by_admin[1].starts_with(&format!("{alice_id} {bob_id} Everywhere")), "{by_admin:?}");
}
