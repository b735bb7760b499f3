//! One error type for every request path: a stable code, a status, a plain message and a
//! next step, answered as an HTML page to browsers and as JSON to API clients.

use rocket::http::{ContentType, Status};
use rocket::request::Request;
use rocket::response::{self, Responder, Response};
use rocket::serde::json::Json;
use rocket_dyn_templates::{context, Template};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("database unavailable: {0}")]
    DbUnavailable(String),
    #[error("issuer in the authorization response does not match the provider")]
    IssuerMismatch,
    #[error("identity provider `{provider}` unavailable: {reason}")]
    IdpUnavailable { provider: String, reason: String },
    #[error("unknown identity provider")]
    UnknownProvider,
    #[error("sign-in state missing or mismatched")]
    StateMismatch,
    #[error("sign-in flow cookie missing or expired")]
    FlowExpired,
    #[error("identity provider answered with error `{error}`")]
    IdpError { error: String, description: Option<String> },
    #[error("token endpoint rejected the authorization code: {0}")]
    CodeRejected(String),
    #[error("ID token refused: {0}")]
    InvalidIdToken(String),
    #[error("logout token refused: {0}")]
    InvalidLogoutToken(String),
    #[error("e-mail belongs to another account")]
    AccountNotLinked,
    #[error("not signed in")]
    Unauthenticated,
    #[error("CSRF check failed: {0}")]
    Csrf(&'static str),
    #[error("not found")]
    NotFound,
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl AppError {
    pub fn status(&self) -> Status {
        use AppError::*;
        match self {
            DbUnavailable(_) | IdpUnavailable { .. } => Status::ServiceUnavailable,
            StateMismatch
            | IssuerMismatch
            | FlowExpired
            | IdpError { .. }
            | CodeRejected(_)
            | InvalidIdToken(_)
            | InvalidLogoutToken(_)
            | BadRequest(_) => Status::BadRequest,
            AccountNotLinked => Status::Conflict,
            Unauthenticated => Status::Unauthorized,
            Csrf(_) => Status::Forbidden,
            UnknownProvider | NotFound => Status::NotFound,
            Internal(_) => Status::InternalServerError,
        }
    }

    /// The stable, documented code clients may match on.
    pub fn code(&self) -> &'static str {
        use AppError::*;
        match self {
            DbUnavailable(_) => "db_unavailable",
            IdpUnavailable { .. } => "idp_unavailable",
            UnknownProvider => "unknown_provider",
            StateMismatch => "state_mismatch",
            IssuerMismatch => "issuer_mismatch",
            FlowExpired => "flow_expired",
            IdpError { .. } => "idp_error",
            CodeRejected(_) => "code_rejected",
            InvalidIdToken(_) => "invalid_id_token",
            InvalidLogoutToken(_) => "invalid_logout_token",
            AccountNotLinked => "account_not_linked",
            Unauthenticated => "unauthenticated",
            Csrf(_) => "csrf",
            NotFound => "not_found",
            BadRequest(_) => "bad_request",
            Internal(_) => "internal",
        }
    }

    /// The page heading for this error.
    pub fn title(&self) -> &'static str {
        use AppError::*;
        match self {
            DbUnavailable(_) => "The session store is unavailable",
            IdpUnavailable { .. } => "Sign-in is unavailable right now",
            UnknownProvider => "Unknown sign-in provider",
            StateMismatch => "This sign-in did not start here",
            IssuerMismatch => "The answer came from another provider",
            FlowExpired => "This sign-in has expired",
            IdpError { .. } => "Sign-in was not completed",
            CodeRejected(_) => "Sign-in could not be completed",
            InvalidIdToken(_) => "The sign-in answer failed verification",
            InvalidLogoutToken(_) => "Logout token refused",
            AccountNotLinked => "This e-mail belongs to another account",
            Unauthenticated => "Please sign in",
            Csrf(_) => "Request refused",
            NotFound => "Not found",
            BadRequest(_) => "Bad request",
            Internal(_) => "Something went wrong",
        }
    }

    /// What happened, in words for the person in front of the screen; never internals.
    pub fn message(&self) -> String {
        use AppError::*;
        match self {
            DbUnavailable(_) => "The session store is unavailable right now. You are still signed in; please try again in a moment.".into(),
            IdpUnavailable { .. } => "The sign-in service cannot be reached right now. Please try again in a moment.".into(),
            UnknownProvider => "There is no sign-in provider by that name.".into(),
            StateMismatch => "This sign-in answer does not belong to a sign-in started here, so it was refused.".into(),
            IssuerMismatch => "This sign-in answer names a different identity provider than the one asked, so it was refused.".into(),
            FlowExpired => "The sign-in took too long or was started in another browser. Please start again.".into(),
            IdpError { error, description } => match (error.as_str(), description) {
                ("access_denied", _) => "Sign-in was cancelled or denied at the identity provider.".into(),
                (_, Some(text)) => format!("The identity provider refused the sign-in: {text}"),
                (code, None) => format!("The identity provider refused the sign-in ({code})."),
            },
            CodeRejected(_) => "The sign-in could not be completed: the identity provider did not accept its one-time code (it may have been used already).".into(),
            InvalidIdToken(_) => "The identity provider's answer failed verification, so it was refused.".into(),
            InvalidLogoutToken(_) => "The logout token failed verification; nothing was changed.".into(),
            AccountNotLinked => "This e-mail address already belongs to an account that signs in another way. Sign in with that provider instead.".into(),
            Unauthenticated => "You need to sign in first.".into(),
            Csrf(_) => "This request did not come from a page of this site, so nothing was changed.".into(),
            NotFound => "There is nothing here.".into(),
            BadRequest(text) => format!("The request was not understood: {text}"),
            Internal(_) => "Something went wrong on our side. Please try again.".into(),
        }
    }

    /// Where to go next, as (label, href).
    fn next_step(&self) -> (&'static str, &'static str) {
        use AppError::*;
        match self {
            DbUnavailable(_) | IdpUnavailable { .. } | Internal(_) => ("Try again", ""),
            Unauthenticated
            | StateMismatch
            | IssuerMismatch
            | FlowExpired
            | IdpError { .. }
            | CodeRejected(_)
            | InvalidIdToken(_)
            | AccountNotLinked
            | UnknownProvider => ("Sign in", "/auth/login"),
            Csrf(_) | NotFound | BadRequest(_) | InvalidLogoutToken(_) => ("Go home", "/"),
        }
    }

    fn log(&self) {
        let chain = chain(self);
        if self.status().code >= 500 {
            tracing::error!(code = self.code(), "{chain}");
        } else {
            tracing::info!(code = self.code(), "{chain}");
        }
    }
}

/// Connection-level failures (pool timeout, I/O, TLS, the server going away or refusing
/// connections) mean the store is unavailable: 503, never "signed out". Anything else the
/// database says is a bug on our side.
impl From<sqlx::Error> for AppError {
    fn from(error: sqlx::Error) -> Self {
        let unavailable = match &error {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::Tls(_) => true,
            sqlx::Error::WorkerCrashed => true,
            // Classes 08 (connection), 53 (resources), 57 (operator intervention, e.g. shutdown).
            sqlx::Error::Database(db) => {
                db.code().is_some_and(|code| ["08", "53", "57"].iter().any(|c| code.starts_with(c)))
            }
            _ => false,
        };
        if unavailable {
            AppError::DbUnavailable(chain(&error))
        } else {
            AppError::Internal(chain(&error))
        }
    }
}

/// An error and its sources, joined: the one line that goes to the log.
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Whether this request wants JSON rather than a page.
pub fn wants_json(request: &Request<'_>) -> bool {
    let path = request.uri().path();
    path == "/api"
        || path.starts_with("/api/")
        || path == "/auth/backchannel-logout"
        || request.accept().is_some_and(|accept| accept.preferred().is_json())
}

impl<'r> Responder<'r, 'static> for AppError {
    fn respond_to(self, request: &'r Request<'_>) -> response::Result<'static> {
        self.log();
        let status = self.status();
        let mut response = if wants_json(request) {
            let body = json!({ "error": self.code(), "message": self.message() });
            Response::build_from(Json(body).respond_to(request)?)
        } else {
            let (label, href) = self.next_step();
            let retry = request.uri().to_string();
            let href = if href.is_empty() { retry.as_str() } else { href };
            let page = Template::render(
                "error",
                context! {
                    status: status.code, code: self.code(), title: self.title(), message: self.message(),
                    next_label: label, next_href: href,
                },
            );
            let mut built = Response::build_from(page.respond_to(request)?);
            built.header(ContentType::HTML);
            built
        };
        if status == Status::ServiceUnavailable {
            response.raw_header("Retry-After", "5");
        }
        response.status(status).ok()
    }
}
