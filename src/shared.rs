//! What the fairing sets up at ignite and every guard and route of latchkey's reads:
//! one value in Rocket's managed state.

use std::sync::Arc;

use rocket::{Orbit, Phase, Rocket};

use crate::config::Config;
use crate::crypto::Keyring;
use crate::hooks::{Event, Hooks};
use crate::metrics::Metrics;
use crate::oidc::{OidcContext, Providers};
#[cfg(feature = "pages")]
use crate::pages::Pages;
use crate::paths::Paths;
use crate::session::cookie::CookiePolicy;
use crate::store::Store;

pub(crate) struct Shared {
    pub config: Config,
    pub paths: Paths,
    pub providers: Providers,
    pub keyring: Keyring,
    pub store: Store,
    pub cookies: CookiePolicy,
    pub hooks: Arc<dyn Hooks>,
    /// Counted whether or not `/metrics` is mounted: atomics, cheaper than asking.
    pub metrics: Arc<Metrics>,
    /// The realm role the admin console requires, when it is mounted.
    pub admin_role: Option<String>,
    #[cfg(feature = "pages")]
    pub site_name: String,
    #[cfg(feature = "pages")]
    pub pages: Pages,
}

impl Shared {
    /// latchkey's state, if the fairing is attached (and has ignited).
    pub fn of<P: Phase>(rocket: &Rocket<P>) -> Option<&Shared> {
        rocket.state::<Shared>()
    }

    /// Tells the metrics, then the app's hooks, what happened.
    pub async fn announce(&self, event: &Event, rocket: &Rocket<Orbit>) {
        self.metrics.event(event);
        self.hooks.on_event(event, rocket).await;
    }

    /// The parts the OpenID Connect flows use.
    pub fn oidc(&self) -> OidcContext<'_> {
        OidcContext {
            config: &self.config,
            paths: &self.paths,
            cookies: &self.cookies,
            providers: &self.providers,
            keyring: &self.keyring,
        }
    }
}
