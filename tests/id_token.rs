//! ID tokens a real IdP will not produce, from the stand-in provider: every one is
//! refused with `invalid_id_token` and nothing is written. A correctly signed one from the
//! same stand-in succeeds, so the refusals are the checks' doing.

mod common;

use common::browser::Page;
use common::fake_idp::{setup, setup_with, sign_in_with, with, FakeIdp, Options, Signer};
use common::TestDb;
use rocket::http::Status;
use serde_json::json;

async fn rows(db: &TestDb) -> (i64, i64, i64) {
    let mut connection = db.connect().await;
    let count = |table: &'static str| format!("SELECT count(*) FROM {table}");
    let users: i64 = sqlx::query_scalar(&count("users")).fetch_one(&mut connection).await.expect("users");
    let accounts: i64 = sqlx::query_scalar(&count("accounts")).fetch_one(&mut connection).await.expect("accounts");
    let sessions: i64 = sqlx::query_scalar(&count("sessions")).fetch_one(&mut connection).await.expect("sessions");
    (users, accounts, sessions)
}

async fn assert_refused(db: &TestDb, page: &Page, what: &str) {
    assert_eq!(page.status, Status::BadRequest, "{what}: {}", page.body);
    assert!(page.body.contains("invalid_id_token"), "{what}: {}", page.body);
    assert_eq!(rows(db).await, (0, 0, 0), "{what} wrote rows");
}

#[tokio::test]
async fn a_correctly_signed_token_from_the_stand_in_signs_in() {
    let (db, idp, app) = setup(json!({})).await;

    let page = sign_in_with(&app, &idp, |idp, nonce| idp.issue(&idp.valid_claims(nonce), Signer::Published)).await;

    assert_eq!(page.status, Status::SeeOther, "{}", page.body);
    assert_eq!(rows(&db).await, (1, 1, 1));
}

#[tokio::test]
async fn a_forged_signature_is_refused() {
    let (db, idp, app) = setup(json!({})).await;
    let page = sign_in_with(&app, &idp, |idp, nonce| idp.issue(&idp.valid_claims(nonce), Signer::Impostor)).await;
    assert_refused(&db, &page, "forged signature").await;
}

#[tokio::test]
async fn an_unsigned_token_is_refused() {
    let (db, idp, app) = setup(json!({})).await;
    let page = sign_in_with(&app, &idp, |idp, nonce| idp.issue_raw(FakeIdp::unsigned(&idp.valid_claims(nonce)))).await;
    assert_refused(&db, &page, "alg none").await;
}

#[tokio::test]
async fn a_wrong_issuer_is_refused() {
    let (db, idp, app) = setup(json!({})).await;
    let page = sign_in_with(&app, &idp, |idp, nonce| {
        idp.issue(&with(idp.valid_claims(nonce), "iss", json!("https://evil.example")), Signer::Published)
    })
    .await;
    assert_refused(&db, &page, "wrong iss").await;
}

#[tokio::test]
async fn a_wrong_audience_is_refused() {
    let (db, idp, app) = setup(json!({})).await;
    let page = sign_in_with(&app, &idp, |idp, nonce| {
        let claims = with(idp.valid_claims(nonce), "aud", json!("latchkey-other"));
        idp.issue(&with(claims, "azp", json!("latchkey-other")), Signer::Published)
    })
    .await;
    assert_refused(&db, &page, "wrong aud").await;
}

#[tokio::test]
async fn another_authorized_party_is_refused() {
    let (db, idp, app) = setup(json!({})).await;
    let page = sign_in_with(&app, &idp, |idp, nonce| {
        idp.issue(&with(idp.valid_claims(nonce), "azp", json!("latchkey-other")), Signer::Published)
    })
    .await;
    assert_refused(&db, &page, "wrong azp").await;
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    let (db, idp, app) = setup(json!({})).await;
    let past = chrono::Utc::now().timestamp() - 600;
    let page = sign_in_with(&app, &idp, |idp, nonce| {
        let claims = with(idp.valid_claims(nonce), "exp", json!(past));
        idp.issue(&with(claims, "iat", json!(past - 300)), Signer::Published)
    })
    .await;
    assert_refused(&db, &page, "expired").await;
}

#[tokio::test]
async fn a_token_issued_in_the_future_or_long_ago_is_refused() {
    let (db, idp, app) = setup(json!({})).await;
    let now = chrono::Utc::now().timestamp();
    let future = sign_in_with(&app, &idp, |idp, nonce| {
        idp.issue(&with(idp.valid_claims(nonce), "iat", json!(now + 3600)), Signer::Published)
    })
    .await;
    assert_refused(&db, &future, "iat in the future").await;
    let stale = sign_in_with(&app, &idp, |idp, nonce| {
        let claims = with(idp.valid_claims(nonce), "iat", json!(now - 86_400));
        idp.issue(&with(claims, "exp", json!(now + 300)), Signer::Published)
    })
    .await;
    assert_refused(&db, &stale, "stale iat").await;
}

#[tokio::test]
async fn a_token_without_iat_is_refused() {
    let (db, idp, app) = setup(json!({})).await;
    let page = sign_in_with(&app, &idp, |idp, nonce| {
        let mut claims = idp.valid_claims(nonce);
        claims.remove("iat");
        idp.issue(&claims, Signer::Published)
    })
    .await;
    assert_refused(&db, &page, "missing iat").await;
}

#[tokio::test]
async fn a_wrong_nonce_is_refused() {
    let (db, idp, app) = setup(json!({})).await;
    let page =
        sign_in_with(&app, &idp, |idp, _| idp.issue(&idp.valid_claims("another-flows-nonce"), Signer::Published)).await;
    assert_refused(&db, &page, "wrong nonce").await;
}

#[tokio::test]
async fn an_unknown_key_is_looked_up_once_then_refused() {
    let (db, idp, app) = setup(json!({})).await;
    let before = idp.jwks_fetches();

    let page = sign_in_with(&app, &idp, |idp, nonce| idp.issue(&idp.valid_claims(nonce), Signer::Unpublished)).await;

    assert_refused(&db, &page, "unknown kid").await;
    assert_eq!(idp.jwks_fetches(), before + 1, "the JWKS is refetched exactly once for an unknown kid");
}

#[tokio::test]
async fn a_rotated_in_key_is_picked_up_without_a_restart() {
    let (db, idp, app) = setup(json!({})).await;
    idp.rotate_in_key_b();

    let page = sign_in_with(&app, &idp, |idp, nonce| idp.issue(&idp.valid_claims(nonce), Signer::Unpublished)).await;

    assert_eq!(page.status, Status::SeeOther, "{}", page.body);
    assert_eq!(rows(&db).await, (1, 1, 1));
}

#[tokio::test]
async fn a_provider_whose_issuer_has_no_path_is_discovered_as_written_and_signs_in() {
    // Google's issuer is `https://accounts.google.com`: no path, no trailing slash.
    let (db, idp, app) = setup_with(Options { at_root: true, ..Options::default() }, json!({})).await;
    assert!(!idp.issuer.ends_with('/') && url::Url::parse(&idp.issuer).expect("url").path() == "/");

    let page = sign_in_with(&app, &idp, |idp, nonce| idp.issue(&idp.valid_claims(nonce), Signer::Published)).await;

    assert_eq!(page.status, Status::SeeOther, "{}", page.body);
    assert_eq!(rows(&db).await, (1, 1, 1));
}

#[tokio::test]
async fn an_hs256_token_keyed_with_the_client_secret_is_refused_though_discovery_lists_hs256() {
    let options = Options { algorithms: vec!["RS256", "HS256"], ..Options::default() };
    let (db, idp, app) = setup_with(options, json!({})).await;

    let page = sign_in_with(&app, &idp, |idp, nonce| {
        idp.issue_raw(FakeIdp::sign_hs256(&idp.valid_claims(nonce), "fake-secret"))
    })
    .await;

    assert_refused(&db, &page, "an HS256 token").await;
}
