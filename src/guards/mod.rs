//! Request guards: who is signed in, and where the request comes from.

pub mod authenticated_user;
pub mod client_info;
pub mod csrf;

pub use authenticated_user::{AuthenticatedUser, StaleSession};
pub use client_info::ClientInfo;
pub use csrf::CsrfCheck;
