//! `/metrics` against the real PostgreSQL and Keycloak, scraped by a real Prometheus
//! (Debian's `/usr/bin/prometheus`, which `scripts/test` installs): off unless a token is
//! configured, 401 without it, and the figures moving through a sign-in, a revocation
//! and a sweep, labelled by route template, with nothing secret in them.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::browser::{Browser, APP_ORIGIN};
use common::{app, closed_port, eventually, figment, Served, TestDb};
use figment::providers::Serialized;
use figment::Figment;
use rocket::http::{Header, Method, Status};
use rocket::local::asynchronous::Client;
use serde_json::Value;

const TOKEN: &str = "metrics-token-for-tests-0123456789abcdef";
const FIREFOX_LINUX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
const CHROME_MAC: &str =
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const PROMETHEUS: &str = "/usr/bin/prometheus";
const WAIT: Duration = Duration::from_secs(30);

/// The test app with metrics on: counted every second, swept every second, no session
/// cache (the tests change rows behind the app's back).
fn with_metrics(db: &TestDb) -> Figment {
    figment(db)
        .merge(Serialized::global("auth.metrics.token", TOKEN))
        .merge(Serialized::global("auth.metrics.live_sessions_interval", "1s"))
        .merge(Serialized::global("auth.session.sweep_interval", "1s"))
        .merge(Serialized::global("auth.session.cache", false))
}

/// `GET /metrics` on the in-process app with the given `Authorization` header.
async fn scrape_with(app: &Client, authorization: Option<&str>) -> (Status, Option<String>, String) {
    let mut request = app.get("/metrics");
    if let Some(value) = authorization {
        request = request.header(Header::new("Authorization", value.to_string()));
    }
    let response = request.dispatch().await;
    let status = response.status();
    let content_type = response.content_type().map(|t| t.to_string());
    (status, content_type, response.into_string().await.unwrap_or_default())
}

/// The metrics text, as a scraper with the token gets it.
async fn scrape(app: &Client) -> String {
    let (status, _, text) = scrape_with(app, Some(&format!("Bearer {TOKEN}"))).await;
    assert_eq!(status, Status::Ok, "{text}");
    text
}

/// The value of the sample written exactly as `series` (name and labels), if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.split(' ').next()?.parse().ok())
}

/// Polls the in-process app's metrics until `series` has `value`.
async fn wait_for_sample(app: &Client, series: &str, value: f64) {
    let reached = eventually(WAIT, || async { sample(&scrape(app).await, series) == Some(value) }).await;
    assert!(reached, "{series} never became {value}:\n{}", scrape(app).await);
}

/// Sets a session of the test database to have expired a minute ago.
async fn expire(db: &TestDb, public_id: &str) {
    let mut connection = db.connect().await;
    let done = sqlx::query("UPDATE sessions SET expires_at = now() - interval '1 minute' WHERE id::text = $1")
        .bind(public_id)
        .execute(&mut connection)
        .await
        .expect("expire a session");
    assert_eq!(done.rows_affected(), 1, "session {public_id} not found");
}

#[tokio::test]
async fn metrics_are_off_unless_a_token_is_configured() {
    let db = TestDb::create().await;
    let app = app(figment(&db)).await;
    let (status, _, body) = scrape_with(&app, Some(&format!("Bearer {TOKEN}"))).await;
    assert_eq!(status, Status::NotFound, "{body}");
    assert!(!body.contains("latchkey_"), "{body}");
    drop(app);

    // A guessable token is refused at launch rather than protecting nothing.
    let short = figment(&db).merge(Serialized::global("auth.metrics.token", "short"));
    let Err(error) = common::site::rocket(short).ignite().await else { panic!("a short token was accepted") };
    assert!(matches!(error.kind(), rocket::error::ErrorKind::FailedFairings(_)), "{error:?}");
}

#[tokio::test]
async fn metrics_live_under_latchkeys_base_path() {
    let db = TestDb::create().await;
    let rocket = rocket::custom(with_metrics(&db)).attach(latchkey::Latchkey::fairing().base_path("/account"));
    let app = Client::untracked(rocket).await.expect("the app ignites");
    let bearer = Header::new("Authorization", format!("Bearer {TOKEN}"));
    let response = app.get("/account/metrics").header(bearer.clone()).dispatch().await;
    assert_eq!(response.status(), Status::Ok);
    let text = response.into_string().await.unwrap_or_default();
    assert!(text.contains("# TYPE latchkey_live_sessions gauge"), "{text}");
    assert_eq!(app.get("/metrics").header(bearer).dispatch().await.status(), Status::NotFound);
    let refused = app.get("/account/metrics").dispatch().await;
    assert_eq!(refused.status(), Status::Unauthorized);
}

#[tokio::test]
async fn a_wrong_or_missing_token_is_refused_with_401_and_nothing_else() {
    let db = TestDb::create().await;
    let app = app(with_metrics(&db)).await;
    let wrong_token = format!("Bearer {}", TOKEN.replace('0', "1"));
    let basic = format!("Basic {TOKEN}");
    let refusals = [None, Some(wrong_token.as_str()), Some("Bearer "), Some(basic.as_str()), Some("Bearer short")];
    for authorization in refusals {
        let (status, _, body) = scrape_with(&app, authorization).await;
        assert_eq!(status, Status::Unauthorized, "{authorization:?}: {body}");
        let json: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{authorization:?}: {e}: {body}"));
        assert_eq!(json["error"], "invalid_token", "{body}");
        assert!(!body.contains("latchkey_") && !body.contains(TOKEN), "{body}");
    }
    let response = app.get("/metrics").dispatch().await;
    assert_eq!(response.headers().get_one("WWW-Authenticate"), Some("Bearer"));

    let (status, content_type, text) = scrape_with(&app, Some(&format!("Bearer {TOKEN}"))).await;
    assert_eq!(status, Status::Ok, "{text}");
    assert!(content_type.is_some_and(|t| t.starts_with("application/openmetrics-text")), "{text}");
    assert!(text.ends_with("# EOF\n"), "{text}");
    assert_eq!(sample(&text, r#"latchkey_errors_total{code="invalid_token"}"#), Some(6.0), "{text}");
}

#[tokio::test]
async fn the_live_sessions_gauge_follows_the_database() {
    let db = TestDb::create().await;
    let app = app(with_metrics(&db)).await;
    wait_for_sample(&app, "latchkey_live_sessions", 0.0).await;

    let mut laptop = Browser::signed_in(&app, "alice", FIREFOX_LINUX).await;
    let _mac = Browser::signed_in(&app, "alice", CHROME_MAC).await;
    wait_for_sample(&app, "latchkey_live_sessions", 2.0).await;

    expire(&db, &laptop.current_session_id().await).await;
    wait_for_sample(&app, "latchkey_live_sessions", 1.0).await;
}

#[tokio::test]
async fn request_latency_is_labelled_by_route_template_and_status_class() {
    let db = TestDb::create().await;
    let app = app(with_metrics(&db)).await;
    let mut laptop = Browser::signed_in(&app, "alice", FIREFOX_LINUX).await;
    let mut mac = Browser::signed_in(&app, "alice", CHROME_MAC).await;
    let mac_id = mac.current_session_id().await;
    let token = laptop.csrf_token().await;
    let headers = [("Origin", APP_ORIGIN), ("X-CSRF-Token", token.as_str())];
    let revoked = laptop.send(Method::Delete, &format!("/api/sessions/{mac_id}"), None, &headers).await;
    assert!(revoked.status.code < 300, "{revoked:?}");
    assert_eq!(laptop.get("/api/sessions?page=1").await.status, Status::Ok);
    assert_eq!(laptop.get("/no/such/page/12345").await.status, Status::NotFound);

    let text = scrape(&app).await;
    let count = |labels: &str| sample(&text, &format!("latchkey_http_request_duration_seconds_count{{{labels}}}"));
    assert_eq!(count(r#"method="DELETE",route="/api/sessions/<id>",status="2xx""#), Some(1.0), "{text}");
    assert!(count(r#"method="GET",route="/api/sessions",status="2xx""#).is_some_and(|n| n >= 1.0), "{text}");
    assert!(count(r#"method="GET",route="/auth/callback",status="3xx""#).is_some_and(|n| n >= 2.0), "{text}");
    assert!(count(r#"method="GET",route="unmatched",status="4xx""#).is_some_and(|n| n >= 1.0), "{text}");
    let bucket = r#"latchkey_http_request_duration_seconds_bucket{le="+Inf",method="DELETE",route="/api/sessions/<id>",status="2xx"}"#;
    assert_eq!(sample(&text, bucket), Some(1.0), "{text}");
    for line in text.lines().filter(|line| line.starts_with("latchkey_http_request")) {
        assert!(!line.contains(&mac_id) && !line.contains('?') && !line.contains("12345"), "{line}");
    }
}

#[tokio::test]
async fn nothing_secret_is_in_the_scraped_text() {
    let db = TestDb::create().await;
    let app = app(with_metrics(&db)).await;
    let mut laptop = Browser::signed_in(&app, "alice", FIREFOX_LINUX).await;
    let session = laptop.get("/api/session").await.json();
    let user_id = session["user"]["id"].as_str().expect("user id").to_string();
    let session_id = laptop.current_session_id().await;
    let csrf = laptop.csrf_token().await;
    let cookie = laptop.session_cookie().cloned().expect("a session cookie");

    let text = scrape(&app).await;
    assert_eq!(sample(&text, r#"latchkey_sign_ins_total{provider="keycloak",outcome="ok"}"#), Some(1.0), "{text}");
    for secret in [cookie.as_str(), &csrf, &user_id, &session_id, "alice", "127.0.0.1", TOKEN, "latchkey-test-secret"] {
        assert!(!text.contains(secret), "{secret} is in the metrics:\n{text}");
    }
}

/// A real Prometheus scraping one app every second, until dropped (then killed by its
/// process id and its files removed).
struct Prometheus {
    child: Child,
    port: u16,
    dir: PathBuf,
    http: reqwest::Client,
}

impl Prometheus {
    fn start(target_port: u16) -> Prometheus {
        assert!(
            std::path::Path::new(PROMETHEUS).exists(),
            "{PROMETHEUS} is missing: `apt-get install prometheus` (scripts/test does)"
        );
        let dir = std::env::temp_dir().join(format!("latchkey-prometheus-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(dir.join("data")).expect("Prometheus directory");
        let config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
             scrape_configs:\n  - job_name: latchkey\n    metrics_path: /metrics\n\
             \x20   authorization:\n      credentials: \"{TOKEN}\"\n\
             \x20   static_configs:\n      - targets: [\"127.0.0.1:{target_port}\"]\n"
        );
        std::fs::write(dir.join("prometheus.yml"), config).expect("prometheus.yml");
        let port = closed_port();
        let log = std::fs::File::create(dir.join("prometheus.log")).expect("Prometheus log");
        let child = Command::new(PROMETHEUS)
            .arg(format!("--config.file={}", dir.join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start Prometheus");
        Prometheus { child, port, dir, http: reqwest::Client::new() }
    }

    /// The one value of `query` (summed if need be), once Prometheus has it.
    async fn value(&self, query: &str) -> Option<f64> {
        let url = format!("http://127.0.0.1:{}/api/v1/query", self.port);
        let answer = self.http.get(url).query(&[("query", query)]).send().await.ok()?;
        let json: Value = answer.json().await.ok()?;
        json["data"]["result"][0]["value"][1].as_str()?.parse().ok()
    }

    /// Waits until `query` gives `expected`.
    async fn wait_for(&self, query: &str, expected: f64) {
        let reached = eventually(WAIT, || async { self.value(query).await == Some(expected) }).await;
        assert!(
            reached,
            "Prometheus: {query} never became {expected} (now {:?}); {}",
            self.value(query).await,
            self.log()
        );
    }

    /// The health of the one scrape target ("up" once it scraped successfully).
    async fn target_health(&self) -> Option<String> {
        let url = format!("http://127.0.0.1:{}/api/v1/targets", self.port);
        let json: Value = self.http.get(url).send().await.ok()?.json().await.ok()?;
        let target = &json["data"]["activeTargets"][0];
        Some(format!("{} {}", target["health"].as_str()?, target["lastError"].as_str().unwrap_or_default()))
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A person's browser over real HTTP (the served app and Keycloak), with its own cookies.
struct Person {
    http: reqwest::Client,
    app: String,
}

impl Person {
    fn new(served: &Served) -> Person {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("reqwest client");
        Person { http, app: served.url("") }
    }

    fn location(response: &reqwest::Response) -> String {
        let location = response.headers().get("location").unwrap_or_else(|| panic!("no Location: {response:?}"));
        location.to_str().expect("Location").to_string()
    }

    /// Signs in as `user` (password = user name) through Keycloak's login form.
    async fn sign_in(&self, user: &str) {
        let login = self.http.get(format!("{}/auth/login?return_to=%2F", self.app)).send().await.expect("login");
        let authorize = Person::location(&login);
        let html = self.http.get(&authorize).send().await.expect("Keycloak").text().await.expect("login page");
        let form = &html[html.find("id=\"kc-form-login\"").expect("Keycloak's login form")..];
        let start = form.find("action=\"").expect("form action") + "action=\"".len();
        let action = form[start..start + form[start..].find('"').expect("action end")].replace("&amp;", "&");
        let answer = self
            .http
            .post(action)
            .form(&[("username", user), ("password", user), ("credentialId", "")])
            .send()
            .await
            .expect("credentials");
        // Keycloak sends the browser to base_url's callback: the same app, served here.
        let callback = url::Url::parse(&Person::location(&answer)).expect("callback URL");
        let path = format!("{}?{}", callback.path(), callback.query().unwrap_or_default());
        let done = self.http.get(format!("{}{path}", self.app)).send().await.expect("callback");
        assert_eq!(done.status().as_u16(), 303, "{}", done.text().await.unwrap_or_default());
    }

    async fn get_json(&self, path: &str) -> Value {
        self.http.get(format!("{}{path}", self.app)).send().await.expect(path).json().await.expect("JSON")
    }

    /// This person's current session's id.
    async fn session_id(&self) -> String {
        let sessions = self.get_json("/api/sessions").await;
        let list = sessions["sessions"].as_array().cloned().unwrap_or_default();
        let current = list.iter().find(|s| s["current"] == true).expect("a current session");
        current["id"].as_str().expect("id").to_string()
    }

    /// Revokes one of this person's sessions through the JSON API.
    async fn revoke(&self, id: &str) {
        let csrf = self.get_json("/api/csrf").await["csrf_token"].as_str().expect("csrf").to_string();
        let answer = self
            .http
            .delete(format!("{}/api/sessions/{id}", self.app))
            .header("Origin", APP_ORIGIN)
            .header("X-CSRF-Token", csrf)
            .send()
            .await
            .expect("revoke");
        assert!(answer.status().is_success(), "{:?}", answer.text().await);
    }
}

#[tokio::test]
async fn prometheus_scrapes_the_metrics_moving_through_sign_in_revoke_and_sweep() {
    let db = TestDb::create().await;
    let served = Served::start(with_metrics(&db)).await;
    let prometheus = Prometheus::start(served.port);

    let up = eventually(WAIT, || async { prometheus.target_health().await.is_some_and(|h| h.starts_with("up")) }).await;
    assert!(up, "the target never came up: {:?}; {}", prometheus.target_health().await, prometheus.log());
    prometheus.wait_for("latchkey_live_sessions", 0.0).await;

    // Two sign-ins through Keycloak, and one callback of no sign-in started here.
    let laptop = Person::new(&served);
    laptop.sign_in("alice").await;
    let phone = Person::new(&served);
    phone.sign_in("alice").await;
    let forged = laptop.http.get(served.url("/auth/callback?state=forged&code=x")).send().await.expect("callback");
    assert_eq!(forged.status().as_u16(), 400);
    prometheus.wait_for(r#"latchkey_sign_ins_total{provider="keycloak",outcome="ok"}"#, 2.0).await;
    prometheus.wait_for(r#"latchkey_sign_ins_total{provider="unknown",outcome="flow_expired"}"#, 1.0).await;
    prometheus.wait_for(r#"latchkey_errors_total{code="flow_expired"}"#, 1.0).await;
    prometheus.wait_for("latchkey_live_sessions", 2.0).await;

    // A revocation of the phone's session from the laptop.
    let phone_id = phone.session_id().await;
    laptop.revoke(&phone_id).await;
    prometheus.wait_for(r#"latchkey_revocations_total{kind="one"}"#, 1.0).await;
    prometheus.wait_for("latchkey_live_sessions", 1.0).await;

    // A session whose extension is due is extended by its next request.
    let laptop_id = laptop.session_id().await;
    let mut connection = db.connect().await;
    sqlx::query("UPDATE sessions SET expires_at = now() + interval '1 day' WHERE id::text = $1")
        .bind(&laptop_id)
        .execute(&mut connection)
        .await
        .expect("age the session");
    assert!(laptop.get_json("/api/session").await["user"].is_object());
    prometheus.wait_for("latchkey_session_extensions_total", 1.0).await;

    // The sweeper removes the laptop's session once it has expired.
    expire(&db, &laptop_id).await;
    prometheus.wait_for(r#"latchkey_sweep_removed_rows_total{table="sessions"}"#, 1.0).await;
    prometheus.wait_for("latchkey_live_sessions", 0.0).await;
    let sweeps = prometheus.value("latchkey_sweep_duration_seconds_count").await;
    assert!(sweeps.is_some_and(|n| n >= 1.0), "{sweeps:?}");

    // The pool's figures and request latency by route template arrive too.
    let pool = prometheus.value("latchkey_db_pool_connections").await;
    assert!(pool.is_some_and(|n| n >= 1.0), "{pool:?}");
    assert!(prometheus.value("latchkey_db_pool_idle_connections").await.is_some());
    let callbacks = r#"sum(latchkey_http_request_duration_seconds_count{route="/auth/callback"})"#;
    prometheus.wait_for(callbacks, 3.0).await;
    let health = prometheus.target_health().await;
    assert!(health.as_deref().is_some_and(|h| h.starts_with("up")), "{health:?}");
}
