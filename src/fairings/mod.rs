//! Fairings for global work: the session sweeper, security headers, the request log.

pub(crate) mod request_log;
pub(crate) mod security_headers;
pub(crate) mod sweeper;
