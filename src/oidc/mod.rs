//! OpenID Connect: provider discovery and key caching (sign-in flow and logout build on it).

pub mod provider;

pub use provider::{Provider, Providers};
