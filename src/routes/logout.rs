//! Signing out: `/auth/logout` (a confirm page on GET, the sign-out on POST, which also
//! ends the IdP session) and `/auth/backchannel-logout`, where the IdP tells us that
//! sessions ended on its side.

use rocket::form::Form;
use rocket::http::Header;
use rocket::response::Redirect;
use rocket::serde::json::{json, Json, Value};
use rocket::State;
use rocket_db_pools::sqlx::{self, Acquire};
use rocket_db_pools::Connection;
use rocket_dyn_templates::{context, Template};

use crate::db::AuthDb;
use crate::error::AppError;
use crate::guards::{AuthenticatedUser, CsrfCheck};
use crate::oidc::logout::SignOut;
use crate::oidc::{backchannel, Providers};
use crate::routes::sessions::CsrfForm;
use crate::session::SessionStore;

pub fn routes() -> Vec<rocket::Route> {
    rocket::routes![confirm, confirm_signed_out, sign_out, backchannel_logout]
}

/// GET changes nothing: it asks.
#[rocket::get("/auth/logout")]
fn confirm(user: AuthenticatedUser) -> Template {
    Template::render("logout", context! { viewer: user.viewer() })
}

#[rocket::get("/auth/logout", rank = 2)]
fn confirm_signed_out() -> Redirect {
    Redirect::to("/signed-out")
}

#[rocket::post("/auth/logout", data = "<form>")]
async fn sign_out(
    form: Form<CsrfForm<'_>>,
    user: AuthenticatedUser,
    csrf: CsrfCheck,
    store: SessionStore<'_>,
    sign_out: SignOut<'_>,
) -> Result<Redirect, AppError> {
    csrf.verify(&user, form.csrf_token)?;
    let ended = store.end(user.session_id).await?;
    tracing::info!(user_id = %user.user_id, session_id = %user.session_id, "signed out");
    Ok(sign_out.finish(ended))
}

#[derive(rocket::FromForm)]
struct BackchannelForm<'r> {
    logout_token: Option<&'r str>,
}

#[derive(rocket::Responder)]
struct NoStore<T>(T, Header<'static>);

/// Server to server, so no CSRF token: the signed logout token is the authentication.
/// Verified, not replayed, then the sessions it names are deleted, all in one
/// transaction; anything invalid is 400 and deletes nothing.
#[rocket::post("/auth/backchannel-logout", data = "<form>")]
async fn backchannel_logout(
    form: Form<BackchannelForm<'_>>,
    providers: &State<Providers>,
    mut db: Connection<AuthDb>,
) -> Result<NoStore<Json<Value>>, AppError> {
    let token = form.logout_token.filter(|token| !token.is_empty() && token.len() <= 16 * 1024);
    let token = token.ok_or_else(|| AppError::InvalidLogoutToken("no logout_token".into()))?;
    let request = backchannel::verify(token, providers).await?;

    let mut tx = (&mut **db).begin().await?;
    let fresh = sqlx::query(
        "INSERT INTO logout_token_jtis (issuer, jti, expires_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(&request.issuer)
    .bind(&request.jti)
    .bind(request.expires_at)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if fresh == 0 {
        return Err(AppError::InvalidLogoutToken("this token was already used".into()));
    }
    let deleted = match (&request.sid, &request.sub) {
        // A sid names one IdP session; with a sub too, it must also be that user's.
        (Some(sid), sub) => sqlx::query(
            "DELETE FROM sessions s
              WHERE s.provider = $1 AND s.idp_sid = $2
                AND ($3::text IS NULL OR EXISTS (
                    SELECT 1 FROM accounts a
                     WHERE a.user_id = s.user_id AND a.provider = $1 AND a.provider_account_id = $3))",
        )
        .bind(&request.provider)
        .bind(sid)
        .bind(sub.as_deref()),
        // Only a sub: every session of that user at this provider.
        (None, Some(sub)) => sqlx::query(
            "DELETE FROM sessions s USING accounts a
              WHERE a.user_id = s.user_id AND a.provider = $1 AND a.provider_account_id = $2 AND s.provider = $1",
        )
        .bind(&request.provider)
        .bind(sub),
        (None, None) => return Err(AppError::InvalidLogoutToken("neither sid nor sub".into())),
    }
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;

    tracing::info!(provider = %request.provider, by_sid = request.sid.is_some(), deleted, "back-channel logout");
    Ok(NoStore(Json(json!({ "deleted": deleted })), Header::new("Cache-Control", "no-store")))
}
