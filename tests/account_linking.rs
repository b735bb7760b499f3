//! Which user a sign-in lands on: linking by e-mail only when the IdP vouches for it and
//! the provider allows it, and profiles that follow the IdP at every sign-in.

mod common;

use common::fake_idp::{setup, sign_in_with, Signer};
use common::TestDb;
use rocket::http::Status;
use serde_json::json;
use sqlx::Row;

/// A user who signed up through another provider with Mallory's e-mail (in other case).
async fn seed_other_owner(db: &TestDb) -> uuid::Uuid {
    let mut connection = db.connect().await;
    let user: uuid::Uuid =
        sqlx::query_scalar("INSERT INTO users (name, email) VALUES ('Owner', 'MALLORY@example.com') RETURNING id")
            .fetch_one(&mut connection)
            .await
            .expect("seed user");
    sqlx::query("INSERT INTO accounts (user_id, type, provider, provider_account_id) VALUES ($1, 'oidc', 'keycloak', 'other-sub')")
        .bind(user)
        .execute(&mut connection)
        .await
        .expect("seed account");
    user
}

async fn counts(db: &TestDb) -> (i64, i64, i64) {
    let mut connection = db.connect().await;
    let row = sqlx::query(
        "SELECT (SELECT count(*) FROM users) AS u, (SELECT count(*) FROM accounts) AS a, (SELECT count(*) FROM sessions) AS s",
    )
    .fetch_one(&mut connection)
    .await
    .expect("counts");
    (row.get("u"), row.get("a"), row.get("s"))
}

#[tokio::test]
async fn an_email_owned_by_another_account_is_not_linked_by_default() {
    let (db, idp, app) = setup(json!({})).await;
    seed_other_owner(&db).await;

    let page = sign_in_with(&app, &idp, |idp, nonce| idp.issue(&idp.valid_claims(nonce), Signer::Published)).await;

    assert_eq!(page.status, Status::Conflict, "{}", page.body);
    assert!(page.body.contains("account_not_linked"));
    assert_eq!(counts(&db).await, (1, 1, 0), "nothing was written");
}

#[tokio::test]
async fn an_unverified_email_is_never_linked() {
    let (db, idp, app) = setup(json!({ "allow_email_linking": true })).await;
    seed_other_owner(&db).await;

    let page = sign_in_with(&app, &idp, |idp, nonce| {
        let mut claims = idp.valid_claims(nonce);
        claims.insert("email_verified".into(), json!(false));
        idp.issue(&claims, Signer::Published)
    })
    .await;

    assert_eq!(page.status, Status::Conflict, "{}", page.body);
    assert_eq!(counts(&db).await, (1, 1, 0));
}

#[tokio::test]
async fn a_verified_email_is_linked_when_the_provider_allows_it() {
    let (db, idp, app) = setup(json!({ "allow_email_linking": true })).await;
    let owner = seed_other_owner(&db).await;

    let page = sign_in_with(&app, &idp, |idp, nonce| idp.issue(&idp.valid_claims(nonce), Signer::Published)).await;

    assert_eq!(page.status, Status::SeeOther, "{}", page.body);
    assert_eq!(counts(&db).await, (1, 2, 1));
    let mut connection = db.connect().await;
    let linked: uuid::Uuid = sqlx::query_scalar("SELECT user_id FROM accounts WHERE provider = 'fake'")
        .fetch_one(&mut connection)
        .await
        .expect("linked account");
    assert_eq!(linked, owner);
}

#[tokio::test]
async fn signing_in_again_updates_the_profile_from_the_new_claims() {
    let (db, idp, app) = setup(json!({})).await;
    sign_in_with(&app, &idp, |idp, nonce| idp.issue(&idp.valid_claims(nonce), Signer::Published)).await;

    let page = sign_in_with(&app, &idp, |idp, nonce| {
        let mut claims = idp.valid_claims(nonce);
        claims.insert("name".into(), json!("Mallory Renamed"));
        claims.insert("email".into(), json!("mallory.new@example.com"));
        claims.insert("picture".into(), json!("https://example.com/m.png"));
        idp.issue(&claims, Signer::Published)
    })
    .await;

    assert_eq!(page.status, Status::SeeOther, "{}", page.body);
    let mut connection = db.connect().await;
    let user = sqlx::query("SELECT name, email, image FROM users").fetch_one(&mut connection).await.expect("one user");
    assert_eq!(user.get::<Option<String>, _>("name").as_deref(), Some("Mallory Renamed"));
    assert_eq!(user.get::<Option<String>, _>("email").as_deref(), Some("mallory.new@example.com"));
    assert_eq!(user.get::<Option<String>, _>("image").as_deref(), Some("https://example.com/m.png"));
    assert_eq!(counts(&db).await, (1, 1, 2), "one user, one account, two sessions");
}

#[tokio::test]
async fn without_a_name_claim_the_preferred_username_is_used() {
    let (db, idp, app) = setup(json!({})).await;

    sign_in_with(&app, &idp, |idp, nonce| {
        let mut claims = idp.valid_claims(nonce);
        claims.remove("name");
        claims.insert("preferred_username".into(), json!("mallory"));
        idp.issue(&claims, Signer::Published)
    })
    .await;

    let mut connection = db.connect().await;
    let name: Option<String> =
        sqlx::query_scalar("SELECT name FROM users").fetch_one(&mut connection).await.expect("user");
    assert_eq!(name.as_deref(), Some("mallory"));
}
