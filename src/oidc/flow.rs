//! The authorization code flow with PKCE (S256), state and nonce.
//!
//! The flow's secrets ride in a private (encrypted, authenticated) cookie named after the
//! flow's `state`, so two tabs signing in at once each find their own.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use openidconnect::core::CoreAuthenticationFlow;
use openidconnect::core::{CoreAuthPrompt, CoreGenderClaim};
use openidconnect::{
    AuthenticationContextClass, AuthorizationCode, ClaimsVerificationError, CsrfToken, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, PkceCodeVerifier, RequestTokenError, Scope, SignatureVerificationError, SubjectIdentifier,
    TokenResponse as _, UserInfoClaims, UserInfoError,
};
use rocket::http::CookieJar;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config::ProviderConfig;
use crate::error::{cause, chain, printable, Cause, Error};
use crate::hooks::{Claims, Profile};
use crate::oidc::claims::{client, IdToken, OidcClient, OtherClaims, TokenResponse, CLOCK_SKEW};
use crate::oidc::provider::{Metadata, Provider};
use crate::oidc::OidcContext;
use crate::roles::Roles;

const FLOW_COOKIE_PREFIX: &str = "latchkey_flow_";

/// A started sign-in, kept in the flow cookie until the IdP sends the browser back.
#[derive(Serialize, Deserialize)]
struct PendingSignIn {
    provider: String,
    state: String,
    nonce: String,
    pkce_verifier: String,
    return_to: String,
    started_at: DateTime<Utc>,
    /// The provider was asked for the password, not single sign-on.
    #[serde(default)]
    forced_login: bool,
    /// The most seconds since the person's authentication that this sign-in accepts.
    #[serde(default)]
    max_age: Option<u64>,
}

/// How hard a sign-in asks the provider to check the person.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Insist {
    /// `prompt=login`: the password (or whatever the provider asks), not single sign-on.
    pub login: bool,
    /// `max_age`: an authentication at most this old.
    pub max_age: Option<std::time::Duration>,
}

/// Starts a sign-in: the IdP's authorization URL, with the flow cookie set.
pub(crate) fn start(
    provider: &Provider,
    metadata: &Metadata,
    ctx: &OidcContext<'_>,
    return_to: String,
    insist: Insist,
    jar: &CookieJar<'_>,
) -> Result<String, Error> {
    let client = client(provider, metadata, ctx)?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = client
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .set_pkce_challenge(challenge);
    for scope in provider.config.scopes.iter().filter(|scope| scope.as_str() != "openid") {
        request = request.add_scope(Scope::new(scope.clone()));
    }
    if insist.login {
        request = request.add_prompt(CoreAuthPrompt::Login);
    }
    if let Some(max_age) = insist.max_age {
        request = request.set_max_age(max_age);
    }
    for acr in &provider.config.acr_values {
        request = request.add_auth_context_value(AuthenticationContextClass::new(acr.clone()));
    }
    let (url, state, nonce) = request.url();
    let pending = PendingSignIn {
        provider: provider.name.clone(),
        state: state.secret().clone(),
        nonce: nonce.secret().clone(),
        pkce_verifier: verifier.secret().clone(),
        return_to,
        started_at: Utc::now(),
        forced_login: insist.login,
        max_age: insist.max_age.map(|age| age.as_secs()),
    };
    let value = serde_json::to_string(&pending).map_err(|e| Error::internal_from("flow cookie", e))?;
    jar.add_private(ctx.cookies.auth_cookie(&flow_cookie_name(&pending.state), value, ctx.config.login_timeout));
    Ok(url.to_string())
}

fn flow_cookie_name(state: &str) -> String {
    format!("{FLOW_COOKIE_PREFIX}{state}")
}

/// The authorization response's query, as the IdP sent it.
#[derive(Debug, Default, rocket::FromForm)]
pub(crate) struct CallbackParams<'r> {
    pub state: Option<&'r str>,
    pub code: Option<&'r str>,
    pub error: Option<&'r str>,
    pub error_description: Option<&'r str>,
    pub session_state: Option<&'r str>,
    pub iss: Option<&'r str>,
}

/// A finished sign-in, verified, ready for the app's hooks and then the store.
pub(crate) struct Completed {
    pub provider: Arc<Provider>,
    pub subject: String,
    pub claims: Claims,
    /// The standard claims' mapping, before the app's hooks.
    pub profile: Profile,
    pub return_to: String,
    pub idp_sid: Option<String>,
    pub id_token: String,
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub token_type: String,
    pub scope: Option<String>,
    pub session_state: Option<String>,
    /// When the person authenticated at the provider (`auth_time`).
    pub auth_time: Option<DateTime<Utc>>,
    /// Whether the provider was asked for the password (`prompt=login`).
    pub forced_login: bool,
}

/// Takes the flow cookie that matches `state` out of the jar, checking its age.
fn take_pending(jar: &CookieJar<'_>, state: Option<&str>, ctx: &OidcContext<'_>) -> Result<PendingSignIn, Error> {
    let state = state.filter(|s| !s.is_empty() && s.len() <= 128).ok_or(Error::StateMismatch)?;
    if !state.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Err(Error::StateMismatch);
    }
    let name = flow_cookie_name(state);
    let Some(cookie) = jar.get_private(&ctx.cookies.name(&name)) else {
        // Another flow's cookie present: the state belongs to none of them. None at all:
        // the flow expired (or was started in another browser).
        let prefix = ctx.cookies.name(FLOW_COOKIE_PREFIX);
        let other_flows = jar.iter().any(|cookie| cookie.name().starts_with(&prefix));
        return Err(if other_flows { Error::StateMismatch } else { Error::FlowExpired });
    };
    jar.remove_private(ctx.cookies.auth_cookie_removal(&name));
    let pending: PendingSignIn = serde_json::from_str(cookie.value()).map_err(|_| Error::FlowExpired)?;
    if pending.state != state {
        return Err(Error::StateMismatch);
    }
    let age = Utc::now().signed_duration_since(pending.started_at).to_std().unwrap_or_default();
    if age > ctx.config.login_timeout {
        return Err(Error::FlowExpired);
    }
    Ok(pending)
}

/// Checks the IdP's answer, exchanges the code and verifies the ID token. Writes nothing.
pub(crate) async fn finish(
    params: &CallbackParams<'_>,
    ctx: &OidcContext<'_>,
    jar: &CookieJar<'_>,
) -> Result<Completed, Error> {
    let pending = take_pending(jar, params.state, ctx);
    if let Some(error) = params.error {
        // The provider's words are shown only for a sign-in this browser started here:
        // otherwise anyone could put text of their choosing on this site's error page.
        pending?;
        return Err(Error::IdpError {
            error: printable(error, 64),
            description: params.error_description.map(|text| printable(text, 256)),
        });
    }
    let pending = pending?;
    // Kept on the account row: PostgreSQL text holds no NUL, and an IdP's session state is
    // a short printable id. Refuse anything else before the code is spent.
    if params.session_state.is_some_and(|state| state.len() > 256 || state.chars().any(char::is_control)) {
        return Err(Error::BadRequest("malformed session_state".into()));
    }
    let provider = ctx.providers.get(&pending.provider).cloned().ok_or(Error::UnknownProvider)?;
    let code = params.code.filter(|code| !code.is_empty()).ok_or_else(|| Error::BadRequest("no code".into()))?;
    let metadata = provider.metadata_or_discover().await?;
    // RFC 9207: when the IdP names itself, it must be the one we asked; when it says it
    // always does, an answer that does not is not its own.
    let iss_always = metadata.additional_metadata().additional_metadata.authorization_response_iss_parameter_supported;
    match params.iss {
        Some(iss) if iss != metadata.issuer().as_str() => return Err(Error::IssuerMismatch),
        None if iss_always == Some(true) => return Err(Error::IssuerMismatch),
        _ => {}
    }

    let client = client(&provider, &metadata, ctx)?;
    let unavailable = |source: Cause| Error::IdpUnavailable { provider: provider.name.clone(), source };
    let request = client
        .exchange_code(AuthorizationCode::new(code.to_string()))
        .map_err(|e| unavailable(cause(e)))?
        .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier.clone()));
    let response: TokenResponse = request.request_async(&provider.http).await.map_err(|error| match error {
        RequestTokenError::ServerResponse(response) => Error::CodeRejected(response.error().to_string()),
        RequestTokenError::Request(error) => unavailable(cause(error)),
        // The answer was 200 but unreadable, most often an ID token without required claims.
        RequestTokenError::Parse(error, _) => {
            Error::InvalidIdToken(cause(format!("token response unreadable: {error}")))
        }
        other => Error::CodeRejected(chain(&other)),
    })?;

    let id_token = response.id_token().ok_or_else(|| Error::InvalidIdToken(cause("no id_token in the response")))?;
    let nonce = Nonce::new(pending.nonce.clone());
    let mut claims = verify_id_token(&provider, Arc::clone(&metadata), ctx, id_token, Some(&nonce)).await?;
    let subject = claims.str("sub").map(storable).ok_or_else(|| Error::InvalidIdToken(cause("no sub")))?;
    let auth_time = claims.get("auth_time").and_then(Value::as_i64).and_then(|at| DateTime::from_timestamp(at, 0));
    check_authentication(&claims, auth_time, pending.max_age, &provider.config.acr_values)?;
    if lacks_requested_claims(&claims, &provider.config.scopes) && metadata.userinfo_endpoint().is_some() {
        let more = userinfo(&client, &provider, response.access_token(), &subject).await?;
        claims.add_missing(more);
    }
    Ok(Completed {
        subject,
        profile: standard_profile(&claims, &provider.config),
        idp_sid: claims.str("sid").map(storable),
        claims,
        provider,
        return_to: pending.return_to,
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
        auth_time,
        forced_login: pending.forced_login,
    })
}

/// What a sign-in that asked for a recent authentication (`max_age`) or a level of
/// assurance (`acr_values`) must show: an `auth_time` within the age, an `acr` among the
/// values. A provider that leaves either out has not done what was asked.
fn check_authentication(
    claims: &Claims,
    auth_time: Option<DateTime<Utc>>,
    max_age: Option<u64>,
    acr_values: &[String],
) -> Result<(), Error> {
    if let Some(max_age) = max_age {
        let auth_time = auth_time.ok_or_else(|| Error::InvalidIdToken(cause("no auth_time, yet max_age was asked")))?;
        let age = Utc::now().signed_duration_since(auth_time).num_seconds();
        let allowed = i64::try_from(max_age.saturating_add(CLOCK_SKEW.as_secs())).unwrap_or(i64::MAX);
        if age > allowed {
            return Err(Error::InvalidIdToken(cause(format!("auth_time is {age} s old, over max_age {max_age} s"))));
        }
    }
    if !acr_values.is_empty() && !claims.str("acr").is_some_and(|acr| acr_values.iter().any(|asked| asked == acr)) {
        return Err(Error::InvalidIdToken(cause("acr is none of the acr_values asked for")));
    }
    Ok(())
}

/// Verifies signature (refreshing the keys once when the `kid` is unknown), iss, aud, azp,
/// exp, iat and the nonce (when there is one to expect: a refresh's ID token answers no
/// request of ours that had one), and returns every claim.
pub(crate) async fn verify_id_token(
    provider: &Provider,
    metadata: Arc<Metadata>,
    ctx: &OidcContext<'_>,
    id_token: &IdToken,
    nonce: Option<&Nonce>,
) -> Result<Claims, Error> {
    let login_timeout = ctx.config.login_timeout;
    let check = |metadata: &Metadata| -> Result<Claims, ClaimsVerificationError> {
        let client = client(provider, metadata, ctx).map_err(|e| ClaimsVerificationError::Other(e.to_string()))?;
        let verifier = client
            .id_token_verifier()
            .set_allowed_algs(provider.algorithms.clone())
            .set_issue_time_verifier_fn(move |iat| {
                let now = Utc::now();
                if iat > now + CLOCK_SKEW {
                    return Err(format!("issued in the future ({iat})"));
                }
                if now.signed_duration_since(iat).to_std().unwrap_or_default() > login_timeout + CLOCK_SKEW {
                    return Err(format!("issued too long ago ({iat})"));
                }
                Ok(())
            });
        let claims = match nonce {
            Some(nonce) => id_token.claims(&verifier, nonce)?,
            None => id_token.claims(&verifier, |_: Option<&Nonce>| Ok(()))?,
        };
        // openidconnect leaves azp to the caller: when present it must be us.
        if let Some(azp) = claims.authorized_party() {
            if azp.as_str() != provider.config.client_id {
                return Err(ClaimsVerificationError::InvalidAudience(format!("azp is {}", azp.as_str())));
            }
        } else if claims.audiences().len() > 1 {
            return Err(ClaimsVerificationError::InvalidAudience("several audiences and no azp".into()));
        }
        match serde_json::to_value(claims) {
            Ok(Value::Object(map)) => Ok(Claims::new(map)),
            _ => Err(ClaimsVerificationError::Other("claims are not a JSON object".into())),
        }
    };
    match check(&metadata) {
        Err(ClaimsVerificationError::SignatureVerification(SignatureVerificationError::NoMatchingKey)) => {
            // The IdP may have rotated its keys: fetch them once, then decide for good.
            let refreshed = provider.refresh_keys().await?;
            check(&refreshed).map_err(|error| Error::InvalidIdToken(cause(error)))
        }
        other => other.map_err(|error| Error::InvalidIdToken(cause(error))),
    }
}

/// Whether the ID token leaves out claims the requested scopes ask for: then the
/// provider serves them from userinfo (OpenID Connect Core 5.4, 5.5).
fn lacks_requested_claims(claims: &Claims, scopes: &[String]) -> bool {
    let asked = |scope: &str| scopes.iter().any(|asked| asked == scope);
    let has_any = |names: &[&str]| names.iter().any(|name| claims.get(name).is_some());
    (asked("profile") && !has_any(&["name", "preferred_username", "given_name", "family_name", "nickname"]))
        || (asked("email") && !has_any(&["email"]))
}

/// The userinfo endpoint's claims for `subject`; an answer about anyone else is refused.
async fn userinfo(
    client: &OidcClient,
    provider: &Provider,
    access_token: &openidconnect::AccessToken,
    subject: &str,
) -> Result<Map<String, Value>, Error> {
    let unavailable = |source: Cause| Error::IdpUnavailable { provider: provider.name.clone(), source };
    let request = client
        .user_info(access_token.clone(), Some(SubjectIdentifier::new(subject.to_string())))
        .map_err(|e| unavailable(cause(e)))?;
    let claims: UserInfoClaims<OtherClaims, CoreGenderClaim> =
        request.request_async(&provider.http).await.map_err(|error| match error {
            UserInfoError::ClaimsVerification(error) => Error::InvalidIdToken(cause(error)),
            UserInfoError::Request(error) => unavailable(cause(error)),
            other => unavailable(cause(other)),
        })?;
    match serde_json::to_value(claims) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(Error::InvalidIdToken(cause("userinfo claims are not a JSON object"))),
    }
}

/// The profile the standard claims give: `name` (else `preferred_username`), `email` and
/// whether it is verified, `picture`; and the roles and groups where the provider's
/// configuration says they are.
pub(crate) fn standard_profile(claims: &Claims, config: &ProviderConfig) -> Profile {
    let text = |name: &str| claims.str(name).filter(|value| !value.is_empty()).map(storable);
    Profile {
        name: text("name").or_else(|| text("preferred_username")),
        email: text("email"),
        email_verified: claims.get("email_verified").and_then(Value::as_bool).unwrap_or(false),
        image: text("picture"),
        extra: Map::new(),
        roles: Roles {
            realm: claims.strings(&config.realm_roles_claim),
            client: claims.strings(&config.client_roles_claim.replace("{client_id}", &config.client_id)),
            groups: claims.strings(&config.groups_claim),
        },
    }
}

/// A claim as PostgreSQL text can hold it: JSON allows `\u0000`, PostgreSQL does not.
pub(crate) fn storable(text: &str) -> String {
    text.replace('\0', "")
}
