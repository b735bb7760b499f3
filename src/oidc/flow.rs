//! The authorization code flow with PKCE (S256), state and nonce.
//!
//! The flow's secrets ride in a private (encrypted, authenticated) cookie named after the
//! flow's `state`, so two tabs signing in at once each find their own.

use std::time::Duration;

use chrono::{DateTime, Utc};
use openidconnect::core::{CoreAuthPrompt, CoreAuthenticationFlow, CoreClient, CoreIdToken, CoreTokenResponse};
use openidconnect::{
    AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet,
    EndpointSet, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError,
    Scope, SignatureVerificationError, TokenResponse,
};
use rocket::http::{Cookie, CookieJar, SameSite};
use serde::{Deserialize, Serialize};

use crate::accounts::{AccountTokens, Identity};
use crate::config::AuthConfig;
use crate::error::AppError;
use crate::oidc::provider::{Metadata, Provider};

pub type OidcClient =
    CoreClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointMaybeSet, EndpointMaybeSet>;

const FLOW_COOKIE_PREFIX: &str = "latchkey_flow_";
/// How far an ID token's `iat` may lie in the future (clock skew between us and the IdP).
const CLOCK_SKEW: Duration = Duration::from_secs(60);

/// A started sign-in, kept in the flow cookie until the IdP sends the browser back.
#[derive(Serialize, Deserialize)]
struct PendingSignIn {
    provider: String,
    state: String,
    nonce: String,
    pkce_verifier: String,
    return_to: String,
    started_at: DateTime<Utc>,
}

/// The redirect URI registered at the IdP for this app.
pub fn redirect_url(config: &AuthConfig) -> Result<RedirectUrl, AppError> {
    RedirectUrl::new(config.url_for("/auth/callback")).map_err(|e| AppError::Internal(format!("redirect URL: {e}")))
}

pub fn client(provider: &Provider, metadata: &Metadata, config: &AuthConfig) -> Result<OidcClient, AppError> {
    let secret = provider.config.client_secret.as_ref().map(|secret| ClientSecret::new(secret.expose().to_string()));
    Ok(CoreClient::from_provider_metadata(metadata.clone(), ClientId::new(provider.config.client_id.clone()), secret)
        .set_redirect_uri(redirect_url(config)?))
}

/// Starts a sign-in: the IdP's authorization URL, with the flow cookie set.
pub fn start(
    provider: &Provider,
    metadata: &Metadata,
    config: &AuthConfig,
    return_to: String,
    force_login: bool,
    jar: &CookieJar<'_>,
) -> Result<String, AppError> {
    let client = client(provider, metadata, config)?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = client
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .set_pkce_challenge(challenge);
    for scope in provider.config.scopes.iter().filter(|scope| scope.as_str() != "openid") {
        request = request.add_scope(Scope::new(scope.clone()));
    }
    if force_login {
        request = request.add_prompt(CoreAuthPrompt::Login);
    }
    let (url, state, nonce) = request.url();
    let pending = PendingSignIn {
        provider: provider.name.clone(),
        state: state.secret().clone(),
        nonce: nonce.secret().clone(),
        pkce_verifier: verifier.secret().clone(),
        return_to,
        started_at: Utc::now(),
    };
    let value = serde_json::to_string(&pending).map_err(|e| AppError::Internal(format!("flow cookie: {e}")))?;
    let max_age = rocket::time::Duration::seconds(i64::try_from(config.login_timeout.as_secs()).unwrap_or(600));
    jar.add_private(
        Cookie::build((flow_cookie_name(&pending.state), value))
            .path("/auth")
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(config.secure_cookies())
            .max_age(max_age),
    );
    Ok(url.to_string())
}

fn flow_cookie_name(state: &str) -> String {
    format!("{FLOW_COOKIE_PREFIX}{state}")
}

/// The authorization response's query, as the IdP sent it.
#[derive(Debug, Default, rocket::FromForm)]
pub struct CallbackParams<'r> {
    pub state: Option<&'r str>,
    pub code: Option<&'r str>,
    pub error: Option<&'r str>,
    pub error_description: Option<&'r str>,
    pub session_state: Option<&'r str>,
    pub iss: Option<&'r str>,
}

/// A finished sign-in, verified, ready to be stored.
pub struct Completed {
    pub provider: String,
    pub identity: Identity,
    pub return_to: String,
    pub idp_sid: Option<String>,
    pub id_token: String,
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub token_type: String,
    pub scope: Option<String>,
    pub session_state: Option<String>,
}

impl Completed {
    pub fn account_tokens(&self) -> AccountTokens<'_> {
        AccountTokens {
            access_token: &self.access_token,
            refresh_token: self.refresh_token.as_deref(),
            expires_at: self.expires_at,
            token_type: &self.token_type,
            scope: self.scope.clone(),
            id_token: &self.id_token,
            session_state: self.session_state.as_deref(),
        }
    }
}

/// Takes the flow cookie that matches `state` out of the jar, checking its age.
fn take_pending(jar: &CookieJar<'_>, state: Option<&str>, config: &AuthConfig) -> Result<PendingSignIn, AppError> {
    let state = state.filter(|s| !s.is_empty() && s.len() <= 128).ok_or(AppError::StateMismatch)?;
    if !state.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Err(AppError::StateMismatch);
    }
    let name = flow_cookie_name(state);
    let Some(cookie) = jar.get_private(&name) else {
        // Another flow's cookie present: the state belongs to none of them. None at all:
        // the flow expired (or was started in another browser).
        let other_flows = jar.iter().any(|cookie| cookie.name().starts_with(FLOW_COOKIE_PREFIX));
        return Err(if other_flows { AppError::StateMismatch } else { AppError::FlowExpired });
    };
    jar.remove_private(Cookie::build(name).path("/auth"));
    let pending: PendingSignIn = serde_json::from_str(cookie.value()).map_err(|_| AppError::FlowExpired)?;
    if pending.state != state {
        return Err(AppError::StateMismatch);
    }
    let age = Utc::now().signed_duration_since(pending.started_at).to_std().unwrap_or_default();
    if age > config.login_timeout {
        return Err(AppError::FlowExpired);
    }
    Ok(pending)
}

/// Checks the IdP's answer, exchanges the code and verifies the ID token. Writes nothing.
pub async fn finish(
    params: &CallbackParams<'_>,
    providers: &crate::oidc::Providers,
    config: &AuthConfig,
    jar: &CookieJar<'_>,
) -> Result<Completed, AppError> {
    let pending = take_pending(jar, params.state, config);
    if let Some(error) = params.error {
        return Err(AppError::IdpError {
            error: error.chars().take(64).collect(),
            description: params.error_description.map(|text| text.chars().take(256).collect()),
        });
    }
    let pending = pending?;
    // Kept on the account row: PostgreSQL text holds no NUL, and an IdP's session state is
    // a short printable id. Refuse anything else before the code is spent.
    if params.session_state.is_some_and(|state| state.len() > 256 || state.chars().any(char::is_control)) {
        return Err(AppError::BadRequest("malformed session_state".into()));
    }
    let provider = providers.get(&pending.provider).cloned().ok_or(AppError::UnknownProvider)?;
    let code = params.code.filter(|code| !code.is_empty()).ok_or_else(|| AppError::BadRequest("no code".into()))?;
    let metadata = provider.metadata_or_discover().await?;
    // RFC 9207: when the IdP names itself, it must be the one we asked.
    if let Some(iss) = params.iss {
        if iss != metadata.issuer().as_str() {
            return Err(AppError::IssuerMismatch);
        }
    }

    let client = client(&provider, &metadata, config)?;
    let unavailable = |reason: String| AppError::IdpUnavailable { provider: provider.name.clone(), reason };
    let request = client
        .exchange_code(AuthorizationCode::new(code.to_string()))
        .map_err(|e| unavailable(format!("no token endpoint: {e}")))?
        .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier.clone()));
    let response: CoreTokenResponse = request.request_async(&provider.http).await.map_err(|error| match error {
        RequestTokenError::ServerResponse(response) => AppError::CodeRejected(response.error().to_string()),
        RequestTokenError::Request(error) => unavailable(crate::error::chain(&error)),
        // The answer was 200 but unreadable, most often an ID token without required claims.
        RequestTokenError::Parse(error, _) => AppError::InvalidIdToken(format!("token response unreadable: {error}")),
        other => AppError::CodeRejected(crate::error::chain(&other)),
    })?;

    let id_token = response.id_token().ok_or_else(|| AppError::InvalidIdToken("no id_token in the response".into()))?;
    let identity = verify_id_token(&provider, metadata, config, id_token, &Nonce::new(pending.nonce.clone())).await?;

    Ok(Completed {
        provider: provider.name.clone(),
        identity,
        return_to: pending.return_to,
        idp_sid: string_claim(id_token, "sid").map(|sid| storable(&sid)),
        id_token: id_token.to_string(),
        access_token: response.access_token().secret().clone(),
        refresh_token: response.refresh_token().map(|token| token.secret().clone()),
        expires_at: response
            .expires_in()
            .and_then(|ttl| chrono::Duration::from_std(ttl).ok())
            .map(|ttl| Utc::now() + ttl),
        token_type: response.token_type().as_ref().to_string(),
        scope: response.scopes().map(|scopes| scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ")),
        session_state: params.session_state.map(str::to_string),
    })
}

/// Verifies signature (refreshing the keys once when the `kid` is unknown), iss, aud, azp,
/// exp, iat and nonce, and returns who signed in.
async fn verify_id_token(
    provider: &Provider,
    metadata: std::sync::Arc<Metadata>,
    config: &AuthConfig,
    id_token: &CoreIdToken,
    nonce: &Nonce,
) -> Result<Identity, AppError> {
    let login_timeout = config.login_timeout;
    let check = |metadata: &Metadata| -> Result<Identity, ClaimsVerificationError> {
        let client = client(provider, metadata, config).map_err(|e| ClaimsVerificationError::Other(e.to_string()))?;
        let verifier = client.id_token_verifier().set_issue_time_verifier_fn(move |iat| {
            let now = Utc::now();
            if iat > now + CLOCK_SKEW {
                return Err(format!("issued in the future ({iat})"));
            }
            if now.signed_duration_since(iat).to_std().unwrap_or_default() > login_timeout + CLOCK_SKEW {
                return Err(format!("issued too long ago ({iat})"));
            }
            Ok(())
        });
        let claims = id_token.claims(&verifier, nonce)?;
        // openidconnect leaves azp to the caller: when present it must be us.
        if let Some(azp) = claims.authorized_party() {
            if azp.as_str() != provider.config.client_id {
                return Err(ClaimsVerificationError::InvalidAudience(format!("azp is {}", azp.as_str())));
            }
        } else if claims.audiences().len() > 1 {
            return Err(ClaimsVerificationError::InvalidAudience("several audiences and no azp".into()));
        }
        let name = claims
            .name()
            .and_then(|name| name.get(None))
            .map(|name| name.as_str().to_string())
            .or_else(|| claims.preferred_username().map(|username| username.as_str().to_string()));
        Ok(Identity {
            provider: provider.name.clone(),
            subject: storable(claims.subject().as_str()),
            name: name.as_deref().map(storable),
            email: claims.email().map(|email| storable(email.as_str())),
            email_verified: claims.email_verified().unwrap_or(false),
            image: claims.picture().and_then(|picture| picture.get(None)).map(|url| storable(url.as_str())),
        })
    };
    match check(&metadata) {
        Err(ClaimsVerificationError::SignatureVerification(SignatureVerificationError::NoMatchingKey)) => {
            // The IdP may have rotated its keys: fetch them once, then decide for good.
            let refreshed = provider.refresh_keys().await?;
            check(&refreshed).map_err(|error| AppError::InvalidIdToken(crate::error::chain(&error)))
        }
        other => other.map_err(|error| AppError::InvalidIdToken(crate::error::chain(&error))),
    }
}

/// A claim as PostgreSQL text can hold it: JSON allows `\u0000`, PostgreSQL does not.
fn storable(text: &str) -> String {
    text.replace('\0', "")
}

/// A string claim that openidconnect's core types do not model (Keycloak's `sid`), read
/// from the payload of an ID token whose signature has already been verified.
fn string_claim(id_token: &CoreIdToken, name: &str) -> Option<String> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let jwt = id_token.to_string();
    let payload = jwt.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims.get(name)?.as_str().map(str::to_string)
}
