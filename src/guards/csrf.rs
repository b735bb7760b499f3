//! CSRF protection for every state-changing form and API call: the request must come
//! from this site (`Sec-Fetch-Site: same-origin`, or an `Origin` equal to base_url's) and
//! carry the session's CSRF token, as a form field or an `X-CSRF-Token` header.
//! A request with neither header is refused: every current browser sends `Origin` on
//! POST and DELETE, and API clients can set it.

use std::convert::Infallible;

use rocket::request::{FromRequest, Outcome, Request};
use rocket::{Ignite, Rocket, Sentinel};

use crate::crypto::constant_time_eq;
use crate::error::Error;
use crate::guards::authenticated_user::fairing_missing;
use crate::guards::{AuthenticatedUser, SignedIn};
use crate::shared::Shared;

/// The header API clients send the token in.
const HEADER: &str = "X-CSRF-Token";

/// What a state-changing request brought against cross-site request forgery: a request
/// guard, checked against the signed-in session with [`verify`](CsrfCheck::verify).
///
/// ```
/// use latchkey::{AuthenticatedUser, CsrfCheck};
/// use rocket::form::Form;
/// use rocket::{post, FromForm};
///
/// #[derive(FromForm)]
/// struct NewNote<'r> { text: &'r str, csrf_token: Option<&'r str> }
///
/// #[post("/notes", data = "<form>")]
/// fn add(form: Form<NewNote<'_>>, user: AuthenticatedUser, csrf: CsrfCheck) -> Result<&'static str, latchkey::Error> {
///     csrf.verify(&user, form.csrf_token)?;
///     Ok("saved")
/// }
/// ```
pub struct CsrfCheck {
    same_origin: Result<(), &'static str>,
    header_token: Option<String>,
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for CsrfCheck {
    type Error = Infallible;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        let origin = Shared::of(request.rocket()).map(|shared| shared.config.base_url.origin().ascii_serialization());
        let headers = request.headers();
        Outcome::Success(CsrfCheck {
            same_origin: same_origin(headers.get_one("Sec-Fetch-Site"), headers.get_one("Origin"), origin.as_deref()),
            header_token: headers.get_one(HEADER).map(str::to_string),
        })
    }
}

/// For latchkey's own state-changing routes: who asks, and whether the request may
/// change anything, decided together by [`verified`](ChangeRequest::verified).
pub(crate) struct ChangeRequest {
    signed_in: Result<AuthenticatedUser, Error>,
    csrf: CsrfCheck,
}

impl ChangeRequest {
    /// The signed-in person, once the request carries their CSRF token (`submitted`, a
    /// form field, or the header) from this site.
    pub fn verified(self, submitted: Option<&str>) -> Result<AuthenticatedUser, Error> {
        let user = self.signed_in?;
        self.csrf.verify(&user, submitted)?;
        Ok(user)
    }
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for ChangeRequest {
    type Error = Infallible;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        let SignedIn(signed_in) =
            request.guard::<SignedIn>().await.succeeded().unwrap_or(SignedIn(Err(Error::Unauthenticated)));
        let csrf = match request.guard::<CsrfCheck>().await {
            Outcome::Success(csrf) => csrf,
            _ => CsrfCheck { same_origin: Err("not checked"), header_token: None },
        };
        Outcome::Success(ChangeRequest { signed_in, csrf })
    }
}

impl Sentinel for CsrfCheck {
    fn abort(rocket: &Rocket<Ignite>) -> bool {
        fairing_missing(rocket, "CsrfCheck")
    }
}

fn same_origin(fetch_site: Option<&str>, origin: Option<&str>, ours: Option<&str>) -> Result<(), &'static str> {
    if let Some(site) = fetch_site {
        return if site.eq_ignore_ascii_case("same-origin") { Ok(()) } else { Err("cross-site request") };
    }
    match (origin, ours) {
        (Some(origin), Some(ours)) if origin.eq_ignore_ascii_case(ours) => Ok(()),
        (Some(_), _) => Err("cross-origin request"),
        (None, _) => Err("request without Origin"),
    }
}

impl CsrfCheck {
    /// Passes when the request is same-origin and `submitted` (a form field) or the
    /// `X-CSRF-Token` header carries this session's token; otherwise 403 `csrf`.
    pub fn verify(&self, user: &AuthenticatedUser, submitted: Option<&str>) -> Result<(), Error> {
        self.same_origin.map_err(Error::Csrf)?;
        let token = submitted.or(self.header_token.as_deref()).ok_or(Error::Csrf("missing token"))?;
        if constant_time_eq(token.as_bytes(), user.csrf_token().as_bytes()) {
            Ok(())
        } else {
            Err(Error::Csrf("wrong token"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OURS: Option<&str> = Some("http://127.0.0.1:8000");

    #[test]
    fn fetch_metadata_decides_when_present() {
        assert!(same_origin(Some("same-origin"), None, OURS).is_ok());
        assert!(same_origin(Some("same-site"), Some("http://127.0.0.1:8000"), OURS).is_err());
        assert!(same_origin(Some("cross-site"), None, OURS).is_err());
    }

    #[test]
    fn otherwise_the_origin_must_be_ours() {
        assert!(same_origin(None, Some("http://127.0.0.1:8000"), OURS).is_ok());
        assert!(same_origin(None, Some("https://evil.example"), OURS).is_err());
        assert!(same_origin(None, Some("null"), OURS).is_err());
        assert!(same_origin(None, None, OURS).is_err());
    }
}
