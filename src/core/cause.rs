//! Causes: why the core did what it did, as data and as a sentence a person can read.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::policy::{
    classify_fallback_failure, close_code_name, fmt_duration, Class, DelayBasis, DialFailure,
    FallbackFailure, FallbackStop, ProxyFailure, Spent, Why,
};

/// Which rule made a connection stable (docs/design.md, "Default policy").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StableBy {
    /// It stayed open for `budget.min_uptime`.
    Uptime,
    /// It ended with a normal close (1000) after server data arrived: a finished exchange
    /// (only while 1000 leaves the next dial to the application: `reconnect_lazily`, its
    /// class's default, unless `close_codes` says otherwise).
    FinishedExchange,
    /// Its first server message arrived, and `budget.stable_on_first_message` (the old
    /// rule, for measuring old clients) is set.
    FirstMessage,
    /// The application recycled it ([`Input::Recycle`](crate::core::Input::Recycle)):
    /// it worked until then, and its replacement is not a retry.
    Recycled,
}

impl StableBy {
    /// The snake_case name used in event lines.
    pub fn name(self) -> &'static str {
        match self {
            StableBy::Uptime => "uptime",
            StableBy::FinishedExchange => "finished_exchange",
            StableBy::FirstMessage => "first_message",
            StableBy::Recycled => "recycled",
        }
    }
}

impl fmt::Display for StableBy {
    /// The rule as a phrase: "open for min_uptime", …
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StableBy::Uptime => "open for min_uptime",
            StableBy::FinishedExchange => "a normal close (1000) after server data",
            StableBy::FirstMessage => "the first server message (stable_on_first_message)",
            StableBy::Recycled => "recycled by the application",
        })
    }
}

/// The most bytes of a close reason the core keeps (the RFC 6455 limit is 123).
pub const MAX_REASON_BYTES: usize = 123;

/// A close frame's reason, as received: kept lossily as text, with a note when the
/// bytes were not UTF-8 (which RFC 6455 forbids) or longer than a close frame allows.
///
/// Cheap to clone: the text is shared (a failure is copied into several events and
/// the core's last cause), and an empty reason, the usual case, holds no text at all.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct CloseReason {
    /// `None` when empty (never `Some("")`), so that equality is equality of the text.
    text: Option<Arc<str>>,
    valid_utf8: bool,
    truncated: bool,
}

impl CloseReason {
    /// Keep at most [`MAX_REASON_BYTES`] of `bytes`.
    pub fn from_bytes(bytes: &[u8]) -> CloseReason {
        if bytes.is_empty() {
            return CloseReason {
                text: None,
                valid_utf8: true,
                truncated: false,
            };
        }
        let truncated = bytes.len() > MAX_REASON_BYTES;
        let limit = bytes.len().min(MAX_REASON_BYTES);
        let (text, valid_utf8) = match std::str::from_utf8(bytes) {
            // Cut on a character boundary (0 always is one).
            Ok(text) => {
                let end = (0..=limit).rev().find(|&i| text.is_char_boundary(i));
                (Cow::Borrowed(&text[..end.unwrap_or(0)]), true)
            }
            Err(_) => (String::from_utf8_lossy(&bytes[..limit]), false),
        };
        CloseReason {
            text: (!text.is_empty()).then(|| Arc::from(text.as_ref())),
            valid_utf8,
            truncated,
        }
    }

    /// The reason as text (invalid bytes replaced by U+FFFD).
    pub fn as_str(&self) -> &str {
        self.text.as_deref().unwrap_or("")
    }

    /// Whether the server sent no reason.
    pub fn is_empty(&self) -> bool {
        self.text.is_none()
    }

    /// Whether the reason was valid UTF-8.
    pub fn is_valid_utf8(&self) -> bool {
        self.valid_utf8
    }
}

impl fmt::Debug for CloseReason {
    /// As `#[derive(Debug)]` would print it with the text as a `String`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CloseReason")
            .field("text", &self.as_str())
            .field("valid_utf8", &self.valid_utf8)
            .field("truncated", &self.truncated)
            .finish()
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("empty reason");
        }
        write!(f, "reason {:?}", self.as_str())?;
        match (self.valid_utf8, self.truncated) {
            (false, _) => f.write_str(" (not valid UTF-8)"),
            (true, true) => f.write_str(" (truncated)"),
            (true, false) => Ok(()),
        }
    }
}

/// What went wrong with a dial or a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The server sent a close frame.
    Closed {
        /// The raw code on the wire; `None` when the frame had no status code (1005).
        code: Option<u16>,
        /// The reason.
        reason: CloseReason,
        /// The class of the code.
        class: Class,
        /// Time from the upgrade to the close frame.
        after_upgrade: Duration,
        /// Whether any server data message had arrived.
        received: bool,
    },
    /// The connection ended without a close frame (reported as 1006).
    Dropped {
        /// What the driver saw.
        detail: String,
        /// Time from the upgrade to the drop.
        after_upgrade: Duration,
        /// Whether any server data message had arrived.
        received: bool,
    },
    /// No frame arrived within the pong timeout after a ping (treated as 1006).
    PongTimeout {
        /// The pong timeout.
        waited: Duration,
        /// Time from the upgrade to the verdict.
        after_upgrade: Duration,
    },
    /// A dial did not reach an open WebSocket.
    Dial {
        /// What failed.
        failure: DialFailure,
        /// Its class.
        class: Class,
        /// Which dial since the last stable connection (0 for a quiet re-probe).
        attempt: u32,
        /// Time from the dial to the failure.
        after: Duration,
    },
}

impl Failure {
    /// The class that decided what followed.
    pub fn class(&self) -> Class {
        match self {
            Failure::Closed { class, .. } | Failure::Dial { class, .. } => *class,
            Failure::Dropped { .. } | Failure::PongTimeout { .. } => Class::Transient,
        }
    }

    /// The close code: the raw one for a close frame (1005 for none), 1006 for a drop.
    pub fn code(&self) -> Option<u16> {
        match self {
            Failure::Closed { code, .. } => Some(code.unwrap_or(1005)),
            Failure::Dropped { .. } | Failure::PongTimeout { .. } => Some(1006),
            Failure::Dial { .. } => None,
        }
    }

    /// Whether this is a dial that an HTTP proxy answered with a refusal (a status
    /// other than 2xx to its CONNECT), not the server.
    pub fn is_proxy_answer(&self) -> bool {
        match self {
            Failure::Dial {
                failure: DialFailure::Proxy { failure, .. },
                ..
            } => matches!(**failure, ProxyFailure::Status { .. }),
            _ => false,
        }
    }

    /// The HTTP status of a failed upgrade.
    pub fn status(&self) -> Option<u16> {
        match self {
            Failure::Dial { failure, .. } => failure.status(),
            _ => None,
        }
    }

    /// The close reason, when a close frame had one.
    pub fn reason(&self) -> Option<&CloseReason> {
        match self {
            Failure::Closed { reason, .. } => Some(reason),
            _ => None,
        }
    }
}

fn received_phrase(received: bool) -> &'static str {
    if received {
        "after server messages had arrived"
    } else {
        "before any server message"
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Closed {
                code,
                reason,
                after_upgrade,
                received,
                ..
            } => {
                match code {
                    Some(c) => write!(
                        f,
                        "server closed the WebSocket with {c} ({})",
                        close_code_name(*c)
                    )?,
                    None => f.write_str("server closed the WebSocket without a status code (1005)")?,
                }
                write!(
                    f,
                    ", {reason}, {} after the upgrade, {}",
                    fmt_duration(*after_upgrade),
                    received_phrase(*received)
                )
            }
            Failure::Dropped {
                detail,
                after_upgrade,
                received,
            } => write!(
                f,
                "connection dropped without a close frame (1006: {detail}), {} after the upgrade, {}",
                fmt_duration(*after_upgrade),
                received_phrase(*received)
            ),
            Failure::PongTimeout {
                waited,
                after_upgrade,
            } => write!(
                f,
                "no pong or other frame within {} of a ping (treated as 1006), {} after the upgrade",
                fmt_duration(*waited),
                fmt_duration(*after_upgrade)
            ),
            Failure::Dial {
                failure,
                attempt,
                after,
                ..
            } => {
                if *attempt == 0 {
                    write!(f, "quiet re-probe failed after {}: {failure}", fmt_duration(*after))
                } else {
                    write!(f, "dial {attempt} failed after {}: {failure}", fmt_duration(*after))
                }
            }
        }
    }
}

/// Why a failure is not retried. A proxy's refusal of the tunnel is rejected like an
/// upgrade's 403, but it says nothing about whether the server offers WebSockets.
fn why_phrase(why: &Why, failure: &Failure, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match why {
        Why::Class(Class::Rejected) if failure.is_proxy_answer() => f.write_str(
            "the proxy refused the tunnel, and retrying through it will not change that",
        ),
        Why::Class(Class::Policy) => f.write_str("policy violations are not retried"),
        Why::Class(Class::Protocol) => {
            f.write_str("protocol errors are not retried over WebSockets")
        }
        Why::Class(Class::Rejected) => {
            f.write_str("the server does not offer WebSockets at this URL")
        }
        Why::Class(Class::Certificate) => {
            f.write_str("a rejected certificate is never retried or bypassed")
        }
        Why::Class(Class::ProxyAuth) => {
            f.write_str("the proxy refused its credentials, and no retry can change them")
        }
        Why::Class(c) => write!(f, "class {c} says {}", c.default_action()),
        Why::Override(a) => write!(f, "the config's close_codes says {a}"),
        Why::Spent(Spent::Attempts { dials, max }) => write!(
            f,
            "{dials} of {max} dials failed without a stable connection"
        ),
        Why::Spent(Spent::Elapsed { elapsed, max }) => write!(
            f,
            "retrying would take {}, past budget.max_elapsed ({})",
            fmt_duration(*elapsed),
            fmt_duration(*max)
        ),
        Why::StillUnauthorized => f.write_str("still unauthorized after re-authenticating"),
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
        why: Why,
    },
    /// A failure after which the client stops.
    Stop {
        /// What failed.
        failure: Failure,
        /// Why not retry.
        why: Why,
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
        failure: FallbackFailure,
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
            Cause::FallbackFailed { failure, .. } => Some(classify_fallback_failure(failure)),
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
            Cause::FallbackFailed { failure, stop } => {
                write!(f, "{failure}; ")?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_reasons_are_cut_on_a_character_boundary() {
        let r = CloseReason::from_bytes("é".repeat(100).as_bytes());
        assert!(r.is_valid_utf8());
        assert!(!r.as_str().contains('\u{fffd}'));
        assert_eq!(r.as_str().len(), 122);
        assert!(r.to_string().ends_with("(truncated)"));
        let bad = CloseReason::from_bytes(&[0xff, b'a']);
        assert!(!bad.is_valid_utf8());
        assert!(bad.to_string().contains("not valid UTF-8"));
        assert_eq!(CloseReason::from_bytes(b"").to_string(), "empty reason");
    }

    #[test]
    fn reasons_compare_and_print_by_their_text() {
        let bye = CloseReason::from_bytes(b"bye");
        assert_eq!(bye, CloseReason::from_bytes(b"bye"));
        assert_ne!(bye, CloseReason::from_bytes(b"bye!"));
        assert_eq!(bye.clone().as_str(), "bye");
        assert_eq!(
            format!("{bye:?}"),
            r#"CloseReason { text: "bye", valid_utf8: true, truncated: false }"#
        );
        let empty = CloseReason::from_bytes(b"");
        assert!(empty.is_empty() && empty.is_valid_utf8());
        assert_eq!(empty.as_str(), "");
        assert_ne!(
            empty,
            CloseReason::default(),
            "the default is not valid UTF-8"
        );
        assert_eq!(
            format!("{:?}", CloseReason::default()),
            r#"CloseReason { text: "", valid_utf8: false, truncated: false }"#
        );
    }
}
