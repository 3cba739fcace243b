//! Why a fallback request failed, and what that means for the core and for the
//! message or request it carried.

use std::time::Duration;

use crate::policy::{DialFailure, FallbackFailure, FallbackPhase};

/// Why a fallback request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FallbackError {
    /// The connection (DNS, TCP, TLS) failed, or the request could not be written.
    #[error("the fallback connection failed: {0}")]
    Connect(DialFailure),
    /// A phase took longer than its timeout.
    #[error("the fallback timed out in the {0} phase")]
    Timeout(FallbackPhase),
    /// The server answered with a status other than 2xx.
    #[error("the fallback answered HTTP {status}")]
    Status {
        /// The status.
        status: u16,
        /// Its `Retry-After`, parsed.
        retry_after: Option<Duration>,
    },
    /// The server answered with a redirect (3xx), which is not followed.
    #[error("the fallback answered HTTP {status}, a redirect")]
    Redirect {
        /// The status.
        status: u16,
        /// Its `Location`, resolved against the fallback's URL and redacted.
        location: Option<String>,
    },
    /// One event of the response was larger than its bound
    /// (`fallback.max_event_bytes`).
    #[error("the fallback sent an event larger than {limit} bytes")]
    TooLarge {
        /// The bound.
        limit: usize,
    },
    /// The response broke off.
    #[error("the fallback response broke off: {0}")]
    Stream(String),
    /// The request was written, then the connection failed before any answer (the
    /// server may have received it).
    #[error(
        "the fallback connection failed after the request was written, before any answer: {0}"
    )]
    Unanswered(String),
}

impl FallbackError {
    /// Whether the request body had reached the server, which did not answer it with
    /// 2xx: no answer in time, or another status. (A request sent again after this is a
    /// replay.)
    pub fn written(&self) -> bool {
        matches!(
            self,
            FallbackError::Timeout(FallbackPhase::Headers)
                | FallbackError::Status { .. }
                | FallbackError::Redirect { .. }
                | FallbackError::Unanswered(_)
        )
    }

    /// The failure as the core classifies it.
    pub fn failure(&self) -> FallbackFailure {
        match self {
            FallbackError::Connect(d) => match d {
                DialFailure::Dns(d) => FallbackFailure::Dns(d.clone()),
                DialFailure::Refused => FallbackFailure::Refused,
                DialFailure::Reset => FallbackFailure::Reset,
                DialFailure::Timeout(_) => FallbackFailure::Timeout(FallbackPhase::Connect),
                DialFailure::Certificate(d) => FallbackFailure::Certificate(d.clone()),
                DialFailure::Tls(d) => FallbackFailure::Tls(d.clone()),
                DialFailure::Status {
                    status,
                    retry_after,
                } => FallbackFailure::Status {
                    status: *status,
                    retry_after: *retry_after,
                },
                DialFailure::Redirect { status, location } => FallbackFailure::Redirect {
                    status: *status,
                    location: location.clone(),
                },
                DialFailure::Proxy { proxy, failure } => FallbackFailure::Proxy {
                    proxy: proxy.clone(),
                    failure: failure.clone(),
                },
                DialFailure::Io(d) => FallbackFailure::Io(d.clone()),
            },
            FallbackError::Timeout(phase) => FallbackFailure::Timeout(*phase),
            FallbackError::Status {
                status,
                retry_after,
            } => FallbackFailure::Status {
                status: *status,
                retry_after: *retry_after,
            },
            FallbackError::Redirect { status, location } => FallbackFailure::Redirect {
                status: *status,
                location: location.clone(),
            },
            FallbackError::TooLarge { limit } => FallbackFailure::TooLarge { limit: *limit },
            FallbackError::Stream(d) => FallbackFailure::Io(format!("the response broke off: {d}")),
            FallbackError::Unanswered(d) => FallbackFailure::Io(format!(
                "the connection failed after the request was written: {d}"
            )),
        }
    }

    /// Whether the server had answered with 2xx when this happened (the request body
    /// reached it): an idle timeout, an oversized event, a broken-off response.
    pub fn after_answer(&self) -> bool {
        matches!(
            self,
            FallbackError::Timeout(FallbackPhase::Idle)
                | FallbackError::TooLarge { .. }
                | FallbackError::Stream(_)
        )
    }
}
