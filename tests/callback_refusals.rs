//! Every way `/auth/callback` refuses, with the real Keycloak: each its own code and a
//! readable page, and nothing written.

mod common;

use common::browser::Browser;
use common::{app, figment, query_param, TestDb};
use figment::providers::Serialized;
use rocket::http::Status;

#[tokio::test]
async fn a_missing_state_is_refused() {
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;
    let mut browser = Browser::new(&app, "test");
    let authorize = browser.start_sign_in("/").await;
    let callback = browser.keycloak_login(&authorize, "alice", "alice").await;
    let code = query_param(&callback, "code");

    let page = browser.get(&format!("/auth/callback?code={code}")).await;

    assert_eq!(page.status, Status::BadRequest);
    assert!(page.body.contains("state_mismatch"), "{}", page.body);
    assert_eq!(db.count("sessions").await, 0);
}

#[tokio::test]
async fn a_mismatched_state_is_refused() {
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;
    let mut browser = Browser::new(&app, "test");
    let authorize = browser.start_sign_in("/").await;
    let callback = browser.keycloak_login(&authorize, "alice", "alice").await;
    let code = query_param(&callback, "code");

    let page = browser.get(&format!("/auth/callback?state=AAAAAAAAAAAAAAAAAAAAAA&code={code}")).await;

    assert_eq!(page.status, Status::BadRequest);
    assert!(page.body.contains("state_mismatch"), "{}", page.body);
    assert_eq!(db.count("sessions").await, 0);
    // The real flow is untouched by the forged attempt and still completes.
    assert_eq!(browser.follow(&callback).await.status, Status::SeeOther);
}

#[tokio::test]
async fn a_callback_without_the_flow_cookie_is_refused_as_expired() {
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;
    let mut browser = Browser::new(&app, "test");
    let authorize = browser.start_sign_in("/").await;
    let callback = browser.keycloak_login(&authorize, "alice", "alice").await;
    browser.cookies.clear();

    let page = browser.follow(&callback).await;

    assert_eq!(page.status, Status::BadRequest);
    assert!(page.body.contains("flow_expired"), "{}", page.body);
    assert_eq!(db.count("sessions").await, 0);
}

#[tokio::test]
async fn an_expired_flow_is_refused() {
    let db = TestDb::create().await;
    let app = app(figment(&db).merge(Serialized::global("auth.login_timeout", "1s"))).await;
    let mut browser = Browser::new(&app, "test");
    let authorize = browser.start_sign_in("/").await;
    let callback = browser.keycloak_login(&authorize, "alice", "alice").await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;

    let page = browser.follow(&callback).await;

    assert_eq!(page.status, Status::BadRequest);
    assert!(page.body.contains("flow_expired"), "{}", page.body);
    assert_eq!(db.count("sessions").await, 0);
}

#[tokio::test]
async fn an_error_from_the_idp_is_shown_with_its_own_code() {
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;
    let mut browser = Browser::new(&app, "test");
    let authorize = browser.start_sign_in("/").await;
    let state = query_param(&authorize, "state");

    let page = browser
        .get(&format!("/auth/callback?state={state}&error=access_denied&error_description=User+cancelled"))
        .await;

    assert_eq!(page.status, Status::BadRequest);
    assert!(page.body.contains("idp_error") && page.body.contains("cancelled or denied"), "{}", page.body);
    assert_eq!(db.count("sessions").await, 0);
}

#[tokio::test]
async fn a_replayed_code_is_rejected_by_keycloak_and_refused() {
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;
    let mut browser = Browser::new(&app, "test");
    let authorize = browser.start_sign_in("/").await;
    let callback = browser.keycloak_login(&authorize, "alice", "alice").await;
    let flow_cookies = browser.cookies.clone();
    assert_eq!(browser.follow(&callback).await.status, Status::SeeOther);

    // An attacker who kept the flow cookie and the callback URL replays both.
    let mut attacker = Browser::new(&app, "test");
    attacker.cookies = flow_cookies;
    let page = attacker.follow(&callback).await;

    assert_eq!(page.status, Status::BadRequest);
    assert!(page.body.contains("code_rejected"), "{}", page.body);
    assert_eq!(db.count("sessions").await, 1, "only the first sign-in made a session");
}

#[tokio::test]
async fn a_mismatched_issuer_parameter_is_refused() {
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;
    let mut browser = Browser::new(&app, "test");
    let authorize = browser.start_sign_in("/").await;
    let callback = browser.keycloak_login(&authorize, "alice", "alice").await;
    let tampered = callback.replace("iss=http%3A%2F%2F127.0.0.1%3A8080", "iss=https%3A%2F%2Fevil.example");
    assert_ne!(tampered, callback, "Keycloak sent iss: {callback}");

    let page = browser.follow(&tampered).await;

    assert_eq!(page.status, Status::BadRequest);
    assert!(page.body.contains("issuer_mismatch"), "{}", page.body);
    assert_eq!(db.count("sessions").await, 0);
}

#[tokio::test]
async fn offsite_return_paths_fall_back_to_the_home_page() {
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;

    for evil in
        ["//evil.example", "https://evil.example", "/\\evil.example", "/%2F%2Fevil.example", "%2F%2Fevil.example"]
    {
        let mut browser = Browser::new(&app, "test");
        let page = browser.sign_in("alice", "alice", evil).await;
        assert_eq!(page.location.as_deref(), Some("/"), "{evil:?} was followed");
    }
}

#[tokio::test]
async fn two_tabs_signing_in_at_once_both_succeed() {
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;
    let mut browser = Browser::new(&app, "test");
    let first = browser.start_sign_in("/first").await;
    let second = browser.start_sign_in("/second").await;

    let second_callback = browser.keycloak_login(&second, "alice", "alice").await;
    let second_page = browser.follow(&second_callback).await;
    // Keycloak's SSO session now exists: the first tab's authorization goes straight back.
    let first_callback = browser.idp_redirect(&first).await;
    let first_page = browser.follow(&first_callback).await;

    assert_eq!(second_page.location.as_deref(), Some("/second"));
    assert_eq!(first_page.location.as_deref(), Some("/first"), "{}", first_page.body);
    // One browser, one cookie: the later sign-in replaced the earlier one's session.
    assert_eq!(db.count("sessions").await, 1);
    assert!(browser.is_signed_in().await);
}

#[tokio::test]
async fn an_answer_without_iss_is_refused_since_keycloak_says_it_always_sends_one() {
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;
    let mut browser = Browser::new(&app, "test");
    let authorize = browser.start_sign_in("/").await;
    let callback = browser.keycloak_login(&authorize, "alice", "alice").await;
    let mut without_iss = url::Url::parse(&callback).expect("callback URL");
    let kept: Vec<(String, String)> = without_iss
        .query_pairs()
        .filter(|(name, _)| name != "iss")
        .map(|(n, v)| (n.into_owned(), v.into_owned()))
        .collect();
    assert!(kept.len() < without_iss.query_pairs().count(), "Keycloak sent iss: {callback}");
    without_iss.query_pairs_mut().clear().extend_pairs(kept);

    let page = browser.follow(without_iss.as_str()).await;

    assert_eq!(page.status, Status::BadRequest);
    assert!(page.body.contains("issuer_mismatch"), "{}", page.body);
    assert_eq!(db.count("sessions").await, 0);
}

#[tokio::test]
async fn the_providers_error_text_is_shown_only_for_a_sign_in_started_in_this_browser() {
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;
    let mut stranger = Browser::new(&app, "test");
    let spoof = "error=access_denied&error_description=Your+account+is+locked.+Call+%2B1+555+0100";

    let forged = stranger.get(&format!("/auth/callback?state=AAAAAAAAAAAAAAAAAAAAAA&{spoof}")).await;
    let no_state = stranger.get(&format!("/auth/callback?{spoof}")).await;

    for page in [&forged, &no_state] {
        assert_eq!(page.status, Status::BadRequest);
        assert!(!page.body.contains("555") && !page.body.contains("idp_error"), "{}", page.body);
        assert!(page.body.contains("flow_expired") || page.body.contains("state_mismatch"), "{}", page.body);
    }
}
