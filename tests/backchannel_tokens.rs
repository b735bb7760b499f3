//! Back-channel logout tokens a real IdP will not send, from the stand-in provider: each
//! is refused with 400 `invalid_logout_token` and deletes nothing. A correct one deletes
//! exactly its session, once.

mod common;

use common::browser::{Browser, Page};
use common::fake_idp::{setup, sign_in_with, with, without, FakeIdp, Signer};
use common::TestDb;
use rocket::http::{ContentType, Status};
use rocket::local::asynchronous::Client;
use serde_json::json;

async fn post_token(app: &Client, token: &str) -> Page {
    let mut server = Browser::new(app, "Keycloak");
    let body = url::form_urlencoded::Serializer::new(String::new()).append_pair("logout_token", token).finish();
    server.send(rocket::http::Method::Post, "/auth/backchannel-logout", Some(body), &[]).await
}

/// The stand-in provider, with one session of its user signed in (sid `fake-sid-1`).
async fn signed_in() -> (TestDb, FakeIdp, Client) {
    let (db, idp, app) = setup(json!({})).await;
    let page = sign_in_with(&app, &idp, |idp, nonce| idp.issue(&idp.valid_claims(nonce), Signer::Published)).await;
    assert_eq!(page.status, Status::SeeOther, "{}", page.body);
    (db, idp, app)
}

#[tokio::test]
async fn a_valid_logout_token_deletes_its_session_once_and_a_replay_is_refused() {
    let (db, idp, app) = signed_in().await;
    let token = FakeIdp::sign(&idp.logout_claims(), Signer::Published, "logout+jwt");

    let first = post_token(&app, &token).await;
    let replay = post_token(&app, &token).await;

    assert_eq!(first.status, Status::Ok, "{}", first.body);
    assert_eq!(first.json()["deleted"], 1);
    assert!(first.body.len() < 100);
    assert_eq!(db.count("sessions").await, 0);
    assert_eq!(replay.status, Status::BadRequest);
    assert_eq!(replay.json()["error"], "invalid_logout_token");
}

#[tokio::test]
async fn a_token_still_inside_its_leeway_is_remembered_past_the_sweep_and_its_replay_refused() {
    let (db, idp, app) = signed_in().await;
    // Expired 30 s ago: still valid within the minute of clock-skew leeway.
    let now = chrono::Utc::now().timestamp();
    let claims = with(with(idp.logout_claims(), "exp", json!(now - 30)), "iat", json!(now - 60));
    let token = FakeIdp::sign(&claims, Signer::Published, "logout+jwt");
    assert_eq!(post_token(&app, &token).await.status, Status::Ok);

    let swept = latchkey::sweep_once(&db.pool().await, &latchkey::Schema::default(), 100).await.expect("sweep");
    let replay = post_token(&app, &token).await;

    assert!(swept.is_some(), "the sweep ran");
    assert_eq!(db.count("logout_token_jtis").await, 1, "the used token is still remembered");
    assert_eq!(replay.status, Status::BadRequest, "{}", replay.body);
    assert_eq!(replay.json()["error"], "invalid_logout_token");
}

#[tokio::test]
async fn a_logout_token_with_only_sub_ends_every_session_of_that_user() {
    let (db, idp, app) = signed_in().await;
    sign_in_with(&app, &idp, |idp, nonce| {
        idp.issue(&with(idp.valid_claims(nonce), "sid", json!("fake-sid-2")), Signer::Published)
    })
    .await;
    assert_eq!(db.count("sessions").await, 2);

    let token = FakeIdp::sign(&without(idp.logout_claims(), "sid"), Signer::Published, "JWT");
    let page = post_token(&app, &token).await;

    assert_eq!(page.status, Status::Ok, "{}", page.body);
    assert_eq!(page.json()["deleted"], 2);
    assert_eq!(db.count("sessions").await, 0);
}

#[tokio::test]
async fn invalid_logout_tokens_are_refused_and_delete_nothing() {
    let (db, idp, app) = signed_in().await;
    let now = chrono::Utc::now().timestamp();
    let valid = || idp.logout_claims();
    let cases: Vec<(&str, String)> = vec![
        ("forged signature", FakeIdp::sign(&valid(), Signer::Impostor, "JWT")),
        ("unknown key", FakeIdp::sign(&valid(), Signer::Unpublished, "JWT")),
        ("unsigned", FakeIdp::unsigned(&valid())),
        ("wrong audience", FakeIdp::sign(&with(valid(), "aud", json!("latchkey-other")), Signer::Published, "JWT")),
        ("wrong issuer", FakeIdp::sign(&with(valid(), "iss", json!("https://evil.example")), Signer::Published, "JWT")),
        (
            "expired",
            FakeIdp::sign(
                &with(with(valid(), "iat", json!(now - 900)), "exp", json!(now - 600)),
                Signer::Published,
                "JWT",
            ),
        ),
        ("issued long ago", FakeIdp::sign(&with(valid(), "iat", json!(now - 3600)), Signer::Published, "JWT")),
        ("issued in the future", FakeIdp::sign(&with(valid(), "iat", json!(now + 3600)), Signer::Published, "JWT")),
        ("carries a nonce", FakeIdp::sign(&with(valid(), "nonce", json!("n-0S6_WzA2Mj")), Signer::Published, "JWT")),
        ("no logout event", FakeIdp::sign(&without(valid(), "events"), Signer::Published, "JWT")),
        ("wrong event", FakeIdp::sign(&with(valid(), "events", json!({"urn:other": {}})), Signer::Published, "JWT")),
        ("neither sid nor sub", FakeIdp::sign(&without(without(valid(), "sid"), "sub"), Signer::Published, "JWT")),
        ("no jti", FakeIdp::sign(&without(valid(), "jti"), Signer::Published, "JWT")),
        ("an ID token type", FakeIdp::sign(&valid(), Signer::Published, "at+jwt")),
        ("not a JWT", "not-a-token".to_string()),
        ("empty", String::new()),
    ];
    for (what, token) in cases {
        let page = post_token(&app, &token).await;
        assert_eq!(page.status, Status::BadRequest, "{what}: {}", page.body);
        assert_eq!(page.json()["error"], "invalid_logout_token", "{what}");
        assert_eq!(db.count("sessions").await, 1, "{what} deleted a session");
    }
}

#[tokio::test]
async fn a_logout_post_without_a_form_body_is_refused() {
    let (db, _idp, app) = signed_in().await;

    let response = app.post("/auth/backchannel-logout").header(ContentType::JSON).body("{}").dispatch().await;

    assert!(response.status().code >= 400 && response.status().code < 500);
    assert_eq!(db.count("sessions").await, 1);
}
