//! The stylesheet and icons, compiled into the binary so a deployment is one file plus
//! its templates, and cached by browsers for a day.

use rocket::http::Header;
use rocket::response::Responder;

pub fn routes() -> Vec<rocket::Route> {
    rocket::routes![stylesheet]
}

#[derive(Responder)]
#[response(content_type = "text/css")]
struct Css(&'static str, Header<'static>);

#[rocket::get("/static/app.css")]
fn stylesheet() -> Css {
    Css(include_str!("../../static/app.css"), Header::new("Cache-Control", "public, max-age=86400"))
}
