//! Sensitive actions need a recent authentication ("sudo mode"): a person who signed in
//! long ago is sent to the provider to enter the password again (`prompt=login` and
//! `max_age`, whose `auth_time` the callback checks) and comes back to where the action
//! can be confirmed: it is never replayed on its own.

use std::ops::Deref;
use std::time::Duration;

use chrono::Utc;
use rocket::http::Method;
use rocket::request::{FromRequest, Outcome, Request};
use rocket::{Ignite, Rocket, Sentinel};

use crate::error::Error;
use crate::guards::authenticated_user::{failed, fairing_missing, signed_in_and_state};
use crate::guards::AuthenticatedUser;
use crate::shared::Shared;

/// The signed-in person, who authenticated at the provider at most `MAX_AGE` seconds ago
/// (default 10 minutes): a request guard for the app's own sensitive routes.
///
/// ```
/// use latchkey::RecentAuth;
/// use rocket::post;
///
/// #[post("/account/delete")]
/// fn delete_account(user: RecentAuth<300>) -> String {
///     format!("deleting {}", user.id)
/// }
/// ```
///
/// Signed out: a forward with 401. Signed in longer ago: 403
/// `reauthentication_required`, whose `login_url` signs in again and returns to the page
/// asked for (a GET), or to the home page; a browser is redirected there at once.
pub struct RecentAuth<const MAX_AGE: u64 = 600>(AuthenticatedUser);

impl<const MAX_AGE: u64> RecentAuth<MAX_AGE> {
    /// The signed-in person.
    pub fn into_inner(self) -> AuthenticatedUser {
        self.0
    }
}

impl<const MAX_AGE: u64> Deref for RecentAuth<MAX_AGE> {
    type Target = AuthenticatedUser;

    fn deref(&self) -> &AuthenticatedUser {
        &self.0
    }
}

#[rocket::async_trait]
impl<'r, const MAX_AGE: u64> FromRequest<'r> for RecentAuth<MAX_AGE> {
    type Error = Error;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Error> {
        let (user, shared) = match signed_in_and_state(request).await {
            Ok(found) => found,
            Err(outcome) => return outcome,
        };
        let back = match request.method() {
            Method::Get | Method::Head => request.uri().to_string(),
            _ => shared.paths.home.clone(),
        };
        match recent_within(shared, user, Duration::from_secs(MAX_AGE), &back) {
            Ok(()) => Outcome::Success(RecentAuth(user.clone())),
            Err(error) => failed(request, &error),
        }
    }
}

impl<const MAX_AGE: u64> Sentinel for RecentAuth<MAX_AGE> {
    fn abort(rocket: &Rocket<Ignite>) -> bool {
        fairing_missing(rocket, "RecentAuth")
    }
}

/// latchkey's own sensitive actions: an authentication within `auth.recent_auth_max_age`,
/// else sign in again and come back to `confirm_at`, where the action is offered again.
pub(crate) fn require_recent(shared: &Shared, user: &AuthenticatedUser, confirm_at: &str) -> Result<(), Error> {
    recent_within(shared, user, shared.config.recent_auth_max_age, confirm_at)
}

fn recent_within(shared: &Shared, user: &AuthenticatedUser, max_age: Duration, back: &str) -> Result<(), Error> {
    let age = user.session.auth_time.map(|at| Utc::now().signed_duration_since(at));
    let limit = chrono::Duration::from_std(max_age).unwrap_or(chrono::Duration::MAX);
    if age.is_some_and(|age| age <= limit) {
        return Ok(());
    }
    let login_url = format!(
        "{}&provider={}&prompt=login&max_age={}",
        shared.paths.login_returning(back),
        user.session.provider,
        max_age.as_secs()
    );
    Err(Error::ReauthenticationRequired { login_url })
}
