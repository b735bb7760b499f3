//! `metrics`: the Prometheus metrics, for a scraper presenting `auth.metrics.token` as a
//! bearer token. Mounted only when that token is configured.

use std::convert::Infallible;

use rocket::http::ContentType;
use rocket::request::{FromRequest, Outcome, Request};

use crate::crypto::constant_time_eq;
use crate::error::Error;
use crate::guards::Ctx;

pub(crate) fn routes() -> Vec<rocket::Route> {
    rocket::routes![metrics]
}

/// The OpenMetrics text format that prometheus-client writes.
fn openmetrics() -> ContentType {
    ContentType::new("application", "openmetrics-text").with_params([("version", "1.0.0"), ("charset", "utf-8")])
}

/// The token of an `Authorization: Bearer …` header, if there is one.
struct Bearer<'r>(Option<&'r str>);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Bearer<'r> {
    type Error = Infallible;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Infallible> {
        let token = request.headers().get_one("Authorization").and_then(|value| {
            let (scheme, token) = value.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
        Outcome::Success(Bearer(token))
    }
}

/// The metrics as text; 401 `invalid_token` (and nothing else) without the right token.
#[rocket::get("/metrics")]
fn metrics(bearer: Bearer<'_>, shared: Ctx<'_>) -> Result<(ContentType, String), Error> {
    let expected = shared.config.metrics.token.as_ref().ok_or(Error::NotFound)?;
    let presented = bearer.0.ok_or(Error::InvalidToken)?;
    if !constant_time_eq(presented.as_bytes(), expected.expose().as_bytes()) {
        return Err(Error::InvalidToken);
    }
    let pool = shared.store.pool();
    let text = shared
        .metrics
        .render(pool.size(), pool.num_idle())
        .map_err(|e| Error::internal_from("encoding the metrics", e))?;
    Ok((openmetrics(), text))
}
