//! Failures of the HTTPS fallback and what follows them: the fallback is a transport with
//! faults of its own (docs/design.md, "The application side and the fallback side"), so
//! its failures are classified and retried under their own budget, like dials.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

use super::{
    classify_proxy_failure, classify_status, status_name, Backoff, Class, DelayBasis, ProxyFailure,
};
use crate::config::Policy;

/// Which part of a fallback request a timeout happened in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FallbackPhase {
    /// DNS and the TCP connect.
    Connect,
    /// The TLS handshake.
    Tls,
    /// Waiting for the response's status line and headers.
    Headers,
    /// Waiting between two events of the response.
    Idle,
}

impl fmt::Display for FallbackPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FallbackPhase::Connect => "connect",
            FallbackPhase::Tls => "TLS handshake",
            FallbackPhase::Headers => "response headers",
            FallbackPhase::Idle => "idle (between response events)",
        })
    }
}

/// Why a request over the fallback transport failed. The driver reports it with
/// [`Input::FallbackFailed`](crate::core::Input::FallbackFailed); the core classifies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FallbackFailure {
    /// The host name did not resolve.
    Dns(String),
    /// The TCP connection was refused.
    Refused,
    /// The connection was reset or ended before the response did.
    Reset,
    /// A phase took longer than its configured timeout.
    Timeout(FallbackPhase),
    /// The server's TLS certificate was rejected.
    Certificate(String),
    /// Another TLS failure.
    Tls(String),
    /// The response had a status other than 2xx.
    Status {
        /// The HTTP status code.
        status: u16,
        /// The parsed `Retry-After` header, if any.
        retry_after: Option<Duration>,
    },
    /// The response was a redirect (3xx), which the fallback does not follow.
    Redirect {
        /// The HTTP status code.
        status: u16,
        /// Where it pointed, resolved against the fallback's URL and shown redacted
        /// (no credentials, no query); `None` without a `Location` header.
        location: Option<String>,
    },
    /// One event of the response (or an error body) was larger than its bound.
    TooLarge {
        /// The bound, in bytes.
        limit: usize,
    },
    /// The HTTP proxy did not open a tunnel to the fallback's server.
    Proxy {
        /// The proxy, as `host:port` (never with credentials).
        proxy: Box<str>,
        /// What went wrong (boxed: failures travel in every input, and stay small).
        failure: Box<ProxyFailure>,
    },
    /// Any other failure, described.
    Io(String),
}

impl FallbackFailure {
    /// The HTTP status, when the failure is one.
    pub fn status(&self) -> Option<u16> {
        match self {
            FallbackFailure::Status { status, .. } | FallbackFailure::Redirect { status, .. } => {
                Some(*status)
            }
            _ => None,
        }
    }

    /// The `Retry-After` the server asked for, when it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            FallbackFailure::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

impl fmt::Display for FallbackFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the HTTPS fallback ")?;
        match self {
            FallbackFailure::Dns(d) => write!(f, "host name did not resolve ({d})"),
            FallbackFailure::Refused => f.write_str("refused the TCP connection"),
            FallbackFailure::Reset => f.write_str("connection was reset before the response ended"),
            FallbackFailure::Timeout(p) => write!(f, "timed out in the {p} phase"),
            FallbackFailure::Certificate(d) => {
                write!(f, "server's TLS certificate was rejected ({d})")
            }
            FallbackFailure::Tls(d) => write!(f, "TLS handshake failed ({d})"),
            FallbackFailure::Status {
                status,
                retry_after,
            } => {
                write!(f, "answered HTTP {status}")?;
                if let Some(name) = status_name(*status) {
                    write!(f, " ({name})")?;
                }
                if let Some(ra) = retry_after {
                    write!(f, " with Retry-After {}", super::fmt_duration(*ra))?;
                }
                Ok(())
            }
            FallbackFailure::Redirect { status, location } => {
                f.write_str("answered ")?;
                super::dial_failure::write_redirect(f, *status, location.as_deref())
            }
            FallbackFailure::TooLarge { limit } => {
                write!(f, "sent an event larger than its bound of {limit} bytes")
            }
            FallbackFailure::Proxy { proxy, failure } => {
                write!(f, "went through the proxy {proxy}, which {failure}")
            }
            FallbackFailure::Io(d) => write!(f, "request failed ({d})"),
        }
    }
}

/// The class of a fallback failure: network failures, timeouts, oversized events, 408 and
/// 5xx are transient; 429 (and 503 with `Retry-After`) are rate limiting; 401 and 403 are
/// auth; a rejected certificate is certificate; a redirect (not followed) and any other
/// status are rejected. A proxy's
/// failure is classified by [`classify_proxy_failure`](super::classify_proxy_failure).
///
/// ```
/// use redial::policy::{classify_fallback_failure, Class, FallbackFailure, FallbackPhase};
/// let s = |status| FallbackFailure::Status { status, retry_after: None };
/// assert_eq!(classify_fallback_failure(&FallbackFailure::Refused), Class::Transient);
/// assert_eq!(classify_fallback_failure(&FallbackFailure::Timeout(FallbackPhase::Idle)), Class::Transient);
/// assert_eq!(classify_fallback_failure(&s(503)), Class::Transient);
/// assert_eq!(classify_fallback_failure(&s(403)), Class::Auth);
/// assert_eq!(classify_fallback_failure(&s(404)), Class::Rejected);
/// ```
pub fn classify_fallback_failure(failure: &FallbackFailure) -> Class {
    match failure {
        FallbackFailure::Dns(_)
        | FallbackFailure::Refused
        | FallbackFailure::Reset
        | FallbackFailure::Timeout(_)
        | FallbackFailure::Tls(_)
        | FallbackFailure::TooLarge { .. }
        | FallbackFailure::Io(_) => Class::Transient,
        FallbackFailure::Certificate(_) => Class::Certificate,
        FallbackFailure::Redirect { .. } => Class::Rejected,
        FallbackFailure::Proxy { failure, .. } => classify_proxy_failure(failure),
        FallbackFailure::Status { status: 403, .. } => Class::Auth,
        FallbackFailure::Status {
            status,
            retry_after,
        } => classify_status(*status, retry_after.is_some()),
    }
}

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

/// Decide what follows the `failures`-th fallback failure in a row (this one included).
///
/// Transient, overload and rate-limited failures are retried after the backoff (raised
/// to `delays.overload_min` for overload, to `min(Retry-After, max_retry_after)` when
/// the server asked) while fewer than `fallback.max_failures` failures came in a row;
/// every other class stops at once.
pub fn decide_fallback(
    failure: &FallbackFailure,
    failures: u32,
    policy: &Policy,
    backoff: &mut Backoff,
) -> FallbackDecision {
    let class = classify_fallback_failure(failure);
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
    if let Some(asked) = failure.retry_after() {
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
