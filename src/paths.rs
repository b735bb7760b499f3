//! Where latchkey's routes live. Every link, redirect and cookie path is built here from
//! the base path the app chose, once at ignite; nothing else writes a path literal.

use serde::Serialize;

/// latchkey's URLs under one base path ("" for the site's root, or e.g. "/account").
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Paths {
    /// Where the app's own pages start (the brand link, "Go home").
    pub home: String,
    pub login: String,
    pub logout: String,
    pub signed_out: String,
    /// The sessions page, when it is mounted.
    pub sessions: Option<String>,
    /// The admin console, when it is mounted.
    pub admin: Option<String>,
    pub stylesheet: String,
    #[serde(skip)]
    pub base: String,
    #[serde(skip)]
    pub callback: String,
    #[serde(skip)]
    pub backchannel: String,
    /// The path of the sign-in flow's and the re-authentication mark's cookies.
    #[serde(skip)]
    pub auth_cookies: String,
    /// The Prometheus metrics, when they are mounted.
    #[serde(skip)]
    pub metrics: Option<String>,
    #[serde(skip)]
    api_prefix: String,
}

/// Why a base path cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("base path `{0}` must be \"/\" or like \"/account\": segments of a-z, A-Z, 0-9, '-', '_' and '.'")]
pub(crate) struct BasePathError(pub String);

impl Paths {
    /// The paths under `base` ("/", "" and "/account/" are accepted as "" and "/account").
    pub fn new(base: &str, sessions_page: bool, admin_console: bool) -> Result<Paths, BasePathError> {
        let trimmed = base.trim_end_matches('/');
        let valid = trimmed.is_empty()
            || (trimmed.starts_with('/')
                && trimmed[1..].split('/').all(|segment| {
                    !segment.is_empty()
                        && segment != "."
                        && segment != ".."
                        && segment.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
                }));
        if !valid {
            return Err(BasePathError(base.to_string()));
        }
        let at = |path: &str| format!("{trimmed}{path}");
        Ok(Paths {
            home: "/".into(),
            login: at("/auth/login"),
            logout: at("/auth/logout"),
            signed_out: at("/signed-out"),
            sessions: sessions_page.then(|| at("/sessions")),
            admin: admin_console.then(|| at("/admin")),
            stylesheet: at("/latchkey.css"),
            callback: at("/auth/callback"),
            backchannel: at("/auth/backchannel-logout"),
            auth_cookies: at("/auth"),
            metrics: None,
            api_prefix: at("/api/"),
            base: trimmed.to_string(),
        })
    }

    /// The same paths with `metrics` mounted.
    pub fn with_metrics(self) -> Paths {
        let metrics = Some(format!("{}/metrics", self.base));
        Paths { metrics, ..self }
    }

    /// What routes and catchers are mounted at.
    pub fn mount_point(&self) -> &str {
        if self.base.is_empty() {
            "/"
        } else {
            &self.base
        }
    }

    /// The sign-in link that comes back to `return_to` (a path of this site).
    pub fn login_returning(&self, return_to: &str) -> String {
        let encoded: String = url::form_urlencoded::byte_serialize(return_to.as_bytes()).collect();
        format!("{}?return_to={encoded}", self.login)
    }

    /// Whether `path` is one of latchkey's JSON endpoints (or any `/api/` path of the
    /// app's), or the metrics' scraper endpoint: errors there are answered in JSON, never
    /// with a page or a redirect.
    pub fn is_api(&self, path: &str) -> bool {
        path.starts_with(&self.api_prefix)
            || path.starts_with("/api/")
            || path == self.backchannel
            || self.metrics.as_deref() == Some(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_sits_under_the_base() {
        let paths = Paths::new("/account/", true, true).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(paths.login, "/account/auth/login");
        assert_eq!(paths.callback, "/account/auth/callback");
        assert_eq!(paths.auth_cookies, "/account/auth");
        assert_eq!(paths.sessions.as_deref(), Some("/account/sessions"));
        assert_eq!(paths.admin.as_deref(), Some("/account/admin"));
        assert_eq!(paths.mount_point(), "/account");
        assert!(paths.is_api("/account/api/sessions") && paths.is_api("/account/auth/backchannel-logout"));
        assert!(!paths.is_api("/account/sessions") && !paths.is_api("/account/metrics"));
        assert!(paths.clone().with_metrics().is_api("/account/metrics"));
        assert_eq!(paths.login_returning("/notes?x=1"), "/account/auth/login?return_to=%2Fnotes%3Fx%3D1");
    }

    #[test]
    fn the_root_is_the_empty_base() {
        for root in ["", "/"] {
            let paths = Paths::new(root, false, false).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(paths.login, "/auth/login");
            assert_eq!(paths.mount_point(), "/");
            assert_eq!(paths.sessions, None);
        }
    }

    #[test]
    fn odd_base_paths_are_refused() {
        for bad in ["account", "/a//b", "/a/../b", "/a b", "/a?x", "/%2e", "//x"] {
            assert!(Paths::new(bad, true, true).is_err(), "{bad:?}");
        }
    }
}
