//! Sign-in's one transaction: the user (found, linked by e-mail, or created) with their
//! profile, the provider account with its sealed tokens, and the new session.

use chrono::{DateTime, Utc};
use rocket_db_pools::sqlx::types::Json;
use rocket_db_pools::sqlx::{self, Acquire, PgConnection, Postgres, Transaction};
use uuid::Uuid;

use super::{NewSession, Store};
use crate::hooks::Profile;
use crate::session::device::Device;
use crate::session::SessionToken;

/// Two first sign-ins of one person at once must not create two users: a lock on the
/// account's key, held until the transaction ends.
pub(super) const LOCK_ACCOUNT: &str = "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))";

pub(super) const FIND_ACCOUNT: &str =
    "SELECT user_id FROM {schema}.accounts WHERE provider = $1 AND provider_account_id = $2";

/// The user who owns a verified address (unverified ones belong to nobody).
pub(super) const USER_WITH_EMAIL: &str =
    "SELECT id FROM {schema}.users WHERE lower(email) = lower($1) AND email_verified IS NOT NULL";

/// A new user; `None` when a verified address was taken meanwhile.
pub(super) const CREATE_USER: &str = "
    INSERT INTO {schema}.users (name, email, email_verified, image, extra)
    VALUES ($1, $2, CASE WHEN $3 THEN now() END, $4, $5)
    ON CONFLICT ((lower(email))) WHERE email_verified IS NOT NULL DO NOTHING
    RETURNING id";

/// Name, picture, e-mail and the app's extra fields follow the provider at every
/// sign-in, but a field the provider left out this time keeps its value; a verified
/// e-mail that meanwhile belongs to another user is left as it was rather than failing
/// the sign-in.
pub(super) const REFRESH_PROFILE: &str = "
    UPDATE {schema}.users u SET
        name = COALESCE($2, u.name),
        image = COALESCE($4, u.image),
        email = CASE WHEN $3 IS NULL OR taken.id IS NOT NULL THEN u.email ELSE $3 END,
        email_verified = CASE
            WHEN $3 IS NULL OR taken.id IS NOT NULL THEN u.email_verified
            WHEN NOT $5 THEN NULL
            WHEN lower(u.email) IS NOT DISTINCT FROM lower($3) THEN COALESCE(u.email_verified, now())
            ELSE now()
        END,
        extra = $6,
        updated_at = now()
      FROM (SELECT $1::uuid AS me) me
      LEFT JOIN {schema}.users taken
        ON $5 AND lower(taken.email) = lower($3) AND taken.email_verified IS NOT NULL AND taken.id <> $1
     WHERE u.id = me.me";

/// The sessions the browser's cookies named before this sign-in: a session that may
/// have leaked does not outlive a new sign-in on its device. Each is recorded for its own
/// user (`replaced`, with the new sign-in's device `$2` and address `$3`).
pub(super) const END_PREVIOUS: &str = "
    WITH gone AS (DELETE FROM {schema}.sessions WHERE token_hash = ANY($1) RETURNING id, user_id, provider),
    logged AS (
        INSERT INTO {schema}.security_events (user_id, kind, session_id, provider, device, ip)
        SELECT user_id, 'replaced', id, provider, $2, $3::inet FROM gone)
    SELECT count(*) FROM gone";

/// The user's oldest sessions beyond the most one person keeps, each recorded
/// (`evicted`, with the new sign-in's device `$3` and address `$4`).
pub(super) const END_OLDEST: &str = "
    WITH gone AS (
        DELETE FROM {schema}.sessions WHERE id IN (
            SELECT id FROM {schema}.sessions WHERE user_id = $1
             ORDER BY created_at DESC, id DESC OFFSET $2)
        RETURNING id, user_id, provider),
    logged AS (
        INSERT INTO {schema}.security_events (user_id, kind, session_id, provider, device, ip)
        SELECT user_id, 'evicted', id, provider, $3, $4::inet FROM gone)
    SELECT count(*) FROM gone";

pub(super) const UPSERT_ACCOUNT: &str = "
    INSERT INTO {schema}.accounts (user_id, type, provider, provider_account_id, refresh_token, access_token,
                                   expires_at, token_type, scope, id_token, session_state)
    VALUES ($1, 'oidc', $2, $3, $4, $5, $6, $7, $8, $9, $10)
    ON CONFLICT (provider, provider_account_id) DO UPDATE SET
        refresh_token = COALESCE(EXCLUDED.refresh_token, accounts.refresh_token),
        access_token = EXCLUDED.access_token,
        expires_at = EXCLUDED.expires_at,
        token_type = EXCLUDED.token_type,
        scope = EXCLUDED.scope,
        id_token = EXCLUDED.id_token,
        session_state = EXCLUDED.session_state,
        updated_at = now()";

/// What the token endpoint handed over, kept on the account row (tokens already sealed).
pub(crate) struct AccountTokens<'a> {
    pub sealed_access_token: String,
    pub sealed_refresh_token: Option<String>,
    pub sealed_id_token: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub token_type: &'a str,
    pub scope: Option<&'a str>,
    pub session_state: Option<&'a str>,
}

/// Everything a finished sign-in writes.
pub(crate) struct NewSignIn<'a> {
    pub provider: &'a str,
    pub subject: &'a str,
    pub profile: &'a Profile,
    /// Link to an existing user with the same, provider-verified e-mail.
    pub allow_email_linking: bool,
    pub tokens: AccountTokens<'a>,
    pub token: &'a SessionToken,
    pub session: NewSession<'a>,
    /// The session cookies the browser brought (their sessions end).
    pub previous: &'a [SessionToken],
}

/// The rows a sign-in wrote.
#[derive(Debug, Clone)]
pub(crate) struct SignedIn {
    pub user_id: Uuid,
    pub session_id: Uuid,
    pub new_user: bool,
    /// The device label its event keeps ("Firefox on Linux").
    pub device: String,
    /// Signed in from a device this user had not signed in from before (see
    /// `sessions::CREATE`): the session carries a notice, and the hooks hear of it.
    pub new_device: bool,
    /// Sessions ended: the browser's previous ones and the user's oldest past the cap.
    pub ended: u64,
}

/// How a sign-in's transaction ended.
#[derive(Debug)]
pub(crate) enum SignInOutcome {
    SignedIn(SignedIn),
    /// The e-mail belongs to another user and may not be linked: nothing was written.
    EmailTaken,
}

impl Store {
    /// Finds or creates the user, refreshes their profile and the account's tokens, and
    /// inserts the session: all or nothing.
    pub(crate) async fn sign_in(&self, new: NewSignIn<'_>) -> Result<SignInOutcome, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let outcome = self.sign_in_within(&mut tx, new).await?;
        if matches!(outcome, SignInOutcome::SignedIn(_)) {
            tx.commit().await?;
        }
        Ok(outcome)
    }

    async fn sign_in_within(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        new: NewSignIn<'_>,
    ) -> Result<SignInOutcome, sqlx::Error> {
        let connection = tx.acquire().await?;
        sqlx::query(self.sql.lock_account)
            .bind(format!("account {} {}", new.provider, new.subject))
            .execute(&mut *connection)
            .await?;
        let existing: Option<Uuid> = sqlx::query_scalar(&self.sql.find_account)
            .bind(new.provider)
            .bind(new.subject)
            .fetch_optional(&mut *connection)
            .await?;
        let (user_id, new_user) = match existing {
            Some(user_id) => {
                self.refresh_profile(connection, user_id, new.profile).await?;
                (user_id, false)
            }
            None => {
                // Only a verified address can lead to a user, and only one that its owner
                // verified too. An unverified address that someone holds is not refused
                // either: that would tell a stranger which addresses have accounts.
                let verified = new.profile.email.as_deref().filter(|_| new.profile.email_verified);
                match self.user_with_email(connection, verified).await? {
                    Some(owner) if new.allow_email_linking => {
                        self.refresh_profile(connection, owner, new.profile).await?;
                        (owner, false)
                    }
                    Some(_) => return Ok(SignInOutcome::EmailTaken),
                    None => match self.create_user(connection, new.profile).await? {
                        Some(user_id) => (user_id, true),
                        None => return Ok(SignInOutcome::EmailTaken),
                    },
                }
            }
        };
        let tokens = &new.tokens;
        sqlx::query(&self.sql.upsert_account)
            .bind(user_id)
            .bind(new.provider)
            .bind(new.subject)
            .bind(tokens.sealed_refresh_token.as_deref())
            .bind(&tokens.sealed_access_token)
            .bind(tokens.expires_at)
            .bind(tokens.token_type)
            .bind(tokens.scope)
            .bind(&tokens.sealed_id_token)
            .bind(tokens.session_state)
            .execute(&mut *connection)
            .await?;
        let previous: Vec<Vec<u8>> = new.previous.iter().map(|token| token.hash().to_vec()).collect();
        let device = Device::of(new.session.user_agent).label;
        let ip = new.session.ip.map(|ip| ip.to_string());
        let replaced: i64 = sqlx::query_scalar(&self.sql.end_previous)
            .bind(previous)
            .bind(&device)
            .bind(&ip)
            .fetch_one(&mut *connection)
            .await?;
        let (session_id, new_device) =
            self.create_session(connection, user_id, new.token, new.session, &device).await?;
        let evicted: i64 = sqlx::query_scalar(&self.sql.end_oldest)
            .bind(user_id)
            .bind(i64::from(self.max_per_user))
            .bind(&device)
            .bind(&ip)
            .fetch_one(&mut *connection)
            .await?;
        let ended = u64::try_from(replaced + evicted).unwrap_or_default();
        Ok(SignInOutcome::SignedIn(SignedIn { user_id, session_id, new_user, device, new_device, ended }))
    }

    async fn user_with_email(
        &self,
        connection: &mut PgConnection,
        email: Option<&str>,
    ) -> Result<Option<Uuid>, sqlx::Error> {
        let Some(email) = email else { return Ok(None) };
        sqlx::query_scalar(&self.sql.user_with_email).bind(email).fetch_optional(connection).await
    }

    async fn create_user(&self, connection: &mut PgConnection, profile: &Profile) -> Result<Option<Uuid>, sqlx::Error> {
        sqlx::query_scalar(&self.sql.create_user)
            .bind(profile.name.as_deref())
            .bind(profile.email.as_deref())
            .bind(profile.email_verified)
            .bind(profile.image.as_deref())
            .bind(Json(&profile.extra))
            .fetch_optional(connection)
            .await
    }

    /// Brings a user's profile up to date from a refresh's claims (never erasing a field
    /// the claims leave out).
    pub(crate) async fn update_profile(&self, user_id: Uuid, profile: &Profile) -> Result<(), sqlx::Error> {
        let mut connection = self.pool.acquire().await?;
        self.refresh_profile(&mut connection, user_id, profile).await
    }

    async fn refresh_profile(
        &self,
        connection: &mut PgConnection,
        user_id: Uuid,
        profile: &Profile,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(&self.sql.refresh_profile)
            .bind(user_id)
            .bind(profile.name.as_deref())
            .bind(profile.email.as_deref())
            .bind(profile.image.as_deref())
            .bind(profile.email_verified)
            .bind(Json(&profile.extra))
            .execute(connection)
            .await
            .map(drop)
    }
}
