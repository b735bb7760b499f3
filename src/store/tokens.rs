//! A session's provider tokens: read, leased for one refresh at a time across every
//! instance, and written back. The lease is a row value with a deadline, not a lock: the
//! instance that holds it waits for the provider with no connection taken from the pool,
//! and a lease whose holder died simply runs out.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use rocket_db_pools::sqlx::{self, Row};
use uuid::Uuid;

use super::sessions::TokenState;
use super::Store;
use crate::roles::Roles;

pub(super) const READ_TOKENS: &str = "
    SELECT provider, user_id, access_token, access_expires_at, idp_checked_at,
           refresh_token IS NOT NULL AS refreshable
      FROM {schema}.sessions
     WHERE id = $1 AND expires_at > now()";

/// Takes the refresh lease unless someone holds one that has not run out.
pub(super) const TAKE_LEASE: &str = "
    UPDATE {schema}.sessions
       SET refresh_lease = $2, refresh_lease_until = now() + make_interval(secs => $3)
     WHERE id = $1 AND expires_at > now()
       AND (refresh_lease IS NULL OR refresh_lease_until <= now())
 RETURNING provider, user_id, idp_subject, refresh_token, access_token, access_expires_at, idp_checked_at,
           refresh_token IS NOT NULL AS refreshable";

/// What a refresh brought, written only by the lease's holder; the lease ends with it.
pub(super) const SAVE_REFRESH: &str = "
    UPDATE {schema}.sessions
       SET access_token = $3, access_expires_at = $4, refresh_token = COALESCE($5, refresh_token),
           id_token = COALESCE($6, id_token), realm_roles = COALESCE($7, realm_roles),
           client_roles = COALESCE($8, client_roles), groups = COALESCE($9, groups),
           idp_checked_at = now(), refresh_lease = NULL, refresh_lease_until = NULL
     WHERE id = $1 AND refresh_lease = $2";

pub(super) const RELEASE_LEASE: &str = "
    UPDATE {schema}.sessions SET refresh_lease = NULL, refresh_lease_until = NULL
     WHERE id = $1 AND refresh_lease = $2";

/// A session's tokens as read outside a request's lookup.
#[derive(Debug, Clone)]
pub(crate) struct SessionTokens {
    pub provider: String,
    pub user_id: Uuid,
    pub state: TokenState,
}

/// A session whose refresh lease this instance now holds.
#[derive(Debug, Clone)]
pub(crate) struct Leased {
    pub lease: Uuid,
    pub tokens: SessionTokens,
    pub subject: Option<String>,
    /// Sealed for `sessions.refresh_token`.
    pub sealed_refresh_token: Option<String>,
}

/// What a refresh writes (tokens sealed). `None` keeps what the session has.
pub(crate) struct RefreshedTokens {
    pub sealed_access_token: String,
    pub access_expires_at: Option<DateTime<Utc>>,
    pub sealed_refresh_token: Option<String>,
    pub sealed_id_token: Option<String>,
    pub roles: Option<Roles>,
}

fn tokens(row: &sqlx::postgres::PgRow) -> Result<SessionTokens, sqlx::Error> {
    Ok(SessionTokens {
        provider: row.try_get("provider")?,
        user_id: row.try_get("user_id")?,
        state: TokenState {
            sealed_access_token: row.try_get::<Option<String>, _>("access_token")?.map(Arc::from),
            access_expires_at: row.try_get("access_expires_at")?,
            idp_checked_at: Some(row.try_get("idp_checked_at")?),
            refreshable: row.try_get("refreshable")?,
        },
    })
}

impl Store {
    /// The live session's tokens, or `None` when it is gone.
    pub(crate) async fn session_tokens(&self, session_id: Uuid) -> Result<Option<SessionTokens>, sqlx::Error> {
        let row = sqlx::query(&self.sql.read_tokens).bind(session_id).fetch_optional(&self.pool).await?;
        row.as_ref().map(tokens).transpose()
    }

    /// Takes the session's refresh lease for `seconds`; `None` when another holds it (or
    /// the session is gone: [`session_tokens`](Self::session_tokens) tells which).
    pub(crate) async fn take_refresh_lease(
        &self,
        session_id: Uuid,
        seconds: f64,
    ) -> Result<Option<Leased>, sqlx::Error> {
        let lease = Uuid::new_v4();
        let row = sqlx::query(&self.sql.take_lease)
            .bind(session_id)
            .bind(lease)
            .bind(seconds)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(Leased {
            lease,
            tokens: tokens(&row)?,
            subject: row.try_get("idp_subject")?,
            sealed_refresh_token: row.try_get("refresh_token")?,
        }))
    }

    /// Writes a refresh's tokens and ends the lease; false when the lease was lost (it
    /// ran out and another instance took it, or the session ended meanwhile).
    pub(crate) async fn save_refresh(
        &self,
        session_id: Uuid,
        user_id: Uuid,
        lease: Uuid,
        refreshed: RefreshedTokens,
    ) -> Result<bool, sqlx::Error> {
        let (realm, client, groups) = match refreshed.roles {
            Some(roles) => (Some(roles.realm), Some(roles.client), Some(roles.groups)),
            None => (None, None, None),
        };
        let saved = sqlx::query(&self.sql.save_refresh)
            .bind(session_id)
            .bind(lease)
            .bind(refreshed.sealed_access_token)
            .bind(refreshed.access_expires_at)
            .bind(refreshed.sealed_refresh_token)
            .bind(refreshed.sealed_id_token)
            .bind(realm)
            .bind(client)
            .bind(groups)
            .execute(&self.pool)
            .await?;
        self.forget(user_id, move |id| id == session_id);
        Ok(saved.rows_affected() == 1)
    }

    /// Gives the lease back without a refresh (the provider did not answer).
    pub(crate) async fn release_refresh_lease(&self, session_id: Uuid, lease: Uuid) -> Result<(), sqlx::Error> {
        sqlx::query(&self.sql.release_lease).bind(session_id).bind(lease).execute(&self.pool).await.map(drop)
    }
}
