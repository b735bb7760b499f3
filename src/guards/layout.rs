//! What latchkey's base template shows around every page: the site's name, its links,
//! and who is signed in. A request guard, so an app's own pages can share the header.

use rocket::request::{FromRequest, Outcome, Request};
use rocket::{Ignite, Rocket, Sentinel};
use serde::Serialize;

use crate::error::Error;
use crate::guards::authenticated_user::{already_resolved, failed, fairing_missing, resolved};
use crate::guards::AuthenticatedUser;
use crate::paths::Paths;
use crate::shared::Shared;

/// The context of latchkey's base template (`latchkey/base`): put it in a page's context
/// as `layout`, and a template of the app's that extends `latchkey/base` gets the same
/// header, links and sign-out button as latchkey's pages. A request guard; it reads the
/// session that [`AuthenticatedUser`] resolved (no second query).
///
/// ```
/// use latchkey::{AuthenticatedUser, Layout};
/// use rocket::get;
/// use rocket_dyn_templates::{context, Template};
///
/// #[get("/")]
/// fn home(user: AuthenticatedUser, layout: Layout<'_>) -> Template {
///     Template::render("home", context! { layout, notes: Vec::<String>::new() })
/// }
/// ```
#[derive(Debug, Serialize)]
pub struct Layout<'r> {
    site_name: &'r str,
    urls: &'r Paths,
    viewer: Option<Viewer<'r>>,
}

/// The signed-in person as the page header shows them.
#[derive(Debug, Serialize)]
pub struct Viewer<'r> {
    name: Option<&'r str>,
    email: Option<&'r str>,
    image: Option<&'r str>,
    csrf_token: &'r str,
    /// Whether the admin console is open to them.
    admin: bool,
}

impl<'r> Layout<'r> {
    pub(crate) fn new(shared: &'r Shared, user: Option<&'r AuthenticatedUser>) -> Layout<'r> {
        Layout {
            site_name: &shared.site_name,
            urls: &shared.paths,
            viewer: user.map(|user| Viewer {
                name: user.name.as_deref(),
                email: user.email.as_deref(),
                image: user.image.as_deref(),
                csrf_token: user.csrf_token(),
                admin: shared.admin_role.as_deref().is_some_and(|role| user.roles.has_realm_role(role)),
            }),
        }
    }

    /// For error pages: who is signed in if a guard already found out, without asking.
    pub(crate) fn cached(request: &'r Request<'_>, shared: &'r Shared) -> Layout<'r> {
        Layout::new(shared, already_resolved(request))
    }
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Layout<'r> {
    type Error = Error;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Error> {
        let Some(shared) = Shared::of(request.rocket()) else {
            return Outcome::Error((
                rocket::http::Status::InternalServerError,
                Error::internal("latchkey is not attached"),
            ));
        };
        match resolved(request).await {
            Ok(user) => Outcome::Success(Layout::new(shared, user.as_ref())),
            Err(error) => failed(request, error),
        }
    }
}

impl Sentinel for Layout<'_> {
    fn abort(rocket: &Rocket<Ignite>) -> bool {
        fairing_missing(rocket, "Layout")
    }
}
