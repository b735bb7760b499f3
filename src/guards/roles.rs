//! Authorization guards: a route that needs a realm role, a client role or a group says
//! so in its signature, with a marker type that names it.
//!
//! ```
//! use latchkey::{ClientRole, InGroup, RealmRole};
//! use rocket::get;
//!
//! latchkey::role_name!(pub Admin = "latchkey-admin");
//! latchkey::role_name!(Editor = "editor");
//! latchkey::role_name!(Engineering = "engineering");
//!
//! #[get("/admin")]
//! fn admin(admin: RealmRole<Admin>) -> String {
//!     format!("hello, {}", admin.email.as_deref().unwrap_or("admin"))
//! }
//!
//! #[get("/drafts")]
//! fn drafts(_editor: ClientRole<Editor>, _team: InGroup<Engineering>) -> &'static str {
//!     "drafts"
//! }
//! ```
//!
//! Nobody signed in: a forward with 401, as [`AuthenticatedUser`] does. Signed in without
//! what the route needs: 403 with the code `forbidden` (a page, or JSON for APIs, through
//! [`catchers`](crate::catchers)). Roles come only from the session, which only a verified
//! token made: nothing a request carries can add one.

use std::marker::PhantomData;
use std::ops::Deref;

use rocket::http::Status;
use rocket::request::{FromRequest, Outcome, Request};
use rocket::{Ignite, Rocket, Sentinel};

use crate::error::Error;
use crate::guards::authenticated_user::{failed, fairing_missing, resolved};
use crate::guards::AuthenticatedUser;

/// The name of a role or group a guard requires; declare one with [`role_name!`](crate::role_name).
pub trait RoleName: Send + Sync + 'static {
    /// The role's (or group's) name as the provider sends it.
    const NAME: &'static str;
}

/// Declares a marker type for [`RealmRole`], [`ClientRole`] or [`InGroup`]:
/// `latchkey::role_name!(pub Admin = "latchkey-admin");`
#[macro_export]
macro_rules! role_name {
    ($vis:vis $name:ident = $value:literal) => {
        #[doc = concat!("The role or group `", $value, "`.")]
        $vis struct $name;
        impl $crate::RoleName for $name {
            const NAME: &'static str = $value;
        }
    };
}

macro_rules! requirement {
    ($(#[$doc:meta])* $guard:ident, $check:ident, $what:literal) => {
        $(#[$doc])*
        pub struct $guard<R: RoleName> {
            user: AuthenticatedUser,
            role: PhantomData<R>,
        }

        impl<R: RoleName> $guard<R> {
            /// The signed-in person.
            pub fn into_inner(self) -> AuthenticatedUser {
                self.user
            }
        }

        impl<R: RoleName> Deref for $guard<R> {
            type Target = AuthenticatedUser;

            fn deref(&self) -> &AuthenticatedUser {
                &self.user
            }
        }

        #[rocket::async_trait]
        impl<'r, R: RoleName> FromRequest<'r> for $guard<R> {
            type Error = Error;

            async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Error> {
                match resolved(request).await {
                    Ok(Some(user)) if user.roles.$check(R::NAME) => {
                        Outcome::Success($guard { user: user.clone(), role: PhantomData })
                    }
                    Ok(Some(user)) => {
                        tracing::info!(user_id = %user.id, required = R::NAME, "forbidden: {} missing", $what);
                        failed(request, &Error::Forbidden)
                    }
                    Ok(None) => Outcome::Forward(Status::Unauthorized),
                    Err(error) => failed(request, error),
                }
            }
        }

        impl<R: RoleName> Sentinel for $guard<R> {
            fn abort(rocket: &Rocket<Ignite>) -> bool {
                fairing_missing(rocket, stringify!($guard))
            }
        }
    };
}

requirement!(
    /// The signed-in person, who has the realm role `R` (Keycloak's
    /// `realm_access.roles`): a request guard.
    RealmRole,
    has_realm_role,
    "realm role"
);

requirement!(
    /// The signed-in person, who has the role `R` of this app's client (Keycloak's
    /// `resource_access.<client_id>.roles`): a request guard.
    ClientRole,
    has_client_role,
    "client role"
);

requirement!(
    /// The signed-in person, who is in the group `R`: a request guard.
    InGroup,
    in_group,
    "group"
);
