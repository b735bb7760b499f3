//! The provider's tokens put to use, against the real Keycloak (whose realm revokes a
//! refresh token once it is used, so a second spend of one would end the session): an
//! access token for calling APIs, refreshed once however many requests and instances
//! want it; a refresh Keycloak refuses ends the session; roles and profile come anew
//! with a refresh; and sessions bound to Keycloak's end when Keycloak's does.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::browser::Browser;
use common::keycloak_admin::KeycloakAdmin;
use common::{app, figment, TestDb};
use figment::providers::Serialized;
use figment::Figment;
use latchkey::{AccessToken, Event, Latchkey};
use rocket::futures::future::join_all;
use rocket::http::Status;
use rocket::local::asynchronous::Client;
use rocket::{get, routes, Orbit, Rocket};
use serde_json::Value;

const AGENT: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";

/// Hooks that keep every event they hear.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Event>>>);

impl Recorder {
    fn count(&self, matches: impl Fn(&Event) -> bool) -> usize {
        self.0.lock().expect("events").iter().filter(|event| matches(event)).count()
    }

    fn refreshes(&self) -> usize {
        self.count(|event| matches!(event, Event::TokensRefreshed { .. }))
    }
}

#[latchkey::async_trait]
impl latchkey::Hooks for Recorder {
    async fn on_event(&self, event: &Event, _: &Rocket<Orbit>) {
        self.0.lock().expect("events").push(event.clone());
    }
}

/// A route of the app's that hands out the token (a real app would call an API with it).
#[get("/token")]
fn token(token: AccessToken) -> String {
    token.secret().to_string()
}

/// An app of its own with latchkey, the hooks given, and the token route.
async fn host_app(figment: Figment, heard: &Recorder) -> Client {
    let rocket = rocket::custom(figment)
        .attach(Latchkey::fairing().hooks(heard.clone()))
        .mount("/", routes![token])
        .register("/", latchkey::catchers());
    Client::untracked(rocket).await.expect("the app ignites")
}

/// Makes every session's access token due for a refresh, as time would.
async fn expire_access_tokens(db: &TestDb) {
    let mut connection = db.connect().await;
    sqlx::query("UPDATE sessions SET access_expires_at = now()").execute(&mut connection).await.expect("expire");
    // Each instance's cache hears of the change; give the notice a moment to arrive.
    tokio::time::sleep(Duration::from_millis(300)).await;
}

async fn sealed_refresh_token(db: &TestDb) -> String {
    let mut connection = db.connect().await;
    sqlx::query_scalar("SELECT refresh_token FROM sessions").fetch_one(&mut connection).await.expect("refresh token")
}

#[tokio::test]
async fn the_account_page_calls_keycloaks_account_api_with_the_persons_access_token() {
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;
    let mut alice = Browser::signed_in(&app, "alice", AGENT).await;

    let page = alice.get("/account").await;

    assert_eq!(page.status, Status::Ok, "{}", page.body);
    assert!(page.body.contains("answered (200)"), "{}", page.body);
    assert!(page.body.contains("<dd>alice</dd>") && page.body.contains("alice@example.com"), "{}", page.body);
}

#[tokio::test]
async fn a_fresh_access_token_costs_no_statement_beyond_the_sessions_lookup() {
    let db = TestDb::create().await;
    let heard = Recorder::default();
    let app = host_app(figment(&db).merge(Serialized::global("auth.session.cache", false)), &heard).await;
    let mut alice = Browser::signed_in(&app, "alice", AGENT).await;
    let first = alice.get("/token").await;
    let mut connection = db.connect().await;
    let statements = "SELECT coalesce(sum(calls), 0)::bigint FROM pg_stat_statements
                       WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
                         AND query NOT LIKE '%pg_stat_statements%'";
    let before: i64 = sqlx::query_scalar(statements).fetch_one(&mut connection).await.expect("statements");

    let mut tokens = Vec::new();
    for _ in 0..10 {
        tokens.push(alice.get("/token").await.body);
    }

    let after: i64 = sqlx::query_scalar(statements).fetch_one(&mut connection).await.expect("statements");
    assert_eq!(first.status, Status::Ok, "{}", first.body);
    assert_eq!(after - before, 10, "one statement per request, the session's lookup");
    assert!(tokens.iter().all(|token| *token == first.body), "the same token while it is fresh");
    assert_eq!(heard.refreshes(), 0);
}

#[tokio::test]
async fn an_expiring_token_is_refreshed_once_for_many_requests_on_two_instances() {
    let db = TestDb::create().await;
    let (heard_one, heard_two) = (Recorder::default(), Recorder::default());
    let one = host_app(figment(&db), &heard_one).await;
    let two = host_app(figment(&db), &heard_two).await;
    let mut alice = Browser::signed_in(&one, "alice", AGENT).await;
    let before = alice.get("/token").await.body;
    let refresh_before = sealed_refresh_token(&db).await;
    expire_access_tokens(&db).await;

    let requests = (0..8).map(|n| {
        let app = if n % 2 == 0 { &one } else { &two };
        let alice = &alice;
        async move { Browser::with_cookies(app, alice).get("/token").await }
    });
    let pages = join_all(requests).await;

    for page in &pages {
        assert_eq!(page.status, Status::Ok, "{}", page.body);
    }
    let after = &pages[0].body;
    assert_ne!(*after, before, "a new token");
    assert!(pages.iter().all(|page| page.body == *after), "every request got the one new token");
    assert_eq!(heard_one.refreshes() + heard_two.refreshes(), 1, "exactly one refresh");
    assert_ne!(sealed_refresh_token(&db).await, refresh_before, "the rotated refresh token is kept");
    // The rotated one works: Keycloak revokes a used refresh token, so this refresh
    // would be refused had the old one been kept.
    expire_access_tokens(&db).await;
    let again = alice.get("/token").await;
    assert_eq!(again.status, Status::Ok, "{}", again.body);
    assert_ne!(again.body, *after);
    assert_eq!(heard_one.refreshes() + heard_two.refreshes(), 2);
}

#[tokio::test]
async fn a_refresh_keycloak_refuses_ends_the_session_and_sends_the_person_to_sign_in() {
    let db = TestDb::create().await;
    let heard = Recorder::default();
    let app = host_app(figment(&db), &heard).await;
    let keycloak = KeycloakAdmin::connect().await;
    let username = keycloak.create_user().await;
    let mut person = Browser::signed_in(&app, &username, AGENT).await;
    keycloak.logout_user(&username).await;
    expire_access_tokens(&db).await;

    let page = person.get("/token").await;
    let api = person.get("/api/session").await;
    keycloak.delete_user(&username).await;

    assert_eq!(page.status, Status::SeeOther, "{}", page.body);
    assert_eq!(page.location.as_deref(), Some("/auth/login?return_to=%2Ftoken"));
    assert_eq!(api.status, Status::Unauthorized);
    assert_eq!(db.count("sessions").await, 0);
    assert_eq!(heard.count(|event| matches!(event, Event::RefreshRefused { .. })), 1);
}

#[tokio::test]
async fn a_refresh_brings_the_roles_and_profile_keycloak_has_now() {
    let db = TestDb::create().await;
    let heard = Recorder::default();
    let app = host_app(figment(&db), &heard).await;
    let keycloak = KeycloakAdmin::connect().await;
    let username = keycloak.create_user().await;
    let mut person = Browser::signed_in(&app, &username, AGENT).await;
    let roles_before = person.get("/api/session").await.json()["user"]["roles"]["realm"].clone();
    keycloak.grant_realm_role(&username, "latchkey-admin").await;
    keycloak.set_first_name(&username, "Renamed").await;
    expire_access_tokens(&db).await;

    let refreshed = person.get("/token").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let session = person.get("/api/session").await.json();
    keycloak.delete_user(&username).await;

    assert_eq!(refreshed.status, Status::Ok, "{}", refreshed.body);
    assert!(!roles_before.as_array().expect("roles").contains(&Value::from("latchkey-admin")));
    let roles = session["user"]["roles"]["realm"].as_array().cloned().expect("roles");
    assert!(roles.contains(&Value::from("latchkey-admin")), "{session}");
    assert_eq!(session["user"]["name"], "Renamed Person");
}

#[tokio::test]
async fn a_session_bound_to_keycloaks_ends_when_keycloak_logs_the_person_out() {
    let db = TestDb::create().await;
    let heard = Recorder::default();
    let bound = figment(&db).merge(Serialized::global("auth.providers.keycloak.check_session_every", "1m"));
    let app = host_app(bound, &heard).await;
    let keycloak = KeycloakAdmin::connect().await;
    let username = keycloak.create_user().await;
    let mut person = Browser::signed_in(&app, &username, AGENT).await;
    let mut alice = Browser::signed_in(&app, "alice", AGENT).await;
    keycloak.logout_user(&username).await;

    // Not due yet: served without asking Keycloak.
    let before_due = person.get("/api/session").await.status;
    let mut connection = db.connect().await;
    sqlx::query("UPDATE sessions SET idp_checked_at = now() - interval '2 minutes'")
        .execute(&mut connection)
        .await
        .expect("make the check due");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after_due = person.get("/api/session").await.status;
    let alice_after = alice.get("/api/session").await.status;
    let checked_recently: bool =
        sqlx::query_scalar("SELECT bool_and(idp_checked_at > now() - interval '1 minute') FROM sessions")
            .fetch_one(&mut connection)
            .await
            .expect("checked");
    keycloak.delete_user(&username).await;

    assert_eq!(before_due, Status::Ok);
    assert_eq!(after_due, Status::Unauthorized, "the session outlived Keycloak's");
    assert_eq!(alice_after, Status::Ok, "a session Keycloak still has is confirmed");
    assert_eq!(db.count("sessions").await, 1);
    assert!(checked_recently, "alice's session was confirmed just now");
    assert_eq!(heard.count(|event| matches!(event, Event::RefreshRefused { .. })), 1);
}

#[tokio::test]
async fn code_outside_routes_gets_a_fresh_token_by_session_id() {
    let db = TestDb::create().await;
    let heard = Recorder::default();
    let app = host_app(figment(&db), &heard).await;
    let mut alice = Browser::signed_in(&app, "alice", AGENT).await;
    let from_route = alice.get("/token").await.body;
    let session_id: uuid::Uuid = alice.current_session_id().await.parse().expect("session id");

    let fresh = latchkey::access_token(app.rocket(), session_id).await.expect("a token");
    expire_access_tokens(&db).await;
    let refreshed = latchkey::access_token(app.rocket(), session_id).await.expect("a refreshed token");
    let unknown = latchkey::access_token(app.rocket(), uuid::Uuid::new_v4()).await;

    assert_eq!(fresh.secret(), from_route);
    assert_ne!(refreshed.secret(), from_route);
    assert!(refreshed.expires_at().is_some_and(|at| at > chrono::Utc::now()));
    assert!(matches!(unknown, Err(latchkey::Error::Unauthenticated)), "{unknown:?}");
    assert!(!format!("{refreshed:?}").contains(refreshed.secret()), "Debug shows no secret");
    assert_eq!(heard.refreshes(), 1);
}

#[tokio::test]
async fn signed_out_visitors_are_sent_to_sign_in_by_the_token_guard() {
    let db = TestDb::create().await;
    let app = host_app(figment(&db), &Recorder::default()).await;

    let page = Browser::new(&app, AGENT).get("/token").await;

    assert_eq!(page.status, Status::SeeOther);
    assert_eq!(page.location.as_deref(), Some("/auth/login?return_to=%2Ftoken"));
}
