//! Back-channel logout: a verified logout token is remembered (so that a replay on any
//! instance is refused) and the sessions it names are deleted, in one transaction.

use chrono::{DateTime, Utc};
use rocket_db_pools::sqlx;

use super::Store;

pub(super) const REMEMBER: &str =
    "INSERT INTO {schema}.logout_token_jtis (issuer, jti, expires_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING";

/// A sid names one provider session; with a sub too, it must also be that user's. Each
/// user whose sessions end gets a security event, in the same statement; the answer is
/// how many sessions ended.
pub(super) const END_BY_SID: &str = "
    WITH gone AS (
        DELETE FROM {schema}.sessions s
         WHERE s.provider = $1 AND s.idp_sid = $2
           AND ($3::text IS NULL OR EXISTS (
               SELECT 1 FROM {schema}.accounts a
                WHERE a.user_id = s.user_id AND a.provider = $1 AND a.provider_account_id = $3))
        RETURNING s.user_id)
    {log_per_user}
    SELECT count(*) FROM gone";

/// Only a sub: every session of that user at this provider.
pub(super) const END_BY_SUB: &str = "
    WITH gone AS (
        DELETE FROM {schema}.sessions s USING {schema}.accounts a
         WHERE a.user_id = s.user_id AND a.provider = $1 AND a.provider_account_id = $2 AND s.provider = $1
        RETURNING s.user_id)
    {log_per_user}
    SELECT count(*) FROM gone";

/// The back-channel logout's event for each user whose sessions it ended (`$1` is the
/// provider).
const LOG_PER_USER: &str = ",
    logged AS (
        INSERT INTO {schema}.security_events (user_id, kind, provider, sessions)
        SELECT user_id, 'backchannel_logout', $1, count(*) FROM gone GROUP BY user_id)";

/// `statement` with the back-channel logout's events in their place.
pub(super) fn logging_per_user(statement: &str) -> String {
    statement.replace("{log_per_user}", LOG_PER_USER)
}

/// Which sessions a logout token ends.
pub(crate) enum LogoutScope<'a> {
    /// One provider session, optionally also checked against the user.
    ProviderSession { sid: &'a str, sub: Option<&'a str> },
    /// Every session of the user at the provider.
    User { sub: &'a str },
}

/// A verified logout token, as far as the store is concerned.
pub(crate) struct LogoutToken<'a> {
    pub provider: &'a str,
    pub issuer: &'a str,
    pub jti: &'a str,
    pub expires_at: DateTime<Utc>,
    pub scope: LogoutScope<'a>,
}

impl Store {
    /// Acts on a logout token once: `None` when it was already used (nothing deleted),
    /// otherwise how many sessions it ended.
    pub(crate) async fn backchannel_logout(&self, token: &LogoutToken<'_>) -> Result<Option<u64>, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let fresh = sqlx::query(&self.sql.remember_logout_token)
            .bind(token.issuer)
            .bind(token.jti)
            .bind(token.expires_at)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if fresh == 0 {
            return Ok(None);
        }
        let deleted: i64 = match token.scope {
            LogoutScope::ProviderSession { sid, sub } => {
                sqlx::query_scalar(&self.sql.end_by_sid).bind(token.provider).bind(sid).bind(sub)
            }
            LogoutScope::User { sub } => sqlx::query_scalar(&self.sql.end_by_sub).bind(token.provider).bind(sub),
        }
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        let deleted = u64::try_from(deleted).unwrap_or_default();
        // Which cached sessions those were is the notices' to say; here, all go at once.
        if let (Some(cache), true) = (&self.cache, deleted > 0) {
            cache.clear();
        }
        Ok(Some(deleted))
    }
}
