//! The session cookie: HttpOnly, SameSite=Lax (the IdP's redirect back is a cross-site
//! navigation), Path=/, and Secure with the `__Host-` prefix whenever the site is https.

use std::time::Duration;

use rocket::http::{Cookie, CookieJar, SameSite};
use rocket::Request;

use crate::config::AuthConfig;
use crate::session::SessionToken;

const PLAIN_NAME: &str = "latchkey_session";
/// Left behind when a stale session cookie is cleared: the next sign-in from this
/// browser asks the IdP for credentials (`prompt=login`) instead of riding its single
/// sign-on session, so a device whose session was revoked cannot slip back in silently.
const REAUTH_NAME: &str = "latchkey_reauth";
const HOST_NAME: &str = "__Host-latchkey_session";
/// Most session cookies of one request that are looked up: bounds what one request costs.
const MAX_CANDIDATES: usize = 4;

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

/// Every well-formed session token the request carries, in the order sent (the last
/// `MAX_CANDIDATES`). A browser sends two cookies of one name when it holds them for
/// different paths or domains; Rocket's jar keeps only the last, so a junk one after the
/// real one would hide it.
pub fn candidates(request: &Request<'_>, config: &AuthConfig) -> Vec<SessionToken> {
    let name = name(config);
    let mut tokens: Vec<SessionToken> = Vec::new();
    let sent = request.headers().get("Cookie").flat_map(|header| header.split(';'));
    for (key, value) in sent.filter_map(|pair| pair.trim().split_once('=')) {
        if key.trim() == name {
            if let Some(token) = SessionToken::parse(value.trim()) {
                tokens.retain(|seen| seen != &token);
                tokens.push(token);
            }
        }
    }
    // Requests made in-process (Rocket's local client) have a jar but no Cookie header.
    if let Some(token) = read(request.cookies(), config) {
        if !tokens.contains(&token) {
            tokens.push(token);
        }
    }
    let skip = tokens.len().saturating_sub(MAX_CANDIDATES);
    tokens.split_off(skip)
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

/// Clears a session cookie that no longer names a live session, and marks the browser
/// for a fresh login at its next sign-in.
pub fn clear_stale(jar: &CookieJar<'_>, config: &AuthConfig) {
    clear(jar, config);
    let cookie = Cookie::build((REAUTH_NAME, "1"))
        .http_only(true)
        .same_site(SameSite::Lax)
        .path("/auth")
        .secure(config.secure_cookies())
        .max_age(rocket::time::Duration::days(30));
    jar.add(cookie);
}

/// Whether the next sign-in must ask for credentials.
pub fn reauth_required(jar: &CookieJar<'_>) -> bool {
    jar.get(REAUTH_NAME).is_some()
}

/// After a successful sign-in the mark has done its job.
pub fn clear_reauth(jar: &CookieJar<'_>) {
    jar.remove(Cookie::build(REAUTH_NAME).path("/auth"));
}
