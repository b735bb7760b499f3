//! Fairings and background tasks for global work: the session sweeper, security
//! headers, the request log, request metrics and the count of live sessions.

pub(crate) mod live_sessions;
pub(crate) mod request_log;
pub(crate) mod request_metrics;
pub(crate) mod security_headers;
pub(crate) mod sweeper;
