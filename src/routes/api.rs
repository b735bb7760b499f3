//! The JSON API: the session in NextAuth's shape, the person's sessions, revoking them,
//! and their recent activity. Every change is CSRF-checked (the `X-CSRF-Token` header) and scoped to the
//! person's own rows.

use chrono::SecondsFormat;
use rocket::http::{CookieJar, Status};
use rocket::serde::json::{json, Json, Value};

use crate::error::Error;
use crate::guards::Ctx;
use crate::guards::{ChangeRequest, ClientInfo, SignedIn};
use crate::routes::activity::{recent, ApiEvent, Audience, RECENT_ACTIVITY};
use crate::routes::sessions::{listed, revoke, revoke_all_others, rows, sign_out_everywhere, ApiSession};
use crate::store::ListPage;

pub(crate) fn routes() -> Vec<rocket::Route> {
    rocket::routes![session, csrf, list, activity, revoke_one, revoke_others, revoke_all]
}

/// NextAuth's `/api/auth/session` shape: `{ user: { id, name, email, image }, expires }`,
/// with the sign-in's `roles` (realm, client, groups) on the user, plus whatever the app's
/// [`Hooks::session`](crate::Hooks::session) adds.
#[rocket::get("/api/session")]
async fn session(signed_in: SignedIn, shared: Ctx<'_>) -> Result<Json<Value>, Error> {
    let user = signed_in.0?;
    let Value::Object(mut body) = json!({
        "user": { "id": user.id, "name": user.name, "email": user.email, "image": user.image, "roles": user.roles },
        "expires": user.session.expires_at.to_rfc3339_opts(SecondsFormat::Millis, true),
    }) else {
        return Err(Error::internal("the session body is not an object"));
    };
    shared.hooks.session(&user, &mut body, shared.rocket).await;
    Ok(Json(Value::Object(body)))
}

/// The session's CSRF token for API clients (NextAuth has `/api/auth/csrf`).
#[rocket::get("/api/csrf")]
fn csrf(signed_in: SignedIn) -> Result<Json<Value>, Error> {
    let user = signed_in.0?;
    Ok(Json(json!({ "csrf_token": user.csrf_token() })))
}

#[rocket::get("/api/sessions?<page>")]
async fn list(page: Option<&str>, signed_in: SignedIn, shared: Ctx<'_>) -> Result<Json<Value>, Error> {
    let user = signed_in.0?;
    let (page, listed) = listed(&shared, &user, page).await?;
    let sessions = rows(&listed, |row, device| ApiSession::new(row, device, user.session.id));
    Ok(Json(json!({
        "sessions": sessions,
        "total": listed.total,
        "page": page.number(),
        "pages": ListPage::count(listed.total),
        "per_page": ListPage::SIZE,
        "csrf_token": user.csrf_token(),
    })))
}

/// The person's recent activity: their latest security events, newest first.
#[rocket::get("/api/activity")]
async fn activity(signed_in: SignedIn, shared: Ctx<'_>) -> Result<Json<Value>, Error> {
    let user = signed_in.0?;
    let events = recent(&shared, user.id).await?;
    let events: Vec<ApiEvent<'_>> = events.iter().map(|event| ApiEvent::new(event, Audience::Person)).collect();
    Ok(Json(json!({ "events": events, "limit": RECENT_ACTIVITY })))
}

#[rocket::delete("/api/sessions/<id>")]
async fn revoke_one(id: &str, change: ChangeRequest, client: ClientInfo, shared: Ctx<'_>) -> Result<Status, Error> {
    let user = change.verified(None)?;
    revoke(&shared, &user, id, &client).await?;
    Ok(Status::NoContent)
}

#[rocket::post("/api/sessions/revoke-others")]
async fn revoke_others(change: ChangeRequest, client: ClientInfo, shared: Ctx<'_>) -> Result<Json<Value>, Error> {
    let user = change.verified(None)?;
    Ok(Json(json!({ "revoked": revoke_all_others(&shared, &user, &client).await? })))
}

/// Sign out everywhere, for API clients: the cookie is cleared, and `logout_url` is where
/// a browser goes to end this device's session at the IdP too.
#[rocket::post("/api/sessions/revoke-all")]
async fn revoke_all(
    change: ChangeRequest,
    client: ClientInfo,
    shared: Ctx<'_>,
    jar: &CookieJar<'_>,
) -> Result<Json<Value>, Error> {
    let user = change.verified(None)?;
    let (revoked, logout_url) = sign_out_everywhere(&shared, &user, jar, &client).await?;
    Ok(Json(json!({ "revoked": revoked, "logout_url": logout_url })))
}
