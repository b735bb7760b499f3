//! Users and their provider accounts: created or refreshed from verified ID token claims
//! inside the sign-in transaction.

use chrono::{DateTime, Utc};
use rocket_db_pools::sqlx::{self, PgConnection};
use uuid::Uuid;

use crate::crypto::TokenCipher;
use crate::error::AppError;

/// Who the IdP says signed in (from a verified ID token).
#[derive(Debug, Clone)]
pub struct Identity {
    pub provider: String,
    pub subject: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub email_verified: bool,
    pub image: Option<String>,
}

/// What the token endpoint handed over, kept on the account row (tokens sealed).
pub struct AccountTokens<'a> {
    pub access_token: &'a str,
    pub refresh_token: Option<&'a str>,
    pub expires_at: Option<DateTime<Utc>>,
    pub token_type: &'a str,
    pub scope: Option<String>,
    pub id_token: &'a str,
    pub session_state: Option<&'a str>,
}

/// Finds or creates the user behind `identity`, refreshes their profile and the account's
/// tokens, and returns the user id. Must run inside a transaction.
pub async fn upsert(
    connection: &mut PgConnection,
    identity: &Identity,
    tokens: &AccountTokens<'_>,
    cipher: &TokenCipher,
    allow_email_linking: bool,
) -> Result<Uuid, AppError> {
    // Two first sign-ins of one person at once must not create two users.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(format!("account {} {}", identity.provider, identity.subject))
        .execute(&mut *connection)
        .await?;

    let existing: Option<Uuid> =
        sqlx::query_scalar("SELECT user_id FROM accounts WHERE provider = $1 AND provider_account_id = $2")
            .bind(&identity.provider)
            .bind(&identity.subject)
            .fetch_optional(&mut *connection)
            .await?;

    let user_id = match existing {
        Some(user_id) => {
            refresh_profile(connection, user_id, identity).await?;
            user_id
        }
        None => match user_with_email(connection, identity.email.as_deref()).await? {
            Some(owner) if identity.email_verified && allow_email_linking => {
                refresh_profile(connection, owner, identity).await?;
                owner
            }
            Some(_) => return Err(AppError::AccountNotLinked),
            None => create_user(connection, identity).await?,
        },
    };

    sqlx::query(
        "INSERT INTO accounts (user_id, type, provider, provider_account_id, refresh_token, access_token,
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
             updated_at = now()",
    )
    .bind(user_id)
    .bind(&identity.provider)
    .bind(&identity.subject)
    .bind(cipher.seal_opt(tokens.refresh_token, "accounts.refresh_token"))
    .bind(cipher.seal(tokens.access_token, "accounts.access_token"))
    .bind(tokens.expires_at)
    .bind(tokens.token_type)
    .bind(tokens.scope.as_deref())
    .bind(cipher.seal(tokens.id_token, "accounts.id_token"))
    .bind(tokens.session_state)
    .execute(&mut *connection)
    .await?;
    Ok(user_id)
}

async fn user_with_email(connection: &mut PgConnection, email: Option<&str>) -> Result<Option<Uuid>, AppError> {
    let Some(email) = email else { return Ok(None) };
    Ok(sqlx::query_scalar("SELECT id FROM users WHERE lower(email) = lower($1)")
        .bind(email)
        .fetch_optional(&mut *connection)
        .await?)
}

async fn create_user(connection: &mut PgConnection, identity: &Identity) -> Result<Uuid, AppError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO users (name, email, email_verified, image)
         VALUES ($1, $2, CASE WHEN $3 THEN now() END, $4)
         RETURNING id",
    )
    .bind(identity.name.as_deref())
    .bind(identity.email.as_deref())
    .bind(identity.email_verified)
    .bind(identity.image.as_deref())
    .fetch_one(&mut *connection)
    .await?)
}

/// Name, picture and e-mail follow the IdP at every sign-in; an e-mail that meanwhile
/// belongs to another user is left as it was rather than failing the sign-in.
async fn refresh_profile(connection: &mut PgConnection, user_id: Uuid, identity: &Identity) -> Result<(), AppError> {
    sqlx::query(
        "UPDATE users u SET
             name = $2,
             image = $4,
             email = CASE WHEN taken.id IS NULL THEN $3 ELSE u.email END,
             email_verified = CASE
                 WHEN taken.id IS NOT NULL THEN u.email_verified
                 WHEN $5 AND lower(u.email) IS NOT DISTINCT FROM lower($3) THEN COALESCE(u.email_verified, now())
                 WHEN $5 THEN now()
             END,
             updated_at = now()
           FROM (SELECT $1::uuid AS me) me
           LEFT JOIN users taken ON lower(taken.email) = lower($3) AND taken.id <> $1
          WHERE u.id = me.me",
    )
    .bind(user_id)
    .bind(identity.name.as_deref())
    .bind(identity.email.as_deref())
    .bind(identity.image.as_deref())
    .bind(identity.email_verified)
    .execute(&mut *connection)
    .await?;
    Ok(())
}
