//! Request latency for the metrics: the time from Rocket handing over a request to the
//! response, observed by method, the matched route's URI template and status class.
//! Attached by latchkey's fairing only when the metrics are configured.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use rocket::fairing::{Fairing, Info, Kind};
use rocket::{Data, Orbit, Request, Response, Rocket};

use crate::metrics::{Metrics, RequestLabels, RouteTemplate};

pub(crate) struct RequestMetrics {
    metrics: Arc<Metrics>,
    /// Every mounted route's template, made once at liftoff, so that a request finds its
    /// label without building a string.
    templates: OnceLock<HashMap<String, RouteTemplate>>,
    unmatched: RouteTemplate,
}

impl RequestMetrics {
    pub(crate) fn new(metrics: Arc<Metrics>) -> RequestMetrics {
        RequestMetrics { metrics, templates: OnceLock::new(), unmatched: RouteTemplate::unmatched() }
    }

    fn template(&self, request: &Request<'_>) -> RouteTemplate {
        let Some(route) = request.route() else { return self.unmatched.clone() };
        let path = route.uri.path();
        match self.templates.get().and_then(|templates| templates.get(path)) {
            Some(template) => template.clone(),
            None => RouteTemplate::new(path),
        }
    }
}

/// When the request reached the fairing.
struct Started(Instant);

#[rocket::async_trait]
impl Fairing for RequestMetrics {
    fn info(&self) -> Info {
        Info { name: "latchkey request metrics", kind: Kind::Liftoff | Kind::Request | Kind::Response }
    }

    async fn on_liftoff(&self, rocket: &Rocket<Orbit>) {
        let templates =
            rocket.routes().map(|route| (route.uri.path().to_string(), RouteTemplate::new(route.uri.path()))).collect();
        let _ = self.templates.set(templates);
    }

    async fn on_request(&self, request: &mut Request<'_>, _data: &mut Data<'_>) {
        request.local_cache(|| Started(Instant::now()));
    }

    async fn on_response<'r>(&self, request: &'r Request<'_>, response: &mut Response<'r>) {
        let Started(started) = request.local_cache(|| Started(Instant::now()));
        let labels = RequestLabels::new(request.method().as_str(), self.template(request), response.status().code);
        self.metrics.request(&labels, started.elapsed());
    }
}
