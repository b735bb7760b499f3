//! Liveness and readiness for load balancers and orchestrators.

use rocket::http::Status;
use rocket::serde::json::{json, Json, Value};

use crate::error::chain;
use crate::guards::Ctx;
use crate::oidc::provider::Health;

pub(crate) fn routes() -> Vec<rocket::Route> {
    rocket::routes![healthz, readyz]
}

/// The process is up and answering; depends on nothing else.
#[rocket::get("/healthz")]
fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Ready when the database answers and every provider's metadata is loaded; 503 naming
/// the part that is down otherwise.
#[rocket::get("/readyz")]
async fn readyz(shared: Ctx<'_>) -> (Status, Json<Value>) {
    let (database, mut ready) = match shared.store.ping().await {
        Ok(()) => (json!({ "status": Health::Up }), true),
        Err(error) => (json!({ "status": Health::Down, "error": chain(&error) }), false),
    };
    let mut idps = serde_json::Map::new();
    for provider in shared.providers.iter() {
        let status = provider.status();
        ready &= status.status == Health::Up;
        idps.insert(provider.name.clone(), json!(status));
    }
    let body = json!({
        "status": if ready { "ready" } else { "unavailable" },
        "checks": { "database": database, "providers": idps },
    });
    (if ready { Status::Ok } else { Status::ServiceUnavailable }, Json(body))
}
