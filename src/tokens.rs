//! The provider's tokens of a session, put to use: a fresh access token for calling APIs
//! (refreshed when about to expire), and sessions bound to the provider's own (confirmed
//! with a refresh every so often, when configured).
//!
//! A refresh happens once per session at a time across every instance: the instance that
//! takes the session's refresh lease spends the refresh token; the others wait and read
//! what it wrote. A provider that refuses the refresh (`invalid_grant`) has ended its
//! session, and the latchkey session ends with it; a provider that does not answer leaves
//! the session as it is (503 `idp_unavailable` for whoever needed the token).

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rocket::{Orbit, Rocket};
use uuid::Uuid;

use crate::error::{cause, Error};
use crate::hooks::{Event, SignIn};
use crate::oidc::flow::standard_profile;
use crate::oidc::logout::ID_TOKEN_COLUMN;
use crate::oidc::refresh::{refresh, RefreshFailure, Refreshed, ACCESS_TOKEN_COLUMN, REFRESH_TOKEN_COLUMN};
use crate::oidc::Provider;
use crate::shared::Shared;
use crate::store::{Actor, EventKind, Leased, RefreshedTokens, TokenState};

/// How long a refresh lease lasts: longer than a refresh can take (the provider's request
/// timeout, and one key fetch).
const LEASE_SECONDS: f64 = 15.0;
/// How long a request waits for another instance's refresh before giving up (503).
const WAIT_AT_MOST: Duration = Duration::from_secs(20);
/// How often a waiting request looks whether the other refresh has finished.
const POLL_EVERY: Duration = Duration::from_millis(50);

/// A valid access token of the signed-in session, for calling the provider's APIs (or
/// others that accept its tokens): a request guard, and what [`access_token`] returns.
///
/// ```
/// use latchkey::AccessToken;
/// use rocket::get;
///
/// #[get("/calendar")]
/// async fn calendar(token: AccessToken) -> String {
///     // e.g. reqwest::Client::new().get(url).bearer_auth(token.secret())
///     format!("the token lasts until {:?}", token.expires_at())
/// }
/// ```
///
/// Signed out: a forward with 401. A token about to expire (within the provider's
/// `refresh_skew`) is refreshed first; a refresh the provider refuses ends the session
/// and sends the person to sign in (401); a provider that does not answer is 503
/// `idp_unavailable`, the session kept. While the token is fresh it costs nothing: it
/// came with the session's lookup.
#[derive(Clone)]
pub struct AccessToken {
    secret: String,
    expires_at: Option<DateTime<Utc>>,
}

impl AccessToken {
    /// The token itself, for an `Authorization: Bearer` header. Never log it.
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// When it expires, if the provider said.
    pub fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.expires_at
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken").field("secret", &"[redacted]").field("expires_at", &self.expires_at).finish()
    }
}

/// A fresh access token of the session `session_id`, for code outside routes (a job
/// acting for a person): one statement to read the session, and a refresh when due.
/// A session that is gone (or whose token cannot be refreshed) is
/// [`Error::Unauthenticated`].
pub async fn access_token(rocket: &Rocket<Orbit>, session_id: Uuid) -> Result<AccessToken, Error> {
    let shared = Shared::of(rocket).ok_or_else(|| Error::internal("the latchkey fairing is not attached"))?;
    let tokens = shared.store.session_tokens(session_id).await?.ok_or(Error::Unauthenticated)?;
    fresh_access_token(shared, rocket, session_id, &tokens.provider, &tokens.state).await
}

/// What a session's tokens must be for a request to go on.
#[derive(Debug, Clone, Copy)]
enum Want {
    /// An access token valid for at least `skew` more.
    FreshAccess { skew: chrono::Duration },
    /// The provider's word on the session within `every`.
    Confirmed { every: chrono::Duration },
}

impl Want {
    fn satisfied(self, state: &TokenState, now: DateTime<Utc>) -> bool {
        match self {
            Want::FreshAccess { skew } => {
                state.sealed_access_token.is_some() && state.access_expires_at.is_none_or(|at| at - skew > now)
            }
            Want::Confirmed { every } => state.idp_checked_at.is_some_and(|at| at + every > now),
        }
    }
}

fn chrono_duration(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}

/// The session's access token, as the request's lookup read it when it is fresh, else
/// refreshed.
pub(crate) async fn fresh_access_token(
    shared: &Shared,
    rocket: &Rocket<Orbit>,
    session_id: Uuid,
    provider: &str,
    state: &TokenState,
) -> Result<AccessToken, Error> {
    let provider = shared.providers.get(provider).ok_or(Error::UnknownProvider)?;
    let want = Want::FreshAccess { skew: chrono_duration(provider.config.refresh_skew) };
    if want.satisfied(state, Utc::now()) {
        return open(shared, state);
    }
    let state = refreshed(shared, rocket, session_id, provider, want).await?;
    open(shared, &state)
}

/// Confirms the session with its provider when the provider binds sessions
/// (`check_session_every`) and the last word is older than that: whether it refreshed.
/// [`Error::Unauthenticated`] when the session has ended.
pub(crate) async fn confirm_if_due(
    shared: &Shared,
    rocket: &Rocket<Orbit>,
    session_id: Uuid,
    provider: &str,
    state: &TokenState,
) -> Result<bool, Error> {
    let Some(provider) = shared.providers.get(provider) else { return Ok(false) };
    let Some(every) = provider.config.check_session_every else { return Ok(false) };
    let want = Want::Confirmed { every: chrono_duration(every) };
    // Without a refresh token there is nothing to confirm it with; while the provider
    // is unreachable the session is served as it is (the next request past the cooldown
    // asks again) rather than every page waiting for a provider that does not answer.
    if !state.refreshable || want.satisfied(state, Utc::now()) || provider.recently_unreachable() {
        return Ok(false);
    }
    refreshed(shared, rocket, session_id, provider, want).await.map(|_| true)
}

fn open(shared: &Shared, state: &TokenState) -> Result<AccessToken, Error> {
    // No token to give (a provider that issued none): only a new sign-in can get one.
    let sealed = state.sealed_access_token.as_deref().ok_or(Error::Unauthenticated)?;
    let secret = shared
        .keyring
        .open(sealed, ACCESS_TOKEN_COLUMN)
        .map_err(|e| Error::internal_from(format!("opening {ACCESS_TOKEN_COLUMN}"), e))?;
    Ok(AccessToken { secret, expires_at: state.access_expires_at })
}

/// The session's tokens once `want` holds: refreshed here if this instance takes the
/// lease, else by whoever holds it.
async fn refreshed(
    shared: &Shared,
    rocket: &Rocket<Orbit>,
    session_id: Uuid,
    provider: &Arc<Provider>,
    want: Want,
) -> Result<TokenState, Error> {
    let deadline = Instant::now() + WAIT_AT_MOST;
    loop {
        if let Some(leased) = shared.store.take_refresh_lease(session_id, LEASE_SECONDS).await? {
            let (lease, state) = (leased.lease, leased.tokens.state.clone());
            if want.satisfied(&state, Utc::now()) {
                shared.store.release_refresh_lease(session_id, lease).await?;
                return Ok(state);
            }
            let outcome = refresh_holding(shared, rocket, session_id, leased, want).await;
            if let Err(RefreshEnd::Kept(_)) = &outcome {
                shared.store.release_refresh_lease(session_id, lease).await?;
            }
            return outcome.map_err(RefreshEnd::into_error);
        }
        let tokens = shared.store.session_tokens(session_id).await?.ok_or(Error::Unauthenticated)?;
        if want.satisfied(&tokens.state, Utc::now()) {
            return Ok(tokens.state);
        }
        if Instant::now() >= deadline {
            let source = cause("another request's refresh of this session did not finish in time");
            return Err(Error::IdpUnavailable { provider: provider.name.clone(), source });
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// How a refresh under the lease failed.
enum RefreshEnd {
    /// The session still stands (the lease must be given back).
    Kept(Error),
    /// The session has ended (and its lease with it).
    Ended,
}

impl RefreshEnd {
    fn into_error(self) -> Error {
        match self {
            RefreshEnd::Kept(error) => error,
            RefreshEnd::Ended => Error::Unauthenticated,
        }
    }
}

/// Spends the session's refresh token (this instance holds the lease) and writes what
/// came back: new tokens, and the roles and profile of a new ID token.
async fn refresh_holding(
    shared: &Shared,
    rocket: &Rocket<Orbit>,
    session_id: Uuid,
    leased: Leased,
    want: Want,
) -> Result<TokenState, RefreshEnd> {
    let kept = RefreshEnd::Kept;
    let Some(provider) = shared.providers.get(&leased.tokens.provider).cloned() else {
        return Err(kept(Error::UnknownProvider));
    };
    let Some(sealed) = leased.sealed_refresh_token.as_deref() else {
        // A provider that gave no refresh token: nothing to confirm the session with, and
        // no new access token without a new sign-in.
        return match want {
            Want::Confirmed { .. } => {
                shared.store.release_refresh_lease(session_id, leased.lease).await.map_err(|e| kept(e.into()))?;
                Ok(leased.tokens.state.clone())
            }
            Want::FreshAccess { .. } => Err(kept(Error::Unauthenticated)),
        };
    };
    let refresh_token = shared
        .keyring
        .open(sealed, REFRESH_TOKEN_COLUMN)
        .map_err(|e| kept(Error::internal_from(format!("opening {REFRESH_TOKEN_COLUMN}"), e)))?;
    let user_id = leased.tokens.user_id;
    let refreshed = match refresh(&provider, &shared.oidc(), refresh_token, leased.subject.as_deref()).await {
        Ok(refreshed) => refreshed,
        Err(RefreshFailure::Refused(reason)) => {
            tracing::info!(%user_id, %session_id, provider = %provider.name, "the provider refused a refresh ({reason}): session ended");
            return Err(end(shared, rocket, user_id, session_id, &provider).await);
        }
        Err(RefreshFailure::Failed(error)) => {
            shared.metrics.token_refresh(&provider.name, error.code());
            if matches!(error, Error::IdpUnavailable { .. }) {
                provider.mark_unreachable();
            }
            return Err(kept(error));
        }
    };
    let roles = match &refreshed.id_token {
        Some((_, claims)) => {
            let subject = leased.subject.as_deref().or_else(|| claims.str("sub")).unwrap_or_default();
            let sign_in = SignIn { provider: &provider.name, subject, claims };
            match shared.hooks.profile(&sign_in, standard_profile(claims, &provider.config), rocket).await {
                Ok(profile) => {
                    if let Err(error) = shared.store.update_profile(user_id, &profile).await {
                        tracing::warn!(%user_id, "the profile of a refresh was not written: {error}");
                    }
                    Some(profile.roles)
                }
                Err(refusal) => {
                    tracing::info!(%user_id, %session_id, "the profile hook refused a refresh ({refusal}): session ended");
                    return Err(end(shared, rocket, user_id, session_id, &provider).await);
                }
            }
        }
        None => None,
    };
    let state = save(shared, session_id, user_id, leased.lease, refreshed, roles).await.map_err(kept)?;
    tracing::info!(%user_id, %session_id, provider = %provider.name, "tokens refreshed");
    let event = Event::TokensRefreshed { user_id, session_id, provider: provider.name.clone() };
    shared.announce(&event, rocket).await;
    Ok(state)
}

/// Seals and writes a refresh's tokens; the state a request then has.
async fn save(
    shared: &Shared,
    session_id: Uuid,
    user_id: Uuid,
    lease: Uuid,
    refreshed: Refreshed,
    roles: Option<crate::roles::Roles>,
) -> Result<TokenState, Error> {
    let seal = |text: &str, column: &str| {
        shared.keyring.seal(text, column).map_err(|e| Error::internal_from(format!("sealing {column}"), e))
    };
    let sealed_access_token = seal(&refreshed.access_token, ACCESS_TOKEN_COLUMN)?;
    let tokens = RefreshedTokens {
        sealed_access_token: sealed_access_token.clone(),
        access_expires_at: refreshed.expires_at,
        sealed_refresh_token: refreshed.refresh_token.as_deref().map(|t| seal(t, REFRESH_TOKEN_COLUMN)).transpose()?,
        sealed_id_token: refreshed.id_token.as_ref().map(|(t, _)| seal(t, ID_TOKEN_COLUMN)).transpose()?,
        roles,
    };
    if !shared.store.save_refresh(session_id, user_id, lease, tokens).await? {
        // Only if the refresh outlived its lease: the token is good, but another
        // instance may have spent the refresh token meanwhile.
        tracing::warn!(%session_id, "a refresh finished after its lease ran out; its tokens were not kept");
    }
    Ok(TokenState {
        sealed_access_token: Some(Arc::from(sealed_access_token)),
        access_expires_at: refreshed.expires_at,
        idp_checked_at: Some(Utc::now()),
        refreshable: true,
    })
}

/// Ends a session whose refresh was refused, and tells the hooks.
async fn end(
    shared: &Shared,
    rocket: &Rocket<Orbit>,
    user_id: Uuid,
    session_id: Uuid,
    provider: &Provider,
) -> RefreshEnd {
    // The provider acted, not a request of the person's: no device or address.
    let ended = shared.store.end(user_id, session_id, EventKind::RefreshRefused, &Actor::default()).await;
    if let Err(error) = ended {
        // The refused refresh token is worthless anyway; the next request tries again.
        return RefreshEnd::Kept(error.into());
    }
    let event = Event::RefreshRefused { user_id, session_id, provider: provider.name.clone() };
    shared.announce(&event, rocket).await;
    RefreshEnd::Ended
}
