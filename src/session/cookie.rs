//! The session cookie: HttpOnly, SameSite=Lax (the IdP's redirect back is a cross-site
//! navigation), Path=/, and Secure with the `__Host-` prefix whenever the site is https.

use std::time::Duration;

use rocket::http::{Cookie, CookieJar, SameSite};

use crate::config::AuthConfig;
use crate::session::SessionToken;

const PLAIN_NAME: &str = "latchkey_session";
const HOST_NAME: &str = "__Host-latchkey_session";

pub fn name(config: &AuthConfig) -> &'static str {
    if config.secure_cookies() {
        HOST_NAME
    } else {
        PLAIN_NAME
    }
}

/// The token in the request's cookie, if it is well formed.
pub fn read(jar: &CookieJar<'_>, config: &AuthConfig) -> Option<SessionToken> {
    jar.get(name(config)).and_then(|cookie| SessionToken::parse(cookie.value()))
}

/// Whether the request carries a session cookie at all (well formed or not).
pub fn present(jar: &CookieJar<'_>, config: &AuthConfig) -> bool {
    jar.get(name(config)).is_some()
}

/// Sets (or refreshes) the cookie so that the browser keeps it for `lifetime`.
pub fn set(jar: &CookieJar<'_>, config: &AuthConfig, token: &SessionToken, lifetime: Duration) {
    let max_age = rocket::time::Duration::seconds(i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX));
    let cookie = Cookie::build((name(config), token.as_str().to_string()))
        .http_only(true)
        .same_site(SameSite::Lax)
        .path("/")
        .secure(config.secure_cookies())
        .max_age(max_age);
    jar.add(cookie);
}

pub fn clear(jar: &CookieJar<'_>, config: &AuthConfig) {
    let cookie = Cookie::build((name(config), ""))
        .http_only(true)
        .same_site(SameSite::Lax)
        .path("/")
        .secure(config.secure_cookies());
    jar.remove(cookie);
}
