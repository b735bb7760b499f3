//! latchkey: OpenID Connect sign-in with sessions kept in PostgreSQL, for Rocket.
//!
//! [`build`] is the one place where fairings, routes and catchers are wired; another
//! Rocket app can take the same pieces from the modules below.

pub mod accounts;
pub mod config;
pub mod crypto;
pub mod db;
pub mod error;
pub mod fairings;
pub mod guards;
pub mod log_output;
pub mod oidc;
pub mod routes;
pub mod session;
pub mod timefmt;

use figment::Figment;
use rocket::fairing::AdHoc;
use rocket::{Build, Rocket};
use rocket_db_pools::Database;
use rocket_dyn_templates::Template;

use crate::config::AuthConfig;
use crate::oidc::Providers;

/// The app as configured by `Rocket.toml`, the environment and `.env`.
pub fn rocket() -> Rocket<Build> {
    build(config::figment())
}

/// The app on a given figment (tests pass their own).
pub fn build(figment: Figment) -> Rocket<Build> {
    rocket::custom(figment)
        .attach(configuration())
        .attach(db::AuthDb::init())
        .attach(db::migrations())
        .attach(oidc::provider::discovery())
        .attach(fairings::sweeper::sweeper())
        .attach(fairings::security_headers::SecurityHeaders::fairing())
        .attach(fairings::request_log::RequestLog)
        .attach(Template::fairing())
        .mount("/", routes::health::routes())
        .mount("/", routes::assets::routes())
        .mount("/", routes::auth::routes())
        .mount("/", routes::pages::routes())
        .mount("/", routes::sessions::routes())
        .mount("/", routes::logout::routes())
        .register("/", routes::catchers::catchers())
}

/// Validates `auth` at ignite and manages it; a bad setting aborts launch with one line
/// naming the key.
fn configuration() -> AdHoc {
    AdHoc::try_on_ignite("Configuration", |rocket| async move {
        let config = match AuthConfig::from_figment(rocket.figment()) {
            Ok(config) => config,
            Err(error) => {
                tracing::error!("configuration refused: {error}");
                eprintln!("latchkey: configuration refused: {error}");
                return Err(rocket);
            }
        };
        let providers = match Providers::from_config(&config) {
            Ok(providers) => providers,
            Err(error) => {
                eprintln!("latchkey: {error}");
                return Err(rocket);
            }
        };
        let cipher = match &config.encryption {
            Some(keys) => match crypto::TokenCipher::new(keys) {
                Ok(cipher) => cipher,
                Err(error) => {
                    eprintln!("latchkey: configuration refused: {error}");
                    return Err(rocket);
                }
            },
            None => {
                tracing::warn!(
                    "auth.encryption is not configured: tokens at rest use a key that dies with this process"
                );
                crypto::TokenCipher::ephemeral()
            }
        };
        Ok(rocket.manage(config).manage(providers).manage(cipher))
    })
}
