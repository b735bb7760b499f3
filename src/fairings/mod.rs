//! Fairings for global work: the session sweeper.

pub mod sweeper;
