//! All of latchkey's SQL: the one layer that talks to PostgreSQL. Statements are written
//! with a `{schema}` placeholder and qualified once, when the store is built; what must
//! run in one transaction takes a `Transaction`, never a plain connection.

mod admin;
mod cache;
mod events;
pub(crate) mod listener;
mod logout_tokens;
mod sessions;
mod sweep;
mod tokens;
mod users;

use rocket_db_pools::sqlx::{self, PgPool};
use tokio::sync::mpsc;

use crate::config::SessionConfig;
use crate::db::Schema;

pub(crate) use admin::{UserPage, UserRecord};
pub(crate) use cache::SessionCache;
pub(crate) use events::{Actor, EventKind, SecurityEvent};
pub(crate) use logout_tokens::{LogoutScope, LogoutToken};
pub(crate) use sessions::{
    count_live_sessions, CurrentSession, EndedSession, IdpSession, ListPage, NewSession, SessionListing, SessionPage,
    TokenState,
};
pub use sweep::{sweep_once, sweep_once_with, SweepOptions, SweepReport};
pub(crate) use tokens::{Leased, RefreshedTokens};
pub(crate) use users::{AccountTokens, NewSignIn, SignInOutcome};

/// The pool, the schema's statements and the session lifetimes they compute with.
pub(crate) struct Store {
    pool: PgPool,
    lifetimes: Lifetimes,
    max_per_user: u32,
    sql: Statements,
    /// Resolved sessions, when `auth.session.cache` is on.
    cache: Option<SessionCache>,
    /// Provider sessions whose latchkey sessions were revoked, for whoever ends them at
    /// the provider (a task the fairing starts); its receiving end until that task takes it.
    revoked: mpsc::UnboundedSender<IdpSession>,
    revoked_queue: std::sync::Mutex<Option<mpsc::UnboundedReceiver<IdpSession>>>,
}

/// The session settings the statements bind, in the seconds PostgreSQL's intervals take,
/// and as durations for the cache's judgements on this instance's clock.
#[derive(Debug, Clone, Copy)]
struct Lifetimes {
    max_age: f64,
    update_age: f64,
    absolute_max_age: f64,
    activity_interval: f64,
    max_age_chrono: chrono::Duration,
    update_age_chrono: chrono::Duration,
    activity_interval_chrono: chrono::Duration,
}

impl Store {
    pub(crate) fn new(pool: PgPool, schema: &Schema, session: &SessionConfig) -> Store {
        let lifetimes = Lifetimes {
            max_age: session.max_age.as_secs_f64(),
            update_age: session.update_age.as_secs_f64(),
            absolute_max_age: session.absolute_max_age.as_secs_f64(),
            activity_interval: session.activity_interval.as_secs_f64(),
            max_age_chrono: chrono::Duration::from_std(session.max_age).unwrap_or(chrono::Duration::MAX),
            update_age_chrono: chrono::Duration::from_std(session.update_age).unwrap_or(chrono::Duration::MAX),
            activity_interval_chrono: chrono::Duration::from_std(session.activity_interval)
                .unwrap_or(chrono::Duration::MAX),
        };
        let cache = session.cache.then(|| SessionCache::new(session.cache_capacity));
        let (revoked, queue) = mpsc::unbounded_channel();
        Store {
            pool,
            lifetimes,
            max_per_user: session.max_per_user,
            sql: Statements::new(schema),
            cache,
            revoked,
            revoked_queue: std::sync::Mutex::new(Some(queue)),
        }
    }

    /// The queue of revoked provider sessions, once: for the task that ends them there.
    pub(crate) fn take_revoked_queue(&self) -> Option<mpsc::UnboundedReceiver<IdpSession>> {
        self.revoked_queue.lock().ok().and_then(|mut queue| queue.take())
    }

    /// Hands provider sessions just revoked here to whoever ends them at the provider.
    fn ended_at_providers(&self, sessions: Vec<IdpSession>) {
        for session in sessions {
            // Nobody listening (the fairing's task has stopped): the revocation still
            // holds, through the sign-in check of `revoked_idp_sessions`.
            let _ = self.revoked.send(session);
        }
    }

    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The session cache, when it is on.
    pub(crate) fn cache(&self) -> Option<&SessionCache> {
        self.cache.as_ref()
    }

    /// Whether PostgreSQL answers (readiness).
    pub(crate) async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map(drop)
    }
}

/// Every statement, qualified with the schema.
struct Statements {
    authenticate: String,
    touch: String,
    drop_dead: String,
    list: String,
    revoke: String,
    revoke_others: String,
    revoke_all: String,
    end: String,
    create_session: String,
    lock_account: &'static str,
    find_account: String,
    user_with_email: String,
    create_user: String,
    refresh_profile: String,
    upsert_account: String,
    end_previous: String,
    end_oldest: String,
    admin_users: String,
    admin_user: String,
    remember_logout_token: String,
    end_by_sid: String,
    end_by_sub: String,
    read_tokens: String,
    take_lease: String,
    save_refresh: String,
    release_lease: String,
    revoked_at: String,
    recent_events: String,
    #[cfg(feature = "pages")]
    take_notice: String,
}

impl Statements {
    fn new(schema: &Schema) -> Statements {
        Statements {
            authenticate: schema.qualify(sessions::AUTHENTICATE),
            touch: schema.qualify(sessions::TOUCH),
            drop_dead: schema.qualify(sessions::DROP_DEAD),
            list: schema.qualify(sessions::LIST),
            revoke: schema.qualify(&sessions::remembering_revoked(sessions::REVOKE)),
            revoke_others: schema.qualify(&sessions::remembering_revoked(sessions::REVOKE_OTHERS)),
            revoke_all: schema.qualify(&sessions::remembering_revoked(sessions::REVOKE_ALL)),
            end: schema.qualify(&sessions::remembering_revoked(sessions::END)),
            revoked_at: schema.qualify(sessions::REVOKED_AT),
            create_session: schema.qualify(sessions::CREATE),
            lock_account: users::LOCK_ACCOUNT,
            find_account: schema.qualify(users::FIND_ACCOUNT),
            user_with_email: schema.qualify(users::USER_WITH_EMAIL),
            create_user: schema.qualify(users::CREATE_USER),
            refresh_profile: schema.qualify(users::REFRESH_PROFILE),
            upsert_account: schema.qualify(users::UPSERT_ACCOUNT),
            end_previous: schema.qualify(users::END_PREVIOUS),
            end_oldest: schema.qualify(users::END_OLDEST),
            admin_users: schema.qualify(admin::USERS),
            admin_user: schema.qualify(admin::USER),
            remember_logout_token: schema.qualify(logout_tokens::REMEMBER),
            end_by_sid: schema.qualify(&logout_tokens::logging_per_user(logout_tokens::END_BY_SID)),
            end_by_sub: schema.qualify(&logout_tokens::logging_per_user(logout_tokens::END_BY_SUB)),
            read_tokens: schema.qualify(tokens::READ_TOKENS),
            take_lease: schema.qualify(tokens::TAKE_LEASE),
            save_refresh: schema.qualify(tokens::SAVE_REFRESH),
            release_lease: schema.qualify(tokens::RELEASE_LEASE),
            recent_events: schema.qualify(events::RECENT),
            #[cfg(feature = "pages")]
            take_notice: schema.qualify(events::TAKE_NOTICE),
        }
    }
}
