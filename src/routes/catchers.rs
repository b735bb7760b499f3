//! Rocket's own failures (no route, a guard's forward or error, a panic) answered like
//! every other error: a stable code, JSON for APIs, a page for browsers, and a signed-out
//! browser's GET sent to sign-in and back.

use rocket::http::Status;
use rocket::Request;

use crate::error::Error;
use crate::guards::{GuardFailure, StaleSession};
use crate::shared::Shared;

/// latchkey's catchers, for the app to register where it wants them: at `/`, every page
/// of the app that needs a signed-in person sends a signed-out browser to sign-in and
/// back, and errors get latchkey's pages (or JSON). A guard's error (a database outage,
/// say) is answered as itself, not guessed from its status.
///
/// ```no_run
/// # use rocket::launch;
/// #[launch]
/// fn rocket() -> _ {
///     rocket::build().attach(latchkey::Latchkey::fairing()).register("/", latchkey::catchers())
/// }
/// ```
///
/// latchkey registers them itself under a base path other than `/`.
pub fn catchers() -> Vec<rocket::Catcher> {
    rocket::catchers![default_catcher]
}

#[rocket::catch(default)]
fn default_catcher(status: Status, request: &Request<'_>) -> Error {
    if status == Status::Unauthorized {
        repeat_stale_session_clearing(request);
    }
    if let Some(error) = &request.local_cache(GuardFailure::default).0 {
        return error.clone();
    }
    match status.code {
        401 => Error::Unauthenticated,
        403 => Error::Forbidden,
        404 => Error::NotFound,
        503 => Error::Unavailable,
        code if code < 500 => Error::BadRequest(status.reason_lossy().to_lowercase()),
        _ => Error::internal(format!("unhandled status {status}")),
    }
}

/// Rocket drops cookie changes made before a catcher runs, so a stale session cookie
/// found by the guard is cleared (and the browser marked for re-login) here again.
fn repeat_stale_session_clearing(request: &Request<'_>) {
    let StaleSession(stale) = *request.local_cache(StaleSession::default);
    if let (true, Some(shared)) = (stale, Shared::of(request.rocket())) {
        shared.cookies.clear_stale_session(request.cookies());
    }
}
