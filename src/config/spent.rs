//! Which limit of the retry budget ran out ([`Spent`]), as
//! [`Policy::spent`](super::Policy::spent) tells it.

use std::time::Duration;

use serde::Serialize;

/// Which limit of the retry budget ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Spent {
    /// `max_attempts` dials failed without a stable connection.
    Attempts {
        /// Dials made.
        dials: u32,
        /// The limit.
        max: u32,
    },
    /// Retrying would pass `max_elapsed`.
    Elapsed {
        /// Time spent retrying, including the next delay.
        elapsed: Duration,
        /// The limit.
        max: Duration,
    },
}
