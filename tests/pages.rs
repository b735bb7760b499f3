//! What every page sends along: security headers, no caching of personal pages, and
//! markup ready for a strict CSP; plus the error pages people see.

mod common;

use common::browser::Browser;
use common::{app, figment, TestDb};
use figment::providers::Serialized;
use rocket::http::Status;

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;
    let mut alice = Browser::new(&app, "test");
    alice.sign_in("alice", "alice", "/").await;

    for path in ["/", "/sessions", "/api/session", "/healthz", "/nowhere", "/signed-out"] {
        let response = app
            .get(path)
            .cookie(rocket::http::Cookie::new("latchkey_session", alice.session_cookie().cloned().unwrap_or_default()))
            .dispatch()
            .await;
        let headers = response.headers();
        let csp = headers.get_one("Content-Security-Policy").unwrap_or_default();
        assert!(csp.contains("default-src 'self'") && csp.contains("script-src 'self'"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(
            csp.contains("form-action 'self' http://127.0.0.1:8080"),
            "{path}: sign-out redirects to the IdP: {csp}"
        );
        assert_eq!(headers.get_one("X-Content-Type-Options"), Some("nosniff"), "{path}");
        assert_eq!(headers.get_one("X-Frame-Options"), Some("DENY"), "{path}");
        assert_eq!(headers.get_one("Referrer-Policy"), Some("no-referrer"), "{path}");
        assert_eq!(headers.get_one("Cache-Control"), Some("no-store"), "{path}");
        assert!(headers.get_one("Strict-Transport-Security").is_none(), "{path}: no HSTS over http");
    }
    let css = app.get("/latchkey.css").dispatch().await;
    assert_eq!(css.headers().get_one("Cache-Control"), Some("public, max-age=86400"));
}

#[tokio::test]
async fn https_sites_send_hsts() {
    let db = TestDb::create().await;
    let app = app(figment(&db).merge(Serialized::global("auth.base_url", "https://127.0.0.1:8443"))).await;

    let response = app.get("/healthz").dispatch().await;

    assert_eq!(response.headers().get_one("Strict-Transport-Security"), Some("max-age=63072000; includeSubDomains"));
}

#[test]
fn templates_have_no_inline_script_or_style() {
    let dirs = ["src/pages/templates", "templates", "examples/notes/templates"];
    let entries = dirs.iter().flat_map(|dir| std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{dir}: {e}")));
    for entry in entries {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("template");
        let lower = text.to_lowercase();
        assert!(!lower.contains("<script"), "{path:?} has a script element");
        assert!(!lower.contains("<style"), "{path:?} has a style element");
        assert!(!lower.contains(" style="), "{path:?} has a style attribute");
        for handler in [" onclick=", " onload=", " onsubmit=", " onchange=", " onerror=", "javascript:"] {
            assert!(!lower.contains(handler), "{path:?} has an inline handler {handler}");
        }
    }
}

#[tokio::test]
async fn error_pages_explain_and_offer_a_next_step() {
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;
    let mut visitor = Browser::new(&app, "test");

    let cases = [
        ("/nowhere", Status::NotFound, "Not found", "not_found", "href=\"/\""),
        (
            "/auth/callback?code=x",
            Status::BadRequest,
            "This sign-in did not start here",
            "state_mismatch",
            "href=\"/auth/login\"",
        ),
        (
            "/auth/login?provider=nope",
            Status::NotFound,
            "Unknown sign-in provider",
            "unknown_provider",
            "href=\"/auth/login\"",
        ),
    ];
    for (path, status, title, code, next) in cases {
        let page = visitor.get(path).await;
        assert_eq!(page.status, status, "{path}");
        assert!(page.body.contains(&format!("<h1 id=\"error-title\">{title}</h1>")), "{path}: {}", page.body);
        assert!(page.body.contains(code) && page.body.contains(next), "{path}: {}", page.body);
    }
}

#[tokio::test]
async fn the_header_shows_the_signed_in_person_and_a_sign_out_button() {
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;
    let mut alice = Browser::new(&app, "test");
    alice.sign_in("alice", "alice", "/").await;

    let home = alice.get("/").await;
    let anonymous = Browser::new(&app, "test").get("/signed-out").await;

    assert!(home.body.contains("class=\"who\"") && home.body.contains("Alice Liddell"), "{}", home.body);
    assert!(home.body.contains("action=\"/auth/logout\""), "{}", home.body);
    assert!(home.body.contains("<time datetime="), "expiry is a machine-readable time");
    assert!(!anonymous.body.contains("action=\"/auth/logout\"") && anonymous.body.contains("href=\"/auth/login\""));
}

#[tokio::test]
async fn with_several_providers_sign_in_offers_a_choice() {
    let db = TestDb::create().await;
    let second = serde_json::json!({
        "issuer": common::keycloak_issuer(), "client_id": "latchkey-other", "client_secret": "latchkey-other-secret",
        "display_name": "Keycloak (other client)",
    });
    let app = app(figment(&db).merge(Serialized::global("auth.providers.other", second))).await;
    let mut visitor = Browser::new(&app, "test");

    let chooser = visitor.get("/auth/login?return_to=%2Fsessions").await;

    assert_eq!(chooser.status, Status::Ok);
    assert!(
        chooser.body.contains("Continue with Keycloak (other client)")
            && chooser.body.contains("Continue with Keycloak<")
    );
    assert!(chooser.body.contains("href=\"/auth/login?provider=other&amp;return_to=%2Fsessions\""), "{}", chooser.body);
    let picked = visitor.get("/auth/login?provider=other&return_to=%2Fsessions").await;
    assert_eq!(picked.status, Status::SeeOther);
    assert!(picked.location.as_deref().is_some_and(|url| url.contains("client_id=latchkey-other")));
    let callback = visitor.keycloak_login(picked.location.as_deref().expect("authorize"), "bob", "bob").await;
    let done = visitor.follow(&callback).await;
    assert_eq!(done.location.as_deref(), Some("/sessions"));
    assert_eq!(visitor.get("/api/sessions").await.json()["sessions"][0]["provider"], "other");
}
