//! Request guards: who is signed in, where the request comes from, whether it is
//! same-site, and (with pages) what latchkey's page layout shows.

mod access_token;
mod authenticated_user;
mod client_info;
mod csrf;
mod ctx;
#[cfg(feature = "pages")]
mod layout;
mod recent_auth;
mod roles;

pub use authenticated_user::{AuthenticatedUser, OptionalUser, Session};
pub(crate) use authenticated_user::{GuardFailure, SessionCookies, SignedIn, StaleSession};
pub use client_info::ClientInfo;
pub(crate) use csrf::ChangeRequest;
pub use csrf::CsrfCheck;
pub(crate) use ctx::Ctx;
#[cfg(feature = "pages")]
pub use layout::{Layout, Viewer};
pub(crate) use recent_auth::require_recent;
pub use recent_auth::RecentAuth;
pub use roles::{ClientRole, InGroup, RealmRole, RoleName};
