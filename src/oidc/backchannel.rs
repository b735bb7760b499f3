//! OpenID Connect Back-Channel Logout 1.0: verifying a provider's `logout_token`.
//!
//! openidconnect verifies only ID tokens, so the logout token is checked here with
//! jsonwebtoken against the same cached JWKS (re-fetched once for an unknown `kid`).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::{printable, Error};
use crate::oidc::claims::CLOCK_SKEW;
use crate::oidc::provider::Metadata;
use crate::oidc::{Provider, Providers};
use crate::store::{LogoutScope, LogoutToken};

const BACKCHANNEL_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// How old a logout token may be.
const MAX_AGE_SECS: i64 = 5 * 60;
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
pub(crate) struct LogoutRequest {
    pub provider: String,
    pub issuer: String,
    pub jti: String,
    pub ends: Ends,
    pub expires_at: DateTime<Utc>,
}

/// Which sessions a logout token ends.
#[derive(Debug, Clone)]
pub(crate) enum Ends {
    /// One provider session (`sid`), of that user if `sub` is given too.
    ProviderSession { sid: String, sub: Option<String> },
    /// Every session of the user (`sub` alone).
    User { sub: String },
}

impl LogoutRequest {
    /// The request as the store acts on it.
    pub fn as_token(&self) -> LogoutToken<'_> {
        let scope = match &self.ends {
            Ends::ProviderSession { sid, sub } => LogoutScope::ProviderSession { sid, sub: sub.as_deref() },
            Ends::User { sub } => LogoutScope::User { sub },
        };
        LogoutToken {
            provider: &self.provider,
            issuer: &self.issuer,
            jti: &self.jti,
            expires_at: self.expires_at,
            scope,
        }
    }
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

/// Only to pick the provider whose keys then verify the token: by issuer and audience,
/// since two clients of one issuer are two providers here.
#[derive(Deserialize)]
struct UnverifiedAddress {
    iss: String,
    #[serde(default)]
    aud: Audience,
}

#[derive(Deserialize, Default)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
    #[default]
    None,
}

impl Audience {
    fn contains(&self, client_id: &str) -> bool {
        match self {
            Audience::One(aud) => aud == client_id,
            Audience::Many(auds) => auds.iter().any(|aud| aud == client_id),
            Audience::None => false,
        }
    }
}

/// A refusal; its reason may quote the unverified token, so it is made printable.
fn refuse(reason: impl Into<String>) -> Error {
    Error::InvalidLogoutToken(printable(&reason.into(), 300))
}

/// Verifies `token` completely: signature, `typ`, iss, aud, iat, exp, the back-channel
/// event, `sid` and/or `sub`, no `nonce`, a `jti`. Replay is the caller's check.
pub(crate) async fn verify(token: &str, providers: &Providers) -> Result<LogoutRequest, Error> {
    let header = jsonwebtoken::decode_header(token).map_err(|e| refuse(format!("unreadable header: {e}")))?;
    if !ALLOWED.contains(&header.alg) {
        return Err(refuse(format!("algorithm {:?} not accepted", header.alg)));
    }
    // Keycloak sends `JWT` (older) or `logout+jwt` (newer); the spec allows either.
    if let Some(typ) = header.typ.as_deref() {
        let typ = typ.to_ascii_lowercase();
        if !matches!(typ.as_str(), "jwt" | "logout+jwt" | "application/logout+jwt") {
            return Err(refuse(format!("typ {} not accepted", printable(&typ, 40))));
        }
    }
    let address = jsonwebtoken::dangerous::insecure_decode::<UnverifiedAddress>(token)
        .map_err(|e| refuse(format!("unreadable payload: {e}")))?
        .claims;
    let (provider, metadata) = provider_for(&address, providers).await?;
    let kid = header.kid.clone().ok_or_else(|| refuse("no kid in the header"))?;
    let key = match decoding_key(&metadata, &kid)? {
        Some(key) => key,
        None => {
            let refreshed = provider.refresh_keys().await?;
            decoding_key(&refreshed, &kid)?
                .ok_or_else(|| refuse(format!("unknown signing key {}", printable(&kid, 80))))?
        }
    };

    let mut validation = Validation::new(header.alg);
    validation.set_issuer(&[metadata.issuer().as_str()]);
    validation.set_audience(&[provider.config.client_id.as_str()]);
    validation.set_required_spec_claims(&["iss", "aud", "iat", "exp"]);
    validation.leeway = CLOCK_SKEW.as_secs();
    let claims = jsonwebtoken::decode::<LogoutClaims>(token, &key, &validation)
        .map_err(|e| refuse(format!("verification failed: {e}")))?
        .claims;

    let now = Utc::now().timestamp();
    if claims.iat > now + CLOCK_SKEW.as_secs() as i64 {
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
    let ends = match (claims.sid.filter(|sid| !sid.is_empty()), sub) {
        (Some(sid), sub) => Ends::ProviderSession { sid, sub },
        (None, Some(sub)) => Ends::User { sub },
        (None, None) => return Err(refuse("neither sid nor sub")),
    };
    let jti = claims.jti.filter(|jti| !jti.is_empty() && jti.len() <= 256).ok_or_else(|| refuse("no usable jti"))?;
    Ok(LogoutRequest {
        provider: provider.name.clone(),
        issuer: claims.iss,
        jti,
        ends,
        expires_at: DateTime::from_timestamp(remembered_until(claims.iat, claims.exp), 0).unwrap_or_else(Utc::now),
    })
}

/// Until when a used token must be remembered: as long as it would still verify, that
/// is past `exp` by the clock-skew leeway, and until `iat` is too old to pass.
fn remembered_until(iat: i64, exp: i64) -> i64 {
    let skew = CLOCK_SKEW.as_secs() as i64;
    (exp + skew).max(iat + MAX_AGE_SECS + skew)
}

/// The provider of this issuer whose client the token is for.
async fn provider_for(
    address: &UnverifiedAddress,
    providers: &Providers,
) -> Result<(Arc<Provider>, Arc<Metadata>), Error> {
    let candidates = providers.iter().filter(|provider| address.aud.contains(&provider.config.client_id));
    for provider in candidates {
        let Ok(metadata) = provider.metadata_or_discover().await else { continue };
        if metadata.issuer().as_str() == address.iss {
            return Ok((Arc::clone(provider), metadata));
        }
    }
    Err(refuse(format!("no configured provider is issuer {} with this audience", printable(&address.iss, 200))))
}

/// The key for `kid` from the provider's cached JWKS, if it has one.
fn decoding_key(metadata: &Metadata, kid: &str) -> Result<Option<DecodingKey>, Error> {
    let json = serde_json::to_value(metadata.jwks()).map_err(|e| Error::internal_from("JWKS", e))?;
    // Keys of types jsonwebtoken does not know (e.g. encryption keys) are skipped.
    let keys: Vec<Value> = json.get("keys").and_then(Value::as_array).cloned().unwrap_or_default();
    let usable: Vec<Value> =
        keys.into_iter().filter(|key| key.get("kid").and_then(Value::as_str) == Some(kid)).collect();
    let set: JwkSet = serde_json::from_value(serde_json::json!({ "keys": usable }))
        .map_err(|e| refuse(format!("signing key {} unusable: {e}", printable(kid, 80))))?;
    let Some(jwk) = set.find(kid) else { return Ok(None) };
    DecodingKey::from_jwk(jwk)
        .map(Some)
        .map_err(|e| refuse(format!("signing key {} unusable: {e}", printable(kid, 80))))
}
