//! Shared test support: a fresh PostgreSQL database per test, the reference app built on
//! it, and handles on the real Keycloak that `scripts/services` runs.
#![allow(dead_code)]

/// The reference app's Rocket, exactly as `src/main.rs` builds it (it has pages).
#[cfg(feature = "pages")]
#[path = "../../src/app/site.rs"]
pub mod site;

pub mod browser;
pub mod chromium;
#[cfg(feature = "pages")]
pub mod fake_idp;
pub mod keycloak_admin;
pub mod pg_proxy;

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use figment::providers::Serialized;
use figment::Figment;
#[cfg(feature = "pages")]
use rocket::local::asynchronous::Client;
use sha2::{Digest, Sha256};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection};

/// The role's own database; used only to create and drop the per-test ones.
pub fn admin_database_url() -> String {
    std::env::var("LATCHKEY_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://latchkey:latchkey@127.0.0.1:5432/latchkey".into())
}

pub fn keycloak_url() -> String {
    std::env::var("LATCHKEY_KEYCLOAK_URL").unwrap_or_else(|_| "http://127.0.0.1:8080".into())
}

pub fn keycloak_issuer() -> String {
    format!("{}/realms/latchkey", keycloak_url())
}

/// A database of its own for one test, dropped (with its connections) when the test ends.
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    pub async fn create() -> TestDb {
        let name = format!("latchkey_test_{}", uuid::Uuid::new_v4().simple());
        let admin = admin_database_url();
        let mut connection = PgConnection::connect(&admin).await.expect("connect to the test PostgreSQL");
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut connection).await.expect("create test database");
        let base = admin.rsplit_once('/').map(|(base, _)| base.to_string()).expect("database URL has a path");
        TestDb { url: format!("{base}/{name}"), name }
    }

    /// A connection whose unqualified table names are latchkey's (schema `latchkey`, then
    /// `public` for extensions such as pg_stat_statements).
    pub async fn connect(&self) -> PgConnection {
        let options: PgConnectOptions = self.url.parse().expect("database URL");
        options.options([("search_path", "latchkey,public")]).connect().await.expect("connect to the test database")
    }

    /// A pool on the database (its connections see `public` first, as an app's would).
    pub async fn pool(&self) -> sqlx::PgPool {
        sqlx::PgPool::connect(&self.url).await.expect("pool on the test database")
    }

    /// latchkey's migrations, applied as the app would apply them.
    pub async fn migrate(&self) {
        latchkey::migrate(&self.pool().await, &latchkey::Schema::default()).await.expect("migrate");
    }

    /// How many rows `table` has.
    pub async fn count(&self, table: &str) -> i64 {
        let mut connection = self.connect().await;
        sqlx::query_scalar(&format!("SELECT count(*) FROM {table}")).fetch_one(&mut connection).await.expect("count")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs inside the test's runtime; a thread with its own runtime may block.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            runtime.block_on(async move {
                if let Ok(mut connection) = PgConnection::connect(&admin_database_url()).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut connection)
                        .await;
                }
            })
        });
        let _ = dropped.join();
    }
}

/// Rocket.toml's debug profile pointed at `db` and at the test client of the dev realm,
/// with Rocket's own logging quiet.
pub fn figment(db: &TestDb) -> Figment {
    rocket::Config::figment()
        .merge(Serialized::global("log_level", "off"))
        .merge(Serialized::global("databases.auth.url", &db.url))
        .merge(Serialized::global("databases.auth.max_connections", 4))
        .merge(Serialized::global("databases.auth.connect_timeout", 3))
        .merge(Serialized::global("auth.providers.keycloak.issuer", keycloak_issuer()))
        .merge(Serialized::global("auth.providers.keycloak.client_id", "latchkey-test"))
        .merge(Serialized::global("auth.providers.keycloak.client_secret", "latchkey-test-secret"))
        // Fixed keys, so that a second instance of the app reads the first one's cookies.
        .merge(Serialized::global("secret_key", "hPRYyVRiMyxpw5sBB1XeCMN1kFsDCqKvBi2QJxBVHQk="))
}

/// The app on `figment`, behind Rocket's in-process client that does not keep cookies
/// (each `Browser` keeps its own).
#[cfg(feature = "pages")]
pub async fn app(figment: Figment) -> Client {
    Client::untracked(site::rocket(figment)).await.expect("the app ignites")
}

/// The app on `figment`, behind Rocket's in-process client (liftoff fairings run).
#[cfg(feature = "pages")]
pub async fn client(figment: Figment) -> Client {
    Client::tracked(site::rocket(figment)).await.expect("the app ignites")
}

/// Polls `probe` until it returns true, for at most `limit`.
pub async fn eventually<F, Fut>(limit: Duration, mut probe: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if probe().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The value of `name` in the query of the absolute `url`.
pub fn query_param(url: &str, name: &str) -> String {
    let url = url::Url::parse(url).expect("url");
    url.query_pairs().find(|(key, _)| key == name).map(|(_, value)| value.into_owned()).expect("param")
}

/// A port nothing listens on.
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}

/// The real Keycloak, frozen with SIGSTOP (it accepts connections but answers nothing,
/// like a hung IdP) until this guard is dropped or `thaw` is called.
pub struct FrozenKeycloak {
    pid: Option<String>,
}

pub fn keycloak_pid() -> String {
    let pidfile = std::env::var("LATCHKEY_KEYCLOAK_PIDFILE").unwrap_or_else(|_| {
        let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
        format!("{home}/.cache/latchkey/run/keycloak.pid")
    });
    std::fs::read_to_string(&pidfile).unwrap_or_else(|e| panic!("read {pidfile}: {e}")).trim().to_string()
}

fn signal(pid: &str, signal: &str) {
    let status = std::process::Command::new("kill").args([signal, pid]).status().expect("run kill");
    assert!(status.success(), "kill {signal} {pid} failed");
}

impl FrozenKeycloak {
    pub fn freeze() -> FrozenKeycloak {
        let pid = keycloak_pid();
        signal(&pid, "-STOP");
        FrozenKeycloak { pid: Some(pid) }
    }

    pub fn thaw(&mut self) {
        if let Some(pid) = self.pid.take() {
            signal(&pid, "-CONT");
        }
    }
}

impl Drop for FrozenKeycloak {
    fn drop(&mut self) {
        // Never panic here (a test may already be unwinding); just resume the process.
        if let Some(pid) = self.pid.take() {
            let _ = std::process::Command::new("kill").args(["-CONT", &pid]).status();
        }
    }
}

/// Tests that freeze Keycloak take this lock so that no other test in the same binary
/// needs Keycloak meanwhile.
pub static KEYCLOAK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Restarts the real PostgreSQL cluster that `scripts/services` runs (Debian's tools).
pub fn restart_postgresql() {
    postgresql("restart");
}

/// Stops the real PostgreSQL until the guard is dropped (or `start` is called).
pub struct StoppedPostgresql {
    stopped: bool,
}

impl StoppedPostgresql {
    pub fn stop() -> StoppedPostgresql {
        postgresql("stop");
        StoppedPostgresql { stopped: true }
    }

    pub fn start(&mut self) {
        if std::mem::take(&mut self.stopped) {
            postgresql("start");
        }
    }
}

impl Drop for StoppedPostgresql {
    fn drop(&mut self) {
        self.start();
    }
}

fn postgresql(action: &str) {
    let version = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is installed")
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter_map(|name| name.parse::<u32>().ok())
        .max()
        .expect("a PostgreSQL version");
    let status = std::process::Command::new("pg_ctlcluster")
        .args([version.to_string().as_str(), "main", action])
        .args(if action == "start" { &[][..] } else { &["-m", "fast"][..] })
        // The new server must not hold the test run's output pipes open.
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("run pg_ctlcluster");
    assert!(status.success(), "pg_ctlcluster {action} failed");
}

/// The app served on a real loopback port (for calls that the IdP makes to it), until
/// dropped.
pub struct Served {
    pub port: u16,
    shutdown: rocket::Shutdown,
}

impl Served {
    #[cfg(feature = "pages")]
    pub async fn start(figment: Figment) -> Served {
        Served::start_on(figment, closed_port()).await
    }

    #[cfg(feature = "pages")]
    pub async fn start_on(figment: Figment, port: u16) -> Served {
        Served::launch(site::rocket, figment, port).await
    }

    /// Any app (`build` on `figment`), served on `port`.
    pub async fn launch(build: fn(Figment) -> rocket::Rocket<rocket::Build>, figment: Figment, port: u16) -> Served {
        let figment = figment.merge(Serialized::global("port", port)).merge(Serialized::global("address", "127.0.0.1"));
        let ignited = build(figment).ignite().await.expect("the app ignites");
        let shutdown = ignited.shutdown();
        tokio::spawn(ignited.launch());
        let up = eventually(Duration::from_secs(10), || async {
            reqwest::get(format!("http://127.0.0.1:{port}/healthz")).await.is_ok()
        })
        .await;
        assert!(up, "the app did not start listening on {port}");
        Served { port, shutdown }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.shutdown.clone().notify();
    }
}

/// The keyring of Rocket.toml's debug profile, to read sealed columns in tests.
pub fn dev_keyring() -> latchkey::Keyring {
    let config = latchkey::Config::from_figment(&rocket::Config::figment()).expect("debug configuration");
    config.keyring().cloned().expect("the debug profile has keys")
}

/// A session cookie token as latchkey makes them (32 random bytes, base64url) and the
/// SHA-256 of its text, which is what `sessions.token_hash` holds.
pub fn session_token() -> (String, Vec<u8>) {
    let token = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    let hash = Sha256::digest(token.as_bytes()).to_vec();
    (token, hash)
}
