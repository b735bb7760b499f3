//! latchkey in an app of its own, as a crate user adopts it: the app's hooks shape the
//! profile, refuse sign-ins and hear events; latchkey's routes live under a base path
//! and answer alike whatever the app's catchers; a forgotten fairing stops launch; and
//! the app's own templates replace latchkey's pages.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use common::browser::Browser;
use common::{figment, TestDb};
use figment::providers::Serialized;
use figment::Figment;
use latchkey::{AuthenticatedUser, Event, Hooks, Latchkey, Profile, Refusal, Revoked, SignIn};
use rocket::http::{Method, Status};
use rocket::local::asynchronous::Client;
use rocket::{get, routes, Build, Orbit, Rocket};
use serde_json::{json, Map, Value};
use sqlx::Row;

/// What the hooks heard, in order.
#[derive(Clone, Default)]
struct Heard(Arc<Mutex<Vec<Event>>>);

impl Heard {
    fn events(&self) -> Vec<Event> {
        self.0.lock().expect("events").clone()
    }
}

/// An app's hooks: the name upper-cased and the username kept, bob refused, the username
/// in `/api/session`, every event recorded.
struct AppHooks(Heard);

#[latchkey::async_trait]
impl Hooks for AppHooks {
    async fn profile(&self, sign_in: &SignIn<'_>, mut profile: Profile, _: &Rocket<Orbit>) -> Result<Profile, Refusal> {
        profile.name = profile.name.map(|name| name.to_uppercase());
        if let Some(username) = sign_in.claims.str("preferred_username") {
            profile.extra.insert("username".into(), username.into());
        }
        Ok(profile)
    }

    async fn allow_sign_in(&self, _: &SignIn<'_>, profile: &Profile, _: &Rocket<Orbit>) -> Result<(), Refusal> {
        match profile.email.as_deref() {
            Some("bob@example.com") => Err(Refusal::new("Bob may not use this app.")),
            _ => Ok(()),
        }
    }

    async fn session(&self, user: &AuthenticatedUser, body: &mut Map<String, Value>, _: &Rocket<Orbit>) {
        body.insert("username".into(), user.extra.get("username").cloned().unwrap_or(Value::Null));
    }

    async fn on_event(&self, event: &Event, _: &Rocket<Orbit>) {
        self.0 .0.lock().expect("events").push(event.clone());
    }
}

/// A page of the app's own, guarded by latchkey.
#[get("/mine")]
fn mine(user: AuthenticatedUser) -> String {
    format!(
        "{} @{}",
        user.name.as_deref().unwrap_or("?"),
        user.extra.get("username").and_then(Value::as_str).unwrap_or("?")
    )
}

/// The app: latchkey under `/account` with its hooks, one page of its own, no catchers.
fn app_rocket(figment: Figment, heard: &Heard) -> Rocket<Build> {
    rocket::custom(figment)
        .attach(Latchkey::fairing().base_path("/account").hooks(AppHooks(heard.clone())))
        .mount("/", routes![mine])
}

async fn app(db: &TestDb, heard: &Heard) -> Client {
    Client::untracked(app_rocket(figment(db), heard)).await.expect("the app ignites")
}

#[tokio::test]
async fn hooks_shape_the_profile_add_to_the_session_and_hear_every_event() {
    let db = TestDb::create().await;
    let heard = Heard::default();
    let app = app(&db, &heard).await;
    let mut laptop = Browser::under(&app, "laptop", "/account");
    let mut phone = Browser::under(&app, "phone", "/account");

    assert_eq!(laptop.sign_in("alice", "alice", "/mine").await.location.as_deref(), Some("/mine"));
    phone.sign_in("alice", "alice", "/mine").await;
    let page = laptop.get("/mine").await;
    let session = laptop.get("/account/api/session").await.json();
    let phone_id = phone.current_session_id_at("/account").await;
    let csrf = laptop.get("/account/api/csrf").await.json()["csrf_token"].as_str().expect("csrf").to_string();
    let revoked = laptop
        .send(
            Method::Delete,
            &format!("/account/api/sessions/{phone_id}"),
            None,
            &[("Origin", common::browser::APP_ORIGIN), ("X-CSRF-Token", &csrf)],
        )
        .await;
    let out = laptop.post_form("/account/auth/logout", &[("csrf_token", &csrf)]).await;

    assert_eq!(page.body, "ALICE LIDDELL @alice");
    assert_eq!(session["username"], "alice");
    assert_eq!(session["user"]["name"], "ALICE LIDDELL");
    assert_eq!((revoked.status, out.status), (Status::NoContent, Status::SeeOther));
    let events = heard.events();
    let ids: Vec<(uuid::Uuid, uuid::Uuid)> = events
        .iter()
        .filter_map(|event| match event {
            Event::SignedIn { user_id, session_id, .. } => Some((*user_id, *session_id)),
            _ => None,
        })
        .collect();
    assert_eq!(ids.len(), 2, "{events:?}");
    let (user_id, laptop_session) = ids[0];
    let phone_session = ids[1].1;
    assert_eq!(phone_session.to_string(), phone_id);
    assert_eq!(
        events,
        vec![
            Event::SignedIn { user_id, session_id: laptop_session, provider: "keycloak".into(), new_user: true },
            Event::SignedIn { user_id, session_id: phone_session, provider: "keycloak".into(), new_user: false },
            Event::Revoked { user_id, revoked: Revoked::One { session_id: phone_session } },
            Event::SignedOut { user_id, session_id: laptop_session },
        ]
    );
    let mut connection = db.connect().await;
    let stored = sqlx::query("SELECT name, extra FROM users").fetch_one(&mut connection).await.expect("user");
    assert_eq!(stored.get::<Option<String>, _>("name").as_deref(), Some("ALICE LIDDELL"));
    assert_eq!(stored.get::<Value, _>("extra"), json!({ "username": "alice" }));
}

#[tokio::test]
async fn a_sign_in_the_apps_hook_refuses_shows_its_message_and_writes_nothing() {
    let db = TestDb::create().await;
    let heard = Heard::default();
    let app = app(&db, &heard).await;
    let mut bob = Browser::under(&app, "test", "/account");

    let page = bob.sign_in("bob", "bob", "/mine").await;

    assert_eq!(page.status, Status::Forbidden, "{}", page.body);
    assert!(page.body.contains("Bob may not use this app.") && page.body.contains("sign_in_refused"), "{}", page.body);
    assert!(bob.session_cookie().is_none());
    assert_eq!((db.count("users").await, db.count("accounts").await, db.count("sessions").await), (0, 0, 0));
    assert!(heard.events().is_empty());
}

#[tokio::test]
async fn latchkeys_routes_under_a_base_path_answer_alike_and_leave_the_apps_own_errors_alone() {
    let db = TestDb::create().await;
    let app = app(&db, &Heard::default()).await;
    let mut stranger = Browser::under(&app, "test", "/account");

    let sessions = stranger.get("/account/sessions?page=2").await;
    let api = stranger.get("/account/api/session").await;
    let missing = stranger.get("/account/nowhere").await;
    let own = stranger.get("/mine").await;

    assert_eq!(sessions.status, Status::SeeOther);
    assert_eq!(sessions.location.as_deref(), Some("/account/auth/login?return_to=%2Faccount%2Fsessions%3Fpage%3D2"));
    assert_eq!((api.status, api.json()["error"].clone()), (Status::Unauthorized, json!("unauthenticated")));
    assert_eq!(missing.status, Status::NotFound);
    assert!(
        missing.body.contains("not_found") && missing.body.contains("href=\"/account/auth/login\""),
        "{}",
        missing.body
    );
    // The app registered no catcher: Rocket's own answers its route, not latchkey's.
    assert_eq!(own.status, Status::Unauthorized);
    assert!(own.location.is_none() && !own.body.contains("unauthenticated"), "{}", own.body);
}

/// Everything logged, for the tests that look at what latchkey said.
fn logs() -> &'static Mutex<Vec<u8>> {
    static LOGS: OnceLock<Mutex<Vec<u8>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        struct Sink;
        impl Write for Sink {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                logs().lock().expect("logs").extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let _ = tracing_subscriber::fmt().with_ansi(false).with_writer(|| Sink).try_init();
        Mutex::new(Vec::new())
    })
}

#[tokio::test]
async fn a_route_with_a_latchkey_guard_but_no_fairing_stops_launch_saying_what_to_attach() {
    logs();
    let db = TestDb::create().await;

    let ignited = rocket::custom(figment(&db)).mount("/", routes![mine]).ignite().await;

    let Err(error) = ignited else { panic!("launched without latchkey's fairing") };
    assert!(matches!(error.kind(), rocket::error::ErrorKind::SentinelAborts(_)), "{error:?}");
    let said = String::from_utf8_lossy(&logs().lock().expect("logs")).into_owned();
    assert!(said.contains("AuthenticatedUser") && said.contains(".attach(latchkey::Latchkey::fairing())"), "{said}");
}

#[tokio::test]
async fn a_template_of_the_apps_under_latchkey_replaces_the_built_in_page() {
    let db = TestDb::create().await;
    let dir = std::env::temp_dir().join(format!("latchkey-templates-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(dir.join("latchkey")).expect("template dir");
    std::fs::write(
        dir.join("latchkey/signed_out.html.tera"),
        r#"{% extends "latchkey/base" %}{% block content %}<p id="ours">Come back soon. {{ message }}</p>{% endblock content %}"#,
    )
    .expect("template");
    let settings = figment(&db).merge(Serialized::global("template_dir", dir.display().to_string()));
    let app = Client::untracked(app_rocket(settings, &Heard::default())).await.expect("the app ignites");

    let page = Browser::new(&app, "test").get("/account/signed-out").await;

    assert_eq!(page.status, Status::Ok);
    assert!(page.body.contains(r#"<p id="ours">Come back soon. You are signed out of latchkey.</p>"#), "{}", page.body);
    assert!(page.body.contains(r#"href="/account/latchkey.css""#), "the built-in base still frames it: {}", page.body);
    let _ = std::fs::remove_dir_all(dir);
}
