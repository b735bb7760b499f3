//! One error type for the whole program: a sentence saying what failed, with the cause
//! appended. Everything ends in one `[bench] FAILED: …` line, so a message is all an error
//! needs to carry.

use std::fmt;

/// What went wrong, as it will be printed.
#[derive(Debug)]
pub struct Failure(String);

impl Failure {
    pub fn new(message: impl Into<String>) -> Failure {
        Failure(message.into())
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub type Result<T, E = Failure> = std::result::Result<T, E>;

/// Says what was being done when an error happened: `read(path).context("reading x")?`.
pub trait Context<T> {
    fn context(self, what: impl fmt::Display) -> Result<T>;
    fn with_context<D: fmt::Display>(self, what: impl FnOnce() -> D) -> Result<T>;
}

impl<T, E: fmt::Display> Context<T> for Result<T, E> {
    fn context(self, what: impl fmt::Display) -> Result<T> {
        self.map_err(|error| Failure(format!("{what}: {error}")))
    }

    fn with_context<D: fmt::Display>(self, what: impl FnOnce() -> D) -> Result<T> {
        self.map_err(|error| Failure(format!("{}: {error}", what())))
    }
}

impl<T> Context<T> for Option<T> {
    fn context(self, what: impl fmt::Display) -> Result<T> {
        self.ok_or_else(|| Failure(what.to_string()))
    }

    fn with_context<D: fmt::Display>(self, what: impl FnOnce() -> D) -> Result<T> {
        self.ok_or_else(|| Failure(what().to_string()))
    }
}

/// Returns a [`Failure`] with a formatted message.
macro_rules! bail {
    ($($message:tt)*) => {
        return Err($crate::error::Failure::new(format!($($message)*)))
    };
}
pub(crate) use bail;

/// Progress and warnings go to stderr, prefixed; the report alone goes to stdout.
macro_rules! log {
    ($($message:tt)*) => {
        eprintln!("[bench] {}", format!($($message)*))
    };
}
pub(crate) use log;
