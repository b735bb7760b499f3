//! Session rows: the one-statement lookup every guarded request makes, the listing of a
//! person's sessions, revocation, and the insert at sign-in.

use std::net::IpAddr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rocket_db_pools::sqlx::types::Json;
use rocket_db_pools::sqlx::{self, PgConnection, PgPool, Row};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::cache::{CachedSession, SessionCache};
use super::{Actor, EventKind, Store};
use crate::db::Schema;
use crate::roles::Roles;
use crate::session::SessionToken;

/// The hot path: a plain indexed read of the session and its user. Whether the
/// extension or the activity stamp is due is decided from what it returns (on the
/// database's clock, shared by every instance); only then does [`TOUCH`] write.
pub(super) const AUTHENTICATE: &str = "
    SELECT s.id, s.user_id, s.provider, s.created_at, s.expires_at, s.absolute_expires_at, s.last_seen_at,
           s.realm_roles, s.client_roles, s.groups, s.access_token, s.access_expires_at, s.idp_checked_at,
           s.refresh_token IS NOT NULL AS refreshable, s.auth_time, s.new_device_notice,
           s.expires_at > now() AS live,
           s.expires_at < s.absolute_expires_at
             AND s.expires_at - make_interval(secs => $2) + make_interval(secs => $3) <= now() AS extension_due,
           s.last_seen_at + make_interval(secs => $4) <= now() AS stamp_due,
           u.name, u.email, u.image, u.extra
      FROM {schema}.sessions s
      JOIN {schema}.users u ON u.id = s.user_id
     WHERE s.token_hash = $1";

/// Sessions not expired, for the live-sessions gauge (counted periodically, never per
/// request or scrape).
const COUNT_LIVE: &str = "SELECT count(*) FROM {schema}.sessions WHERE expires_at > now()";

/// How many sessions in `schema` are live right now: for a task of its own, beside the
/// store's requests.
pub(crate) async fn count_live_sessions(pool: &PgPool, schema: &Schema) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(&schema.qualify(COUNT_LIVE)).fetch_one(pool).await
}

/// The extension (when `$2`) and the activity stamp, written only if nobody wrote them
/// since the read (`last_seen_at` unchanged): of many requests due at once, one writes.
pub(super) const TOUCH: &str = "
    UPDATE {schema}.sessions
       SET expires_at = CASE WHEN $2 THEN LEAST(now() + make_interval(secs => $4), absolute_expires_at)
                             ELSE expires_at END,
           last_seen_at = now()
     WHERE id = $1 AND last_seen_at = $3
 RETURNING expires_at, last_seen_at";

/// A session found dead on a request: tidied at once rather than at the next sweep.
pub(super) const DROP_DEAD: &str = "DELETE FROM {schema}.sessions WHERE id = $1 AND expires_at <= now()";

pub(super) const LIST: &str = "
    SELECT id, created_at, last_seen_at, expires_at, user_agent, host(ip) AS ip, provider,
           count(*) OVER () AS total
      FROM {schema}.sessions
     WHERE user_id = $1 AND expires_at > now()
     ORDER BY id = $2 DESC, last_seen_at DESC, created_at DESC, id
     LIMIT $3 OFFSET $4";

/// Every statement that ends sessions on a person's (or an admin's) word also notes
/// their provider sessions as revoked ([`REMEMBER_REVOKED`] after the `gone` rows), in the
/// same statement; `$3` is how long to remember them. And each records its security
/// event in the same statement (`logged`): who acted (`$4`, an admin or NULL for the
/// person) and from where (`$5` device label, `$6` address). A revocation that found
/// nothing to revoke of one session records nothing; "all others" and "everywhere" are
/// recorded whatever they found, with how many.
pub(super) const REVOKE: &str = "
    WITH gone AS (DELETE FROM {schema}.sessions WHERE id = $1 AND user_id = $2 RETURNING provider, idp_sid, auth_time)
    {remember_revoked},
    logged AS (
        INSERT INTO {schema}.security_events (user_id, kind, session_id, admin_id, provider, device, ip)
        SELECT $2, 'revoke_one', $1, $4, provider, $5, $6::inet FROM gone)
    SELECT provider, idp_sid FROM gone";

pub(super) const REVOKE_OTHERS: &str = "
    WITH gone AS (DELETE FROM {schema}.sessions WHERE user_id = $1 AND id <> $2 RETURNING provider, idp_sid, auth_time)
    {remember_revoked},
    logged AS (
        INSERT INTO {schema}.security_events (user_id, kind, admin_id, device, ip, sessions)
        SELECT $1, 'revoke_others', $4, $5, $6::inet, count(*) FROM gone)
    SELECT provider, idp_sid FROM gone";

/// Every session of the user; a row per session, the current one (`$2`) with its ID
/// token (for the provider's logout).
pub(super) const REVOKE_ALL: &str = "
    WITH gone AS (DELETE FROM {schema}.sessions WHERE user_id = $1 RETURNING id, provider, idp_sid, id_token, auth_time)
    {remember_revoked},
    logged AS (
        INSERT INTO {schema}.security_events (user_id, kind, admin_id, device, ip, sessions)
        SELECT $1, 'revoke_everywhere', $4, $5, $6::inet, count(*) FROM gone)
    SELECT provider, idp_sid, id = $2 AS current, CASE WHEN id = $2 THEN id_token END AS id_token FROM gone";

/// One session, whoever's it is; the event's kind is `$4` (a sign-out, a refresh
/// refused, an admin's revocation of their own current session), `$5`–`$7` who and from
/// where. (`$2` is not used: the noting of revoked provider sessions keeps its `$3`.)
pub(super) const END: &str = "
    WITH gone AS (DELETE FROM {schema}.sessions WHERE id = $1 RETURNING user_id, provider, idp_sid, id_token, auth_time)
    {remember_revoked},
    logged AS (
        INSERT INTO {schema}.security_events (user_id, kind, session_id, admin_id, provider, device, ip)
        SELECT user_id, $4, $1, $5, provider, $6, $7::inet FROM gone)
    SELECT provider, idp_sid, id_token FROM gone";

/// The part of the statements above that notes the ended provider sessions.
const REMEMBER_REVOKED: &str = ",
    noted AS (
        INSERT INTO {schema}.revoked_idp_sessions (provider, idp_sid, auth_time, expires_at)
        SELECT provider, idp_sid, max(auth_time), now() + make_interval(secs => $3)
          FROM gone WHERE idp_sid IS NOT NULL GROUP BY provider, idp_sid
        ON CONFLICT (provider, idp_sid) DO UPDATE
           SET revoked_at = now(), expires_at = EXCLUDED.expires_at,
               auth_time = GREATEST(revoked_idp_sessions.auth_time, EXCLUDED.auth_time))";

/// When the provider session `$2` at `$1` was revoked and the authentication its revoked
/// sessions rested on, if it was revoked (and is remembered).
pub(super) const REVOKED_AT: &str = "
    SELECT revoked_at, auth_time FROM {schema}.revoked_idp_sessions
     WHERE provider = $1 AND idp_sid = $2 AND expires_at > now()";

/// `statement` with the noting of revoked provider sessions in its place.
pub(super) fn remembering_revoked(statement: &str) -> String {
    statement.replace("{remember_revoked}", REMEMBER_REVOKED)
}

/// The new session and its sign-in event (device label `$18`), in one statement.
///
/// Whether it is a new device is decided from the user's earlier sign-in events (the
/// statement's snapshot, before its own): new when the user signed in before and never
/// from a device with this label. A user's first sign-in is not: there is nothing to
/// compare it with, and a notice "new sign-in from Firefox on Linux" on the very first
/// visit would only teach people to ignore it. The same holds for a user whose earlier
/// events have all been swept (`auth.security_events.retention`), and a device unused
/// for longer than that counts as new again.
pub(super) const CREATE: &str = "
    WITH seen AS (
        SELECT EXISTS (SELECT 1 FROM {schema}.security_events WHERE user_id = $2 AND kind = 'sign_in') AS before,
               EXISTS (SELECT 1 FROM {schema}.security_events
                        WHERE user_id = $2 AND kind = 'sign_in' AND device = $18) AS here),
    created AS (
        INSERT INTO {schema}.sessions (token_hash, user_id, expires_at, absolute_expires_at, user_agent, ip,
                                       provider, idp_sid, id_token, realm_roles, client_roles, groups,
                                       idp_subject, access_token, access_expires_at, refresh_token, auth_time,
                                       new_device_notice)
        SELECT $1, $2, now() + make_interval(secs => $3), now() + make_interval(secs => $4), $5, $6::inet,
               $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, seen.before AND NOT seen.here
          FROM seen
        RETURNING id, user_id, provider, ip, new_device_notice),
    logged AS (
        INSERT INTO {schema}.security_events (user_id, kind, session_id, provider, device, ip, new_device)
        SELECT user_id, 'sign_in', id, provider, $18, ip, new_device_notice FROM created)
    SELECT id, new_device_notice AS new_device FROM created";

/// Longest user agent kept; browsers send far less, and the column must stay small.
const USER_AGENT_MAX: usize = 512;

/// A live session and its user, as one cookie resolves to.
#[derive(Debug, Clone)]
pub(crate) struct CurrentSession {
    pub session_id: Uuid,
    pub user_id: Uuid,
    pub provider: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub absolute_expires_at: DateTime<Utc>,
    /// Whether this request moved `expires_at` (then the cookie's Max-Age is refreshed).
    pub extended: bool,
    pub name: Option<String>,
    pub email: Option<String>,
    pub image: Option<String>,
    pub extra: Map<String, Value>,
    pub roles: Roles,
    pub tokens: TokenState,
    pub auth_time: Option<DateTime<Utc>>,
    /// Signed in from a new device, and the notice not yet shown.
    pub new_device_notice: bool,
}

/// What a session holds of the provider's tokens, as far as a request needs to know
/// without another statement: the sealed access token and when it and the provider's
/// last word on the session expire or happened.
#[derive(Debug, Clone, Default)]
pub(crate) struct TokenState {
    /// Sealed for `sessions.access_token`.
    pub sealed_access_token: Option<Arc<str>>,
    pub access_expires_at: Option<DateTime<Utc>>,
    /// When the provider last confirmed the session: its sign-in or a refresh.
    pub idp_checked_at: Option<DateTime<Utc>>,
    /// Whether it holds a refresh token.
    pub refreshable: bool,
}

/// A session to insert at sign-in (its tokens already sealed).
pub(crate) struct NewSession<'a> {
    pub provider: &'a str,
    /// The person's `sub` at the provider.
    pub subject: &'a str,
    pub idp_sid: Option<&'a str>,
    pub sealed_id_token: Option<String>,
    pub sealed_access_token: Option<String>,
    pub access_expires_at: Option<DateTime<Utc>>,
    pub sealed_refresh_token: Option<String>,
    /// When the person last authenticated at the provider (the ID token's `auth_time`).
    pub auth_time: Option<DateTime<Utc>>,
    pub user_agent: Option<&'a str>,
    pub ip: Option<IpAddr>,
    pub roles: &'a Roles,
}

/// One row of the sessions page.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct SessionListing {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    pub provider: String,
    /// The user's live sessions in all, on every row (a window count).
    pub total: i64,
}

/// Which page of a person's sessions to list; pages keep any one response small however
/// many sessions a person has piled up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ListPage(u32);

impl ListPage {
    /// Sessions per page.
    pub const SIZE: u32 = 50;
    /// Far beyond any real number of sessions; keeps the offset arithmetic small.
    pub const LAST: u32 = 100_000;

    pub const FIRST: ListPage = ListPage(1);

    /// `?page=` as given: a whole number from 1; absent means the first page.
    pub fn parse(text: Option<&str>) -> Option<ListPage> {
        match text {
            None => Some(ListPage::FIRST),
            Some(text) => text.parse::<u32>().ok().filter(|n| (1..=ListPage::LAST).contains(n)).map(ListPage),
        }
    }

    pub fn number(self) -> u32 {
        self.0
    }

    pub(super) fn offset(self) -> i64 {
        i64::from(self.0 - 1) * i64::from(ListPage::SIZE)
    }

    /// How many pages `total` sessions fill (at least one: the page that says "none").
    pub fn count(total: u64) -> u64 {
        total.div_ceil(u64::from(ListPage::SIZE)).max(1)
    }
}

/// One page of sessions and how many there are in all.
#[derive(Debug)]
pub(crate) struct SessionPage {
    pub rows: Vec<SessionListing>,
    pub total: u64,
}

/// A session that was just deleted: enough to end the provider's session too.
#[derive(Debug, Clone)]
pub(crate) struct EndedSession {
    pub provider: String,
    /// As stored: sealed.
    pub sealed_id_token: Option<String>,
}

/// A provider session whose latchkey session was revoked: its `sid` at `provider`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IdpSession {
    pub provider: String,
    pub sid: String,
}

/// The provider sessions of the rows a revocation returned (`provider`, `idp_sid`).
fn idp_sessions<'r>(rows: impl IntoIterator<Item = &'r sqlx::postgres::PgRow>) -> Result<Vec<IdpSession>, sqlx::Error> {
    let mut sessions = Vec::new();
    for row in rows {
        if let Some(sid) = row.try_get::<Option<String>, _>("idp_sid")? {
            sessions.push(IdpSession { provider: row.try_get("provider")?, sid });
        }
    }
    Ok(sessions)
}

impl Store {
    /// Resolves a cookie token: from the cache when it holds the session (no statement),
    /// else one read; a second statement only when the extension or the activity stamp is
    /// due (or the session is found dead).
    pub(crate) async fn authenticate(&self, token: &SessionToken) -> Result<Option<CurrentSession>, sqlx::Error> {
        let hash = token.hash();
        let Some(cache) = &self.cache else { return Ok(self.read(&hash).await?.map(|(session, _)| session)) };
        if let Some(cached) = cache.get(&hash) {
            return self.judge_cached(cache, &hash, &cached).await;
        }
        let seen = cache.generation();
        let Some((session, last_seen_at)) = self.read(&hash).await? else { return Ok(None) };
        // What this request wrote is announced too, and the notice may come first: the
        // generation check then keeps the row out, to be read again.
        cache.insert(
            hash,
            CachedSession { session: CurrentSession { extended: false, ..session.clone() }, last_seen_at },
            seen,
        );
        Ok(Some(session))
    }

    /// A cached session, judged on this instance's clock as the read would judge it on the
    /// database's: dead, due for a write, or served as it is.
    async fn judge_cached(
        &self,
        cache: &SessionCache,
        hash: &[u8; 32],
        cached: &CachedSession,
    ) -> Result<Option<CurrentSession>, sqlx::Error> {
        let now = Utc::now();
        let session = &cached.session;
        if session.expires_at <= now {
            cache.forget(hash);
            sqlx::query(&self.sql.drop_dead).bind(session.session_id).execute(&self.pool).await?;
            return Ok(None);
        }
        let extension_due = session.expires_at < session.absolute_expires_at
            && session.expires_at - self.lifetimes.max_age_chrono + self.lifetimes.update_age_chrono <= now;
        let stamp_due = cached.last_seen_at + self.lifetimes.activity_interval_chrono <= now;
        let mut session = session.clone();
        if extension_due || stamp_due {
            // The write is announced, which drops this entry everywhere.
            match self.touch(session.session_id, extension_due, cached.last_seen_at).await? {
                Some((expires_at, _)) if extension_due => {
                    session.extended = expires_at != session.expires_at;
                    session.expires_at = expires_at;
                }
                Some(_) => {}
                // Someone wrote since this entry was read (so it is out of date, and no
                // notice of this request's will drop it): read afresh next time.
                None => cache.forget(hash),
            }
        }
        Ok(Some(session))
    }

    /// The read of the hot path, with the write it calls for: the live session and when it
    /// was last stamped, or `None` (unknown, or dead and deleted just now).
    async fn read(&self, hash: &[u8; 32]) -> Result<Option<(CurrentSession, DateTime<Utc>)>, sqlx::Error> {
        let row = sqlx::query(&self.sql.authenticate)
            .bind(hash.as_slice())
            .bind(self.lifetimes.max_age)
            .bind(self.lifetimes.update_age)
            .bind(self.lifetimes.activity_interval)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let session_id: Uuid = row.try_get("id")?;
        if !row.try_get::<bool, _>("live")? {
            sqlx::query(&self.sql.drop_dead).bind(session_id).execute(&self.pool).await?;
            return Ok(None);
        }
        let Json(extra) = row.try_get::<Json<Map<String, Value>>, _>("extra")?;
        let mut session = CurrentSession {
            session_id,
            user_id: row.try_get("user_id")?,
            provider: row.try_get("provider")?,
            created_at: row.try_get("created_at")?,
            expires_at: row.try_get("expires_at")?,
            absolute_expires_at: row.try_get("absolute_expires_at")?,
            extended: false,
            name: row.try_get("name")?,
            email: row.try_get("email")?,
            image: row.try_get("image")?,
            extra,
            roles: Roles {
                realm: row.try_get("realm_roles")?,
                client: row.try_get("client_roles")?,
                groups: row.try_get("groups")?,
            },
            tokens: TokenState {
                sealed_access_token: row.try_get::<Option<String>, _>("access_token")?.map(Arc::from),
                access_expires_at: row.try_get("access_expires_at")?,
                idp_checked_at: Some(row.try_get("idp_checked_at")?),
                refreshable: row.try_get("refreshable")?,
            },
            auth_time: row.try_get("auth_time")?,
            new_device_notice: row.try_get("new_device_notice")?,
        };
        let mut last_seen_at: DateTime<Utc> = row.try_get("last_seen_at")?;
        let extension_due: bool = row.try_get("extension_due")?;
        if extension_due || row.try_get::<bool, _>("stamp_due")? {
            if let Some((expires_at, stamped_at)) = self.touch(session_id, extension_due, last_seen_at).await? {
                // The database's clock, which the next stamp's condition compares with.
                last_seen_at = stamped_at;
                if extension_due {
                    session.extended = expires_at != session.expires_at;
                    session.expires_at = expires_at;
                }
            }
        }
        Ok(Some((session, last_seen_at)))
    }

    /// Writes the extension (when `extend`) and the activity stamp, unless another
    /// request did since `last_seen_at`: the new expiry and stamp, or `None` when it lost
    /// the race.
    async fn touch(
        &self,
        session_id: Uuid,
        extend: bool,
        last_seen_at: DateTime<Utc>,
    ) -> Result<Option<(DateTime<Utc>, DateTime<Utc>)>, sqlx::Error> {
        sqlx::query_as(&self.sql.touch)
            .bind(session_id)
            .bind(extend)
            .bind(last_seen_at)
            .bind(self.lifetimes.max_age)
            .fetch_optional(&self.pool)
            .await
    }

    /// One page of the user's live sessions: `current` first, then the most recently
    /// active; with the number of live sessions in all, from the same statement.
    pub(crate) async fn list(&self, user_id: Uuid, current: Uuid, page: ListPage) -> Result<SessionPage, sqlx::Error> {
        let rows: Vec<SessionListing> = sqlx::query_as(&self.sql.list)
            .bind(user_id)
            .bind(current)
            .bind(i64::from(ListPage::SIZE))
            .bind(page.offset())
            .fetch_all(&self.pool)
            .await?;
        let total = rows.first().map_or(0, |row| u64::try_from(row.total).unwrap_or_default());
        Ok(SessionPage { rows, total })
    }

    /// Runs one of the revoking statements (`REVOKE`, `REVOKE_OTHERS`, `REVOKE_ALL`): their
    /// two ids, how long to remember the revoked provider sessions, and who revoked them
    /// from where, in that order.
    async fn revoking(
        &self,
        statement: &str,
        first: Uuid,
        second: Uuid,
        by: &Actor,
    ) -> Result<Vec<sqlx::postgres::PgRow>, sqlx::Error> {
        sqlx::query(statement)
            .bind(first)
            .bind(second)
            .bind(self.lifetimes.absolute_max_age)
            .bind(by.admin_id)
            .bind(by.device.as_deref())
            .bind(by.ip_text())
            .fetch_all(&self.pool)
            .await
    }

    /// Deletes one of the user's sessions; false when the id is not theirs (or gone).
    pub(crate) async fn revoke(&self, user_id: Uuid, session_id: Uuid, by: &Actor) -> Result<bool, sqlx::Error> {
        let rows = self.revoking(&self.sql.revoke, session_id, user_id, by).await?;
        self.forget(user_id, move |id| id == session_id);
        self.ended_at_providers(idp_sessions(&rows)?);
        Ok(rows.len() == 1)
    }

    /// Deletes every session of the user but `keep`; returns how many.
    pub(crate) async fn revoke_others(&self, user_id: Uuid, keep: Uuid, by: &Actor) -> Result<u64, sqlx::Error> {
        let rows = self.revoking(&self.sql.revoke_others, user_id, keep, by).await?;
        self.forget(user_id, move |id| id != keep);
        self.ended_at_providers(idp_sessions(&rows)?);
        Ok(u64::try_from(rows.len()).unwrap_or_default())
    }

    /// Deletes every session of the user, this one included; returns how many, and what
    /// ending `current` at its provider needs.
    pub(crate) async fn revoke_all(
        &self,
        user_id: Uuid,
        current: Uuid,
        by: &Actor,
    ) -> Result<(u64, Option<EndedSession>), sqlx::Error> {
        let rows = self.revoking(&self.sql.revoke_all, user_id, current, by).await?;
        self.forget(user_id, |_| true);
        let (mut ended, mut others) = (None, Vec::new());
        for row in &rows {
            if row.try_get("current")? {
                ended = Some(EndedSession {
                    provider: row.try_get("provider")?,
                    sealed_id_token: row.try_get("id_token")?,
                });
            } else {
                others.push(row);
            }
        }
        // The current device's provider session ends through the provider's own logout.
        self.ended_at_providers(idp_sessions(others)?);
        Ok((u64::try_from(rows.len()).unwrap_or_default(), ended))
    }

    /// Deletes one session (sign-out, a refresh the provider refused, an admin's own
    /// session), recorded as `why`; returns what the provider's logout needs, if the
    /// session still existed.
    pub(crate) async fn end(
        &self,
        user_id: Uuid,
        session_id: Uuid,
        why: EventKind,
        by: &Actor,
    ) -> Result<Option<EndedSession>, sqlx::Error> {
        let row = sqlx::query(&self.sql.end)
            .bind(session_id)
            .bind(None::<Uuid>)
            .bind(self.lifetimes.absolute_max_age)
            .bind(why.as_str())
            .bind(by.admin_id)
            .bind(by.device.as_deref())
            .bind(by.ip_text())
            .fetch_optional(&self.pool)
            .await?;
        self.forget(user_id, move |id| id == session_id);
        row.map(|row| {
            Ok(EndedSession { provider: row.try_get("provider")?, sealed_id_token: row.try_get("id_token")? })
        })
        .transpose()
    }

    /// Whether the provider session `sid` of `provider` was revoked here: when, and the
    /// latest authentication its revoked sessions rested on.
    pub(crate) async fn revoked(
        &self,
        provider: &str,
        sid: &str,
    ) -> Result<Option<(DateTime<Utc>, Option<DateTime<Utc>>)>, sqlx::Error> {
        sqlx::query_as(&self.sql.revoked_at).bind(provider).bind(sid).fetch_optional(&self.pool).await
    }

    /// Drops from this instance's cache what it just deleted (other instances hear it).
    pub(super) fn forget(&self, user_id: Uuid, matches: impl Fn(Uuid) -> bool + Send + Sync + 'static) {
        if let Some(cache) = &self.cache {
            cache.forget_where(user_id, matches);
        }
    }

    /// Inserts a session for a fresh token and its sign-in event (inside the sign-in
    /// transaction); returns its id and whether it was signed in from a new device.
    pub(super) async fn create_session(
        &self,
        connection: &mut PgConnection,
        user_id: Uuid,
        token: &SessionToken,
        new: NewSession<'_>,
        device: &str,
    ) -> Result<(Uuid, bool), sqlx::Error> {
        let user_agent = new.user_agent.map(|agent| truncate(agent, USER_AGENT_MAX));
        sqlx::query_as(&self.sql.create_session)
            .bind(token.hash().as_slice())
            .bind(user_id)
            .bind(self.lifetimes.max_age)
            .bind(self.lifetimes.absolute_max_age)
            .bind(user_agent)
            .bind(new.ip.map(|ip| ip.to_string()))
            .bind(new.provider)
            .bind(new.idp_sid)
            .bind(new.sealed_id_token)
            .bind(&new.roles.realm)
            .bind(&new.roles.client)
            .bind(&new.roles.groups)
            .bind(new.subject)
            .bind(new.sealed_access_token)
            .bind(new.access_expires_at)
            .bind(new.sealed_refresh_token)
            .bind(new.auth_time)
            .bind(device)
            .fetch_one(connection)
            .await
    }
}

fn truncate(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}
