//! The signed-in person's own sessions: the page with its forms, and the JSON API.
//! Every change is CSRF-checked and scoped to the person's own rows.

use chrono::{DateTime, Utc};
use rocket::form::Form;
use rocket::http::Status;
use rocket::response::Redirect;
use rocket::serde::json::{json, Json, Value};
use rocket_dyn_templates::{context, Template};
use serde::Serialize;
use uuid::Uuid;

use crate::error::AppError;
use crate::guards::{AuthenticatedUser, CsrfCheck};
use crate::oidc::logout::SignOut;
use crate::session::device::{Device, Devices};
use crate::session::store::{ListPage, SessionListing, SessionPage};
use crate::session::SessionStore;
use crate::timefmt::{self, Moment};

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

/// `?page=`: a whole number from 1, else 400 `bad_request` (before anything is read).
fn parse_page(page: Option<&str>) -> Result<ListPage, AppError> {
    ListPage::parse(page)
        .ok_or_else(|| AppError::BadRequest(format!("page must be a whole number from 1 to {}", ListPage::LAST)))
}

/// The page of the person's sessions that `?page=` asks for; a page past the last one
/// is not found.
async fn listed(
    store: &SessionStore<'_>,
    user: &AuthenticatedUser,
    page: Option<&str>,
) -> Result<(ListPage, SessionPage), AppError> {
    let page = parse_page(page)?;
    let listed = store.list(user.user_id, user.session_id, page).await?;
    if listed.rows.is_empty() && page != ListPage::FIRST {
        return Err(AppError::NotFound);
    }
    Ok((page, listed))
}

/// Builds one output row per listed session, with its device (each distinct user agent
/// parsed once).
fn rows<'a, T>(listed: &'a SessionPage, mut build: impl FnMut(&'a SessionListing, Device) -> T) -> Vec<T> {
    let mut devices = Devices::default();
    listed.rows.iter().map(|row| build(row, devices.of(row.user_agent.as_deref()))).collect()
}

/// A row of the JSON API.
#[derive(Serialize)]
struct ApiSession<'a> {
    id: Uuid,
    device: Device,
    ip: Option<&'a str>,
    created_at: DateTime<Utc>,
    last_seen_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    provider: &'a str,
    current: bool,
}

/// A row of the sessions page.
#[derive(Serialize)]
struct PageSession<'a> {
    id: Uuid,
    device: Device,
    ip: &'a str,
    provider: &'a str,
    created: Moment,
    last_seen: Moment,
    expires: Moment,
    current: bool,
}

/// Where the pager's links go.
#[derive(Serialize)]
struct Pager {
    number: u32,
    pages: u64,
    newer: Option<u32>,
    older: Option<u32>,
}

impl Pager {
    fn new(page: ListPage, total: u64) -> Pager {
        let number = page.number();
        let pages = ListPage::count(total);
        Pager {
            number,
            pages,
            newer: (number > 1).then(|| number - 1),
            older: (u64::from(number) < pages).then(|| number + 1),
        }
    }
}

#[rocket::get("/sessions?<page>")]
async fn page(page: Option<&str>, user: AuthenticatedUser, store: SessionStore<'_>) -> Result<Template, AppError> {
    let (page, listed) = listed(&store, &user, page).await?;
    let now = Utc::now();
    let sessions = rows(&listed, |row, device| PageSession {
        id: row.id,
        device,
        ip: row.ip.as_deref().unwrap_or("unknown"),
        provider: &row.provider,
        created: timefmt::moment(row.created_at, now),
        last_seen: timefmt::moment(row.last_seen_at, now),
        expires: timefmt::moment(row.expires_at, now),
        current: row.id == user.session_id,
    });
    Ok(Template::render(
        "sessions",
        context! {
            viewer: user.viewer(),
            sessions: sessions,
            total: listed.total,
            // Every live session but this one (which is live, or the guard had refused).
            others: listed.total.saturating_sub(1),
            pager: Pager::new(page, listed.total),
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

#[rocket::get("/api/sessions?<page>")]
async fn api_list(
    page: Option<&str>,
    user: AuthenticatedUser,
    store: SessionStore<'_>,
) -> Result<Json<Value>, AppError> {
    let (page, listed) = listed(&store, &user, page).await?;
    let sessions = rows(&listed, |row, device| ApiSession {
        id: row.id,
        device,
        ip: row.ip.as_deref(),
        created_at: row.created_at,
        last_seen_at: row.last_seen_at,
        expires_at: row.expires_at,
        provider: &row.provider,
        current: row.id == user.session_id,
    });
    Ok(Json(json!({
        "sessions": sessions,
        "total": listed.total,
        "page": page.number(),
        "pages": ListPage::count(listed.total),
        "per_page": ListPage::SIZE,
        "csrf_token": user.csrf_token,
    })))
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
