//! latchkey: OpenID Connect sign-in with sessions kept in PostgreSQL, for
//! [Rocket](https://rocket.rs).
//!
//! One fairing adds sign-in through any OpenID Connect provider (Keycloak first),
//! server-side sessions with sliding expiry, pages and a JSON API where people see and
//! revoke their sessions, sign-out that also ends the provider's session, and
//! back-channel logout. Routes then ask for the signed-in person with a guard.
//!
//! ```no_run
//! use latchkey::{AuthenticatedUser, Latchkey};
//! use rocket::{get, launch, routes};
//!
//! #[get("/")]
//! fn home(user: AuthenticatedUser) -> String {
//!     format!("Hello, {}!", user.name.as_deref().unwrap_or("there"))
//! }
//!
//! #[launch]
//! fn rocket() -> _ {
//!     rocket::custom(latchkey::figment())
//!         .attach(Latchkey::fairing())
//!         .mount("/", routes![home])
//!         // Optional: signed-out visitors of `home` are sent to sign-in and back.
//!         .register("/", latchkey::catchers())
//! }
//! ```
//!
//! Configuration lives under `auth` in `Rocket.toml` (providers, lifetimes, keys; see
//! [`Config`]), the database under `databases.auth` (or the app's own pool, see
//! [`Latchkey::database`]). latchkey keeps its tables in a PostgreSQL schema of its own
//! (`latchkey` unless `auth.schema` says otherwise), with its own migration history,
//! beside whatever the app keeps in `public`.
//!
//! What an app can adapt:
//! - where latchkey's routes live ([`Latchkey::base_path`]) and which of them are mounted;
//! - its pages: each built-in template is replaced by a file of the same name under
//!   `latchkey/` in the app's `template_dir` (Cargo feature `pages`, on by default;
//!   without it latchkey answers in JSON only);
//! - who may sign in and what is kept of them, and being told what happens: [`Hooks`].
//!
//! Cargo features: `pages` (HTML pages, Tera), `user-agents` (device labels such as
//! "Firefox on Linux"), both on by default; `reference-app` builds the example binary.
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![warn(rustdoc::broken_intra_doc_links)]

pub mod config;
mod crypto;
mod db;
mod error;
mod fairing;
mod fairings;
#[cfg(test)]
mod fuzz;
mod guards;
mod hooks;
mod metrics;
mod oidc;
#[cfg(feature = "pages")]
mod pages;
mod paths;
mod respond;
mod roles;
mod routes;
mod session;
mod shared;
mod store;
#[cfg(feature = "pages")]
mod timefmt;
mod tokens;

pub use config::{figment, Config};
pub use crypto::{KeyError, Keyring, OpenError, SealError};
pub use db::{migrate, MigrateError, Schema, SchemaError};
pub use error::Error;
pub use fairing::Latchkey;
pub use fairings::request_log::RequestLog;
pub use fairings::security_headers::SecurityHeaders;
pub use guards::{
    AuthenticatedUser, ClientInfo, ClientRole, CsrfCheck, InGroup, OptionalUser, RealmRole, RecentAuth, RoleName,
    Session,
};
#[cfg(feature = "pages")]
pub use guards::{Layout, Viewer};
pub use hooks::{Claims, Event, Hooks, Profile, Refusal, Revoked, SignIn};
#[cfg(feature = "pages")]
pub use pages::register_templates;
pub use roles::Roles;
pub use routes::catchers::catchers;
pub use store::{sweep_once, sweep_once_with, SweepOptions, SweepReport};
pub use tokens::{access_token, AccessToken};

/// Re-exported for implementing [`Hooks`]: `#[latchkey::async_trait]`.
pub use rocket::async_trait;
