//! The signed-in person's own sessions: the page with its forms. Every change is
//! CSRF-checked and scoped to the person's own rows. (The JSON API is in `api`.)

use chrono::{DateTime, Utc};
use rocket::form::Form;
use rocket::http::CookieJar;
use rocket::response::Redirect;
use serde::Serialize;
use uuid::Uuid;

use crate::error::Error;
use crate::guards::Ctx;
#[cfg(feature = "pages")]
use crate::guards::SignedIn;
use crate::guards::{require_recent, AuthenticatedUser, ChangeRequest, ClientInfo};
use crate::hooks::{Event, Revoked};
use crate::oidc::logout;
use crate::routes::logout::CsrfForm;
use crate::session::device::{Device, Devices};
use crate::shared::Shared;
use crate::store::{Actor, ListPage, SessionListing, SessionPage};

pub(crate) fn routes() -> Vec<rocket::Route> {
    #[cfg(feature = "pages")]
    return rocket::routes![page, revoke_one, revoke_others, revoke_all];
    #[cfg(not(feature = "pages"))]
    return rocket::routes![revoke_one, revoke_others, revoke_all];
}

/// A session id from the URL; anything that is not a UUID is simply not found.
pub(crate) fn parse_id(id: &str) -> Result<Uuid, Error> {
    Uuid::parse_str(id).map_err(|_| Error::NotFound)
}

/// The page of the person's sessions that `?page=` asks for: a whole number from 1, else
/// 400 `bad_request` (before anything is read); a page past the last one is not found.
pub(crate) async fn listed(
    shared: &Shared,
    user: &AuthenticatedUser,
    page: Option<&str>,
) -> Result<(ListPage, SessionPage), Error> {
    let page = ListPage::parse(page)
        .ok_or_else(|| Error::BadRequest(format!("page must be a whole number from 1 to {}", ListPage::LAST)))?;
    let listed = shared.store.list(user.id, user.session.id, page).await?;
    if listed.rows.is_empty() && page != ListPage::FIRST {
        return Err(Error::NotFound);
    }
    Ok((page, listed))
}

/// Builds one output row per listed session, with its device (each distinct user agent
/// parsed once).
pub(crate) fn rows<'a, T>(listed: &'a SessionPage, mut build: impl FnMut(&'a SessionListing, Device) -> T) -> Vec<T> {
    let mut devices = Devices::default();
    listed.rows.iter().map(|row| build(row, devices.of(row.user_agent.as_deref()))).collect()
}

/// The person behind a request, as their security events record them.
pub(crate) fn actor(client: &ClientInfo) -> Actor {
    Actor::at(client.user_agent.as_deref(), client.ip)
}

/// Revokes one of the person's sessions (not found when it is not theirs).
pub(crate) async fn revoke(
    shared: &Ctx<'_>,
    user: &AuthenticatedUser,
    id: &str,
    client: &ClientInfo,
) -> Result<(), Error> {
    let id = parse_id(id)?;
    if !shared.store.revoke(user.id, id, &actor(client)).await? {
        return Err(Error::NotFound);
    }
    tracing::info!(user_id = %user.id, session_id = %id, "session revoked");
    let event = Event::Revoked { user_id: user.id, revoked: Revoked::One { session_id: id } };
    shared.announce(&event, shared.rocket).await;
    Ok(())
}

/// Where a sensitive action on the sessions page is offered again after signing in
/// again: the page, with the action to confirm.
fn confirm_at(shared: &Shared, action: &str) -> String {
    let page = shared.paths.sessions.as_deref().unwrap_or(&shared.paths.home);
    format!("{page}?confirm={action}")
}

/// Revokes every session of the person but this one (after a recent authentication);
/// returns how many.
pub(crate) async fn revoke_all_others(
    shared: &Ctx<'_>,
    user: &AuthenticatedUser,
    client: &ClientInfo,
) -> Result<u64, Error> {
    require_recent(shared, user, &confirm_at(shared, "revoke-others"))?;
    let count = shared.store.revoke_others(user.id, user.session.id, &actor(client)).await?;
    tracing::info!(user_id = %user.id, revoked = count, "other sessions revoked");
    shared.announce(&Event::Revoked { user_id: user.id, revoked: Revoked::Others { count } }, shared.rocket).await;
    Ok(count)
}

/// Sign out everywhere: every session of the person, this one included (the cookie is
/// cleared); returns how many, and where the browser goes next, to end this device's IdP session too.
pub(crate) async fn sign_out_everywhere(
    shared: &Ctx<'_>,
    user: &AuthenticatedUser,
    jar: &CookieJar<'_>,
    client: &ClientInfo,
) -> Result<(u64, String), Error> {
    require_recent(shared, user, &confirm_at(shared, "revoke-all"))?;
    let (count, current) = shared.store.revoke_all(user.id, user.session.id, &actor(client)).await?;
    tracing::info!(user_id = %user.id, revoked = count, "signed out everywhere");
    shared.announce(&Event::Revoked { user_id: user.id, revoked: Revoked::Everywhere { count } }, shared.rocket).await;
    Ok((count, logout::finish(&shared.oidc(), jar, current)))
}

/// Where the forms send the browser back to.
fn back(shared: &Shared) -> Redirect {
    Redirect::to(shared.paths.sessions.clone().unwrap_or_else(|| shared.paths.home.clone()))
}

#[rocket::post("/sessions/<id>/revoke", data = "<form>")]
async fn revoke_one(
    id: &str,
    form: Form<CsrfForm<'_>>,
    change: ChangeRequest,
    client: ClientInfo,
    shared: Ctx<'_>,
) -> Result<Redirect, Error> {
    let user = change.verified(form.csrf_token)?;
    revoke(&shared, &user, id, &client).await?;
    Ok(back(&shared))
}

#[rocket::post("/sessions/revoke-others", data = "<form>")]
async fn revoke_others(
    form: Form<CsrfForm<'_>>,
    change: ChangeRequest,
    client: ClientInfo,
    shared: Ctx<'_>,
) -> Result<Redirect, Error> {
    let user = change.verified(form.csrf_token)?;
    revoke_all_others(&shared, &user, &client).await?;
    Ok(back(&shared))
}

#[rocket::post("/sessions/revoke-all", data = "<form>")]
async fn revoke_all(
    form: Form<CsrfForm<'_>>,
    change: ChangeRequest,
    client: ClientInfo,
    shared: Ctx<'_>,
    jar: &CookieJar<'_>,
) -> Result<Redirect, Error> {
    let user = change.verified(form.csrf_token)?;
    Ok(Redirect::to(sign_out_everywhere(&shared, &user, jar, &client).await?.1))
}

/// A row of the sessions page (and of the admin console's).
#[cfg(feature = "pages")]
#[derive(Serialize)]
pub(crate) struct PageSession<'a> {
    id: Uuid,
    device: Device,
    ip: &'a str,
    provider: &'a str,
    created: crate::timefmt::Moment,
    last_seen: crate::timefmt::Moment,
    expires: crate::timefmt::Moment,
    current: bool,
}

#[cfg(feature = "pages")]
impl<'a> PageSession<'a> {
    pub(crate) fn new(row: &'a SessionListing, device: Device, now: DateTime<Utc>, current: Uuid) -> PageSession<'a> {
        use crate::timefmt::moment;
        PageSession {
            id: row.id,
            device,
            ip: row.ip.as_deref().unwrap_or("unknown"),
            provider: &row.provider,
            created: moment(row.created_at, now),
            last_seen: moment(row.last_seen_at, now),
            expires: moment(row.expires_at, now),
            current: row.id == current,
        }
    }
}

/// Where the pager's links go.
#[cfg(feature = "pages")]
#[derive(Serialize)]
pub(crate) struct Pager {
    number: u32,
    pages: u64,
    newer: Option<u32>,
    older: Option<u32>,
}

#[cfg(feature = "pages")]
impl Pager {
    pub(crate) fn new(page: ListPage, total: u64) -> Pager {
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

#[cfg(feature = "pages")]
/// `confirm` offers a sensitive action again, after the person signed in again for it.
#[rocket::get("/sessions?<page>&<confirm>")]
async fn page(
    page: Option<&str>,
    confirm: Option<&str>,
    signed_in: SignedIn,
    shared: Ctx<'_>,
) -> Result<rocket::response::content::RawHtml<String>, Error> {
    use crate::routes::activity::{recent, Audience, PageEvent};
    let user = signed_in.0?;
    let (page, listed) = listed(&shared, &user, page).await?;
    let events = recent(&shared, user.id).await?;
    let now = Utc::now();
    let sessions = rows(&listed, |row, device| PageSession::new(row, device, now, user.session.id));
    let activity: Vec<PageEvent<'_>> =
        events.iter().map(|event| PageEvent::new(event, Audience::Person, now)).collect();
    shared.pages.render(
        "sessions",
        &serde_json::json!({
            "layout": crate::guards::Layout::for_page(&shared, &user).await,
            "sessions": sessions,
            "activity": activity,
            "total": listed.total,
            // Every live session but this one (which is live, or the guard had refused).
            "others": listed.total.saturating_sub(1),
            "pager": Pager::new(page, listed.total),
            "confirm": confirm.filter(|action| matches!(*action, "revoke-others" | "revoke-all")),
        }),
    )
}

/// A row of the JSON API.
#[derive(Serialize)]
pub(crate) struct ApiSession<'a> {
    pub id: Uuid,
    pub device: Device,
    pub ip: Option<&'a str>,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub provider: &'a str,
    pub current: bool,
}

impl<'a> ApiSession<'a> {
    /// `row` as the API lists it; `current` is the asking session's id.
    pub(crate) fn new(row: &'a SessionListing, device: Device, current: Uuid) -> ApiSession<'a> {
        ApiSession {
            id: row.id,
            device,
            ip: row.ip.as_deref(),
            created_at: row.created_at,
            last_seen_at: row.last_seen_at,
            expires_at: row.expires_at,
            provider: &row.provider,
            current: row.id == current,
        }
    }
}
