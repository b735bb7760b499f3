//! OpenID Connect: provider discovery and key caching, the sign-in flow, RP-initiated
//! logout and back-channel logout.

pub(crate) mod backchannel;
pub(crate) mod claims;
pub(crate) mod flow;
pub(crate) mod logout;
pub(crate) mod provider;
pub(crate) mod return_to;

pub(crate) use provider::{Provider, Providers};
