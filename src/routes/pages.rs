//! Guarded pages and the session endpoint.

use chrono::SecondsFormat;
use rocket::serde::json::{json, Json, Value};
use rocket_dyn_templates::{context, Template};

use crate::guards::AuthenticatedUser;

pub fn routes() -> Vec<rocket::Route> {
    rocket::routes![home, api_session, signed_out]
}

#[rocket::get("/")]
fn home(user: AuthenticatedUser) -> Template {
    Template::render(
        "home",
        context! {
            user: context! { name: &user.name, email: &user.email, image: &user.image },
            expires_at: user.expires_at.to_rfc3339_opts(SecondsFormat::Secs, true),
            absolute_expires_at: user.absolute_expires_at.to_rfc3339_opts(SecondsFormat::Secs, true),
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

/// Where people land after signing out (locally, everywhere, or via the IdP's logout).
#[rocket::get("/signed-out")]
fn signed_out() -> Template {
    Template::render(
        "signed_out",
        context! { message: "Your session has ended. Close the browser if this is a shared device." },
    )
}
