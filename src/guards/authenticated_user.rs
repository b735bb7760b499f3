//! `AuthenticatedUser`: the session cookie resolved to a live session and its user.
//!
//! No cookie, or an unknown, expired or revoked one: Forward(401), which the catcher
//! turns into a redirect to sign-in for pages and a 401 JSON for `/api`; a stale cookie
//! is cleared. Database trouble: Error(503), and the cookie is left alone.

use chrono::Utc;
use rocket::http::Status;
use rocket::request::{FromRequest, Outcome, Request};
use rocket_db_pools::Database;

use crate::config::AuthConfig;
use crate::db::AuthDb;
use crate::error::AppError;
use crate::session::store::Lookup;
use crate::session::{cookie, CurrentSession, SessionStore};

#[derive(Debug, Clone)]
pub struct AuthenticatedUser {
    pub session: CurrentSession,
    /// What state-changing requests of this session must carry (see `guards::csrf`).
    pub csrf_token: String,
}

impl AuthenticatedUser {
    /// What every page's header shows of the signed-in person (and the sign-out form's
    /// CSRF token).
    pub fn viewer(&self) -> serde_json::Value {
        serde_json::json!({
            "name": self.name, "email": self.email, "image": self.image, "csrf_token": self.csrf_token,
        })
    }
}

impl std::ops::Deref for AuthenticatedUser {
    type Target = CurrentSession;
    fn deref(&self) -> &CurrentSession {
        &self.session
    }
}

/// The resolution, made once per request however many guards ask.
struct Resolved(Result<Option<AuthenticatedUser>, String>);

/// Set when the request carried a session cookie that no longer names a live session
/// (revoked, expired, or garbage), so that the catcher can repeat the cookie changes
/// (Rocket drops a guard's cookie changes before a catcher runs).
#[derive(Debug, Clone, Copy, Default)]
pub struct StaleSession(pub bool);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for AuthenticatedUser {
    type Error = AppError;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        let Resolved(resolution) = request.local_cache_async(async { Resolved(resolve(request).await) }).await;
        match resolution {
            Ok(Some(user)) => Outcome::Success(user.clone()),
            Ok(None) => Outcome::Forward(Status::Unauthorized),
            Err(reason) => Outcome::Error((Status::ServiceUnavailable, AppError::DbUnavailable(reason.clone()))),
        }
    }
}

async fn resolve(request: &Request<'_>) -> Result<Option<AuthenticatedUser>, String> {
    let (Some(config), Some(db)) = (request.rocket().state::<AuthConfig>(), AuthDb::fetch(request.rocket())) else {
        return Err("latchkey is not fully attached (configuration or pool missing)".into());
    };
    let jar = request.cookies();
    let store = SessionStore::new(db.pool(), &config.session);
    // The last live one wins, as the last cookie of a name does in Rocket's jar; a stale or
    // junk cookie beside it must not sign the person out.
    for token in cookie::candidates(request, config).iter().rev() {
        let lookup = store.authenticate(token).await.map_err(|error| match AppError::from(error) {
            AppError::DbUnavailable(reason) | AppError::Internal(reason) => reason,
            other => other.to_string(),
        })?;
        if let Lookup::Live(session) = lookup {
            if session.extended {
                let left = (session.expires_at - Utc::now()).to_std().unwrap_or_default();
                cookie::set(jar, config, token, left);
            }
            tracing::Span::current().record("user_id", tracing::field::display(session.user_id));
            return Ok(Some(AuthenticatedUser { session: *session, csrf_token: token.csrf_token() }));
        }
    }
    // No live session: a cookie that names none (unknown, expired, junk) is cleared.
    if cookie::present(jar, config) {
        request.local_cache(|| StaleSession(true));
        cookie::clear_stale(jar, config);
    }
    Ok(None)
}
