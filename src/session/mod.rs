//! Database sessions on the browser's side: the cookie token, the cookies themselves,
//! and the device a session was signed in from.

pub(crate) mod cookie;
pub(crate) mod device;
mod token;

pub(crate) use token::SessionToken;
