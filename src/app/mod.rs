//! The reference app's own parts (not the library): its Rocket and its log output.
//! `src/main.rs` runs it; the tests build the same Rocket from `site.rs`.

pub mod log_output;
pub mod site;
