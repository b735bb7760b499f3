//! RP-initiated logout: after the local session is gone, the browser is sent to the
//! provider's end_session_endpoint so that the IdP's SSO session ends too, and comes
//! back to `/signed-out` with a `state` that page checks.

use openidconnect::CsrfToken;
use rocket::http::{Cookie, CookieJar, SameSite, Status};
use rocket::request::{FromRequest, Outcome, Request};
use rocket::response::Redirect;
use url::Url;

use crate::config::AuthConfig;
use crate::crypto::TokenCipher;
use crate::error::AppError;
use crate::oidc::Providers;
use crate::session::cookie;
use crate::session::store::EndedSession;

/// The end of every sign-out, once the rows are gone: the cookie cleared, then off to the
/// IdP's end-session endpoint (or straight to `/signed-out`).
pub struct SignOut<'r> {
    config: &'r AuthConfig,
    providers: &'r Providers,
    cipher: &'r TokenCipher,
    jar: &'r CookieJar<'r>,
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for SignOut<'r> {
    type Error = AppError;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        let rocket = request.rocket();
        match (rocket.state::<AuthConfig>(), rocket.state::<Providers>(), rocket.state::<TokenCipher>()) {
            (Some(config), Some(providers), Some(cipher)) => {
                Outcome::Success(SignOut { config, providers, cipher, jar: request.cookies() })
            }
            _ => Outcome::Error((Status::InternalServerError, AppError::Internal("latchkey is not attached".into()))),
        }
    }
}

impl SignOut<'_> {
    /// `ended` is the deleted session of this device, if it still existed.
    pub fn finish(&self, ended: Option<EndedSession>) -> Redirect {
        cookie::clear(self.jar, self.config);
        let target = match ended {
            Some(ended) => {
                let hint = ended.id_token_hint(self.cipher);
                redirect_after_sign_out(&ended.provider, hint.as_deref(), self.config, self.providers, self.jar)
            }
            None => "/signed-out".to_string(),
        };
        Redirect::to(target)
    }
}

const STATE_COOKIE: &str = "latchkey_logout";

/// Where to send the browser after the local session `provider` / `id_token` ended:
/// the provider's end-session endpoint when it has one (and its metadata is loaded),
/// otherwise straight to `/signed-out`.
pub fn redirect_after_sign_out(
    provider: &str,
    id_token: Option<&str>,
    config: &AuthConfig,
    providers: &Providers,
    jar: &CookieJar<'_>,
) -> String {
    let Some(provider) = providers.get(provider) else { return "/signed-out".into() };
    let Some(metadata) = provider.metadata() else { return "/signed-out".into() };
    let Some(endpoint) = metadata.additional_metadata().end_session_endpoint.as_ref() else {
        return "/signed-out".into();
    };
    let Ok(mut url) = Url::parse(endpoint.as_str()) else { return "/signed-out".into() };
    let state = CsrfToken::new_random();
    let back = provider
        .config
        .post_logout_redirect
        .as_ref()
        .map(Url::to_string)
        .unwrap_or_else(|| config.url_for("/signed-out"));
    {
        let mut query = url.query_pairs_mut();
        if let Some(hint) = id_token {
            query.append_pair("id_token_hint", hint);
        }
        query.append_pair("post_logout_redirect_uri", &back);
        query.append_pair("client_id", &provider.config.client_id);
        query.append_pair("state", state.secret());
    }
    jar.add_private(
        Cookie::build((STATE_COOKIE, format!("{}:{}", provider.name, state.secret())))
            .path("/signed-out")
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(config.secure_cookies())
            .max_age(rocket::time::Duration::minutes(10)),
    );
    url.to_string()
}

/// The provider whose logout sent the browser back with this `state`, if it is the one
/// this browser started; the state cookie is used up either way.
pub fn returned_from(state: Option<&str>, jar: &CookieJar<'_>) -> Option<String> {
    let cookie = jar.get_private(STATE_COOKIE)?;
    jar.remove_private(Cookie::build(STATE_COOKIE).path("/signed-out"));
    let (provider, expected) = cookie.value().split_once(':')?;
    (Some(expected) == state).then(|| provider.to_string())
}
