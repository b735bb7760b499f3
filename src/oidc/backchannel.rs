//! OpenID Connect Back-Channel Logout 1.0: verifying a provider's `logout_token`.
//!
//! openidconnect verifies only ID tokens, so the logout token is checked here with
//! jsonwebtoken against the same cached JWKS (re-fetched once for an unknown `kid`).

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::AppError;
use crate::oidc::provider::Metadata;
use crate::oidc::{Provider, Providers};

pub const BACKCHANNEL_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// How old a logout token may be, and how far in the future its `iat` may lie.
const MAX_AGE_SECS: i64 = 5 * 60;
const CLOCK_SKEW_SECS: i64 = 60;
/// Only asymmetric signatures: a provider's logout token is never HMAC'd or unsigned.
const ALLOWED: [Algorithm; 7] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
];

/// What a verified logout token asks for.
#[derive(Debug, Clone)]
pub struct LogoutRequest {
    pub provider: String,
    pub issuer: String,
    pub jti: String,
    pub sub: Option<String>,
    pub sid: Option<String>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize)]
struct LogoutClaims {
    iss: String,
    iat: i64,
    exp: i64,
    jti: Option<String>,
    sub: Option<String>,
    sid: Option<String>,
    events: Option<Map<String, Value>>,
    nonce: Option<Value>,
}

fn refuse(reason: impl Into<String>) -> AppError {
    AppError::InvalidLogoutToken(reason.into())
}

/// Verifies `token` completely: signature, `typ`, iss, aud, iat, exp, the back-channel
/// event, `sid` and/or `sub`, no `nonce`, a `jti`. Replay is the caller's check.
pub async fn verify(token: &str, providers: &Providers) -> Result<LogoutRequest, AppError> {
    let header = jsonwebtoken::decode_header(token).map_err(|e| refuse(format!("unreadable header: {e}")))?;
    if !ALLOWED.contains(&header.alg) {
        return Err(refuse(format!("algorithm {:?} not accepted", header.alg)));
    }
    // Keycloak sends `JWT` (older) or `logout+jwt` (newer); the spec allows either.
    if let Some(typ) = header.typ.as_deref() {
        let typ = typ.to_ascii_lowercase();
        if !matches!(typ.as_str(), "jwt" | "logout+jwt" | "application/logout+jwt") {
            return Err(refuse(format!("typ {typ} not accepted")));
        }
    }
    let issuer = unverified_issuer(token)?;
    let (provider, metadata) = provider_for(&issuer, providers).await?;
    let kid = header.kid.clone().ok_or_else(|| refuse("no kid in the header"))?;
    let key = match decoding_key(&metadata, &kid)? {
        Some(key) => key,
        None => {
            let refreshed = provider.refresh_keys().await?;
            decoding_key(&refreshed, &kid)?.ok_or_else(|| refuse(format!("unknown signing key {kid}")))?
        }
    };

    let mut validation = Validation::new(header.alg);
    validation.set_issuer(&[metadata.issuer().as_str()]);
    validation.set_audience(&[provider.config.client_id.as_str()]);
    validation.set_required_spec_claims(&["iss", "aud", "iat", "exp"]);
    validation.leeway = CLOCK_SKEW_SECS as u64;
    let claims = jsonwebtoken::decode::<LogoutClaims>(token, &key, &validation)
        .map_err(|e| refuse(format!("verification failed: {e}")))?
        .claims;

    let now = Utc::now().timestamp();
    if claims.iat > now + CLOCK_SKEW_SECS {
        return Err(refuse("issued in the future"));
    }
    if now - claims.iat > MAX_AGE_SECS {
        return Err(refuse("issued too long ago"));
    }
    let is_logout_event =
        claims.events.as_ref().and_then(|events| events.get(BACKCHANNEL_EVENT)).is_some_and(Value::is_object);
    if !is_logout_event {
        return Err(refuse("no back-channel logout event"));
    }
    if claims.nonce.is_some() {
        return Err(refuse("a logout token must not carry a nonce"));
    }
    let sub = claims.sub.filter(|sub| !sub.is_empty());
    let sid = claims.sid.filter(|sid| !sid.is_empty());
    if sub.is_none() && sid.is_none() {
        return Err(refuse("neither sid nor sub"));
    }
    let jti = claims.jti.filter(|jti| !jti.is_empty() && jti.len() <= 256).ok_or_else(|| refuse("no usable jti"))?;
    Ok(LogoutRequest {
        provider: provider.name.clone(),
        issuer: claims.iss,
        jti,
        sub,
        sid,
        expires_at: DateTime::from_timestamp(claims.exp, 0).unwrap_or_else(Utc::now),
    })
}

/// The `iss` claim before verification, only to pick the provider whose keys verify it.
fn unverified_issuer(token: &str) -> Result<String, AppError> {
    let payload = token.split('.').nth(1).ok_or_else(|| refuse("not a compact JWT"))?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).map_err(|_| refuse("payload is not base64url"))?;
    let claims: Value = serde_json::from_slice(&bytes).map_err(|_| refuse("payload is not JSON"))?;
    claims.get("iss").and_then(Value::as_str).map(str::to_string).ok_or_else(|| refuse("no iss"))
}

async fn provider_for(issuer: &str, providers: &Providers) -> Result<(Arc<Provider>, Arc<Metadata>), AppError> {
    for provider in providers.iter() {
        let Ok(metadata) = provider.metadata_or_discover().await else { continue };
        if metadata.issuer().as_str() == issuer {
            return Ok((Arc::clone(provider), metadata));
        }
    }
    Err(refuse(format!("issuer {issuer} is not a configured provider")))
}

/// The key for `kid` from the provider's cached JWKS, if it has one.
fn decoding_key(metadata: &Metadata, kid: &str) -> Result<Option<DecodingKey>, AppError> {
    let json = serde_json::to_value(metadata.jwks()).map_err(|e| AppError::Internal(format!("JWKS: {e}")))?;
    // Keys of types jsonwebtoken does not know (e.g. encryption keys) are skipped.
    let keys: Vec<Value> = json.get("keys").and_then(Value::as_array).cloned().unwrap_or_default();
    let usable: Vec<Value> =
        keys.into_iter().filter(|key| key.get("kid").and_then(Value::as_str) == Some(kid)).collect();
    let set: JwkSet = serde_json::from_value(serde_json::json!({ "keys": usable }))
        .map_err(|e| refuse(format!("signing key {kid} unusable: {e}")))?;
    let Some(jwk) = set.find(kid) else { return Ok(None) };
    DecodingKey::from_jwk(jwk).map(Some).map_err(|e| refuse(format!("signing key {kid} unusable: {e}")))
}
