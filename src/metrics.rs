//! latchkey's Prometheus metrics: what operators watch (sign-ins and refusals, live
//! sessions, revocations, refreshes, the sweeper, the pool, request latency). Every
//! counter and histogram is an atomic; labels are a provider's configured name, a stable
//! error code, a kind, a route's template or a status class, never a person, a session,
//! an address or a path with ids in it.

use std::fmt::{self, Write as _};
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};

use crate::hooks::{Event, Revoked};

/// The metric handles and the registry that writes them out.
pub(crate) struct Metrics {
    registry: Registry,
    sign_ins: Family<ProviderOutcome, Counter>,
    errors: Family<CodeLabel, Counter>,
    live_sessions: Gauge,
    session_extensions: Counter,
    revocations: Family<KindLabel, Counter>,
    revoked_sessions: Family<KindLabel, Counter>,
    backchannel_logouts: Counter,
    backchannel_logout_sessions: Counter,
    token_refreshes: Family<ProviderOutcome, Counter>,
    swept_rows: Family<TableLabel, Counter>,
    sweep_duration: Histogram,
    pool_size: Gauge,
    pool_idle: Gauge,
    requests: Family<RequestLabels, Histogram, fn() -> Histogram>,
}

/// A provider's configured name and how it went: `ok`, or a stable error code.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProviderOutcome {
    provider: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabel {
    code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TableLabel {
    table: &'static str,
}

/// A request's method, matched route template (`/sessions/<id>/revoke`, never the path
/// itself) and status class.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RequestLabels {
    method: &'static str,
    route: RouteTemplate,
    status: &'static str,
}

impl RequestLabels {
    pub(crate) fn new(method: &'static str, route: RouteTemplate, status: u16) -> RequestLabels {
        let status = match status {
            100..=199 => "1xx",
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        };
        RequestLabels { method, route, status }
    }
}

/// A route's URI template, shared rather than copied: the request fairing hands out the
/// same one for every request of a route.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub(crate) struct RouteTemplate(Arc<str>);

impl RouteTemplate {
    pub(crate) fn new(template: &str) -> RouteTemplate {
        RouteTemplate(Arc::from(template))
    }

    /// What a request that matched no route is counted under.
    pub(crate) fn unmatched() -> RouteTemplate {
        RouteTemplate::new("unmatched")
    }
}

impl EncodeLabelValue for RouteTemplate {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> fmt::Result {
        encoder.write_str(&self.0)
    }
}

/// Request latency buckets: 0.5 ms to about 8 s.
fn request_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 15))
}

impl Metrics {
    pub(crate) fn new() -> Metrics {
        let metrics = Metrics {
            registry: Registry::default(),
            sign_ins: Family::default(),
            errors: Family::default(),
            live_sessions: Gauge::default(),
            session_extensions: Counter::default(),
            revocations: Family::default(),
            revoked_sessions: Family::default(),
            backchannel_logouts: Counter::default(),
            backchannel_logout_sessions: Counter::default(),
            token_refreshes: Family::default(),
            swept_rows: Family::default(),
            // 1 ms to about 16 s.
            sweep_duration: Histogram::new(exponential_buckets(0.001, 2.0, 15)),
            pool_size: Gauge::default(),
            pool_idle: Gauge::default(),
            requests: Family::new_with_constructor(request_histogram as fn() -> Histogram),
        };
        metrics.registered()
    }

    fn registered(mut self) -> Metrics {
        let registry = &mut self.registry;
        registry.register(
            "latchkey_sign_ins",
            "Sign-ins by provider and outcome (ok, or the refusal's error code)",
            self.sign_ins.clone(),
        );
        registry.register("latchkey_errors", "Errors answered, by stable error code", self.errors.clone());
        registry.register(
            "latchkey_live_sessions",
            "Sessions not expired, as last counted in the database",
            self.live_sessions.clone(),
        );
        registry.register(
            "latchkey_session_extensions",
            "Sliding extensions of a session's expiry written",
            self.session_extensions.clone(),
        );
        registry.register(
            "latchkey_revocations",
            "Revocations by kind (one, others, everywhere, admin, sign_out)",
            self.revocations.clone(),
        );
        registry.register(
            "latchkey_revoked_sessions",
            "Sessions ended by revocations, by kind",
            self.revoked_sessions.clone(),
        );
        registry.register(
            "latchkey_backchannel_logouts",
            "Back-channel logouts accepted from identity providers",
            self.backchannel_logouts.clone(),
        );
        registry.register(
            "latchkey_backchannel_logout_sessions",
            "Sessions ended by back-channel logouts",
            self.backchannel_logout_sessions.clone(),
        );
        registry.register(
            "latchkey_token_refreshes",
            "Token refreshes by provider and outcome (ok, refused, or the failure's error code)",
            self.token_refreshes.clone(),
        );
        registry.register("latchkey_sweep_removed_rows", "Rows the sweeper removed, by table", self.swept_rows.clone());
        registry.register_with_unit(
            "latchkey_sweep_duration",
            "How long each sweep took",
            Unit::Seconds,
            self.sweep_duration.clone(),
        );
        registry.register(
            "latchkey_db_pool_connections",
            "Connections the database pool holds",
            self.pool_size.clone(),
        );
        registry.register(
            "latchkey_db_pool_idle_connections",
            "Connections of the database pool idle right now",
            self.pool_idle.clone(),
        );
        registry.register_with_unit(
            "latchkey_http_request_duration",
            "Request latency by method, route template and status class",
            Unit::Seconds,
            self.requests.clone(),
        );
        self
    }

    /// Counts what a hook event says happened.
    pub(crate) fn event(&self, event: &Event) {
        match event {
            Event::SignedIn { provider, .. } => self.sign_in(provider, "ok"),
            Event::SignedOut { .. } => self.revoked("sign_out", 1),
            Event::Revoked { revoked, .. } => match revoked {
                Revoked::One { .. } => self.revoked("one", 1),
                Revoked::Others { count } => self.revoked("others", *count),
                Revoked::Everywhere { count } => self.revoked("everywhere", *count),
            },
            Event::AdminRevoked { revoked, .. } => {
                let count = match revoked {
                    Revoked::One { .. } => 1,
                    Revoked::Others { count } | Revoked::Everywhere { count } => *count,
                };
                self.revoked("admin", count);
            }
            Event::BackchannelLogout { sessions, .. } => {
                self.backchannel_logouts.inc();
                self.backchannel_logout_sessions.inc_by(*sessions);
            }
            Event::TokensRefreshed { provider, .. } => self.token_refresh(provider, "ok"),
            Event::RefreshRefused { provider, .. } => self.token_refresh(provider, "refused"),
            Event::NewDevice { .. } => {}
        }
    }

    fn revoked(&self, kind: &'static str, sessions: u64) {
        self.revocations.get_or_create(&KindLabel { kind }).inc();
        self.revoked_sessions.get_or_create(&KindLabel { kind }).inc_by(sessions);
    }

    /// A sign-in through `provider` (a configured name, or `unknown`) ended with `outcome`.
    pub(crate) fn sign_in(&self, provider: &str, outcome: &'static str) {
        self.sign_ins.get_or_create(&ProviderOutcome { provider: provider.to_string(), outcome }).inc();
    }

    /// A refresh at `provider` failed without ending the session.
    pub(crate) fn token_refresh(&self, provider: &str, outcome: &'static str) {
        self.token_refreshes.get_or_create(&ProviderOutcome { provider: provider.to_string(), outcome }).inc();
    }

    pub(crate) fn error_answered(&self, code: &'static str) {
        self.errors.get_or_create(&CodeLabel { code }).inc();
    }

    pub(crate) fn session_extended(&self) {
        self.session_extensions.inc();
    }

    pub(crate) fn live_sessions(&self, count: i64) {
        self.live_sessions.set(count);
    }

    /// One sweep: the rows it removed from each table, and how long it took.
    pub(crate) fn swept(&self, removed: &[(&'static str, u64)], took: Duration) {
        for &(table, rows) in removed {
            self.swept_rows.get_or_create(&TableLabel { table }).inc_by(rows);
        }
        self.sweep_duration.observe(took.as_secs_f64());
    }

    pub(crate) fn request(&self, labels: &RequestLabels, took: Duration) {
        self.requests.get_or_create(labels).observe(took.as_secs_f64());
    }

    /// The text a scrape gets, with the pool's figures read now.
    pub(crate) fn render(&self, pool_size: u32, pool_idle: usize) -> Result<String, fmt::Error> {
        self.pool_size.set(i64::from(pool_size));
        self.pool_idle.set(i64::try_from(pool_idle).unwrap_or(i64::MAX));
        let mut text = String::with_capacity(8 * 1024);
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn rendered(metrics: &Metrics) -> String {
        metrics.render(3, 2).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn events_are_counted_by_kind_without_ids() {
        let metrics = Metrics::new();
        let user_id = Uuid::new_v4();
        let session_id = Uuid::new_v4();
        metrics.event(&Event::SignedIn { user_id, session_id, provider: "keycloak".into(), new_user: true });
        metrics.event(&Event::Revoked { user_id, revoked: Revoked::Others { count: 3 } });
        metrics.event(&Event::BackchannelLogout { provider: "keycloak".into(), sessions: 2 });
        let text = rendered(&metrics);
        assert!(text.contains(r#"latchkey_sign_ins_total{provider="keycloak",outcome="ok"} 1"#), "{text}");
        assert!(text.contains(r#"latchkey_revocations_total{kind="others"} 1"#), "{text}");
        assert!(text.contains(r#"latchkey_revoked_sessions_total{kind="others"} 3"#), "{text}");
        assert!(text.contains("latchkey_backchannel_logout_sessions_total 2"), "{text}");
        assert!(text.contains("latchkey_db_pool_connections 3"), "{text}");
        assert!(!text.contains(&user_id.to_string()) && !text.contains(&session_id.to_string()), "{text}");
    }

    #[test]
    fn requests_are_labelled_by_template_and_status_class() {
        let metrics = Metrics::new();
        let labels = RequestLabels::new("POST", RouteTemplate::new("/sessions/<id>/revoke"), 303);
        metrics.request(&labels, Duration::from_millis(3));
        let text = rendered(&metrics);
        assert!(
            text.contains(r#"latchkey_http_request_duration_seconds_count{method="POST",route="/sessions/<id>/revoke",status="3xx"} 1"#),
            "{text}"
        );
    }
}
