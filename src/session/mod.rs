//! Database sessions: the cookie token, the cookie itself, and the store.

pub mod cookie;
pub mod device;
pub mod store;
pub mod token;

pub use store::{CurrentSession, NewSession, SessionStore};
pub use token::SessionToken;
