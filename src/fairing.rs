//! The one fairing an app attaches, and its options. At ignite it validates the
//! configuration, finds or opens the pool, migrates latchkey's schema, and mounts the
//! routes under the base path; at liftoff it starts discovery, the sweeper and (with
//! metrics on) the count of live sessions.

use std::sync::Arc;

use rocket::fairing::{self, AdHoc, Fairing, Info, Kind};
use rocket::{Build, Orbit, Rocket};
use rocket_db_pools::sqlx::PgPool;
use rocket_db_pools::Database;

use crate::config::Config;
use crate::crypto::Keyring;
use crate::db;
use crate::error::chain;
use crate::fairings::live_sessions;
use crate::fairings::request_metrics::RequestMetrics;
use crate::fairings::sweeper::{self, Sweeper};
use crate::hooks::{Hooks, NoHooks};
use crate::metrics::Metrics;
use crate::oidc::{provider_logout, Providers};
use crate::paths::Paths;
use crate::routes;
use crate::session::cookie::CookiePolicy;
use crate::shared::Shared;
use crate::store::{listener, Store, SweepOptions};

/// latchkey, as a fairing: `rocket.attach(Latchkey::fairing())`, with options chained on.
///
/// ```no_run
/// use latchkey::{Hooks, Latchkey};
/// use rocket::launch;
/// use rocket_db_pools::{sqlx, Database};
///
/// #[derive(Database)]
/// #[database("main")]
/// struct Db(sqlx::PgPool);
///
/// struct AppHooks;
/// impl Hooks for AppHooks {}
///
/// #[launch]
/// fn rocket() -> _ {
///     rocket::custom(latchkey::figment())
///         .attach(Db::init())
///         .attach(
///             Latchkey::fairing()
///                 .base_path("/account")   // /account/auth/login, /account/sessions, …
///                 .database::<Db>()        // the app's own pool, not `databases.auth`
///                 .hooks(AppHooks)
///                 .site_name("Notes"),
///         )
/// }
/// ```
///
/// What it mounts under the base path: sign-in and sign-out (`auth/login`,
/// `auth/callback`, `auth/logout`, `auth/backchannel-logout`, `signed-out`, always);
/// the sessions page and its forms (`sessions`); the JSON API (`api/session`,
/// `api/csrf`, `api/sessions`); health checks (`healthz`, `readyz`); the pages'
/// stylesheet (`latchkey.css`); and, with `auth.metrics.token` configured, the
/// Prometheus metrics (`metrics`), with a request-latency fairing beside them. Under a
/// base path other than `/` it also registers [`catchers`](crate::catchers) there, so
/// latchkey's own URLs always answer alike.
#[derive(Clone)]
pub struct Latchkey {
    base_path: String,
    hooks: Arc<dyn Hooks>,
    pool: PoolSource,
    #[cfg(feature = "pages")]
    site_name: String,
    #[cfg(feature = "pages")]
    sessions_page: bool,
    api: bool,
    health_checks: bool,
    admin_role: Option<String>,
}

/// Where latchkey's pool comes from.
#[derive(Clone, Copy)]
enum PoolSource {
    /// Its own, configured under `databases.auth`.
    Own,
    /// The app's rocket_db_pools database of this name.
    App { name: &'static str, fetch: fn(&Rocket<Build>) -> Option<PgPool> },
}

impl Latchkey {
    /// latchkey at the site's root, with its own pool (`databases.auth`), every part
    /// mounted, and no hooks.
    pub fn fairing() -> Latchkey {
        Latchkey {
            base_path: String::new(),
            hooks: Arc::new(NoHooks),
            pool: PoolSource::Own,
            #[cfg(feature = "pages")]
            site_name: "latchkey".into(),
            #[cfg(feature = "pages")]
            sessions_page: true,
            api: true,
            health_checks: true,
            admin_role: None,
        }
    }

    /// Where latchkey's routes live: `/` (the default) or a path such as `/account`.
    /// Redirect URIs, links and cookie paths follow it: register
    /// `{base_url}{base_path}/auth/callback` at the provider.
    pub fn base_path(mut self, path: impl Into<String>) -> Latchkey {
        self.base_path = path.into();
        self
    }

    /// The app's [`Hooks`].
    pub fn hooks(mut self, hooks: impl Hooks) -> Latchkey {
        self.hooks = Arc::new(hooks);
        self
    }

    /// Uses the app's own `rocket_db_pools` PostgreSQL database `D` instead of a pool of
    /// latchkey's own; its fairing (`D::init()`) may be attached before or after this one.
    /// latchkey's tables stay in their own schema.
    pub fn database<D: Database<Pool = PgPool>>(mut self) -> Latchkey {
        fn fetch<D: Database<Pool = PgPool>>(rocket: &Rocket<Build>) -> Option<PgPool> {
            D::fetch(rocket).map(|db| (**db).clone())
        }
        self.pool = PoolSource::App { name: D::NAME, fetch: fetch::<D> };
        self
    }

    /// The name the pages show (the brand link, page titles); default "latchkey".
    #[cfg(feature = "pages")]
    pub fn site_name(mut self, name: impl Into<String>) -> Latchkey {
        self.site_name = name.into();
        self
    }

    /// Whether to mount the sessions page and its forms (default: yes).
    #[cfg(feature = "pages")]
    pub fn sessions_page(mut self, mount: bool) -> Latchkey {
        self.sessions_page = mount;
        self
    }

    /// Mounts the admin console (pages under `admin`, JSON under `api/admin`) for holders of
    /// the realm role `role` (default: not mounted): everyone's users and sessions, and
    /// revoking them.
    pub fn admin_console(mut self, role: impl Into<String>) -> Latchkey {
        self.admin_role = Some(role.into());
        self
    }

    /// Whether to mount the JSON API (default: yes).
    pub fn api(mut self, mount: bool) -> Latchkey {
        self.api = mount;
        self
    }

    /// Whether to mount `healthz` and `readyz` (default: yes).
    pub fn health_checks(mut self, mount: bool) -> Latchkey {
        self.health_checks = mount;
        self
    }

    fn mounts_sessions_page(&self) -> bool {
        #[cfg(feature = "pages")]
        return self.sessions_page;
        #[cfg(not(feature = "pages"))]
        return false;
    }

    /// Everything that needs the configuration and the pool; refuses launch with one line
    /// saying what is wrong.
    async fn set_up(self, rocket: Rocket<Build>) -> fairing::Result {
        match self.build_shared(&rocket).await {
            Ok(shared) => Ok(self.mount(rocket, shared)),
            Err(problem) => {
                tracing::error!("latchkey: {problem}");
                Err(rocket)
            }
        }
    }

    async fn build_shared(&self, rocket: &Rocket<Build>) -> Result<Shared, String> {
        let config = Config::from_figment(rocket.figment()).map_err(|e| format!("configuration refused: {e}"))?;
        let mut paths = Paths::new(&self.base_path, self.mounts_sessions_page(), self.admin_role.is_some())
            .map_err(|e| format!("configuration refused: {e}"))?;
        if config.metrics.enabled() {
            paths = paths.with_metrics();
        }
        let keyring = config.keyring().cloned().unwrap_or_else(|| {
            tracing::warn!("auth.encryption is not configured: tokens at rest use a key that dies with this process");
            Keyring::ephemeral()
        });
        let providers = Providers::from_config(&config)
            .map_err(|e| format!("cannot build the HTTP client for OpenID Connect: {}", chain(&e)))?;
        let pool = match self.pool {
            PoolSource::Own => db::own_pool(&own_pool_settings(rocket))
                .await
                .map_err(|e| format!("cannot open the database pool of `databases.auth`: {}", chain(&e)))?,
            PoolSource::App { name, fetch } => fetch(rocket).ok_or_else(|| {
                format!("the app's database `{name}` is not attached: attach its `init()` fairing to the Rocket")
            })?,
        };
        if config.run_migrations {
            db::migrate(&pool, &config.schema).await.map_err(|e| format!("migrations failed: {}", chain(&e)))?;
        } else {
            tracing::info!("migrations: switched off by auth.run_migrations");
        }
        #[cfg(feature = "pages")]
        let pages = {
            let dir = template_dir(rocket).join("latchkey");
            crate::pages::Pages::load(&dir)
                .map_err(|e| format!("the templates in {} are refused: {}", dir.display(), chain(&e)))?
        };
        Ok(Shared {
            store: Store::new(pool, &config.schema, &config.session),
            cookies: CookiePolicy::new(&config, &paths),
            hooks: Arc::clone(&self.hooks),
            metrics: Arc::new(Metrics::new()),
            admin_role: self.admin_role.clone(),
            #[cfg(feature = "pages")]
            site_name: self.site_name.clone(),
            #[cfg(feature = "pages")]
            pages,
            config,
            paths,
            providers,
            keyring,
        })
    }

    /// Mounts the chosen parts under the base path and hands `shared` to Rocket.
    fn mount(&self, rocket: Rocket<Build>, shared: Shared) -> Rocket<Build> {
        let at = shared.paths.mount_point().to_string();
        let mut rocket = rocket.mount(at.as_str(), routes::auth::routes()).mount(at.as_str(), routes::logout::routes());
        if self.mounts_sessions_page() {
            rocket = rocket.mount(at.as_str(), routes::sessions::routes());
        }
        if self.api {
            rocket = rocket.mount(at.as_str(), routes::api::routes());
        }
        if self.admin_role.is_some() {
            rocket = rocket.mount(at.as_str(), routes::admin::routes());
        }
        if self.health_checks {
            rocket = rocket.mount(at.as_str(), routes::health::routes());
        }
        if shared.config.metrics.enabled() {
            rocket = rocket
                .mount(at.as_str(), routes::metrics::routes())
                .attach(RequestMetrics::new(Arc::clone(&shared.metrics)));
        }
        #[cfg(feature = "pages")]
        {
            rocket = rocket.mount(at.as_str(), routes::assets::routes());
        }
        if at != "/" {
            rocket = rocket.register(at.as_str(), routes::catchers::catchers());
        }
        rocket.manage(shared)
    }
}

/// `databases.auth`, with rocket_db_pools' own defaults for what it leaves out (only
/// `url` is required).
fn own_pool_settings(rocket: &Rocket<Build>) -> rocket::figment::Figment {
    use rocket::figment::providers::Serialized;
    let workers: usize =
        rocket.figment().extract_inner(rocket::Config::WORKERS).unwrap_or_else(|_| rocket::Config::default().workers);
    rocket
        .figment()
        .focus("databases.auth")
        .join(Serialized::default("max_connections", workers * 4))
        .join(Serialized::default("connect_timeout", 5))
}

/// The app's template directory (Rocket's `template_dir`, relative to `Rocket.toml`),
/// where `latchkey/*.html.tera` replace the built-in pages.
#[cfg(feature = "pages")]
fn template_dir(rocket: &Rocket<Build>) -> std::path::PathBuf {
    use rocket::figment::value::magic::RelativePathBuf;
    rocket
        .figment()
        .extract_inner::<RelativePathBuf>("template_dir")
        .map(|dir| dir.relative())
        .unwrap_or_else(|_| "templates".into())
}

#[rocket::async_trait]
impl Fairing for Latchkey {
    fn info(&self) -> Info {
        Info { name: "latchkey", kind: Kind::Ignite | Kind::Liftoff | Kind::Shutdown | Kind::Singleton }
    }

    /// Defers the set-up until every fairing attached so far has ignited: the app's own
    /// pool may be attached after latchkey's fairing.
    async fn on_ignite(&self, rocket: Rocket<Build>) -> fairing::Result {
        let options = self.clone();
        Ok(rocket.attach(AdHoc::try_on_ignite("latchkey set-up", move |rocket| options.set_up(rocket))))
    }

    async fn on_liftoff(&self, rocket: &Rocket<Orbit>) {
        let Some(shared) = Shared::of(rocket) else { return };
        for provider in shared.providers.iter() {
            tokio::spawn(Arc::clone(provider).keep_discovered(rocket.shutdown()));
        }
        if let Some(queue) = shared.store.take_revoked_queue() {
            provider_logout::spawn(shared.providers.iter().cloned().collect(), queue, rocket.shutdown());
        }
        let session = &shared.config.session;
        if let Some(cache) = shared.store.cache() {
            listener::spawn(shared.store.pool().clone(), &shared.config.schema, cache.clone(), rocket.shutdown());
        }
        let sweeper = Sweeper {
            pool: shared.store.pool().clone(),
            schema: shared.config.schema.clone(),
            every: session.sweep_interval,
            options: SweepOptions::from_config(&shared.config),
            metrics: Arc::clone(&shared.metrics),
        };
        sweeper::spawn(sweeper, rocket.shutdown());
        if shared.config.metrics.enabled() {
            live_sessions::spawn(
                shared.store.pool().clone(),
                shared.config.schema.clone(),
                shared.config.metrics.live_sessions_interval,
                Arc::clone(&shared.metrics),
                rocket.shutdown(),
            );
        }
    }

    async fn on_shutdown(&self, rocket: &Rocket<Orbit>) {
        if let (PoolSource::Own, Some(shared)) = (self.pool, Shared::of(rocket)) {
            shared.store.pool().close().await;
        }
    }
}
