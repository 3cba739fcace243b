//! From a class, the budget and the config to a decision.

use std::time::Duration;

use serde::Serialize;

use super::{Backoff, Class};
use crate::config::{Action, Policy, Spent};

/// Where the retry budget stands when a dial or connection fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Budget {
    /// Dials since the last stable connection, the failed one included.
    pub dials: u32,
    /// Time since the first failed dial of this streak.
    pub streak: Duration,
    /// Whether the application already re-authenticated in this streak.
    pub reauth_used: bool,
    /// Whether the connection that ended had become stable (`min_uptime` or data).
    pub was_stable: bool,
}

/// How a retry delay was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "basis")]
pub enum DelayBasis {
    /// The backoff strategy.
    Backoff,
    /// The backoff, raised to the overload minimum.
    OverloadMinimum,
    /// A draw from the service-restart window.
    RestartWindow,
    /// The server's `Retry-After` (at least the backoff, at most `max_retry_after`).
    RetryAfter {
        /// What the server asked for.
        asked: Duration,
        /// Whether `max_retry_after` shortened it.
        capped: bool,
    },
}

/// Why the decision is not a retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Why {
    /// The class's default action.
    Class(Class),
    /// A `close_codes` override in the config.
    Override(Action),
    /// The retry budget ran out.
    Spent(Spent),
    /// A second authorization failure after re-authenticating.
    StillUnauthorized,
}

/// What to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Dial again after `delay`.
    Retry {
        /// How long to wait.
        delay: Duration,
        /// How the delay was chosen.
        basis: DelayBasis,
    },
    /// Ask the application for fresh credentials, then dial once more.
    Reauthenticate,
    /// Switch to the fallback transport.
    FallBack(Why),
    /// Stop for good.
    Stop {
        /// Why.
        why: Why,
        /// The decision would have been to fall back, but no fallback is available
        /// (none configured, or `transport = "websocket"`).
        fallback_unavailable: bool,
    },
    /// Stay disconnected until the application needs a connection again.
    WaitForDemand,
}

/// Decide what follows a failure of class `class`.
///
/// `override_action` is the config's `close_codes` entry for the code, if any. The
/// budget is checked before any retry or re-authentication: dials between two stable
/// connections never exceed `max_attempts`, whatever the class. `backoff` supplies the
/// delay (and the randomness of the restart window); it advances whenever a delay is
/// drawn, even when that delay would pass `max_elapsed` and the decision becomes a
/// fall-back or stop. `Retry-After` is a floor: the delay is the larger of the backoff
/// and `min(Retry-After, max_retry_after)`.
pub fn decide(
    class: Class,
    override_action: Option<Action>,
    budget: &Budget,
    retry_after: Option<Duration>,
    policy: &Policy,
    backoff: &mut Backoff,
) -> Decision {
    let action = override_action.unwrap_or(class.default_action());
    let why = match override_action {
        Some(a) => Why::Override(a),
        None => Why::Class(class),
    };
    let fall_back = |why: Why| {
        if policy.fallback_available() {
            Decision::FallBack(why)
        } else {
            Decision::Stop {
                why,
                fallback_unavailable: true,
            }
        }
    };
    let spent = |extra: Duration| policy.spent(budget.dials, budget.streak + extra);
    match action {
        Action::Stop => Decision::Stop {
            why,
            fallback_unavailable: false,
        },
        Action::FallBack => fall_back(why),
        Action::ReconnectLazily if budget.was_stable => Decision::WaitForDemand,
        Action::Reauthenticate if budget.reauth_used => Decision::Stop {
            why: Why::StillUnauthorized,
            fallback_unavailable: false,
        },
        Action::Reauthenticate => match spent(Duration::ZERO) {
            Some(s) => fall_back(Why::Spent(s)),
            None => Decision::Reauthenticate,
        },
        Action::Retry | Action::RetrySlow | Action::RetryAfterRestart | Action::ReconnectLazily => {
            if let Some(s) = spent(Duration::ZERO) {
                return fall_back(Why::Spent(s));
            }
            let c = policy.config();
            let (mut delay, mut basis) = match action {
                Action::RetryAfterRestart => (
                    backoff.uniform(c.delays.restart_min, c.delays.restart_max),
                    DelayBasis::RestartWindow,
                ),
                Action::RetrySlow => {
                    let d = backoff.next_delay();
                    if d < c.delays.overload_min {
                        (c.delays.overload_min, DelayBasis::OverloadMinimum)
                    } else {
                        (d, DelayBasis::Backoff)
                    }
                }
                _ => (backoff.next_delay(), DelayBasis::Backoff),
            };
            if let Some(asked) = retry_after {
                let capped = asked > c.delays.max_retry_after;
                let wait = asked.min(c.delays.max_retry_after);
                if wait >= delay {
                    delay = wait;
                    basis = DelayBasis::RetryAfter { asked, capped };
                }
            }
            match spent(delay) {
                Some(s) => fall_back(Why::Spent(s)),
                None => Decision::Retry { delay, basis },
            }
        }
    }
}
