//! The reference app's Rocket: latchkey with its security headers and request log,
//! latchkey's catchers for the whole site, and one page of the app's own, the guarded
//! home page, in latchkey's layout.

use latchkey::{AuthenticatedUser, Latchkey, Layout, RequestLog, SecurityHeaders};
use rocket::figment::Figment;
use rocket::{get, routes, Build, Rocket};
use rocket_dyn_templates::{context, Template};

/// The app on `figment` (`latchkey::figment()` when run; the tests pass their own).
pub fn rocket(figment: Figment) -> Rocket<Build> {
    rocket::custom(figment)
        .attach(Latchkey::fairing())
        .attach(SecurityHeaders::fairing())
        .attach(RequestLog)
        .attach(Template::try_custom(|engines| Ok(latchkey::register_templates(&mut engines.tera)?)))
        .mount("/", routes![home])
        .register("/", latchkey::catchers())
}

#[get("/")]
fn home(user: AuthenticatedUser, layout: Layout<'_>) -> Template {
    Template::render(
        "home",
        context! {
            layout,
            expires: user.session.expires_at.to_rfc3339(),
            absolute_expires: user.session.absolute_expires_at.to_rfc3339(),
        },
    )
}
