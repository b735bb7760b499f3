//! RP-initiated logout: after the local session is gone, the browser is sent to the
//! provider's end_session_endpoint so that the IdP's SSO session ends too, and comes
//! back to latchkey's signed-out page with a `state` that page checks.

use std::time::Duration;

use openidconnect::CsrfToken;
use rocket::http::CookieJar;
use url::Url;

use crate::oidc::OidcContext;
use crate::store::EndedSession;

/// The column a session's ID token is sealed for (see `crypto`).
pub(crate) const ID_TOKEN_COLUMN: &str = "sessions.id_token";

const STATE_COOKIE: &str = "latchkey_logout";
/// How long the browser may take at the provider's logout.
const STATE_LIFETIME: Duration = Duration::from_secs(10 * 60);

/// The end of every sign-out, once the rows are gone: the cookie cleared, and where the
/// browser goes next: the IdP's end-session endpoint (or straight to the signed-out
/// page). `ended` is the deleted session of this device, if it still existed.
pub(crate) fn finish(ctx: &OidcContext<'_>, jar: &CookieJar<'_>, ended: Option<EndedSession>) -> String {
    ctx.cookies.clear_session(jar);
    let target = ended.and_then(|ended| provider_logout(ctx, jar, &ended));
    target.unwrap_or_else(|| ctx.paths.signed_out.clone())
}

/// The provider's end-session URL for `ended`, when it has one (and its metadata is
/// loaded); the state it will send back is remembered in a cookie.
fn provider_logout(ctx: &OidcContext<'_>, jar: &CookieJar<'_>, ended: &EndedSession) -> Option<String> {
    let provider = ctx.providers.get(&ended.provider)?;
    let metadata = provider.metadata()?;
    let endpoint = metadata.additional_metadata().end_session_endpoint.as_ref()?;
    let mut url = Url::parse(endpoint.as_str()).ok()?;
    let hint = ended.sealed_id_token.as_deref().and_then(|sealed| match ctx.keyring.open(sealed, ID_TOKEN_COLUMN) {
        Ok(token) => Some(token),
        Err(error) => {
            // Its key was retired: the IdP will ask the person to confirm instead.
            tracing::warn!("stored ID token unusable as id_token_hint: {error}");
            None
        }
    });
    let state = CsrfToken::new_random();
    let back = provider
        .config
        .post_logout_redirect
        .as_ref()
        .map(Url::to_string)
        .unwrap_or_else(|| ctx.config.url_for(&ctx.paths.signed_out));
    {
        let mut query = url.query_pairs_mut();
        if let Some(hint) = &hint {
            query.append_pair("id_token_hint", hint);
        }
        query.append_pair("post_logout_redirect_uri", &back);
        query.append_pair("client_id", &provider.config.client_id);
        query.append_pair("state", state.secret());
    }
    let value = format!("{}:{}", provider.name, state.secret());
    jar.add_private(ctx.cookies.build(STATE_COOKIE, value, &ctx.paths.signed_out, Some(STATE_LIFETIME)));
    Some(url.to_string())
}

/// The provider whose logout sent the browser back with this `state`, if it is the one
/// this browser started; the state cookie is used up either way.
pub(crate) fn returned_from(ctx: &OidcContext<'_>, state: Option<&str>, jar: &CookieJar<'_>) -> Option<String> {
    let cookie = jar.get_private(&ctx.cookies.name(STATE_COOKIE))?;
    jar.remove_private(ctx.cookies.build(STATE_COOKIE, "", &ctx.paths.signed_out, None));
    let (provider, expected) = cookie.value().split_once(':')?;
    (Some(expected) == state).then(|| provider.to_string())
}
