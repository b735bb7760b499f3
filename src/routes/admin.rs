//! The admin console, for holders of the realm role the app names
//! ([`Latchkey::admin_console`](crate::Latchkey::admin_console)): every user with their
//! live sessions counted, searched by e-mail; one user's sessions with device, IP and
//! activity, and their recent security events; revoking one or all of them. As pages under `admin` and as JSON under
//! `api/admin`. Every change is CSRF-checked, logged with the admin's id and told to the
//! hooks; an admin who revokes their own current session is signed out as by sign-out.

use chrono::{DateTime, Utc};
use rocket::http::{CookieJar, Status};
use rocket::serde::json::{json, Json, Value};
use serde::Serialize;
use uuid::Uuid;

use crate::error::Error;
use crate::guards::{require_recent, AuthenticatedUser, ChangeRequest, ClientInfo, Ctx, SignedIn};
use crate::hooks::{Event, Revoked};
use crate::oidc::logout;
use crate::routes::activity::{recent, ApiEvent, Audience, RECENT_ACTIVITY};
use crate::routes::sessions::{actor, parse_id, rows, ApiSession};
use crate::shared::Shared;
use crate::store::{EventKind, ListPage, SessionPage, UserPage, UserRecord};

pub(crate) fn routes() -> Vec<rocket::Route> {
    let api = rocket::routes![api_users, api_user_sessions, api_user_activity, api_revoke, api_revoke_all];
    #[cfg(feature = "pages")]
    return api.into_iter().chain(pages::routes()).collect();
    #[cfg(not(feature = "pages"))]
    return api;
}

/// Longest e-mail search accepted.
const SEARCH_MAX: usize = 256;

/// The signed-in person, if they hold the admin role; otherwise the error to answer with.
fn admin(user: Result<AuthenticatedUser, Error>, shared: &Shared) -> Result<AuthenticatedUser, Error> {
    let user = user?;
    let role = shared.admin_role.as_deref().ok_or(Error::NotFound)?;
    if user.roles.has_realm_role(role) {
        Ok(user)
    } else {
        tracing::info!(user_id = %user.id, "forbidden: the admin console needs the realm role {role}");
        Err(Error::Forbidden)
    }
}

fn parse_page(page: Option<&str>) -> Result<ListPage, Error> {
    ListPage::parse(page)
        .ok_or_else(|| Error::BadRequest(format!("page must be a whole number from 1 to {}", ListPage::LAST)))
}

fn parse_search(search: Option<&str>) -> Result<Option<&str>, Error> {
    match search.map(str::trim).filter(|text| !text.is_empty()) {
        Some(text) if text.chars().count() > SEARCH_MAX || text.chars().any(char::is_control) => {
            Err(Error::BadRequest(format!("a search is at most {SEARCH_MAX} printable characters")))
        }
        found => Ok(found),
    }
}

/// A page of users; past the last page is not found.
async fn users(shared: &Shared, search: Option<&str>, page: Option<&str>) -> Result<(ListPage, UserPage), Error> {
    let (search, page) = (parse_search(search)?, parse_page(page)?);
    let listed = shared.store.users(search, page).await?;
    if listed.rows.is_empty() && page != ListPage::FIRST {
        return Err(Error::NotFound);
    }
    Ok((page, listed))
}

/// A user and a page of their sessions (the admin's own marked current).
async fn user_sessions(
    shared: &Shared,
    admin: &AuthenticatedUser,
    id: &str,
    page: Option<&str>,
) -> Result<(UserRecord, ListPage, SessionPage), Error> {
    let (id, page) = (parse_id(id)?, parse_page(page)?);
    let user = shared.store.user(id).await?.ok_or(Error::NotFound)?;
    let listed = shared.store.list(user.id, admin.session.id, page).await?;
    if listed.rows.is_empty() && page != ListPage::FIRST {
        return Err(Error::NotFound);
    }
    Ok((user, page, listed))
}

/// Revokes one session of a user; where the admin's browser goes next when it was their
/// own current session (signed out here and at the provider), else `None`.
async fn revoke(
    ctx: &Ctx<'_>,
    admin: &AuthenticatedUser,
    user_id: &str,
    session_id: &str,
    jar: &CookieJar<'_>,
    client: &ClientInfo,
) -> Result<Option<String>, Error> {
    let (user_id, session_id) = (parse_id(user_id)?, parse_id(session_id)?);
    require_recent(ctx, admin, &confirm_at(ctx, user_id, &format!("revoke&session={session_id}")))?;
    let by = actor(client).admin(admin.id);
    let own = session_id == admin.session.id && user_id == admin.id;
    let ended = if own { ctx.store.end(admin.id, session_id, EventKind::RevokeOne, &by).await? } else { None };
    if !own && !ctx.store.revoke(user_id, session_id, &by).await? {
        return Err(Error::NotFound);
    }
    tracing::info!(admin_id = %admin.id, %user_id, %session_id, "admin revoked a session");
    let event = Event::AdminRevoked { admin_id: admin.id, user_id, revoked: Revoked::One { session_id } };
    ctx.announce(&event, ctx.rocket).await;
    Ok(own.then(|| logout::finish(&ctx.oidc(), jar, ended)))
}

/// Revokes every session of a user; how many, and where the admin's browser goes when
/// one of them was their own.
async fn revoke_all(
    ctx: &Ctx<'_>,
    admin: &AuthenticatedUser,
    user_id: &str,
    jar: &CookieJar<'_>,
    client: &ClientInfo,
) -> Result<(u64, Option<String>), Error> {
    let user_id = parse_id(user_id)?;
    require_recent(ctx, admin, &confirm_at(ctx, user_id, "revoke-all"))?;
    let (count, own) = ctx.store.revoke_all(user_id, admin.session.id, &actor(client).admin(admin.id)).await?;
    tracing::info!(admin_id = %admin.id, %user_id, revoked = count, "admin revoked every session of a user");
    let event = Event::AdminRevoked { admin_id: admin.id, user_id, revoked: Revoked::Everywhere { count } };
    ctx.announce(&event, ctx.rocket).await;
    let signed_out = (user_id == admin.id).then(|| logout::finish(&ctx.oidc(), jar, own));
    Ok((count, signed_out))
}

/// Where an admin action is offered again after signing in again for it: the user's page
/// in the console (or, without pages, the user's sessions in JSON).
fn confirm_at(ctx: &Ctx<'_>, user_id: Uuid, action: &str) -> String {
    match ctx.paths.admin.as_deref() {
        Some(admin) if cfg!(feature = "pages") => format!("{admin}/users/{user_id}?confirm={action}"),
        _ => ctx.paths.home.clone(),
    }
}

/// A user as the API lists them.
#[derive(Serialize)]
struct ApiUser<'a> {
    id: Uuid,
    name: Option<&'a str>,
    email: Option<&'a str>,
    created_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    live_sessions: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_active: Option<DateTime<Utc>>,
}

#[rocket::get("/api/admin/users?<q>&<page>")]
async fn api_users(
    q: Option<&str>,
    page: Option<&str>,
    signed_in: SignedIn,
    shared: Ctx<'_>,
) -> Result<Json<Value>, Error> {
    let admin = admin(signed_in.0, &shared)?;
    let (page, listed) = users(&shared, q, page).await?;
    let users: Vec<ApiUser<'_>> = listed
        .rows
        .iter()
        .map(|row| ApiUser {
            id: row.id,
            name: row.name.as_deref(),
            email: row.email.as_deref(),
            created_at: row.created_at,
            live_sessions: Some(row.live_sessions),
            last_active: row.last_active,
        })
        .collect();
    Ok(Json(json!({
        "users": users, "total": listed.total, "page": page.number(), "pages": ListPage::count(listed.total),
        "per_page": ListPage::SIZE, "csrf_token": admin.csrf_token(),
    })))
}

#[rocket::get("/api/admin/users/<id>/sessions?<page>")]
async fn api_user_sessions(
    id: &str,
    page: Option<&str>,
    signed_in: SignedIn,
    shared: Ctx<'_>,
) -> Result<Json<Value>, Error> {
    let admin = admin(signed_in.0, &shared)?;
    let (user, page, listed) = user_sessions(&shared, &admin, id, page).await?;
    let sessions = rows(&listed, |row, device| ApiSession::new(row, device, admin.session.id));
    let user = ApiUser {
        id: user.id,
        name: user.name.as_deref(),
        email: user.email.as_deref(),
        created_at: user.created_at,
        live_sessions: None,
        last_active: None,
    };
    Ok(Json(json!({
        "user": user, "sessions": sessions, "total": listed.total, "page": page.number(),
        "pages": ListPage::count(listed.total), "per_page": ListPage::SIZE,
    })))
}

/// A user's recent activity, as an administrator sees it (which administrator acted, and
/// from where).
#[rocket::get("/api/admin/users/<id>/activity")]
async fn api_user_activity(id: &str, signed_in: SignedIn, shared: Ctx<'_>) -> Result<Json<Value>, Error> {
    admin(signed_in.0, &shared)?;
    let user = shared.store.user(parse_id(id)?).await?.ok_or(Error::NotFound)?;
    let events = recent(&shared, user.id).await?;
    let events: Vec<ApiEvent<'_>> = events.iter().map(|event| ApiEvent::new(event, Audience::Admin)).collect();
    Ok(Json(json!({ "user_id": user.id, "events": events, "limit": RECENT_ACTIVITY })))
}

#[derive(rocket::Responder)]
enum Revocation {
    Done(Status),
    SignedOut(Json<Value>),
}

#[rocket::delete("/api/admin/users/<user_id>/sessions/<session_id>")]
async fn api_revoke(
    user_id: &str,
    session_id: &str,
    change: ChangeRequest,
    client: ClientInfo,
    shared: Ctx<'_>,
    jar: &CookieJar<'_>,
) -> Result<Revocation, Error> {
    let admin = admin(change.verified(None), &shared)?;
    Ok(match revoke(&shared, &admin, user_id, session_id, jar, &client).await? {
        Some(logout_url) => Revocation::SignedOut(Json(json!({ "signed_out": true, "logout_url": logout_url }))),
        None => Revocation::Done(Status::NoContent),
    })
}

#[rocket::post("/api/admin/users/<user_id>/revoke-all")]
async fn api_revoke_all(
    user_id: &str,
    change: ChangeRequest,
    client: ClientInfo,
    shared: Ctx<'_>,
    jar: &CookieJar<'_>,
) -> Result<Json<Value>, Error> {
    let admin = admin(change.verified(None), &shared)?;
    let (revoked, signed_out) = revoke_all(&shared, &admin, user_id, jar, &client).await?;
    Ok(Json(json!({ "revoked": revoked, "signed_out": signed_out.is_some(), "logout_url": signed_out })))
}

/// The console's pages.
#[cfg(feature = "pages")]
mod pages {
    use rocket::form::Form;
    use rocket::http::CookieJar;
    use rocket::response::content::RawHtml;
    use rocket::response::Redirect;
    use serde::Serialize;
    use serde_json::json;
    use uuid::Uuid;

    use super::{admin, revoke, revoke_all, user_sessions, users};
    use crate::error::Error;
    use crate::guards::{ChangeRequest, ClientInfo, Ctx, Layout, SignedIn};
    use crate::routes::activity::{recent, Audience, PageEvent};
    use crate::routes::logout::CsrfForm;
    use crate::routes::sessions::{rows, PageSession, Pager};
    use crate::timefmt::{moment, Moment};

    pub(super) fn routes() -> Vec<rocket::Route> {
        rocket::routes![user_list, user_page, revoke_one, revoke_every]
    }

    /// A user as the console's list shows them.
    #[derive(Serialize)]
    struct PageUser<'a> {
        id: Uuid,
        name: Option<&'a str>,
        email: Option<&'a str>,
        live_sessions: i64,
        last_active: Option<Moment>,
    }

    #[rocket::get("/admin?<q>&<page>")]
    async fn user_list(
        q: Option<&str>,
        page: Option<&str>,
        signed_in: SignedIn,
        shared: Ctx<'_>,
    ) -> Result<RawHtml<String>, Error> {
        let admin = admin(signed_in.0, &shared)?;
        let (page, listed) = users(&shared, q, page).await?;
        let layout = Layout::for_page(&shared, &admin).await;
        let now = chrono::Utc::now();
        let users: Vec<PageUser<'_>> = listed
            .rows
            .iter()
            .map(|row| PageUser {
                id: row.id,
                name: row.name.as_deref(),
                email: row.email.as_deref(),
                live_sessions: row.live_sessions,
                last_active: row.last_active.map(|at| moment(at, now)),
            })
            .collect();
        shared.pages.render(
            "admin_users",
            &json!({
                "layout": layout,
                "users": users, "total": listed.total, "search": q.unwrap_or_default(),
                "pager": Pager::new(page, listed.total),
            }),
        )
    }

    /// `confirm` (with `session` for one) offers a revocation again, after the admin
    /// signed in again for it.
    #[rocket::get("/admin/users/<id>?<page>&<confirm>&<session>")]
    async fn user_page(
        id: &str,
        page: Option<&str>,
        confirm: Option<&str>,
        session: Option<&str>,
        signed_in: SignedIn,
        shared: Ctx<'_>,
    ) -> Result<RawHtml<String>, Error> {
        let admin = admin(signed_in.0, &shared)?;
        let (user, page, listed) = user_sessions(&shared, &admin, id, page).await?;
        let events = recent(&shared, user.id).await?;
        let layout = Layout::for_page(&shared, &admin).await;
        let now = chrono::Utc::now();
        let sessions = rows(&listed, |row, device| PageSession::new(row, device, now, admin.session.id));
        let activity: Vec<PageEvent<'_>> =
            events.iter().map(|event| PageEvent::new(event, Audience::Admin, now)).collect();
        shared.pages.render(
            "admin_user",
            &json!({
                "layout": layout,
                "activity": activity,
                "user": { "id": user.id, "name": user.name, "email": user.email, "created": moment(user.created_at, now) },
                "sessions": sessions, "total": listed.total, "pager": Pager::new(page, listed.total),
                "confirm": confirm.filter(|action| matches!(*action, "revoke" | "revoke-all")),
                "confirm_session": session.and_then(|id| Uuid::parse_str(id).ok()),
            }),
        )
    }

    /// Back to the user's page, or (an admin's own session ended) off to sign-out's end.
    fn after(shared: &Ctx<'_>, user_id: &str, signed_out: Option<String>) -> Redirect {
        let admin_page = shared.paths.admin.as_deref().unwrap_or("/");
        Redirect::to(signed_out.unwrap_or_else(|| format!("{admin_page}/users/{user_id}")))
    }

    #[rocket::post("/admin/users/<user_id>/sessions/<session_id>/revoke", data = "<form>")]
    async fn revoke_one(
        user_id: &str,
        session_id: &str,
        form: Form<CsrfForm<'_>>,
        change: ChangeRequest,
        client: ClientInfo,
        shared: Ctx<'_>,
        jar: &CookieJar<'_>,
    ) -> Result<Redirect, Error> {
        let admin = admin(change.verified(form.csrf_token), &shared)?;
        let signed_out = revoke(&shared, &admin, user_id, session_id, jar, &client).await?;
        Ok(after(&shared, user_id, signed_out))
    }

    #[rocket::post("/admin/users/<user_id>/revoke-all", data = "<form>")]
    async fn revoke_every(
        user_id: &str,
        form: Form<CsrfForm<'_>>,
        change: ChangeRequest,
        client: ClientInfo,
        shared: Ctx<'_>,
        jar: &CookieJar<'_>,
    ) -> Result<Redirect, Error> {
        let admin = admin(change.verified(form.csrf_token), &shared)?;
        let (_, signed_out) = revoke_all(&shared, &admin, user_id, jar, &client).await?;
        Ok(after(&shared, user_id, signed_out))
    }
}
