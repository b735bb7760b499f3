//! How an [`Error`] is answered: a page for browsers (with a next step), JSON for API
//! paths and clients that ask for it, a redirect to sign-in for a signed-out browser's
//! GET, and `Retry-After` on 503. The cause is logged once, here.

use rocket::http::{Method, Status};
use rocket::request::Request;
use rocket::response::{self, Redirect, Responder, Response};
use rocket::serde::json::Json;
use serde_json::json;

use crate::error::{chain, Error};
use crate::shared::Shared;

impl Error {
    /// Where to go next: (label, href); `None` as href means "this same page again".
    #[cfg(feature = "pages")]
    pub(crate) fn next_step<'a>(&self, shared: Option<&'a Shared>) -> (&'static str, Option<&'a str>) {
        use Error::*;
        let login = shared.map_or("/", |shared| shared.paths.login.as_str());
        let home = shared.map_or("/", |shared| shared.paths.home.as_str());
        match self {
            DbUnavailable(_) | IdpUnavailable { .. } | Unavailable | Internal { .. } => ("Try again", None),
            Unauthenticated
            | StateMismatch
            | IssuerMismatch
            | FlowExpired
            | IdpError { .. }
            | CodeRejected(_)
            | InvalidIdToken(_)
            | AccountNotLinked
            | UnknownProvider => ("Sign in", Some(login)),
            SignInRefused(_)
            | Csrf(_)
            | Forbidden
            | NotFound
            | BadRequest(_)
            | InvalidLogoutToken(_)
            | InvalidToken => ("Go home", Some(home)),
            // Browsers are redirected to sign in again before a page is drawn.
            ReauthenticationRequired { .. } => ("Sign in again", Some(login)),
        }
    }

    pub(crate) fn json_body(&self) -> Json<serde_json::Value> {
        match self {
            Error::ReauthenticationRequired { login_url } => {
                Json(json!({ "error": self.code(), "message": self.message(), "login_url": login_url }))
            }
            _ => Json(json!({ "error": self.code(), "message": self.message() })),
        }
    }

    /// One line for the log: the code, and the whole chain of causes.
    fn log(&self) {
        let chain = chain(self);
        if self.status().code >= 500 {
            tracing::error!(code = self.code(), "{chain}");
        } else {
            tracing::info!(code = self.code(), "{chain}");
        }
    }
}

/// Whether this request is answered in JSON rather than with a page.
pub(crate) fn wants_json(request: &Request<'_>) -> bool {
    let api_path = match Shared::of(request.rocket()) {
        Some(shared) => shared.paths.is_api(request.uri().path().as_str()),
        None => request.uri().path().starts_with("/api/"),
    };
    api_path || !cfg!(feature = "pages") || request.accept().is_some_and(|accept| accept.preferred().is_json())
}

impl<'r> Responder<'r, 'static> for Error {
    fn respond_to(self, request: &'r Request<'_>) -> response::Result<'static> {
        self.log();
        let shared = Shared::of(request.rocket());
        if let Some(shared) = shared {
            shared.metrics.error_answered(self.code());
        }
        let json = wants_json(request);
        // A browser is sent to sign in again straight away (a form's POST too: the
        // action is confirmed on the page it returns to, never replayed).
        if let (Error::ReauthenticationRequired { login_url }, false) = (&self, json) {
            return Redirect::to(login_url.clone()).respond_to(request);
        }
        if let (Error::Unauthenticated, false, Some(shared)) = (&self, json, shared) {
            if matches!(request.method(), Method::Get | Method::Head) {
                let back = request.uri().to_string();
                return Redirect::to(shared.paths.login_returning(&back)).respond_to(request);
            }
        }
        let status = self.status();
        let mut response = if json {
            Response::build_from(self.json_body().respond_to(request)?)
        } else {
            Response::build_from(page(&self, shared, request).respond_to(request)?)
        };
        if status == Status::ServiceUnavailable {
            response.raw_header("Retry-After", "5");
        }
        if let Error::InvalidToken = self {
            response.raw_header("WWW-Authenticate", "Bearer");
        }
        response.status(status).ok()
    }
}

#[cfg(feature = "pages")]
fn page(error: &Error, shared: Option<&Shared>, request: &Request<'_>) -> rocket::response::content::RawHtml<String> {
    let status = error.status().code;
    let Some(shared) = shared else {
        // latchkey is not attached (its catchers registered alone): a bare page.
        return rocket::response::content::RawHtml(format!(
            "<!doctype html><title>{status}</title><h1>{}</h1>",
            error.title()
        ));
    };
    let (label, href) = error.next_step(Some(shared));
    let retry = request.uri().to_string();
    let context = serde_json::json!({
        "layout": crate::guards::Layout::cached(request, shared),
        "status": status, "code": error.code(), "title": error.title(), "message": error.message(),
        "next_label": label, "next_href": href.unwrap_or(&retry),
    });
    shared.pages.render_or_fallback("error", &context, error.title())
}

/// Without pages, every error is answered in JSON.
#[cfg(not(feature = "pages"))]
fn page(error: &Error, _: Option<&Shared>, _: &Request<'_>) -> Json<serde_json::Value> {
    error.json_body()
}
