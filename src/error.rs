//! One error type for every request path: a stable code, a status and a plain message.
//! Causes are kept (and logged once, as a chain); the person never sees them. How an
//! error is answered (a page, JSON, a redirect to sign-in) is `respond`'s.

use std::sync::Arc;

use rocket::http::Status;
use rocket_db_pools::sqlx;

use crate::hooks::Refusal;

/// A cause kept with an error, for the log.
pub(crate) type Cause = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong on a request latchkey answers, with a stable code per
/// variant ([`code`](Error::code)) that the page and the JSON body both carry.
///
/// It is a Rocket `Responder`: a page for browsers, `{"error": code, "message": text}`
/// for API paths and clients that ask for JSON, and a redirect to sign-in for a signed-out
/// browser's GET. A guard's error reaches [`catchers`](crate::catchers) intact.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// PostgreSQL cannot be reached (or the pool timed out): 503, never "signed out".
    #[error("the session store is unavailable")]
    DbUnavailable(#[source] Arc<sqlx::Error>),
    /// The identity provider cannot be reached.
    #[error("identity provider `{provider}` is unavailable")]
    IdpUnavailable {
        /// The provider's name.
        provider: String,
        /// What failed.
        #[source]
        source: Cause,
    },
    /// No provider of that name is configured.
    #[error("unknown identity provider")]
    UnknownProvider,
    /// The callback's `state` belongs to no sign-in started in this browser.
    #[error("sign-in state missing or mismatched")]
    StateMismatch,
    /// The sign-in took too long, or its flow cookie is gone.
    #[error("sign-in flow cookie missing or expired")]
    FlowExpired,
    /// The provider answered the sign-in with an error.
    #[error("identity provider answered with error `{error}`")]
    IdpError {
        /// The OAuth error code.
        error: String,
        /// The provider's description.
        description: Option<String>,
    },
    /// The token endpoint refused the authorization code.
    #[error("token endpoint rejected the authorization code: {0}")]
    CodeRejected(String),
    /// The callback's `iss` names another provider (RFC 9207).
    #[error("issuer in the authorization response does not match the provider")]
    IssuerMismatch,
    /// The ID token failed verification.
    #[error("ID token refused")]
    InvalidIdToken(#[source] Cause),
    /// A back-channel logout token failed verification (or was replayed).
    #[error("logout token refused: {0}")]
    InvalidLogoutToken(String),
    /// The e-mail belongs to a user who signs in another way, and linking is off.
    #[error("e-mail belongs to another account")]
    AccountNotLinked,
    /// The app's [`Hooks`](crate::Hooks) refused the sign-in.
    #[error("sign-in refused by the app: {0}")]
    SignInRefused(Refusal),
    /// No live session.
    #[error("not signed in")]
    Unauthenticated,
    /// A bearer token (the metrics scraper's) missing or wrong: 401, with nothing of
    /// what the route would have answered.
    #[error("bearer token missing or wrong")]
    InvalidToken,
    /// A state-changing request without this session's CSRF token, or from another site.
    #[error("CSRF check failed: {0}")]
    Csrf(&'static str),
    /// The person may not do this.
    #[error("forbidden")]
    Forbidden,
    /// This needs a more recent authentication: the person signs in again at
    /// `login_url` (which asks the provider for the password) and comes back.
    #[error("a more recent sign-in is needed")]
    ReauthenticationRequired {
        /// Where to sign in again; it returns to where the action can be confirmed.
        login_url: String,
    },
    /// Nothing here (or not the person's to see).
    #[error("not found")]
    NotFound,
    /// Something the request needs is unavailable (a 503 from a guard of the app's).
    #[error("service unavailable")]
    Unavailable,
    /// A request latchkey does not understand.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// A fault on this side (a bug, a misconfiguration).
    #[error("internal error: {what}")]
    Internal {
        /// What failed.
        what: String,
        /// Why.
        #[source]
        source: Option<Cause>,
    },
}

/// A cause from an error of any kind, or from a message.
pub(crate) fn cause(error: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>) -> Cause {
    Arc::from(error.into())
}

impl Error {
    pub(crate) fn internal(what: impl Into<String>) -> Error {
        Error::Internal { what: what.into(), source: None }
    }

    pub(crate) fn internal_from(
        what: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Error {
        Error::Internal { what: what.into(), source: Some(Arc::new(source)) }
    }

    /// The HTTP status answered.
    pub fn status(&self) -> Status {
        use Error::*;
        match self {
            DbUnavailable(_) | IdpUnavailable { .. } | Unavailable => Status::ServiceUnavailable,
            StateMismatch
            | IssuerMismatch
            | FlowExpired
            | IdpError { .. }
            | CodeRejected(_)
            | InvalidIdToken(_)
            | InvalidLogoutToken(_)
            | BadRequest(_) => Status::BadRequest,
            AccountNotLinked => Status::Conflict,
            Unauthenticated | InvalidToken => Status::Unauthorized,
            Csrf(_) | SignInRefused(_) | Forbidden | ReauthenticationRequired { .. } => Status::Forbidden,
            UnknownProvider | NotFound => Status::NotFound,
            Internal { .. } => Status::InternalServerError,
        }
    }

    /// The stable, documented code clients may match on.
    pub fn code(&self) -> &'static str {
        use Error::*;
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
            SignInRefused(_) => "sign_in_refused",
            Unauthenticated => "unauthenticated",
            InvalidToken => "invalid_token",
            Csrf(_) => "csrf",
            Forbidden => "forbidden",
            ReauthenticationRequired { .. } => "reauthentication_required",
            NotFound => "not_found",
            Unavailable => "unavailable",
            BadRequest(_) => "bad_request",
            Internal { .. } => "internal",
        }
    }

    /// The page heading.
    pub fn title(&self) -> &'static str {
        use Error::*;
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
            SignInRefused(_) => "Sign-in refused",
            Unauthenticated => "Please sign in",
            InvalidToken => "Token refused",
            Csrf(_) => "Request refused",
            Forbidden => "Not allowed",
            ReauthenticationRequired { .. } => "Confirm it is you",
            NotFound => "Not found",
            Unavailable => "Unavailable right now",
            BadRequest(_) => "Bad request",
            Internal { .. } => "Something went wrong",
        }
    }

    /// What happened, in words for the person in front of the screen; never internals.
    pub fn message(&self) -> String {
        use Error::*;
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
            SignInRefused(refusal) => refusal.message().to_string(),
            Unauthenticated => "You need to sign in first.".into(),
            InvalidToken => "This needs a valid bearer token.".into(),
            Csrf(_) => "This request did not come from a page of this site, so nothing was changed.".into(),
            Forbidden => "You are signed in, but this is not open to you.".into(),
            ReauthenticationRequired { .. } => "This needs a recent sign-in: enter your password again, then confirm.".into(),
            NotFound => "There is nothing here.".into(),
            Unavailable => "This is unavailable right now. Please try again in a moment.".into(),
            BadRequest(text) => format!("The request was not understood: {text}"),
            Internal { .. } => "Something went wrong on our side. Please try again.".into(),
        }
    }
}

/// Connection-level failures (pool timeout, I/O, TLS, the server going away or refusing
/// connections) mean the store is unavailable: 503, never "signed out". Anything else the
/// database says is a fault on this side.
impl From<sqlx::Error> for Error {
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
            Error::DbUnavailable(Arc::new(error))
        } else {
            Error::internal_from("database", error)
        }
    }
}

/// Text from outside (a provider's error code, an unverified token's `iss`) as it may be
/// shown and logged: control characters escaped (no forged log lines), at most `max`
/// characters.
pub(crate) fn printable(text: &str, max: usize) -> String {
    let mut shown: String = text
        .chars()
        .take(max)
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() { c.escape_default().collect() } else { vec![c] };
            escaped
        })
        .collect();
    if text.chars().nth(max).is_some() {
        shown.push('…');
    }
    shown
}

/// An error and its sources, joined: the one line that goes to the log.
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
