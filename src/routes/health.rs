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
    // Statuses only: why a part is down (host names, role names) goes to the log, not to
    // whoever asks.
    let database = match shared.store.ping().await {
        Ok(()) => Health::Up,
        Err(error) => {
            tracing::warn!("readiness: the database is down: {}", chain(&error));
            Health::Down
        }
    };
    let mut ready = database == Health::Up;
    let mut idps = serde_json::Map::new();
    for provider in shared.providers.iter() {
        let health = provider.health();
        ready &= health == Health::Up;
        idps.insert(provider.name.clone(), json!({ "status": health }));
    }
    let body = json!({
        "status": if ready { "ready" } else { "unavailable" },
        "checks": { "database": { "status": database }, "providers": idps },
    });
    (if ready { Status::Ok } else { Status::ServiceUnavailable }, Json(body))
}
