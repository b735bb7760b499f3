//! OpenID Connect: provider discovery and key caching, and the sign-in flow.

pub mod flow;
pub mod provider;
pub mod return_to;

pub use provider::{Provider, Providers};
