//! HTTP routes and catchers, grouped by area; the fairing mounts them under the base path.

pub(crate) mod activity;
pub(crate) mod admin;
pub(crate) mod api;
#[cfg(feature = "pages")]
pub(crate) mod assets;
pub(crate) mod auth;
pub(crate) mod catchers;
pub(crate) mod health;
pub(crate) mod logout;
pub(crate) mod metrics;
pub(crate) mod sessions;
