//! What follows a failure of the HTTPS fallback: the fallback is a transport with faults
//! of its own (docs/design.md, "The application side and the fallback side"), so its
//! failures ([`FallbackError`](super::FallbackError)) are retried under a budget of
//! their own, like dials.

use std::time::Duration;

use serde::Serialize;

use super::{Backoff, Class, DelayBasis};
use crate::config::Policy;

/// Why the client stops after a fallback failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FallbackStop {
    /// The class is never retried over the fallback (auth, rejected, certificate).
    Class(Class),
    /// `fallback.max_failures` failures in a row.
    Spent {
        /// Failures in a row, the last one included.
        failures: u32,
        /// The limit.
        max: u32,
    },
}

/// What follows a fallback failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FallbackDecision {
    /// Pause the fallback, and use it again after `delay`.
    Retry {
        /// How long to wait.
        delay: Duration,
        /// How the delay was chosen.
        basis: DelayBasis,
    },
    /// Stop the client.
    Stop(FallbackStop),
}

/// Decide what follows the `failures`-th fallback failure in a row (this one included),
/// of class `class` ([`FallbackError::class`](super::FallbackError::class)), whose server
/// asked to wait `retry_after`.
///
/// Transient, overload and rate-limited failures are retried after the backoff (raised
/// to `delays.overload_min` for overload, to `min(Retry-After, max_retry_after)` when
/// the server asked) while fewer than `fallback.max_failures` failures came in a row;
/// every other class stops at once.
pub fn decide_fallback(
    class: Class,
    retry_after: Option<Duration>,
    failures: u32,
    policy: &Policy,
    backoff: &mut Backoff,
) -> FallbackDecision {
    if !matches!(
        class,
        Class::Transient | Class::Overload | Class::RateLimited
    ) {
        return FallbackDecision::Stop(FallbackStop::Class(class));
    }
    let c = policy.config();
    let max = c.fallback.max_failures;
    if failures >= max {
        return FallbackDecision::Stop(FallbackStop::Spent { failures, max });
    }
    let mut delay = backoff.next_delay();
    let mut basis = DelayBasis::Backoff;
    if class == Class::Overload && delay < c.delays.overload_min {
        delay = c.delays.overload_min;
        basis = DelayBasis::OverloadMinimum;
    }
    if let Some(asked) = retry_after {
        let wait = asked.min(c.delays.max_retry_after);
        if wait >= delay {
            delay = wait;
            basis = DelayBasis::RetryAfter {
                asked,
                capped: asked > c.delays.max_retry_after,
            };
        }
    }
    FallbackDecision::Retry { delay, basis }
}
