//! The stylesheet of latchkey's pages, compiled into the crate and cached by browsers
//! for a day.

use rocket::http::Header;

use crate::pages::STYLESHEET;

pub(crate) fn routes() -> Vec<rocket::Route> {
    rocket::routes![stylesheet]
}

#[derive(rocket::Responder)]
#[response(content_type = "text/css")]
struct Css(&'static str, Header<'static>);

#[rocket::get("/latchkey.css")]
fn stylesheet() -> Css {
    Css(STYLESHEET, Header::new("Cache-Control", "public, max-age=86400"))
}
