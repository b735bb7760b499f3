//! Rocket's own failures (no route, a guard's forward or error, a panic) answered like
//! every other error: a stable code, JSON for `/api`, a page for browsers. A page that
//! needs a signed-in person sends them to sign-in and back.

use rocket::http::{Method, Status};
use rocket::response::Redirect;
use rocket::Request;

use crate::config::AuthConfig;
use crate::error::{wants_json, AppError};
use crate::guards::StaleSession;
use crate::session::cookie;

pub fn catchers() -> Vec<rocket::Catcher> {
    rocket::catchers![default_catcher]
}

#[derive(rocket::Responder)]
enum Caught {
    SignIn(Box<Redirect>),
    Error(AppError),
}

#[rocket::catch(default)]
fn default_catcher(status: Status, request: &Request<'_>) -> Caught {
    if status == Status::Unauthorized {
        repeat_stale_session_clearing(request);
    }
    let error = match status.code {
        401 if !wants_json(request) && matches!(request.method(), Method::Get | Method::Head) => {
            let back = request.uri().to_string();
            let encoded: String = url::form_urlencoded::byte_serialize(back.as_bytes()).collect();
            return Caught::SignIn(Box::new(Redirect::to(format!("/auth/login?return_to={encoded}"))));
        }
        401 => AppError::Unauthenticated,
        403 => AppError::Csrf("refused"),
        404 => AppError::NotFound,
        503 => AppError::DbUnavailable("a request guard could not reach the database".into()),
        code if code < 500 => AppError::BadRequest(status.reason_lossy().to_lowercase()),
        _ => AppError::Internal(format!("unhandled status {status}")),
    };
    Caught::Error(error)
}

/// Rocket drops cookie changes made before a catcher runs, so a stale session cookie
/// found by the guard is cleared (and the browser marked for re-login) here again.
fn repeat_stale_session_clearing(request: &Request<'_>) {
    let StaleSession(stale) = *request.local_cache(StaleSession::default);
    if let (true, Some(config)) = (stale, request.rocket().state::<AuthConfig>()) {
        cookie::clear_stale(request.cookies(), config);
    }
}
