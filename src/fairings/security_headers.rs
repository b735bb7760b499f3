//! Security headers on every response: a strict Content-Security-Policy (pages carry no
//! inline script or style), no framing, no MIME sniffing, no referrer, no caching of
//! anything that is not a static asset, and HSTS whenever the site is https.

use rocket::fairing::{Fairing, Info, Kind};
use rocket::http::Header;
use rocket::{Build, Request, Response, Rocket};

use crate::config::AuthConfig;

pub struct SecurityHeaders {
    csp: String,
    hsts: bool,
}

impl SecurityHeaders {
    /// Built from the configuration: the CSP's `form-action` must allow the providers'
    /// origins, because sign-out forms end in a redirect to the IdP and browsers apply
    /// `form-action` to a form's redirects too.
    pub fn new(config: &AuthConfig) -> SecurityHeaders {
        let mut form_targets = vec!["'self'".to_string()];
        for provider in config.providers.values() {
            let origin = provider.issuer.origin().ascii_serialization();
            if !form_targets.contains(&origin) {
                form_targets.push(origin);
            }
        }
        let csp = format!(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; \
             form-action {}; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
            form_targets.join(" ")
        );
        SecurityHeaders { csp, hsts: config.base_url.scheme() == "https" }
    }

    /// Attaches the fairing once the configuration is known (at ignite).
    pub fn fairing() -> impl Fairing {
        rocket::fairing::AdHoc::try_on_ignite("Security headers", |rocket: Rocket<Build>| async move {
            match rocket.state::<AuthConfig>().map(SecurityHeaders::new) {
                Some(headers) => Ok(rocket.attach(headers)),
                None => Err(rocket),
            }
        })
    }
}

#[rocket::async_trait]
impl Fairing for SecurityHeaders {
    fn info(&self) -> Info {
        Info { name: "Security headers", kind: Kind::Response }
    }

    async fn on_response<'r>(&self, _request: &'r Request<'_>, response: &mut Response<'r>) {
        response.set_header(Header::new("Content-Security-Policy", self.csp.clone()));
        response.set_header(Header::new("X-Frame-Options", "DENY"));
        response.set_header(Header::new("X-Content-Type-Options", "nosniff"));
        response.set_header(Header::new("Referrer-Policy", "no-referrer"));
        response.set_header(Header::new("Cross-Origin-Opener-Policy", "same-origin"));
        response.set_header(Header::new("Permissions-Policy", "camera=(), microphone=(), geolocation=()"));
        // Pages show personal data and CSRF tokens: never stored. Static assets set
        // their own Cache-Control, which is kept.
        if !response.headers().contains("Cache-Control") {
            response.set_header(Header::new("Cache-Control", "no-store"));
        }
        if self.hsts {
            response.set_header(Header::new("Strict-Transport-Security", "max-age=63072000; includeSubDomains"));
        }
    }
}
