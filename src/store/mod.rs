//! All of latchkey's SQL: the one layer that talks to PostgreSQL. Statements are written
//! with a `{schema}` placeholder and qualified once, when the store is built; what must
//! run in one transaction takes a `Transaction`, never a plain connection.

mod cache;
pub(crate) mod listener;
mod logout_tokens;
mod sessions;
mod sweep;
mod users;

use rocket_db_pools::sqlx::{self, PgPool};

use crate::config::SessionConfig;
use crate::db::Schema;

pub(crate) use cache::SessionCache;
pub(crate) use logout_tokens::{LogoutScope, LogoutToken};
pub(crate) use sessions::{CurrentSession, EndedSession, ListPage, NewSession, SessionListing, SessionPage};
pub use sweep::{sweep_once, SweepReport};
pub(crate) use users::{AccountTokens, NewSignIn, SignInOutcome};

/// The pool, the schema's statements and the session lifetimes they compute with.
pub(crate) struct Store {
    pool: PgPool,
    lifetimes: Lifetimes,
    max_per_user: u32,
    sql: Statements,
    /// Resolved sessions, when `auth.session.cache` is on.
    cache: Option<SessionCache>,
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
        Store { pool, lifetimes, max_per_user: session.max_per_user, sql: Statements::new(schema), cache }
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
    remember_logout_token: String,
    end_by_sid: String,
    end_by_sub: String,
}

impl Statements {
    fn new(schema: &Schema) -> Statements {
        Statements {
            authenticate: schema.qualify(sessions::AUTHENTICATE),
            touch: schema.qualify(sessions::TOUCH),
            drop_dead: schema.qualify(sessions::DROP_DEAD),
            list: schema.qualify(sessions::LIST),
            revoke: schema.qualify(sessions::REVOKE),
            revoke_others: schema.qualify(sessions::REVOKE_OTHERS),
            revoke_all: schema.qualify(sessions::REVOKE_ALL),
            end: schema.qualify(sessions::END),
            create_session: schema.qualify(sessions::CREATE),
            lock_account: users::LOCK_ACCOUNT,
            find_account: schema.qualify(users::FIND_ACCOUNT),
            user_with_email: schema.qualify(users::USER_WITH_EMAIL),
            create_user: schema.qualify(users::CREATE_USER),
            refresh_profile: schema.qualify(users::REFRESH_PROFILE),
            upsert_account: schema.qualify(users::UPSERT_ACCOUNT),
            end_previous: schema.qualify(users::END_PREVIOUS),
            end_oldest: schema.qualify(users::END_OLDEST),
            remember_logout_token: schema.qualify(logout_tokens::REMEMBER),
            end_by_sid: schema.qualify(logout_tokens::END_BY_SID),
            end_by_sub: schema.qualify(logout_tokens::END_BY_SUB),
        }
    }
}
