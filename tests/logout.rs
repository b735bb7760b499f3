//! Signing out here and at Keycloak, and OpenID Connect back-channel logout with the
//! real Keycloak (an admin ends sessions, or alice logs out at Keycloak itself).

mod common;

use std::time::Duration;

use common::browser::Browser;
use common::keycloak_admin::KeycloakAdmin;
use common::{app, eventually, figment, keycloak_issuer, Served, TestDb};
use figment::providers::Serialized;
use figment::Figment;
use rocket::http::Status;

async fn idp_sid(db: &TestDb, browser: &mut Browser<'_>) -> String {
    let sessions = browser.get("/api/sessions").await.json();
    let current = sessions["sessions"].as_array().expect("list").iter().find(|s| s["current"] == true).cloned();
    let id: uuid::Uuid = current.and_then(|s| s["id"].as_str()?.parse().ok()).expect("current session id");
    let mut connection = db.connect().await;
    sqlx::query_scalar("SELECT idp_sid FROM sessions WHERE id = $1")
        .bind(id)
        .fetch_one(&mut connection)
        .await
        .expect("idp_sid")
}

/// A Keycloak client of this test's own whose back-channel logout reaches `server`.
struct BackchannelSetup {
    admin: KeycloakAdmin,
    client_id: String,
    figment: Figment,
    _server: Served,
}

impl BackchannelSetup {
    async fn new(db: &TestDb, session_required: bool) -> BackchannelSetup {
        BackchannelSetup::as_provider(db, session_required, "keycloak").await
    }

    /// The client as the provider `name` (beside the dev realm's test client as
    /// `keycloak`, when `name` is another).
    async fn as_provider(db: &TestDb, session_required: bool, name: &str) -> BackchannelSetup {
        let admin = KeycloakAdmin::connect().await;
        let port_holder = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
        let port = port_holder.local_addr().expect("addr").port();
        drop(port_holder);
        let (client_id, secret) =
            admin.create_client(&format!("http://127.0.0.1:{port}/auth/backchannel-logout"), session_required).await;
        let figment = figment(db)
            .merge(Serialized::global(&format!("auth.providers.{name}.issuer"), keycloak_issuer()))
            .merge(Serialized::global(&format!("auth.providers.{name}.client_id"), &client_id))
            .merge(Serialized::global(&format!("auth.providers.{name}.client_secret"), &secret));
        let server = Served::start_on(figment.clone(), port).await;
        BackchannelSetup { admin, client_id, figment, _server: server }
    }

    async fn remove(self) {
        self.admin.delete_client(&self.client_id).await;
    }
}

#[tokio::test]
async fn get_logout_asks_and_changes_nothing() {
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;
    let mut alice = Browser::new(&app, "test");
    alice.sign_in("alice", "alice", "/").await;

    let page = alice.get("/auth/logout").await;

    assert_eq!(page.status, Status::Ok);
    assert!(page.body.contains("Sign out?") && page.body.contains("method=\"post\""), "{}", page.body);
    assert!(alice.is_signed_in().await);
}

#[tokio::test]
async fn signing_out_ends_the_session_here_and_at_keycloak() {
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;
    let mut alice = Browser::new(&app, "test");
    alice.sign_in("alice", "alice", "/").await;
    let token = alice.csrf_token().await;

    let page = alice.post_form("/auth/logout", &[("csrf_token", &token)]).await;

    assert_eq!(page.status, Status::SeeOther);
    assert!(page.set_cookies.iter().any(|c| c.starts_with("latchkey_session=;")), "cookie cleared");
    let end_session = url::Url::parse(page.location.as_deref().expect("location")).expect("url");
    assert_eq!(
        end_session.as_str().split('?').next(),
        Some(format!("{}/protocol/openid-connect/logout", keycloak_issuer()).as_str())
    );
    let param = |name: &str| end_session.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
    assert!(param("id_token_hint").is_some_and(|hint| hint.split('.').count() == 3));
    assert_eq!(param("post_logout_redirect_uri").as_deref(), Some("http://127.0.0.1:8000/signed-out"));
    assert_eq!(param("client_id").as_deref(), Some("latchkey-test"));
    assert!(param("state").is_some());
    assert!(!alice.is_signed_in().await);
    let mut connection = db.connect().await;
    let left: i64 =
        sqlx::query_scalar("SELECT count(*) FROM sessions").fetch_one(&mut connection).await.expect("count");
    assert_eq!(left, 0);

    // Keycloak ends its session and sends the browser back with the state.
    let back = alice.idp_redirect(end_session.as_str()).await;
    assert!(back.starts_with("http://127.0.0.1:8000/signed-out?state="), "{back}");
    let signed_out = alice.follow(&back).await;
    assert!(signed_out.body.contains("signed out of latchkey and of Keycloak"), "{}", signed_out.body);

    // The Keycloak SSO session is gone: signing in asks for the password again.
    let authorize = alice.start_sign_in("/").await;
    let callback = alice.keycloak_login(&authorize, "alice", "alice").await;
    assert_eq!(alice.follow(&callback).await.status, Status::SeeOther);
}

#[tokio::test]
async fn signed_out_without_the_matching_state_claims_only_the_local_sign_out() {
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;
    let mut visitor = Browser::new(&app, "test");

    let page = visitor.get("/signed-out?state=forged").await;

    assert_eq!(page.status, Status::Ok);
    assert!(page.body.contains("You are signed out of latchkey.") && !page.body.contains("Keycloak"), "{}", page.body);
}

#[tokio::test]
async fn signing_out_everywhere_also_ends_the_keycloak_session_of_this_device() {
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;
    let mut alice = Browser::new(&app, "test");
    alice.sign_in("alice", "alice", "/").await;
    let token = alice.csrf_token().await;

    let page = alice.post_form("/sessions/revoke-all", &[("csrf_token", &token)]).await;
    let end_session = page.location.expect("location");
    assert!(
        end_session.starts_with(&format!("{}/protocol/openid-connect/logout?", keycloak_issuer())),
        "{end_session}"
    );
    let back = alice.idp_redirect(&end_session).await;
    assert!(back.starts_with("http://127.0.0.1:8000/signed-out?state="), "{back}");

    let authorize = alice.start_sign_in("/").await;
    let callback = alice.keycloak_login(&authorize, "alice", "alice").await;
    assert_eq!(alice.follow(&callback).await.status, Status::SeeOther);
}

#[tokio::test]
async fn an_admin_ending_one_keycloak_session_ends_exactly_the_matching_session() {
    let db = TestDb::create().await;
    let setup = BackchannelSetup::new(&db, true).await;
    let app = app(setup.figment.clone()).await;
    let mut laptop = Browser::new(&app, "laptop");
    let mut phone = Browser::new(&app, "phone");
    laptop.sign_in("alice", "alice", "/").await;
    phone.sign_in("alice", "alice", "/").await;
    let phone_sid = idp_sid(&db, &mut phone).await;

    setup.admin.delete_session(&phone_sid).await;

    let phone_out =
        eventually(Duration::from_secs(10), || async { !Browser::with_cookies(&app, &phone).is_signed_in().await })
            .await;
    assert!(phone_out, "the phone's session survived its Keycloak session");
    assert!(laptop.is_signed_in().await, "the laptop's session was ended too");
    setup.remove().await;
}

#[tokio::test]
async fn an_admin_logging_a_user_out_ends_all_their_sessions_and_none_of_bobs() {
    let db = TestDb::create().await;
    // Keycloak 26.4 answers a user logout with ONE sid-carrying token per client, naming
    // only one of the user's sessions (keycloak#22914, #27359). Without
    // `backchannel.logout.session.required` its token carries only `sub`, which latchkey
    // reads, as the spec says, as "every session of this user".
    // A user of its own: ending every Keycloak session of alice would end other tests'.
    let setup = BackchannelSetup::new(&db, false).await;
    let carol = setup.admin.create_user().await;
    let app = app(setup.figment.clone()).await;
    let mut laptop = Browser::new(&app, "laptop");
    let mut phone = Browser::new(&app, "phone");
    let mut bob = Browser::new(&app, "bob");
    laptop.sign_in(&carol, &carol, "/").await;
    phone.sign_in(&carol, &carol, "/").await;
    bob.sign_in("bob", "bob", "/").await;

    setup.admin.logout_user(&carol).await;

    let count = || async {
        let mut connection = db.connect().await;
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM sessions").fetch_one(&mut connection).await.expect("count")
    };
    assert!(
        eventually(Duration::from_secs(10), || async { count().await == 1 }).await,
        "{} sessions left",
        count().await
    );
    assert!(!laptop.is_signed_in().await && !phone.is_signed_in().await);
    assert!(bob.is_signed_in().await);
    setup.admin.delete_user(&carol).await;
    setup.remove().await;
}

#[tokio::test]
async fn alice_logging_out_at_keycloak_itself_ends_her_session_here() {
    let db = TestDb::create().await;
    let setup = BackchannelSetup::new(&db, true).await;
    let app = app(setup.figment.clone()).await;
    let mut alice = Browser::new(&app, "test");
    alice.sign_in("alice", "alice", "/").await;
    let mut connection = db.connect().await;
    let sealed: String =
        sqlx::query_scalar("SELECT id_token FROM sessions").fetch_one(&mut connection).await.expect("id_token");
    let id_token = common::dev_keyring().open(&sealed, "sessions.id_token").expect("opens");

    // Another app (or Keycloak's account console) sends alice to Keycloak's logout.
    let mut end_session =
        url::Url::parse(&format!("{}/protocol/openid-connect/logout", keycloak_issuer())).expect("url");
    end_session
        .query_pairs_mut()
        .append_pair("id_token_hint", &id_token)
        .append_pair("client_id", &setup.client_id)
        .append_pair("post_logout_redirect_uri", "http://127.0.0.1:9999/elsewhere");
    alice.idp_redirect(end_session.as_str()).await;

    assert!(
        eventually(Duration::from_secs(10), || async { !Browser::with_cookies(&app, &alice).is_signed_in().await })
            .await
    );
    setup.remove().await;
}

#[tokio::test]
async fn a_logout_token_for_the_second_client_of_one_issuer_ends_that_clients_session() {
    let db = TestDb::create().await;
    // `keycloak` (the dev realm's test client) and `second`: one issuer, two clients.
    let setup = BackchannelSetup::as_provider(&db, true, "second").await;
    let app = app(setup.figment.clone()).await;
    let mut alice = Browser::new(&app, "laptop").for_provider("second");
    assert_eq!(alice.sign_in("alice", "alice", "/").await.status, Status::SeeOther);
    let sid = idp_sid(&db, &mut alice).await;

    setup.admin.delete_session(&sid).await;

    let out =
        eventually(Duration::from_secs(10), || async { !Browser::with_cookies(&app, &alice).is_signed_in().await })
            .await;
    assert!(out, "the second client's session survived its Keycloak session");
    setup.remove().await;
}
