//! Rocket's own failures (no route, a guard's error, a panic) answered like every other
//! error: a stable code, JSON for `/api`, a page for browsers.

use rocket::http::Status;
use rocket::Request;

use crate::error::AppError;

pub fn catchers() -> Vec<rocket::Catcher> {
    rocket::catchers![default_catcher]
}

#[rocket::catch(default)]
fn default_catcher(status: Status, _request: &Request<'_>) -> AppError {
    match status.code {
        401 => AppError::Unauthenticated,
        403 => AppError::Csrf("refused"),
        404 => AppError::NotFound,
        503 => AppError::DbUnavailable(sqlx::Error::PoolTimedOut),
        code if code < 500 => AppError::BadRequest(status.reason_lossy().to_lowercase()),
        _ => AppError::Internal(format!("unhandled status {status}")),
    }
}
