//! Security headers on every response: a strict Content-Security-Policy (pages carry no
//! inline script or style), no framing, no MIME sniffing, no referrer, no caching of
//! anything that is not a static asset, and HSTS whenever the site is https.

use std::collections::BTreeMap;

use rocket::fairing::{AdHoc, Fairing, Info, Kind};
use rocket::http::Header;
use rocket::{Build, Request, Response, Rocket};
use serde::Deserialize;
use url::Url;

/// The security-headers fairing: `rocket.attach(SecurityHeaders::fairing())`. It reads
/// `auth.base_url` and the providers' issuers from the configuration (the sign-out
/// forms end in a redirect to the provider, which the CSP's `form-action` must allow),
/// and may be attached before or after [`Latchkey`](crate::Latchkey).
pub struct SecurityHeaders {
    csp: String,
    hsts: bool,
}

/// What the headers depend on (other settings under `auth` are not this fairing's).
#[derive(Deserialize)]
struct Settings {
    base_url: Url,
    #[serde(default)]
    providers: BTreeMap<String, Issuer>,
}

#[derive(Deserialize)]
struct Issuer {
    issuer: Url,
}

impl SecurityHeaders {
    fn new(settings: &Settings) -> SecurityHeaders {
        let mut form_targets = vec!["'self'".to_string()];
        for provider in settings.providers.values() {
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
        SecurityHeaders { csp, hsts: settings.base_url.scheme() == "https" }
    }

    /// The fairing, set up from the configuration at ignite.
    pub fn fairing() -> impl Fairing {
        AdHoc::try_on_ignite("Security headers", |rocket: Rocket<Build>| async move {
            match rocket.figment().extract_inner::<Settings>("auth") {
                Ok(settings) => Ok(rocket.attach(SecurityHeaders::new(&settings))),
                Err(error) => {
                    tracing::error!("security headers need auth.base_url and auth.providers.*.issuer: {error}");
                    Err(rocket)
                }
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
