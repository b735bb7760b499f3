//! The signed-in person's own sessions: the page with its forms, and the JSON API.
//! Every change is CSRF-checked and scoped to the person's own rows.

use chrono::Utc;
use rocket::form::Form;
use rocket::http::Status;
use rocket::response::Redirect;
use rocket::serde::json::{json, Json, Value};
use rocket_dyn_templates::{context, Template};
use uuid::Uuid;

use crate::error::AppError;
use crate::guards::{AuthenticatedUser, CsrfCheck};
use crate::oidc::logout::SignOut;
use crate::session::store::SessionListing;
use crate::session::{device, SessionStore};
use crate::timefmt;

pub fn routes() -> Vec<rocket::Route> {
    rocket::routes![page, revoke_one, revoke_others, revoke_all, api_list, api_revoke, api_revoke_others, api_csrf]
}

#[derive(rocket::FromForm)]
pub struct CsrfForm<'r> {
    pub csrf_token: Option<&'r str>,
}

/// A session id from the URL; anything that is not a UUID is simply not found.
fn parse_id(id: &str) -> Result<Uuid, AppError> {
    Uuid::parse_str(id).map_err(|_| AppError::NotFound)
}

fn listing_json(row: &SessionListing, current: Uuid) -> Value {
    json!({
        "id": row.id,
        "device": device::from_user_agent(row.user_agent.as_deref()),
        "ip": row.ip,
        "created_at": row.created_at,
        "last_seen_at": row.last_seen_at,
        "expires_at": row.expires_at,
        "provider": row.provider,
        "current": row.id == current,
    })
}

#[rocket::get("/sessions")]
async fn page(user: AuthenticatedUser, store: SessionStore<'_>) -> Result<Template, AppError> {
    let now = Utc::now();
    let rows = store.list(user.user_id).await?;
    let sessions: Vec<Value> = rows
        .iter()
        .map(|row| {
            json!({
                "id": row.id,
                "device": device::from_user_agent(row.user_agent.as_deref()),
                "ip": row.ip.as_deref().unwrap_or("unknown"),
                "provider": row.provider,
                "created": timefmt::moment(row.created_at, now),
                "last_seen": timefmt::moment(row.last_seen_at, now),
                "expires": timefmt::moment(row.expires_at, now),
                "current": row.id == user.session_id,
            })
        })
        .collect();
    let others = sessions.iter().filter(|session| session["current"] == false).count();
    Ok(Template::render(
        "sessions",
        context! {
            viewer: user.viewer(),
            sessions: sessions,
            others: others,
        },
    ))
}

#[rocket::post("/sessions/<id>/revoke", data = "<form>")]
async fn revoke_one(
    id: &str,
    form: Form<CsrfForm<'_>>,
    user: AuthenticatedUser,
    csrf: CsrfCheck,
    store: SessionStore<'_>,
) -> Result<Redirect, AppError> {
    csrf.verify(&user, form.csrf_token)?;
    let id = parse_id(id)?;
    if !store.revoke(user.user_id, id).await? {
        return Err(AppError::NotFound);
    }
    tracing::info!(user_id = %user.user_id, session_id = %id, "session revoked");
    Ok(Redirect::to("/sessions"))
}

#[rocket::post("/sessions/revoke-others", data = "<form>")]
async fn revoke_others(
    form: Form<CsrfForm<'_>>,
    user: AuthenticatedUser,
    csrf: CsrfCheck,
    store: SessionStore<'_>,
) -> Result<Redirect, AppError> {
    csrf.verify(&user, form.csrf_token)?;
    let revoked = store.revoke_others(user.user_id, user.session_id).await?;
    tracing::info!(user_id = %user.user_id, revoked, "other sessions revoked");
    Ok(Redirect::to("/sessions"))
}

/// Sign out everywhere: every session of this person, this one included, then the
/// IdP's session of this device too.
#[rocket::post("/sessions/revoke-all", data = "<form>")]
async fn revoke_all(
    form: Form<CsrfForm<'_>>,
    user: AuthenticatedUser,
    csrf: CsrfCheck,
    store: SessionStore<'_>,
    sign_out: SignOut<'_>,
) -> Result<Redirect, AppError> {
    csrf.verify(&user, form.csrf_token)?;
    let (revoked, current) = store.revoke_all(user.user_id, user.session_id).await?;
    tracing::info!(user_id = %user.user_id, revoked, "signed out everywhere");
    Ok(sign_out.finish(current))
}

#[rocket::get("/api/sessions")]
async fn api_list(user: AuthenticatedUser, store: SessionStore<'_>) -> Result<Json<Value>, AppError> {
    let rows = store.list(user.user_id).await?;
    let sessions: Vec<Value> = rows.iter().map(|row| listing_json(row, user.session_id)).collect();
    Ok(Json(json!({ "sessions": sessions, "csrf_token": user.csrf_token })))
}

#[rocket::delete("/api/sessions/<id>")]
async fn api_revoke(
    id: &str,
    user: AuthenticatedUser,
    csrf: CsrfCheck,
    store: SessionStore<'_>,
) -> Result<Status, AppError> {
    csrf.verify(&user, None)?;
    let id = parse_id(id)?;
    if !store.revoke(user.user_id, id).await? {
        return Err(AppError::NotFound);
    }
    tracing::info!(user_id = %user.user_id, session_id = %id, "session revoked");
    Ok(Status::NoContent)
}

#[rocket::post("/api/sessions/revoke-others")]
async fn api_revoke_others(
    user: AuthenticatedUser,
    csrf: CsrfCheck,
    store: SessionStore<'_>,
) -> Result<Json<Value>, AppError> {
    csrf.verify(&user, None)?;
    let revoked = store.revoke_others(user.user_id, user.session_id).await?;
    Ok(Json(json!({ "revoked": revoked })))
}

/// The session's CSRF token for API clients (NextAuth has `/api/auth/csrf`).
#[rocket::get("/api/csrf")]
fn api_csrf(user: AuthenticatedUser) -> Json<Value> {
    Json(json!({ "csrf_token": user.csrf_token }))
}
