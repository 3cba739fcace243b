//! What went wrong with a dial or a connection ([`Failure`], made with its class from
//! how the dial or connection ended), the reason of a close frame as received
//! ([`CloseReason`]), and which rule made a connection stable ([`StableBy`]): the facts
//! a [`Cause`](super::Cause) is made of.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::input::Input;
use crate::policy::{
    classify_close, classify_reach_failure, close_code_name, fmt_duration, Class, ProxyFailure,
    ReachFailure,
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
        failure: ReachFailure,
        /// Its class.
        class: Class,
        /// Which dial since the last stable connection (0 for a quiet re-probe).
        attempt: u32,
        /// Time from the dial to the failure.
        after: Duration,
    },
}

/// How a dial or a connection ended badly, as the core learns it: from an input
/// ([`Ending::of`]), a dial's deadline, or the heartbeat's verdict.
#[derive(Debug, Clone)]
pub(crate) enum Ending<'a> {
    /// A close frame ([`Input::PeerClosed`]); `received`: whether any server data
    /// message had arrived.
    Closed {
        code: Option<u16>,
        reason: &'a [u8],
        received: bool,
    },
    /// No close frame ([`Input::Dropped`]).
    Dropped { detail: &'a str, received: bool },
    /// No pong or other frame within `waited` of a ping.
    PongTimeout { waited: Duration },
    /// Dial `attempt` (0 for a quiet re-probe) did not reach an open WebSocket.
    DialFailed { failure: ReachFailure, attempt: u32 },
}

impl<'a> Ending<'a> {
    /// The ending of a connection that `input` reports, if it reports one.
    pub(crate) fn of(input: &'a Input, received: bool) -> Option<Ending<'a>> {
        match input {
            Input::PeerClosed { code, reason } => Some(Ending::Closed {
                code: *code,
                reason,
                received,
            }),
            Input::Dropped { detail } => Some(Ending::Dropped { detail, received }),
            _ => None,
        }
    }
}

impl Failure {
    /// The failure that `ending` is, `after` the upgrade (a connection's) or the dial's
    /// start (a dial's), classified here once: a close frame by its code, a dial by what
    /// failed.
    pub(crate) fn new(ending: Ending<'_>, after: Duration) -> Failure {
        match ending {
            Ending::Closed {
                code,
                reason,
                received,
            } => Failure::Closed {
                code,
                reason: CloseReason::from_bytes(reason),
                class: classify_close(code),
                after_upgrade: after,
                received,
            },
            Ending::Dropped { detail, received } => Failure::Dropped {
                detail: detail.to_string(),
                after_upgrade: after,
                received,
            },
            Ending::PongTimeout { waited } => Failure::PongTimeout {
                waited,
                after_upgrade: after,
            },
            Ending::DialFailed { failure, attempt } => Failure::Dial {
                class: classify_reach_failure(&failure),
                failure,
                attempt,
                after,
            },
        }
    }

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

    /// Whether this is a dial that a proxy answered with a refusal (an HTTP proxy's
    /// status other than 2xx to its CONNECT, a SOCKS5 proxy's refusal), not the server.
    pub fn is_proxy_answer(&self) -> bool {
        match self {
            Failure::Dial {
                failure: ReachFailure::Proxy { failure, .. },
                ..
            } => matches!(
                **failure,
                ProxyFailure::Status { .. } | ProxyFailure::Socks(_)
            ),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ending_is_read_from_a_close_or_a_drop_only() {
        let closed = Input::PeerClosed {
            code: Some(1008),
            reason: b"no".to_vec(),
        };
        assert!(matches!(
            Ending::of(&closed, true),
            Some(Ending::Closed {
                code: Some(1008),
                reason: b"no",
                received: true
            })
        ));
        let dropped = Input::Dropped {
            detail: "reset".into(),
        };
        assert!(matches!(
            Ending::of(&dropped, false),
            Some(Ending::Dropped {
                detail: "reset",
                received: false
            })
        ));
        for other in [Input::Start, Input::Received, Input::Timeout] {
            assert!(Ending::of(&other, true).is_none(), "{other:?}");
        }
    }

    #[test]
    fn a_failure_is_classified_where_it_is_made() {
        let ms = Duration::from_millis;
        let closed = Ending::Closed {
            code: Some(1013),
            reason: b"busy",
            received: true,
        };
        assert_eq!(
            Failure::new(closed, ms(3)),
            Failure::Closed {
                code: Some(1013),
                reason: CloseReason::from_bytes(b"busy"),
                class: Class::Overload,
                after_upgrade: ms(3),
                received: true,
            }
        );
        let dropped = Ending::Dropped {
            detail: "eof",
            received: false,
        };
        assert_eq!(
            Failure::new(dropped, ms(4)),
            Failure::Dropped {
                detail: "eof".into(),
                after_upgrade: ms(4),
                received: false,
            }
        );
        let silent = Ending::PongTimeout { waited: ms(10) };
        assert_eq!(
            Failure::new(silent, ms(5)),
            Failure::PongTimeout {
                waited: ms(10),
                after_upgrade: ms(5),
            }
        );
        let forbidden = ReachFailure::Status {
            status: 403,
            retry_after: None,
        };
        let dial = Ending::DialFailed {
            failure: forbidden.clone(),
            attempt: 2,
        };
        assert_eq!(
            Failure::new(dial, ms(6)),
            Failure::Dial {
                failure: forbidden,
                class: Class::Rejected,
                attempt: 2,
                after: ms(6),
            }
        );
    }

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
