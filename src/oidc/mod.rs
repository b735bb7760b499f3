//! OpenID Connect: provider discovery and key caching, the sign-in flow, RP-initiated
//! logout and back-channel logout.

pub(crate) mod backchannel;
pub(crate) mod claims;
pub(crate) mod flow;
pub(crate) mod logout;
pub(crate) mod provider;
pub(crate) mod provider_logout;
pub(crate) mod refresh;
pub(crate) mod return_to;

pub(crate) use provider::{Provider, Providers};

use crate::config::Config;
use crate::crypto::Keyring;
use crate::paths::Paths;
use crate::session::cookie::CookiePolicy;

/// What the sign-in and sign-out flows need of latchkey's set-up.
pub(crate) struct OidcContext<'a> {
    pub config: &'a Config,
    pub paths: &'a Paths,
    pub cookies: &'a CookiePolicy,
    pub providers: &'a Providers,
    pub keyring: &'a Keyring,
}
