//! What the fairing sets up at ignite and every guard and route of latchkey's reads:
//! one value in Rocket's managed state.

use std::sync::Arc;

use rocket::http::Status;
use rocket::request::{FromRequest, Outcome, Request};
use rocket::{Orbit, Phase, Rocket};

use crate::config::Config;
use crate::crypto::Keyring;
use crate::error::Error;
use crate::hooks::Hooks;
use crate::oidc::Providers;
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
}

/// latchkey's state and the running Rocket (for the app's hooks), for latchkey's own
/// routes: a request guard that reads as `Shared`.
pub(crate) struct Ctx<'r> {
    pub shared: &'r Shared,
    pub rocket: &'r Rocket<Orbit>,
}

impl std::ops::Deref for Ctx<'_> {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        self.shared
    }
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Ctx<'r> {
    type Error = Error;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Error> {
        let rocket = request.rocket();
        match Shared::of(rocket) {
            Some(shared) => Outcome::Success(Ctx { shared, rocket }),
            None => {
                Outcome::Error((Status::InternalServerError, Error::internal("the latchkey fairing is not attached")))
            }
        }
    }
}
