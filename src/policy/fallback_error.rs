//! Why a request over the fallback failed: reaching its server failed
//! ([`ReachFailure`]), or what only a request adds (written and left unanswered, broken
//! off after the answer, an event too large). A fallback's response stream yields it;
//! the core classifies it and retries the fallback under a budget of its own
//! (docs/design.md, "The application side and the fallback side").

use std::fmt;
use std::time::Duration;

use super::reach_failure::{write_redirect, write_status};
use super::{classify_reach_failure, Class, Phase, ReachFailure};

/// Why a request over the fallback failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FallbackError {
    /// Reaching the fallback's server failed (DNS, TCP, TLS, a proxy, a timeout), or it
    /// answered with a status other than 2xx.
    Reach(ReachFailure),
    /// The request was written, then the connection failed before any answer (the
    /// server may have received it).
    Unanswered(String),
    /// The response broke off after the answer.
    BrokeOff(String),
    /// One event of the response was larger than its bound
    /// (`fallback.max_event_bytes`).
    TooLarge {
        /// The bound, in bytes.
        limit: usize,
    },
}

impl FallbackError {
    /// The class of the failure: [`classify_reach_failure`]'s, but for what only a
    /// request adds. A 403 answering a request refuses its credentials (auth), where
    /// one answering an upgrade says that WebSockets are not offered; a request left
    /// unanswered, a response broken off and an oversized event are transient.
    ///
    /// ```
    /// use redial::policy::{Class, FallbackError, Phase, ReachFailure};
    /// let s = |status| FallbackError::Reach(ReachFailure::Status { status, retry_after: None });
    /// assert_eq!(FallbackError::Reach(ReachFailure::Refused).class(), Class::Transient);
    /// assert_eq!(FallbackError::Reach(ReachFailure::Timeout(Phase::Idle)).class(), Class::Transient);
    /// assert_eq!(s(503).class(), Class::Transient);
    /// assert_eq!(s(403).class(), Class::Auth);
    /// assert_eq!(s(404).class(), Class::Rejected);
    /// assert_eq!(FallbackError::TooLarge { limit: 64 }.class(), Class::Transient);
    /// ```
    pub fn class(&self) -> Class {
        match self {
            FallbackError::Reach(ReachFailure::Status { status: 403, .. }) => Class::Auth,
            FallbackError::Reach(reach) => classify_reach_failure(reach),
            FallbackError::Unanswered(_)
            | FallbackError::BrokeOff(_)
            | FallbackError::TooLarge { .. } => Class::Transient,
        }
    }

    /// Whether the request body had reached the server, which did not answer it with
    /// 2xx: no answer in time, or another status. (A request sent again after this is a
    /// replay.)
    pub fn written(&self) -> bool {
        matches!(
            self,
            FallbackError::Reach(
                ReachFailure::Timeout(Phase::Headers)
                    | ReachFailure::Status { .. }
                    | ReachFailure::Redirect { .. }
            ) | FallbackError::Unanswered(_)
        )
    }

    /// Whether the server had answered with 2xx when this happened (the request body
    /// reached it): an idle timeout, an oversized event, a broken-off response.
    pub fn after_answer(&self) -> bool {
        matches!(
            self,
            FallbackError::Reach(ReachFailure::Timeout(Phase::Idle))
                | FallbackError::TooLarge { .. }
                | FallbackError::BrokeOff(_)
        )
    }

    /// The HTTP status, when the server answered with one.
    pub fn status(&self) -> Option<u16> {
        match self {
            FallbackError::Reach(reach) => reach.status(),
            _ => None,
        }
    }

    /// The `Retry-After` the server asked for, when it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            FallbackError::Reach(reach) => reach.retry_after(),
            _ => None,
        }
    }

    /// The failure in a cause's words: "the HTTPS fallback refused the TCP connection",
    /// "the HTTPS fallback answered HTTP 503 (Service Unavailable) with Retry-After 2 s".
    pub fn as_cause(&self) -> impl fmt::Display + '_ {
        AsCause(self)
    }
}

impl From<ReachFailure> for FallbackError {
    fn from(reach: ReachFailure) -> FallbackError {
        FallbackError::Reach(reach)
    }
}

impl fmt::Display for FallbackError {
    /// The error as the request it ends reports it: "the fallback connection failed:
    /// the TCP connection was refused".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FallbackError::Reach(ReachFailure::Timeout(p)) => {
                write!(f, "the fallback timed out in the {p} phase")
            }
            FallbackError::Reach(ReachFailure::Status { status, .. }) => {
                write!(f, "the fallback answered HTTP {status}")
            }
            FallbackError::Reach(ReachFailure::Redirect { status, .. }) => {
                write!(f, "the fallback answered HTTP {status}, a redirect")
            }
            FallbackError::Reach(reach) => write!(f, "the fallback connection failed: {reach}"),
            FallbackError::Unanswered(d) => write!(
                f,
                "the fallback connection failed after the request was written, before any \
                 answer: {d}"
            ),
            FallbackError::BrokeOff(d) => write!(f, "the fallback response broke off: {d}"),
            FallbackError::TooLarge { limit } => {
                write!(f, "the fallback sent an event larger than {limit} bytes")
            }
        }
    }
}

impl std::error::Error for FallbackError {}

/// [`FallbackError::as_cause`].
struct AsCause<'a>(&'a FallbackError);

impl fmt::Display for AsCause<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the HTTPS fallback ")?;
        let reach = match self.0 {
            FallbackError::Reach(reach) => reach,
            FallbackError::Unanswered(d) => {
                return write!(
                    f,
                    "request failed (the connection failed after the request was written: {d})"
                )
            }
            FallbackError::BrokeOff(d) => {
                return write!(f, "request failed (the response broke off: {d})")
            }
            FallbackError::TooLarge { limit } => {
                return write!(f, "sent an event larger than its bound of {limit} bytes")
            }
        };
        match reach {
            ReachFailure::Dns(d) => write!(f, "host name did not resolve ({d})"),
            ReachFailure::Refused => f.write_str("refused the TCP connection"),
            ReachFailure::Reset => f.write_str("connection was reset before the response ended"),
            ReachFailure::Timeout(p) => write!(f, "timed out in the {p} phase"),
            ReachFailure::Certificate(d) => {
                write!(f, "server's TLS certificate was rejected ({d})")
            }
            ReachFailure::Tls(d) => write!(f, "TLS handshake failed ({d})"),
            ReachFailure::Status {
                status,
                retry_after,
            } => {
                f.write_str("answered ")?;
                write_status(f, *status, *retry_after, "with")
            }
            ReachFailure::Redirect { status, location } => {
                f.write_str("answered ")?;
                write_redirect(f, *status, location.as_deref())
            }
            ReachFailure::Proxy { proxy, failure } => {
                write!(f, "went through the proxy {proxy}, which {failure}")
            }
            // Not a fallback's failure (no subprotocols over HTTPS), worded all the same.
            ReachFailure::Subprotocol(m) => write!(f, "request failed ({m})"),
            ReachFailure::Io(d) => write!(f, "request failed ({d})"),
        }
    }
}
