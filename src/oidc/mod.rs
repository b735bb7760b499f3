//! OpenID Connect: provider discovery and key caching, the sign-in flow, RP-initiated
//! logout and back-channel logout.

pub mod backchannel;
pub mod flow;
pub mod logout;
pub mod provider;
pub mod return_to;

pub use provider::{Provider, Providers};
