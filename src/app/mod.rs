//! The reference app's own parts (not the library): its Rocket and its logging.
//! `src/main.rs` runs it; the tests build the same Rocket from `site.rs` and log as it
//! does with `logging.rs`.

pub mod log_output;
pub mod logging;
pub mod site;
