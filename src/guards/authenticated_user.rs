//! Who is signed in: the session cookie resolved to a live session and its user, once
//! per request however many guards ask.
//!
//! [`AuthenticatedUser`] forwards with 401 when nobody is signed in (a `rank = 2` route
//! or [`catchers`](crate::catchers) decide what then), and fails with the real error
//! when the store cannot be asked (503 for an outage: never "signed out"). A cookie that
//! names no live session is cleared. [`OptionalUser`] never forwards.

use chrono::{DateTime, Utc};
use rocket::http::Status;
use rocket::request::{FromRequest, Outcome, Request};
use rocket::{Ignite, Rocket, Sentinel};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::error::{chain, Error};
use crate::roles::Roles;
use crate::session::SessionToken;
use crate::shared::Shared;
use crate::store::{CurrentSession, TokenState};
use crate::tokens::confirm_if_due;

/// The signed-in person and their current session: a request guard.
///
/// ```
/// use latchkey::AuthenticatedUser;
/// use rocket::get;
///
/// #[get("/whoami")]
/// fn whoami(user: AuthenticatedUser) -> String {
///     format!("{} ({}), session {}", user.id, user.email.as_deref().unwrap_or("no e-mail"), user.session.id)
/// }
/// ```
///
/// Its `Sentinel` stops launch, naming the fairing, when [`Latchkey`](crate::Latchkey)
/// is not attached.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AuthenticatedUser {
    /// The user's id (stable across sessions and providers).
    pub id: Uuid,
    /// Display name, from the provider.
    pub name: Option<String>,
    /// E-mail address, from the provider.
    pub email: Option<String>,
    /// Picture URL, from the provider.
    pub image: Option<String>,
    /// What the app's [`Hooks::profile`](crate::Hooks::profile) kept of the person.
    pub extra: Map<String, Value>,
    /// The roles and groups this session's sign-in proved (see [`RealmRole`](crate::RealmRole)).
    pub roles: Roles,
    /// This session.
    pub session: Session,
    csrf_token: String,
}

/// The session a request is signed in with.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Session {
    /// Its public id (shown on the sessions page; never the secret cookie token).
    pub id: Uuid,
    /// The provider it was signed in with.
    pub provider: String,
    /// When it was signed in.
    pub created_at: DateTime<Utc>,
    /// When it ends unless used (sliding).
    pub expires_at: DateTime<Utc>,
    /// When it ends however much it is used.
    pub absolute_expires_at: DateTime<Utc>,
    /// When the person last authenticated at the provider for it (the ID token's
    /// `auth_time`), if the provider said.
    pub auth_time: Option<DateTime<Utc>>,
    /// The provider's tokens, as far as the lookup read them.
    pub(crate) tokens: TokenState,
    /// Signed in from a new device, and the notice not yet shown (pages show it).
    #[cfg_attr(not(feature = "pages"), allow(dead_code))]
    pub(crate) new_device_notice: bool,
}

impl AuthenticatedUser {
    fn new(session: CurrentSession, csrf_token: String) -> AuthenticatedUser {
        AuthenticatedUser {
            id: session.user_id,
            name: session.name,
            email: session.email,
            image: session.image,
            extra: session.extra,
            roles: session.roles,
            session: Session {
                id: session.session_id,
                provider: session.provider,
                created_at: session.created_at,
                expires_at: session.expires_at,
                absolute_expires_at: session.absolute_expires_at,
                auth_time: session.auth_time,
                tokens: session.tokens,
                new_device_notice: session.new_device_notice,
            },
            csrf_token,
        }
    }

    /// The token a state-changing request of this session must carry (a `csrf_token`
    /// form field or an `X-CSRF-Token` header); see [`CsrfCheck`](crate::CsrfCheck).
    pub fn csrf_token(&self) -> &str {
        &self.csrf_token
    }

    /// [`extra`](Self::extra) read into a type of the app's.
    pub fn extra_as<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_value(Value::Object(self.extra.clone()))
    }
}

/// The signed-in person, if any: a request guard that never forwards. It still fails
/// (503) when the store cannot be asked, so that an outage never looks signed out.
#[derive(Debug, Clone)]
pub struct OptionalUser(pub Option<AuthenticatedUser>);

impl OptionalUser {
    /// The person, if signed in.
    pub fn into_inner(self) -> Option<AuthenticatedUser> {
        self.0
    }
}

/// For latchkey's own routes: the signed-in person, or the error to answer with. Never
/// forwards and never fails, so those routes answer the same with or without catchers.
pub(crate) struct SignedIn(pub Result<AuthenticatedUser, Error>);

/// The session cookies a request brought, live or not (for sign-in, which ends them).
pub(crate) struct SessionCookies(pub Vec<SessionToken>);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for SessionCookies {
    type Error = std::convert::Infallible;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        let tokens = Shared::of(request.rocket()).map(|shared| shared.cookies.candidates(request)).unwrap_or_default();
        Outcome::Success(SessionCookies(tokens))
    }
}

/// The outcome of resolving the cookie; `None` until something asked.
#[derive(Default)]
struct Resolution(Option<Result<Option<AuthenticatedUser>, Error>>);

/// The error a latchkey guard failed with, kept for the catcher (Rocket hands a catcher
/// only the status).
#[derive(Default)]
pub(crate) struct GuardFailure(pub Option<Error>);

/// Set when the request carried a session cookie that no longer names a live session
/// (revoked, expired, or garbage), so that the catcher can repeat the cookie changes
/// (Rocket drops a guard's cookie changes before a catcher runs).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct StaleSession(pub bool);

/// The person behind the request's session cookie, resolved at most once per request.
pub(crate) async fn resolved<'r>(request: &'r Request<'_>) -> &'r Result<Option<AuthenticatedUser>, Error> {
    let resolution = request.local_cache_async(async { Resolution(Some(resolve(request).await)) }).await;
    match &resolution.0 {
        Some(result) => result,
        // Only when something peeked before any guard asked; then nobody asked the store.
        None => &Ok(None),
    }
}

/// The resolution if a guard already made it; never asks the store.
#[cfg(feature = "pages")]
pub(crate) fn already_resolved<'r>(request: &'r Request<'_>) -> Option<&'r AuthenticatedUser> {
    match &request.local_cache(Resolution::default).0 {
        Some(Ok(Some(user))) => Some(user),
        _ => None,
    }
}

/// The signed-in person and latchkey's state, for guards that build on
/// [`AuthenticatedUser`]; otherwise the outcome to answer with (a forward with 401 when
/// nobody is signed in).
pub(crate) async fn signed_in_and_state<'r, T>(
    request: &'r Request<'_>,
) -> Result<(&'r AuthenticatedUser, &'r Shared), Outcome<T, Error>> {
    let user = match resolved(request).await {
        Ok(Some(user)) => user,
        Ok(None) => return Err(Outcome::Forward(Status::Unauthorized)),
        Err(error) => return Err(failed(request, error)),
    };
    match Shared::of(request.rocket()) {
        Some(shared) => Ok((user, shared)),
        None => Err(failed(request, &Error::internal("the latchkey fairing is not attached"))),
    }
}

/// Keeps `error` for the catcher and hands it to Rocket.
pub(crate) fn failed<T>(request: &Request<'_>, error: &Error) -> Outcome<T, Error> {
    request.local_cache(|| GuardFailure(Some(error.clone())));
    Outcome::Error((error.status(), error.clone()))
}

async fn resolve(request: &Request<'_>) -> Result<Option<AuthenticatedUser>, Error> {
    let shared = Shared::of(request.rocket()).ok_or_else(|| Error::internal("the latchkey fairing is not attached"))?;
    let jar = request.cookies();
    // The last live one wins, as the last cookie of a name does in Rocket's jar; a stale or
    // junk cookie beside it must not sign the person out.
    for token in shared.cookies.candidates(request).iter().rev() {
        if let Some(session) = confirmed(request, shared, token).await? {
            if session.extended {
                shared.metrics.session_extended();
                let left = (session.expires_at - Utc::now()).to_std().unwrap_or_default();
                shared.cookies.set_session(jar, token, left);
            }
            return Ok(Some(AuthenticatedUser::new(session, token.csrf_token())));
        }
    }
    // No live session: a cookie that names none (unknown, expired, junk) is cleared.
    if shared.cookies.session_present(jar) {
        request.local_cache(|| StaleSession(true));
        shared.cookies.clear_stale_session(jar);
    }
    Ok(None)
}

/// The live session of `token`, confirmed with its provider first when the provider
/// binds sessions and a confirmation is due (then read again: the refresh may have
/// changed its roles). `None` also when the provider has ended it.
async fn confirmed(
    request: &Request<'_>,
    shared: &Shared,
    token: &SessionToken,
) -> Result<Option<CurrentSession>, Error> {
    let Some(session) = shared.store.authenticate(token).await? else { return Ok(None) };
    let (id, provider) = (session.session_id, session.provider.as_str());
    match confirm_if_due(shared, request.rocket(), id, provider, &session.tokens).await {
        Ok(false) => Ok(Some(session)),
        Ok(true) => Ok(shared.store.authenticate(token).await?),
        Err(Error::Unauthenticated) => Ok(None),
        // The provider does not answer: the session stands, and is confirmed once it does.
        Err(error @ Error::IdpUnavailable { .. }) => {
            tracing::warn!(session_id = %id, "the session could not be confirmed with its provider: {}", chain(&error));
            Ok(Some(session))
        }
        Err(error) => Err(error),
    }
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for AuthenticatedUser {
    type Error = Error;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Error> {
        match resolved(request).await {
            Ok(Some(user)) => Outcome::Success(user.clone()),
            Ok(None) => Outcome::Forward(Status::Unauthorized),
            Err(error) => failed(request, error),
        }
    }
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for OptionalUser {
    type Error = Error;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Error> {
        match resolved(request).await {
            Ok(user) => Outcome::Success(OptionalUser(user.clone())),
            Err(error) => failed(request, error),
        }
    }
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for SignedIn {
    type Error = std::convert::Infallible;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        Outcome::Success(SignedIn(match resolved(request).await {
            Ok(Some(user)) => Ok(user.clone()),
            Ok(None) => Err(Error::Unauthenticated),
            Err(error) => Err(error.clone()),
        }))
    }
}

/// Stops launch when a route uses a latchkey guard but the fairing is not attached,
/// saying what to add.
pub(crate) fn fairing_missing(rocket: &Rocket<Ignite>, guard: &str) -> bool {
    let missing = Shared::of(rocket).is_none();
    if missing {
        tracing::error!(
            "a route uses latchkey's `{guard}` guard, but the latchkey fairing is not attached: \
             add `.attach(latchkey::Latchkey::fairing())` to the Rocket"
        );
    }
    missing
}

impl Sentinel for AuthenticatedUser {
    fn abort(rocket: &Rocket<Ignite>) -> bool {
        fairing_missing(rocket, "AuthenticatedUser")
    }
}

impl Sentinel for OptionalUser {
    fn abort(rocket: &Rocket<Ignite>) -> bool {
        fairing_missing(rocket, "OptionalUser")
    }
}
