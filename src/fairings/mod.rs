//! Fairings for global work: the session sweeper, security headers, the request log.

pub mod request_log;
pub mod security_headers;
pub mod sweeper;
