//! The IdP's tokens are sealed at rest: the raw rows hold none of them in clear, and a
//! key rotation keeps the rows written under the old key usable.

mod common;

use common::browser::Browser;
use common::{app, figment, keycloak_issuer, TestDb};
use figment::providers::Serialized;
use rocket::http::Status;
use serde_json::json;
use sqlx::Row;

const K1: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
const K2: &str = "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=";

#[tokio::test]
async fn no_token_is_stored_in_clear() {
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;
    let mut alice = Browser::new(&app, "test");
    alice.sign_in("alice", "alice", "/").await;

    let mut connection = db.connect().await;
    let account = sqlx::query("SELECT access_token, refresh_token, id_token FROM accounts")
        .fetch_one(&mut connection)
        .await
        .expect("account");
    let session = sqlx::query("SELECT access_token, refresh_token, id_token FROM sessions")
        .fetch_one(&mut connection)
        .await
        .expect("session");
    let mut stored: Vec<String> = Vec::new();
    for row in [&account, &session] {
        let columns = ["access_token", "refresh_token", "id_token"];
        stored.extend(columns.iter().filter_map(|column| row.get::<Option<String>, _>(*column)));
    }

    assert_eq!(stored.len(), 6, "Keycloak hands out access, refresh and ID tokens: {stored:?}");
    for value in &stored {
        assert!(value.starts_with("lk1.dev-1."), "not sealed: {value}");
        assert!(!looks_like_jwt(value), "a JWT in clear: {value}");
    }
    // Every table, every text column: nothing that looks like a JWT or the cookie token.
    let cookie = alice.session_cookie().cloned().expect("cookie");
    let dump: String = sqlx::query_scalar(
        "SELECT string_agg(t::text, ' ') FROM (
             SELECT row_to_json(u)::text AS t FROM users u UNION ALL
             SELECT row_to_json(a)::text FROM accounts a UNION ALL
             SELECT row_to_json(s)::text FROM sessions s) rows",
    )
    .fetch_one(&mut connection)
    .await
    .expect("dump");
    assert!(!looks_like_jwt(&dump) && !dump.contains(&cookie), "{dump}");
}

/// Whether `text` holds a JWT in clear: a base64url JSON header, a dot, a base64url JSON
/// payload (`{"` encodes as `eyJ`). A sealed value is random base64url, in which `eyJ`
/// alone turns up by chance, but not twice across a dot.
fn looks_like_jwt(text: &str) -> bool {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')).any(|word| {
        let parts: Vec<&str> = word.split('.').collect();
        parts.windows(2).any(|pair| pair[0].starts_with("eyJ") && pair[1].starts_with("eyJ"))
    })
}

#[tokio::test]
async fn rotating_the_key_keeps_old_rows_readable() {
    let db = TestDb::create().await;
    let before =
        figment(&db).merge(Serialized::global("auth.encryption", json!({ "current": "k1", "keys": { "k1": K1 } })));
    let old_app = app(before).await;
    let mut first_visit = Browser::new(&old_app, "test");
    first_visit.sign_in("alice", "alice", "/").await;

    let rotated = figment(&db)
        .merge(Serialized::global("auth.encryption", json!({ "current": "k2", "keys": { "k1": K1, "k2": K2 } })));
    let new_app = app(rotated).await;
    let mut alice = Browser::with_cookies(&new_app, &first_visit);
    let mut bob = Browser::new(&new_app, "test");
    bob.sign_in("bob", "bob", "/").await;

    let mut connection = db.connect().await;
    let keys: Vec<String> = sqlx::query_scalar("SELECT split_part(id_token, '.', 2) FROM sessions ORDER BY created_at")
        .fetch_all(&mut connection)
        .await
        .expect("key ids");
    assert_eq!(keys, vec!["k1", "k2"], "old row under k1, new row under k2");

    // alice's row was sealed under k1: signing out still finds her ID token for Keycloak.
    let token = alice.get("/api/csrf").await.json()["csrf_token"].as_str().expect("csrf").to_string();
    let out = alice.post_form("/auth/logout", &[("csrf_token", &token)]).await;
    assert_eq!(out.status, Status::SeeOther);
    let end_session = url::Url::parse(&out.location.expect("location")).expect("url");
    assert!(end_session.as_str().starts_with(&keycloak_issuer()));
    let hint = end_session.query_pairs().find(|(k, _)| k == "id_token_hint").map(|(_, v)| v.into_owned());
    assert!(hint.as_deref().is_some_and(|jwt| jwt.starts_with("eyJ") && jwt.split('.').count() == 3), "{hint:?}");
    let back = first_visit.idp_redirect(end_session.as_str()).await;
    assert!(back.contains("/signed-out?state="), "Keycloak accepted the hint: {back}");
}
