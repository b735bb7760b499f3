//! [`AccessToken`] as a request guard: the signed-in session's access token, refreshed
//! first when it is about to expire.

use rocket::request::{FromRequest, Outcome, Request};
use rocket::{Ignite, Rocket, Sentinel};

use crate::error::Error;
use crate::guards::authenticated_user::{failed, fairing_missing, signed_in_and_state};
use crate::tokens::{fresh_access_token, AccessToken};

#[rocket::async_trait]
impl<'r> FromRequest<'r> for AccessToken {
    type Error = Error;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Error> {
        let (user, shared) = match signed_in_and_state(request).await {
            Ok(found) => found,
            Err(outcome) => return outcome,
        };
        let session = &user.session;
        match fresh_access_token(shared, request.rocket(), session.id, &session.provider, &session.tokens).await {
            Ok(token) => Outcome::Success(token),
            Err(error) => failed(request, &error),
        }
    }
}

impl Sentinel for AccessToken {
    fn abort(rocket: &Rocket<Ignite>) -> bool {
        fairing_missing(rocket, "AccessToken")
    }
}
