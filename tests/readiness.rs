//! `/healthz` and `/readyz` against the real PostgreSQL and Keycloak, including an IdP
//! that is unreachable at start and one that comes back.

mod common;

use std::time::Duration;

use common::{client, closed_port, eventually, figment, FrozenKeycloak, TestDb, KEYCLOAK};
use figment::providers::Serialized;
use rocket::http::Status;
use rocket::local::asynchronous::Client;
use serde_json::Value;

async fn readyz(app: &Client) -> (Status, Value) {
    let response = app.get("/readyz").dispatch().await;
    let status = response.status();
    let body = response.into_json::<Value>().await.expect("readyz answers JSON");
    (status, body)
}

#[tokio::test]
async fn ready_when_database_and_identity_provider_are_up() {
    let _keycloak = KEYCLOAK.lock().await;
    let db = TestDb::create().await;
    let app = client(figment(&db)).await;

    let ready = eventually(Duration::from_secs(20), || async { readyz(&app).await.0 == Status::Ok }).await;

    let (_, body) = readyz(&app).await;
    assert!(ready, "readyz never turned 200: {body}");
    assert_eq!(body["checks"]["database"]["status"], "up");
    assert_eq!(body["checks"]["providers"]["keycloak"]["status"], "up");
}

#[tokio::test]
async fn starts_and_reports_the_idp_down_when_its_port_is_closed() {
    let db = TestDb::create().await;
    let issuer = format!("http://127.0.0.1:{}/realms/latchkey", closed_port());
    let app = client(figment(&db).merge(Serialized::global("auth.providers.keycloak.issuer", issuer))).await;

    let health = app.get("/healthz").dispatch().await;
    assert_eq!(health.status(), Status::Ok);
    // Give discovery time to fail at least once; it must stay down.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (status, body) = readyz(&app).await;

    assert_eq!(status, Status::ServiceUnavailable);
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["checks"]["database"]["status"], "up");
    assert_eq!(body["checks"]["providers"]["keycloak"]["status"], "down");
    assert!(body["checks"]["providers"]["keycloak"]["error"].is_string(), "{body}");
}

#[tokio::test]
async fn readiness_returns_without_restart_when_the_idp_comes_back() {
    let _keycloak = KEYCLOAK.lock().await;
    let db = TestDb::create().await;
    let mut frozen = FrozenKeycloak::freeze();
    let app = client(figment(&db)).await;

    let (status, body) = readyz(&app).await;
    assert_eq!(status, Status::ServiceUnavailable, "{body}");
    assert_eq!(body["checks"]["providers"]["keycloak"]["status"], "down");
    assert_eq!(app.get("/healthz").dispatch().await.status(), Status::Ok);
    // Let at least one discovery attempt time out against the hung IdP before it returns.
    let attempt_failed = eventually(Duration::from_secs(20), || async {
        let error = readyz(&app).await.1["checks"]["providers"]["keycloak"]["error"].clone();
        error.as_str().is_some_and(|text| !text.contains("has not run yet"))
    })
    .await;
    assert!(attempt_failed, "discovery never reported a failure while Keycloak was frozen");

    frozen.thaw();
    let recovered = eventually(Duration::from_secs(40), || async { readyz(&app).await.0 == Status::Ok }).await;

    assert!(recovered, "readyz stayed 503 after Keycloak came back: {}", readyz(&app).await.1);
}
