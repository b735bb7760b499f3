//! Liveness and readiness for load balancers and orchestrators.

use rocket::http::Status;
use rocket::serde::json::{json, Json, Value};
use rocket::State;
use rocket_db_pools::sqlx;

use crate::db::AuthDb;
use crate::oidc::Providers;

pub fn routes() -> Vec<rocket::Route> {
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
async fn readyz(db: &AuthDb, providers: &State<Providers>) -> (Status, Json<Value>) {
    let database = match sqlx::query("SELECT 1").execute(db.pool()).await {
        Ok(_) => json!({ "status": "up" }),
        Err(error) => json!({ "status": "down", "error": crate::error::chain(&error) }),
    };
    let mut ready = database["status"] == "up";
    let mut idps = serde_json::Map::new();
    for provider in providers.iter() {
        let status = provider.status();
        ready &= status.status == "up";
        idps.insert(provider.name.clone(), json!(status));
    }
    let body = json!({
        "status": if ready { "ready" } else { "unavailable" },
        "checks": { "database": database, "providers": idps },
    });
    (if ready { Status::Ok } else { Status::ServiceUnavailable }, Json(body))
}
