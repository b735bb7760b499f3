//! HTTP routes and catchers, grouped by area; `lib.rs` mounts them.

pub mod assets;
pub mod auth;
pub mod catchers;
pub mod health;
pub mod logout;
pub mod pages;
pub mod sessions;
