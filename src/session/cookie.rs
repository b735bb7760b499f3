//! Every cookie latchkey sets, built in one place: HttpOnly, SameSite=Lax (the provider's
//! redirect back is a cross-site navigation), and whenever the site is https: Secure,
//! Path=/ and the `__Host-` prefix, so that neither a sibling subdomain nor a plain-http
//! response can plant one (a planted sign-in flow cookie could sign the victim in as
//! the attacker). Over plain http (development) the sign-in cookies live under the base
//! path's `/auth`.

use std::time::Duration;

use rocket::http::{Cookie, CookieJar, SameSite};
use rocket::Request;

use crate::config::Config;
use crate::paths::Paths;
use crate::session::SessionToken;

const SESSION: &str = "latchkey_session";
/// Left behind when a stale session cookie is cleared: the next sign-in from this
/// browser asks the IdP for credentials (`prompt=login`) instead of riding its single
/// sign-on session, so a device whose session was revoked cannot slip back in silently.
const REAUTH_NAME: &str = "latchkey_reauth";
/// How long the re-authentication mark lasts.
const REAUTH_FOR: Duration = Duration::from_secs(30 * 24 * 60 * 60);
/// Most session cookies of one request that are looked up: bounds what one request costs.
const MAX_CANDIDATES: usize = 4;

/// The attributes of latchkey's cookies, from the configuration and the base path.
#[derive(Debug, Clone)]
pub(crate) struct CookiePolicy {
    secure: bool,
    auth_path: String,
}

impl CookiePolicy {
    pub fn new(config: &Config, paths: &Paths) -> CookiePolicy {
        CookiePolicy { secure: config.secure_cookies(), auth_path: paths.auth_cookies.clone() }
    }

    /// The name a cookie of latchkey's goes by: `__Host-<name>` over https.
    pub fn name(&self, name: &str) -> String {
        if self.secure {
            format!("__Host-{name}")
        } else {
            name.to_string()
        }
    }

    /// A cookie with latchkey's attributes, named [`name`](Self::name), on `path` (on `/`
    /// over https), kept for `lifetime` (a browser session when `None`).
    pub fn build(
        &self,
        name: &str,
        value: impl Into<String>,
        path: &str,
        lifetime: Option<Duration>,
    ) -> Cookie<'static> {
        let path = if self.secure { "/" } else { path };
        let mut cookie = Cookie::build((self.name(name), value.into()))
            .http_only(true)
            .same_site(SameSite::Lax)
            .path(path.to_string())
            .secure(self.secure)
            .build();
        if let Some(lifetime) = lifetime {
            cookie.set_max_age(rocket::time::Duration::seconds(i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX)));
        }
        cookie
    }

    /// A cookie of the sign-in flow (under the base path's `/auth` over plain http).
    pub fn auth_cookie(&self, name: &str, value: impl Into<String>, lifetime: Duration) -> Cookie<'static> {
        self.build(name, value, &self.auth_path, Some(lifetime))
    }

    /// The removal of a cookie set by [`auth_cookie`](Self::auth_cookie).
    pub fn auth_cookie_removal(&self, name: &str) -> Cookie<'static> {
        self.build(name, "", &self.auth_path, None)
    }

    pub fn session_name(&self) -> String {
        self.name(SESSION)
    }

    /// Every well-formed session token the request carries, in the order sent (the last
    /// `MAX_CANDIDATES`). A browser sends two cookies of one name when it holds them for
    /// different paths or domains; Rocket's jar keeps only the last, so a junk one after
    /// the real one would hide it.
    pub fn candidates(&self, request: &Request<'_>) -> Vec<SessionToken> {
        let name = self.session_name();
        let name = &*name;
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
        let in_jar = request.cookies().get(name).and_then(|cookie| SessionToken::parse(cookie.value()));
        if let Some(token) = in_jar {
            if !tokens.contains(&token) {
                tokens.push(token);
            }
        }
        let skip = tokens.len().saturating_sub(MAX_CANDIDATES);
        tokens.split_off(skip)
    }

    /// Whether the request carries a session cookie at all (well formed or not).
    pub fn session_present(&self, jar: &CookieJar<'_>) -> bool {
        jar.get(&self.session_name()).is_some()
    }

    /// Sets (or refreshes) the session cookie so that the browser keeps it for `lifetime`.
    pub fn set_session(&self, jar: &CookieJar<'_>, token: &SessionToken, lifetime: Duration) {
        jar.add(self.build(SESSION, token.as_str(), "/", Some(lifetime)));
    }

    pub fn clear_session(&self, jar: &CookieJar<'_>) {
        jar.remove(self.build(SESSION, "", "/", None));
    }

    /// Clears a session cookie that no longer names a live session, and marks the browser
    /// for a fresh login at its next sign-in.
    pub fn clear_stale_session(&self, jar: &CookieJar<'_>) {
        self.clear_session(jar);
        jar.add(self.auth_cookie(REAUTH_NAME, "1", REAUTH_FOR));
    }

    /// Whether the next sign-in must ask for credentials.
    pub fn reauth_required(&self, jar: &CookieJar<'_>) -> bool {
        jar.get(&self.name(REAUTH_NAME)).is_some()
    }

    /// After a successful sign-in the mark has done its job.
    pub fn clear_reauth(&self, jar: &CookieJar<'_>) {
        jar.remove(self.auth_cookie_removal(REAUTH_NAME));
    }
}
