//! The data: people and sessions made in SQL with generate_series, and the cookies that
//! open them. Session n's cookie is `public.bench_token(n)`, the base64url (unpadded)
//! SHA-256 of 'bench-' || n: 43 characters, what latchkey accepts as a session token,
//! and its stored hash is the SHA-256 of that text, as the app stores it.

use sqlx::PgPool;

use crate::database::qualified;
use crate::error::{Context, Result};

/// The person whose sessions page is measured (and whose cookie `--compare` sends).
pub const PAGE_PERSON_NAME: &str = "Bench Page User";
pub const PAGE_PERSON_EMAIL: &str = "bench-page-user@example.com";
/// Session numbers of the person whose sessions page is measured start above this, far
/// from any size the table is seeded to.
const PAGE_PERSON_FIRST: i64 = 1_000_000_000_000;
/// Session numbers of the person whose sessions are revoked for the revocation delay
/// start above this.
const REVOKED_PERSON_FIRST: i64 = 2_000_000_000_000;
/// Sessions go in by statements of at most this many rows.
const CHUNK: i64 = 1_000_000;

/// The cookie of a seeded session; the bench's only function, in `public` (latchkey's
/// schema holds latchkey's tables only).
const TOKEN_FUNCTION: &str = r#"
CREATE FUNCTION public.bench_token(n bigint) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT rtrim(translate(encode(sha256(convert_to('bench-' || n, 'UTF8')), 'base64'), '+/', '-_'), '=') $$"#;

/// The SQL expression of session `n`'s stored token hash (`n` an SQL expression).
pub fn token_hash_sql(n: &str) -> String {
    format!("sha256(convert_to(public.bench_token({n}), 'UTF8'))")
}

pub async fn create_token_function(db: &PgPool) -> Result<()> {
    sqlx::raw_sql(TOKEN_FUNCTION).execute(db).await.context("creating bench_token()")?;
    Ok(())
}

/// People 0..users (`bench-user-<k>@example.com`, id md5('bench-user-<k>')) and the
/// person whose sessions page is measured.
pub async fn people(db: &PgPool, users: u64) -> Result<()> {
    sqlx::query(&qualified(
        "INSERT INTO {schema}.users (id, name, email, email_verified, created_at, updated_at)
         SELECT md5('bench-user-' || k)::uuid, 'Bench User ' || k, 'bench-user-' || k || '@example.com',
                now() - interval '100 days', now() - interval '100 days', now() - interval '100 days'
           FROM generate_series(0, $1 - 1) AS k",
    ))
    .bind(count(users)?)
    .execute(db)
    .await
    .context("seeding people")?;
    sqlx::query(&qualified(
        "INSERT INTO {schema}.users (id, name, email, email_verified)
         VALUES (md5('bench-page-user')::uuid, $1, $2, now())",
    ))
    .bind(PAGE_PERSON_NAME)
    .bind(PAGE_PERSON_EMAIL)
    .execute(db)
    .await
    .context("seeding the page person")?;
    Ok(())
}

/// Sessions `first..=last`, belonging to person n % users. Live rows were extended within
/// the last 22 h (no extension is due) and last seen then (the activity stamp is due: the
/// warm-up of each run writes it once per cookie, as real traffic does). With `expired`,
/// every even n has expired instead.
pub async fn sessions(db: &PgPool, first: u64, last: u64, users: u64, expired: bool) -> Result<()> {
    let statement = qualified(
        "INSERT INTO {schema}.sessions (token_hash, user_id, expires_at, absolute_expires_at, created_at,
                                        last_seen_at, user_agent, ip, provider, idp_sid)
         SELECT sha256(convert_to(public.bench_token(n), 'UTF8')),
                md5('bench-user-' || (n % $3))::uuid,
                e.extended + interval '30 days',
                e.extended - make_interval(days => (n % 50)::int) + interval '90 days',
                e.extended - make_interval(days => (n % 50)::int),
                e.extended,
                (ARRAY['Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
                       'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1',
                       'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0',
                       'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15'])[n % 4 + 1],
                ('10.' || (n >> 16) % 256 || '.' || (n >> 8) % 256 || '.' || n % 256)::inet,
                'keycloak',
                md5('sid-' || n)::uuid::text
           FROM generate_series($1, $2) AS n
          CROSS JOIN LATERAL (
                SELECT now() - make_interval(secs => (n * 7919) % 80000)
                       - CASE WHEN $4 AND n % 2 = 0 THEN interval '30 days 1 minute'
                              ELSE interval '0' END AS extended) AS e",
    );
    let (first, last, users) = (count(first)?, count(last)?, count(users)?);
    let mut from = first;
    while from <= last {
        let to = (from + CHUNK - 1).min(last);
        sqlx::query(&statement)
            .bind(from)
            .bind(to)
            .bind(users)
            .bind(expired)
            .execute(db)
            .await
            .with_context(|| format!("seeding sessions {from} to {to}"))?;
        from = to + 1;
    }
    Ok(())
}

/// The page person's sessions, numbered from PAGE_PERSON_FIRST + 1.
pub async fn page_person(db: &PgPool, sessions: u64) -> Result<()> {
    sqlx::query(&qualified(
        "INSERT INTO {schema}.sessions (token_hash, user_id, expires_at, absolute_expires_at, created_at,
                                        last_seen_at, user_agent, ip, provider, idp_sid)
         SELECT sha256(convert_to(public.bench_token(n), 'UTF8')), md5('bench-page-user')::uuid,
                now() + interval '30 days' - make_interval(secs => n % 80000),
                now() + interval '60 days', now() - interval '30 days',
                now() - make_interval(secs => n % 80000),
                (ARRAY['Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
                       'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1',
                       'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0'])[n % 3 + 1],
                ('192.0.2.' || n % 250)::inet, 'keycloak', md5('sid-' || n)::uuid::text
           FROM generate_series($1 + 1, $1 + $2) AS n",
    ))
    .bind(PAGE_PERSON_FIRST)
    .bind(count(sessions)?)
    .execute(db)
    .await
    .context("seeding the page person's sessions")?;
    Ok(())
}

/// The revocation delay's person and their `sessions` sessions, numbered from
/// REVOKED_PERSON_FIRST + 1: just extended and just seen, so that no request writes to
/// them (a write would announce a change, and empty the caches, by itself).
pub async fn revoked_person(db: &PgPool, sessions: u64) -> Result<()> {
    sqlx::query(&qualified(
        "INSERT INTO {schema}.users (id, name, email, email_verified)
         VALUES (md5('bench-revoked-user')::uuid, 'Bench Revoked User', 'bench-revoked-user@example.com', now())",
    ))
    .execute(db)
    .await
    .context("seeding the revocation delay's person")?;
    sqlx::query(&qualified(
        "INSERT INTO {schema}.sessions (token_hash, user_id, expires_at, absolute_expires_at, created_at,
                                        last_seen_at, user_agent, ip, provider, idp_sid)
         SELECT sha256(convert_to(public.bench_token(n), 'UTF8')), md5('bench-revoked-user')::uuid,
                now() + interval '30 days', now() + interval '60 days', now(), now(),
                'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0',
                ('198.51.100.' || n % 250)::inet, 'keycloak', md5('sid-' || n)::uuid::text
           FROM generate_series($1 + 1, $1 + $2) AS n",
    ))
    .bind(REVOKED_PERSON_FIRST)
    .bind(count(sessions)?)
    .execute(db)
    .await
    .context("seeding the revocation delay's sessions")?;
    Ok(())
}

/// The revocation delay person's sessions as (cookie, session id), in the order seeded.
pub async fn revoked_person_sessions(db: &PgPool, sessions: u64) -> Result<Vec<(String, String)>> {
    let rows: Vec<(String, String)> = sqlx::query_as(&qualified(
        "SELECT public.bench_token(n), s.id::text
           FROM generate_series($1 + 1, $1 + $2) AS n
           JOIN {schema}.sessions s ON s.token_hash = sha256(convert_to(public.bench_token(n), 'UTF8'))
          ORDER BY n",
    ))
    .bind(REVOKED_PERSON_FIRST)
    .bind(count(sessions)?)
    .fetch_all(db)
    .await
    .context("listing the revocation delay's sessions")?;
    if rows.len() as u64 != sessions {
        crate::error::bail!("found {} of the revocation delay's {sessions} sessions", rows.len());
    }
    Ok(rows)
}

pub async fn delete_all_sessions(db: &PgPool) -> Result<()> {
    sqlx::raw_sql(&qualified("TRUNCATE {schema}.sessions")).execute(db).await.context("emptying sessions")?;
    Ok(())
}

/// (expired, all) sessions in the table.
pub async fn session_counts(db: &PgPool) -> Result<(i64, i64)> {
    sqlx::query_as(&qualified("SELECT count(*) FILTER (WHERE expires_at <= now()), count(*) FROM {schema}.sessions"))
        .fetch_one(db)
        .await
        .context("counting sessions")
}

/// Sessions 1..=last as seen just now, so that no request writes to them for the next
/// activity interval (run while no app listens: the trigger's notices go nowhere).
pub async fn mark_seen(db: &PgPool, last: u64) -> Result<()> {
    sqlx::query(&qualified(
        "UPDATE {schema}.sessions SET last_seen_at = now()
          WHERE token_hash IN (SELECT sha256(convert_to(public.bench_token(n), 'UTF8')) FROM generate_series(1, $1) AS n)",
    ))
    .bind(count(last)?)
    .execute(db)
    .await
    .context("marking sessions as seen")?;
    Ok(())
}

/// `tokens` cookies spread evenly over sessions 1..=size (all live), or all of them when
/// there are fewer.
pub async fn cookies_spread(db: &PgPool, size: u64, tokens: u64) -> Result<Vec<String>> {
    let k = tokens.min(size);
    cookies(db, "SELECT public.bench_token(1 + i * $1 / $2) FROM generate_series(0, $2 - 1) AS i", size, k).await
}

/// `tokens` cookies over the live (odd) sessions of 1..=2 * live.
pub async fn cookies_live_odd(db: &PgPool, live: u64, tokens: u64) -> Result<Vec<String>> {
    let k = tokens.min(live);
    cookies(db, "SELECT public.bench_token(2 * (i * $1 / $2) + 1) FROM generate_series(0, $2 - 1) AS i", live, k).await
}

/// Every cookie of the page person.
pub async fn cookies_page_person(db: &PgPool, sessions: u64) -> Result<Vec<String>> {
    sqlx::query_scalar("SELECT public.bench_token($1 + n) FROM generate_series(1, $2) AS n")
        .bind(PAGE_PERSON_FIRST)
        .bind(count(sessions)?)
        .fetch_all(db)
        .await
        .context("listing the page person's cookies")
}

async fn cookies(db: &PgPool, query: &str, range: u64, k: u64) -> Result<Vec<String>> {
    sqlx::query_scalar(query).bind(count(range)?).bind(count(k)?).fetch_all(db).await.context("listing cookies")
}

fn count(n: u64) -> Result<i64> {
    i64::try_from(n).ok().with_context(|| format!("{n} is too large for PostgreSQL's bigint"))
}
