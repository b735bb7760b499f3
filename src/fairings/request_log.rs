//! One log line per request: method, path, matched route, status and time. Never the
//! query string (the sign-in callback carries the authorization code there) and never a
//! header.

use std::time::Instant;

use rocket::fairing::{Fairing, Info, Kind};
use rocket::{Data, Request, Response};

/// A `tracing` line per request (`method`, `path`, `route`, `status`, `elapsed_us`;
/// `route` is the matched route's template, `/sessions/<id>/revoke`, or `-`), never with
/// the query string or a header: `rocket.attach(latchkey::RequestLog)`. Rocket's own
/// request log prints whole URIs (the sign-in callback's carries the authorization
/// code), so keep Rocket's `log_level` at `critical` or `off` beside it.
pub struct RequestLog;

struct Started(Instant);

#[rocket::async_trait]
impl Fairing for RequestLog {
    fn info(&self) -> Info {
        Info { name: "Request log", kind: Kind::Request | Kind::Response }
    }

    async fn on_request(&self, request: &mut Request<'_>, _data: &mut Data<'_>) {
        request.local_cache(|| Started(Instant::now()));
    }

    async fn on_response<'r>(&self, request: &'r Request<'_>, response: &mut Response<'r>) {
        let Started(started) = request.local_cache(|| Started(Instant::now()));
        tracing::info!(
            method = %request.method(),
            path = %request.uri().path(),
            route = %request.route().map_or("-", |route| route.uri.path()),
            status = response.status().code,
            elapsed_us = started.elapsed().as_micros() as u64,
            "request"
        );
    }
}
