//! The refresh token grant: new tokens for a session, and the provider's word on whether
//! its own session still lives (`invalid_grant` says it does not).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use openidconnect::core::CoreErrorResponseType;
use openidconnect::{OAuth2TokenResponse, RefreshToken, RequestTokenError, TokenResponse as _};

use crate::error::{cause, chain, Cause, Error};
use crate::hooks::Claims;
use crate::oidc::claims::{client, TokenResponse};
use crate::oidc::flow::verify_id_token;
use crate::oidc::{OidcContext, Provider};

/// The sealing contexts of a session's tokens: a value sealed for one column opens for
/// no other.
pub(crate) const ACCESS_TOKEN_COLUMN: &str = "sessions.access_token";
pub(crate) const REFRESH_TOKEN_COLUMN: &str = "sessions.refresh_token";

/// What a refresh brought.
pub(crate) struct Refreshed {
    pub access_token: String,
    pub expires_at: Option<DateTime<Utc>>,
    /// A rotated refresh token (the old one may be spent).
    pub refresh_token: Option<String>,
    /// A new ID token, verified, with its claims.
    pub id_token: Option<(String, Claims)>,
}

/// Why a refresh brought nothing.
pub(crate) enum RefreshFailure {
    /// The provider refused the grant (`invalid_grant`): its session ended, the person
    /// was disabled, or the token was revoked. The latchkey session ends with it.
    Refused(String),
    /// The provider did not answer, or answered something else: try again later.
    Failed(Error),
}

/// Spends `refresh_token` at the provider's token endpoint. A new ID token must be about
/// `subject` (when the session knows it) and is verified like a sign-in's, but for the
/// nonce.
pub(crate) async fn refresh(
    provider: &Arc<Provider>,
    ctx: &OidcContext<'_>,
    refresh_token: String,
    subject: Option<&str>,
) -> Result<Refreshed, RefreshFailure> {
    let unavailable =
        |source: Cause| RefreshFailure::Failed(Error::IdpUnavailable { provider: provider.name.clone(), source });
    let metadata = provider.metadata_or_discover().await.map_err(RefreshFailure::Failed)?;
    let client = client(provider, &metadata, ctx).map_err(RefreshFailure::Failed)?;
    let refresh_token = RefreshToken::new(refresh_token);
    let request = client.exchange_refresh_token(&refresh_token).map_err(|e| unavailable(cause(e)))?;
    let response: TokenResponse = request.request_async(&provider.http).await.map_err(|error| match error {
        RequestTokenError::ServerResponse(response) if *response.error() == CoreErrorResponseType::InvalidGrant => {
            RefreshFailure::Refused(response.error_description().cloned().unwrap_or_else(|| "invalid_grant".into()))
        }
        other => unavailable(cause(chain(&other))),
    })?;
    let id_token = match response.id_token() {
        Some(token) => {
            let claims = verify_id_token(provider, Arc::clone(&metadata), ctx, token, None)
                .await
                .map_err(RefreshFailure::Failed)?;
            if let Some(subject) = subject {
                if claims.str("sub") != Some(subject) {
                    let source = cause("a refreshed ID token is about another subject");
                    return Err(RefreshFailure::Failed(Error::InvalidIdToken(source)));
                }
            }
            Some((token.to_string(), claims))
        }
        None => None,
    };
    Ok(Refreshed {
        access_token: response.access_token().secret().clone(),
        expires_at: response
            .expires_in()
            .and_then(|ttl| chrono::Duration::from_std(ttl).ok())
            .map(|ttl| Utc::now() + ttl),
        refresh_token: response.refresh_token().map(|token| token.secret().clone()),
        id_token,
    })
}
