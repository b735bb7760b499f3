//! Fairings for global work: the session sweeper and the security headers.

pub mod security_headers;
pub mod sweeper;
