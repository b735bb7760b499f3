//! Guarded pages and the session endpoint.

use chrono::SecondsFormat;
use rocket::serde::json::{json, Json, Value};
use rocket_dyn_templates::{context, Template};

use rocket::http::CookieJar;
use rocket::State;

use crate::guards::AuthenticatedUser;
use crate::oidc::{logout, Providers};
use crate::timefmt;

pub fn routes() -> Vec<rocket::Route> {
    rocket::routes![home, api_session, signed_out]
}

#[rocket::get("/")]
fn home(user: AuthenticatedUser) -> Template {
    let now = chrono::Utc::now();
    Template::render(
        "home",
        context! {
            viewer: user.viewer(),
            expires: timefmt::moment(user.expires_at, now),
            absolute_expires: timefmt::moment(user.absolute_expires_at, now),
        },
    )
}

/// NextAuth's `/api/auth/session` shape: `{ user: { id, name, email, image }, expires }`.
#[rocket::get("/api/session")]
fn api_session(user: AuthenticatedUser) -> Json<Value> {
    Json(json!({
        "user": { "id": user.user_id, "name": user.name, "email": user.email, "image": user.image },
        "expires": user.expires_at.to_rfc3339_opts(SecondsFormat::Millis, true),
    }))
}

/// Where people land after signing out (locally, everywhere, or back from the IdP's
/// logout, whose `state` must be the one this browser was sent with).
#[rocket::get("/signed-out?<state>")]
fn signed_out(state: Option<&str>, jar: &CookieJar<'_>, providers: &State<Providers>) -> Template {
    let message = match logout::returned_from(state, jar) {
        Some(provider) => {
            let name = providers.get(&provider).map(|p| p.config.display_name(&p.name).to_string()).unwrap_or(provider);
            format!("You are signed out of latchkey and of {name}.")
        }
        None => "You are signed out of latchkey.".to_string(),
    };
    Template::render("signed_out", context! { message: message })
}
