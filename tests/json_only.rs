//! latchkey built without pages (`default-features = false`), as an app without Tera
//! would use it: everything, errors and the provider choice included, answers in JSON,
//! and sign-in through the real Keycloak works as ever. Run by `scripts/test` with
//! `cargo test --no-default-features --test json_only`; with the default features this
//! file is empty.
#![cfg(not(feature = "pages"))]

mod common;

use common::browser::Browser;
use common::{figment, keycloak_issuer, TestDb};
use figment::providers::Serialized;
use figment::Figment;
use latchkey::{AuthenticatedUser, Latchkey};
use rocket::http::Status;
use rocket::local::asynchronous::Client;
use rocket::{get, routes};
use serde_json::json;

#[get("/me")]
fn me(user: AuthenticatedUser) -> String {
    user.email.unwrap_or_default()
}

async fn app(figment: Figment) -> Client {
    let rocket =
        rocket::custom(figment).attach(Latchkey::fairing()).mount("/", routes![me]).register("/", latchkey::catchers());
    Client::untracked(rocket).await.expect("the app ignites")
}

#[tokio::test]
async fn without_pages_sign_in_works_and_everything_answers_in_json() {
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;
    let mut alice = Browser::new(&app, "test");
    let mut stranger = Browser::new(&app, "test");

    let refused = stranger.get("/me").await;
    let signed_in = alice.sign_in("alice", "alice", "/me").await;
    let me = alice.get("/me").await;
    let session = alice.get("/api/session").await;
    let no_page = alice.get("/sessions").await;
    let forged = stranger.get("/auth/callback?code=x&state=y").await;
    let csrf = alice.csrf_token().await;
    let out = alice.post_form("/auth/logout", &[("csrf_token", &csrf)]).await;
    let signed_out = stranger.get("/signed-out").await;

    assert_eq!((refused.status, refused.json()["error"].clone()), (Status::Unauthorized, json!("unauthenticated")));
    assert_eq!(signed_in.location.as_deref(), Some("/me"));
    assert_eq!(me.body, "alice@example.com");
    assert_eq!(session.json()["user"]["name"], "Alice Liddell");
    assert_eq!((no_page.status, no_page.json()["error"].clone()), (Status::NotFound, json!("not_found")));
    assert_eq!((forged.status, forged.json()["error"].clone()), (Status::BadRequest, json!("flow_expired")));
    assert_eq!(out.status, Status::SeeOther);
    assert!(out.location.as_deref().is_some_and(|url| url.starts_with(&keycloak_issuer())), "{:?}", out.location);
    assert_eq!(signed_out.json(), json!({ "signed_out": true, "provider": null }));
}

#[tokio::test]
async fn without_pages_the_choice_of_providers_is_a_list_of_links() {
    let db = TestDb::create().await;
    let other =
        json!({ "issuer": keycloak_issuer(), "client_id": "latchkey-other", "client_secret": "latchkey-other-secret" });
    let app = app(figment(&db).merge(Serialized::global("auth.providers.other", other))).await;

    let choice = Browser::new(&app, "test").get("/auth/login?return_to=%2Fme").await;

    assert_eq!(choice.status, Status::Ok);
    let providers = choice.json()["providers"].clone();
    assert_eq!(providers[0]["name"], "keycloak");
    assert_eq!(providers[1]["login_url"], "/auth/login?provider=other&return_to=%2Fme");
}
