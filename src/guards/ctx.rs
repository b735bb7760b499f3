//! The context of latchkey's own routes: its state and the running Rocket.

use rocket::http::Status;
use rocket::request::{FromRequest, Outcome, Request};
use rocket::{Orbit, Rocket};

use crate::error::Error;
use crate::shared::Shared;

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
