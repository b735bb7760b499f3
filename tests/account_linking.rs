//! Which user a sign-in lands on: linking by e-mail only between addresses verified on
//! both sides and when the provider allows it, no account revealed to someone with an
//! unverified address, and profiles that follow the IdP (through userinfo too) without
//! losing what a token left out.

mod common;

use common::fake_idp::{setup, setup_with, sign_in_with, with, without, Options, Signer};
use common::TestDb;
use rocket::http::Status;
use serde_json::json;
use sqlx::Row;

/// A user who signed up through another provider with Mallory's e-mail (in other case),
/// verified there.
async fn seed_other_owner(db: &TestDb) -> uuid::Uuid {
    let mut connection = db.connect().await;
    let user: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO users (name, email, email_verified) VALUES ('Owner', 'MALLORY@example.com', now()) RETURNING id",
    )
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
async fn an_unverified_email_is_never_linked_and_reveals_no_account() {
    let (db, idp, app) = setup(json!({ "allow_email_linking": true })).await;
    let owner = seed_other_owner(&db).await;

    let page = sign_in_with(&app, &idp, |idp, nonce| {
        idp.issue(&with(idp.valid_claims(nonce), "email_verified", json!(false)), Signer::Published)
    })
    .await;

    // Signed in as a user of their own, as anyone with an unknown address would be.
    assert_eq!(page.status, Status::SeeOther, "{}", page.body);
    assert_eq!(counts(&db).await, (2, 2, 1));
    let mut connection = db.connect().await;
    let landed: uuid::Uuid = sqlx::query_scalar("SELECT user_id FROM accounts WHERE provider = 'fake'")
        .fetch_one(&mut connection)
        .await
        .expect("account");
    assert_ne!(landed, owner);
}

#[tokio::test]
async fn an_unverified_address_cannot_wait_in_a_user_for_its_owner_to_sign_up() {
    // Pre-account takeover: the attacker signs in with the victim's address, unverified;
    // later the victim signs in with it verified (another account at the provider).
    let (db, idp, app) = setup(json!({ "allow_email_linking": true })).await;
    let victim_address = json!("victim@example.com");
    sign_in_with(&app, &idp, |idp, nonce| {
        let claims = with(idp.valid_claims(nonce), "email", victim_address.clone());
        let claims = with(with(claims, "email_verified", json!(false)), "sub", json!("attacker-sub"));
        idp.issue(&claims, Signer::Published)
    })
    .await;

    let page = sign_in_with(&app, &idp, |idp, nonce| {
        let claims = with(idp.valid_claims(nonce), "email", victim_address.clone());
        idp.issue(&with(claims, "sub", json!("victim-sub")), Signer::Published)
    })
    .await;

    assert_eq!(page.status, Status::SeeOther, "{}", page.body);
    let mut connection = db.connect().await;
    let users: Vec<(String, bool)> = sqlx::query_as(
        "SELECT a.provider_account_id, u.email_verified IS NOT NULL FROM accounts a JOIN users u ON u.id = a.user_id
          ORDER BY a.provider_account_id",
    )
    .fetch_all(&mut connection)
    .await
    .expect("accounts");
    assert_eq!(users, [("attacker-sub".to_string(), false), ("victim-sub".to_string(), true)]);
    assert_eq!(counts(&db).await, (2, 2, 2), "the victim has a user of their own, not the attacker's");
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

#[tokio::test]
async fn a_sign_in_whose_token_leaves_out_the_profile_keeps_what_is_stored() {
    let (db, idp, app) = setup(json!({})).await;
    sign_in_with(&app, &idp, |idp, nonce| {
        idp.issue(&with(idp.valid_claims(nonce), "picture", json!("https://example.com/m.png")), Signer::Published)
    })
    .await;

    let page = sign_in_with(&app, &idp, |idp, nonce| {
        let claims = without(without(idp.valid_claims(nonce), "name"), "email");
        idp.issue(&without(claims, "email_verified"), Signer::Published)
    })
    .await;

    assert_eq!(page.status, Status::SeeOther, "{}", page.body);
    let mut connection = db.connect().await;
    let user = sqlx::query("SELECT name, email, email_verified IS NOT NULL AS verified, image FROM users")
        .fetch_one(&mut connection)
        .await
        .expect("one user");
    assert_eq!(user.get::<Option<String>, _>("name").as_deref(), Some("Mallory Fake"));
    assert_eq!(user.get::<Option<String>, _>("email").as_deref(), Some("mallory@example.com"));
    assert!(user.get::<bool, _>("verified"));
    assert_eq!(user.get::<Option<String>, _>("image").as_deref(), Some("https://example.com/m.png"));
}

#[tokio::test]
async fn claims_a_provider_gives_only_through_userinfo_make_the_profile() {
    let (db, idp, app) = setup_with(Options { userinfo: true, ..Options::default() }, json!({})).await;
    idp.set_userinfo(json!({
        "sub": "fake-subject-1", "name": "Mallory From Userinfo", "email": "mallory@example.com", "email_verified": true,
    }));

    let page = sign_in_with(&app, &idp, |idp, nonce| {
        let claims = without(without(idp.valid_claims(nonce), "name"), "email");
        idp.issue(&without(claims, "email_verified"), Signer::Published)
    })
    .await;

    assert_eq!(page.status, Status::SeeOther, "{}", page.body);
    let mut connection = db.connect().await;
    let user = sqlx::query("SELECT name, email, email_verified IS NOT NULL AS verified FROM users")
        .fetch_one(&mut connection)
        .await
        .expect("one user");
    assert_eq!(user.get::<Option<String>, _>("name").as_deref(), Some("Mallory From Userinfo"));
    assert_eq!(user.get::<Option<String>, _>("email").as_deref(), Some("mallory@example.com"));
    assert!(user.get::<bool, _>("verified"));
}

#[tokio::test]
async fn userinfo_about_another_subject_is_refused_and_writes_nothing() {
    let (db, idp, app) = setup_with(Options { userinfo: true, ..Options::default() }, json!({})).await;
    idp.set_userinfo(json!({ "sub": "someone-else", "name": "Eve", "email": "eve@example.com" }));

    let page = sign_in_with(&app, &idp, |idp, nonce| {
        idp.issue(&without(without(idp.valid_claims(nonce), "name"), "email"), Signer::Published)
    })
    .await;

    assert_eq!(page.status, Status::BadRequest, "{}", page.body);
    assert!(page.body.contains("invalid_id_token"), "{}", page.body);
    assert_eq!(counts(&db).await, (0, 0, 0));
}
