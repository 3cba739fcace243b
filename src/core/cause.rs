//! Causes: why the core did what it did, as data and as a sentence a person can read.

use std::fmt;
use std::time::Duration;

use super::failure::Failure;
use crate::config::BudgetSpent;
use crate::policy::{fmt_duration, Class, DelayBasis, FallbackError, FallbackStop, NoRetryReason};

/// Why a failure is not retried. A proxy's refusal of the tunnel is rejected like an
/// upgrade's 403, but it says nothing about whether the server offers WebSockets.
fn why_phrase(why: &NoRetryReason, failure: &Failure, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match why {
        NoRetryReason::Class(Class::Rejected) if failure.is_proxy_answer() => f.write_str(
            "the proxy refused the tunnel, and retrying through it will not change that",
        ),
        NoRetryReason::Class(Class::Policy) => f.write_str("policy violations are not retried"),
        NoRetryReason::Class(Class::Protocol) => {
            f.write_str("protocol errors are not retried over WebSockets")
        }
        NoRetryReason::Class(Class::Rejected) => {
            f.write_str("the server does not offer WebSockets at this URL")
        }
        NoRetryReason::Class(Class::Certificate) => {
            f.write_str("a rejected certificate is never retried or bypassed")
        }
        NoRetryReason::Class(Class::ProxyAuth) => {
            f.write_str("the proxy refused its credentials, and no retry can change them")
        }
        NoRetryReason::Class(Class::ProxyUnsupported) => {
            f.write_str("the proxy cannot carry this connection, and no retry can change that")
        }
        NoRetryReason::Class(Class::SubprotocolMismatch) => {
            f.write_str("the next dial would offer the same subprotocols to the same server")
        }
        NoRetryReason::Class(c) => write!(f, "class {c} says {}", c.default_action()),
        NoRetryReason::Override(a) => write!(f, "the config's close_codes says {a}"),
        NoRetryReason::Spent(BudgetSpent::Attempts { dials, max }) => write!(
            f,
            "{dials} of {max} dials failed without a stable connection"
        ),
        NoRetryReason::Spent(BudgetSpent::Elapsed { elapsed, max }) => write!(
            f,
            "retrying would take {}, past budget.max_elapsed ({})",
            fmt_duration(*elapsed),
            fmt_duration(*max)
        ),
        NoRetryReason::StillUnauthorized => {
            f.write_str("still unauthorized after re-authenticating")
        }
    }
}

/// Why the core changed state: every retry, fall-back and stop names the failure and
/// the decision, and renders as a sentence (`Display`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    /// The application asked for a connection.
    Started,
    /// The upgrade succeeded.
    Connected {
        /// Which dial.
        attempt: u32,
        /// How long the dial took.
        took: Duration,
    },
    /// The backoff delay elapsed; dialing again.
    BackoffElapsed {
        /// The dial about to start.
        attempt: u32,
    },
    /// A failure, retried after a delay.
    Retry {
        /// What failed.
        failure: Failure,
        /// The delay before the next dial.
        delay: Duration,
        /// How the delay was chosen.
        basis: DelayBasis,
        /// The next dial's number.
        next_attempt: u32,
        /// The budget.
        max_attempts: u32,
    },
    /// A failure that asks for fresh credentials.
    Reauthenticate {
        /// What failed.
        failure: Failure,
    },
    /// The application supplied fresh credentials.
    Reauthenticated,
    /// The application could not supply fresh credentials.
    ReauthFailed,
    /// A failure after which the fallback transport is used.
    FallBack {
        /// What failed.
        failure: Failure,
        /// Why not retry.
        why: NoRetryReason,
    },
    /// A failure after which the client stops.
    Stop {
        /// What failed.
        failure: Failure,
        /// Why not retry.
        why: NoRetryReason,
        /// Whether it would have fallen back, had a fallback been available.
        fallback_unavailable: bool,
    },
    /// The server closed a stable connection normally; reconnect when next needed.
    WaitForDemand {
        /// The close.
        failure: Failure,
    },
    /// The application closed the client.
    UserClose,
    /// The application recycled the connection: closed (1000) and dialed again.
    Recycle {
        /// The close frame's reason.
        reason: String,
    },
    /// The server did not answer the application's close in time.
    CloseGraceElapsed {
        /// The grace period.
        waited: Duration,
    },
    /// `transport = "https"`: WebSockets are never dialed.
    ForcedFallback,
    /// The fallback transport failed too, and is not retried.
    FallbackFailed {
        /// What the fallback reported.
        failure: FallbackError,
        /// Its class.
        class: Class,
        /// Why it is not retried.
        stop: FallbackStop,
    },
    /// A quiet re-probe's WebSocket stayed open for its trial (`budget.min_uptime`).
    Recovered {
        /// Time spent on the fallback.
        after: Duration,
        /// How long the probe's connection had been open (its trial).
        held: Duration,
    },
}

impl Cause {
    /// The failure behind this cause, if any.
    pub fn failure(&self) -> Option<&Failure> {
        match self {
            Cause::Retry { failure, .. }
            | Cause::Reauthenticate { failure }
            | Cause::FallBack { failure, .. }
            | Cause::Stop { failure, .. }
            | Cause::WaitForDemand { failure } => Some(failure),
            _ => None,
        }
    }

    /// The close code behind this cause (see [`Failure::code`]).
    pub fn code(&self) -> Option<u16> {
        self.failure().and_then(Failure::code)
    }

    /// The class behind this cause (a fallback failure's class for `FallbackFailed`).
    pub fn class(&self) -> Option<Class> {
        match self {
            Cause::FallbackFailed { class, .. } => Some(*class),
            _ => self.failure().map(Failure::class),
        }
    }

    /// The HTTP status behind this cause.
    pub fn status(&self) -> Option<u16> {
        match self {
            Cause::FallbackFailed { failure, .. } => failure.status(),
            _ => self.failure().and_then(Failure::status),
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::Started => f.write_str("the application asked for a connection"),
            Cause::Connected { attempt, took } => write!(
                f,
                "dial {attempt} reached an open WebSocket in {}",
                fmt_duration(*took)
            ),
            Cause::BackoffElapsed { attempt } => {
                write!(f, "backoff elapsed; dialing again (dial {attempt})")
            }
            Cause::Retry {
                failure,
                delay,
                basis,
                next_attempt,
                max_attempts,
            } => {
                write!(
                    f,
                    "{failure}; retrying in {} (dial {next_attempt} of {max_attempts}",
                    fmt_duration(*delay)
                )?;
                match basis {
                    DelayBasis::Backoff => f.write_str(")"),
                    DelayBasis::OverloadMinimum => f.write_str(", overload minimum)"),
                    DelayBasis::RestartWindow => f.write_str(", service-restart window)"),
                    DelayBasis::RetryAfter { capped: false, .. } => {
                        f.write_str(", as Retry-After asked)")
                    }
                    DelayBasis::RetryAfter {
                        asked,
                        capped: true,
                    } => write!(
                        f,
                        ", Retry-After {} shortened to delays.max_retry_after)",
                        fmt_duration(*asked)
                    ),
                }
            }
            Cause::Reauthenticate { failure } => {
                write!(
                    f,
                    "{failure}; asking the application to re-authenticate, then retrying once"
                )
            }
            Cause::Reauthenticated => {
                f.write_str("the application re-authenticated; dialing again")
            }
            Cause::ReauthFailed => {
                f.write_str("the application could not re-authenticate; stopping")
            }
            Cause::FallBack { failure, why } => {
                write!(f, "{failure}; ")?;
                why_phrase(why, failure, f)?;
                f.write_str(": switching to the HTTPS fallback")
            }
            Cause::Stop {
                failure,
                why,
                fallback_unavailable,
            } => {
                write!(f, "{failure}; ")?;
                why_phrase(why, failure, f)?;
                if *fallback_unavailable {
                    f.write_str(" and no fallback is available")?;
                }
                f.write_str(": stopping")
            }
            Cause::WaitForDemand { failure } => write!(
                f,
                "{failure}; the connection had been stable: reconnecting when next needed"
            ),
            Cause::UserClose => f.write_str("closed by the application"),
            Cause::Recycle { reason } => write!(
                f,
                "the application recycled the connection ({reason}): a new one replaces it, \
                 spending no retry budget"
            ),
            Cause::CloseGraceElapsed { waited } => write!(
                f,
                "closed by the application; the server did not answer the close within {}",
                fmt_duration(*waited)
            ),
            Cause::ForcedFallback => {
                f.write_str("transport = \"https\": using the fallback without dialing WebSockets")
            }
            Cause::FallbackFailed { failure, stop, .. } => {
                write!(f, "{}; ", failure.as_cause())?;
                match stop {
                    FallbackStop::Class(class) => write!(
                        f,
                        "a failure of class {class} is not retried over the fallback"
                    )?,
                    FallbackStop::Spent { failures, max } => write!(
                        f,
                        "{failures} fallback failures in a row (fallback.max_failures {max})"
                    )?,
                }
                f.write_str(": stopping")
            }
            Cause::Recovered { after, held } => write!(
                f,
                "a quiet re-probe's WebSocket stayed open for {} after {} on the fallback: \
                 switching back",
                fmt_duration(*held),
                fmt_duration(*after)
            ),
        }
    }
}
