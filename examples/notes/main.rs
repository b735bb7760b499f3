//! Notes: a small app of its own (its pages, its table, its migrations) that adopts
//! latchkey for sign-in and sessions. The wiring is `app::rocket`.
//!
//! ```sh
//! scripts/services up
//! ROCKET_CONFIG=examples/notes/Rocket.toml cargo run --example notes
//! # then open http://127.0.0.1:8001 and sign in as alice / alice
//! ```

mod app;

#[rocket::launch]
fn rocket() -> _ {
    app::rocket(latchkey::figment())
}
