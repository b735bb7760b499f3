//! What latchkey's base template shows around every page: the site's name, its links,
//! who is signed in, and the notice of a sign-in from a new device. A request guard, so
//! an app's own pages can share the header.

use rocket::request::{FromRequest, Outcome, Request};
use rocket::{Ignite, Rocket, Sentinel};
use serde::Serialize;

use crate::error::Error;
use crate::guards::authenticated_user::{already_resolved, failed, fairing_missing, resolved};
use crate::guards::AuthenticatedUser;
use crate::paths::Paths;
use crate::shared::Shared;
use crate::timefmt::{moment, Moment};

/// The context of latchkey's base template (`latchkey/base`): put it in a page's context
/// as `layout`, and a template of the app's that extends `latchkey/base` gets the same
/// header, links and sign-out button as latchkey's pages. A request guard; it reads the
/// session that [`AuthenticatedUser`] resolved (no second query). When that session was
/// signed in from a new device and its notice is still pending, the header shows it
/// ("New sign-in from Chrome on Linux …") and the one write that takes it off the session
/// is this guard's: shown once, on the first page after the sign-in.
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
    new_device: Option<NewDevice>,
}

/// A sign-in from a device the person had not signed in from before, told on the first
/// page it opens.
#[derive(Debug, Serialize)]
struct NewDevice {
    /// "Chrome on Linux".
    device: String,
    ip: Option<String>,
    at: Moment,
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
            new_device: None,
        }
    }

    /// For a page the signed-in `user` opens: with the new-device notice, if their session
    /// has one pending (taken off it here, so it shows once). A notice that cannot be
    /// taken now (the database is unavailable) waits for the next page.
    pub(crate) async fn for_page(shared: &'r Shared, user: &'r AuthenticatedUser) -> Layout<'r> {
        let mut layout = Layout::new(shared, Some(user));
        if !user.session.new_device_notice {
            return layout;
        }
        match shared.store.take_new_device_notice(user.id, user.session.id).await {
            Ok(notice) => {
                layout.new_device = notice.map(|notice| NewDevice {
                    device: notice.device.label,
                    ip: notice.ip,
                    at: moment(notice.signed_in_at, chrono::Utc::now()),
                });
            }
            Err(error) => tracing::warn!(session_id = %user.session.id, "the new-device notice waits: {error}"),
        }
        layout
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
            Ok(Some(user)) => Outcome::Success(Layout::for_page(shared, user).await),
            Ok(None) => Outcome::Success(Layout::new(shared, None)),
            Err(error) => failed(request, error),
        }
    }
}

impl Sentinel for Layout<'_> {
    fn abort(rocket: &Rocket<Ignite>) -> bool {
        fairing_missing(rocket, "Layout")
    }
}
