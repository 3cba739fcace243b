//! Reaching a host failed (DNS, TCP, TLS, a timeout, the HTTP answer, a proxy), for the
//! WebSocket dial and the fallback alike, and the one table of their classes.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

use super::{classify_proxy_failure, Class, ProxyFailure, SubprotocolMismatch};

/// Which part of reaching a host, or of an exchange with it, a timeout happened in. A
/// dial goes through [`Connect`](Phase::Connect) and [`Handshake`](Phase::Handshake); a
/// fallback request through `Connect`, `Tls`, `Headers` and `Idle`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// DNS and the TCP connect (and, on a dial, TLS: `timeouts.connect`).
    Connect,
    /// The TLS handshake, when it is timed on its own (the fallback's `tls` timeout).
    Tls,
    /// The WebSocket upgrade: its request and response (`timeouts.handshake`).
    Handshake,
    /// Waiting for a response's status line and headers, the request written.
    Headers,
    /// Waiting between two events of a response.
    Idle,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Connect => "connect",
            Phase::Tls => "TLS handshake",
            Phase::Handshake => "handshake",
            Phase::Headers => "response headers",
            Phase::Idle => "idle (between response events)",
        })
    }
}

/// Why reaching a host failed: a dial that did not reach an open WebSocket, or a
/// fallback request that did not reach a 2xx answer. The driver (or a connector of
/// your own) reports it; the core classifies it with [`classify_reach_failure`]. Its `Display` is the dial's sentence; the
/// fallback words it its own way ([`FallbackError::as_cause`](super::FallbackError::as_cause)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReachFailure {
    /// The host name did not resolve.
    Dns(String),
    /// The TCP connection was refused.
    Refused,
    /// The TCP connection was reset (during the dial, or before the response ended).
    Reset,
    /// A phase took longer than its configured timeout.
    Timeout(Phase),
    /// The peer's TLS certificate was rejected (unknown issuer, expired, wrong name, …).
    Certificate(String),
    /// Another TLS failure (alert, protocol mismatch).
    Tls(String),
    /// The server answered with an HTTP status other than the one asked for (101 to an
    /// upgrade, 2xx to a fallback request).
    Status {
        /// The HTTP status code.
        status: u16,
        /// The parsed `Retry-After` header, if the response had one.
        retry_after: Option<Duration>,
    },
    /// The server answered with a redirect (3xx), which is not followed (as browsers do
    /// not follow one on a WebSocket upgrade).
    Redirect {
        /// The HTTP status code.
        status: u16,
        /// The `Location` header, resolved against the URL asked for, credentials and
        /// query hidden; `None` without one.
        location: Option<String>,
    },
    /// The HTTP proxy did not open a tunnel to the server.
    Proxy {
        /// The proxy, as `host:port` (never with credentials).
        proxy: Box<str>,
        /// What went wrong (boxed: failures travel in every input, and stay small).
        failure: Box<ProxyFailure>,
    },
    /// The server's 101 did not agree to the subprotocols offered (boxed, as `Proxy`).
    Subprotocol(Box<SubprotocolMismatch>),
    /// Any other I/O error, described.
    Io(String),
}

impl ReachFailure {
    /// The HTTP status, when the failure is one.
    pub fn status(&self) -> Option<u16> {
        match self {
            ReachFailure::Status { status, .. } | ReachFailure::Redirect { status, .. } => {
                Some(*status)
            }
            _ => None,
        }
    }

    /// The `Retry-After` the server asked for, when it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ReachFailure::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

impl fmt::Display for ReachFailure {
    /// The dial's sentence: "the TCP connection was refused", "the server answered the
    /// upgrade with HTTP 403 (Forbidden)".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReachFailure::Dns(d) => write!(f, "the host name did not resolve ({d})"),
            ReachFailure::Refused => f.write_str("the TCP connection was refused"),
            ReachFailure::Reset => f.write_str("the TCP connection was reset during the dial"),
            ReachFailure::Timeout(p) => write!(f, "the {p} phase timed out"),
            ReachFailure::Certificate(d) => {
                write!(f, "the server's TLS certificate was rejected ({d})")
            }
            ReachFailure::Tls(d) => write!(f, "the TLS handshake failed ({d})"),
            ReachFailure::Status {
                status,
                retry_after,
            } => {
                f.write_str("the server answered the upgrade with ")?;
                write_status(f, *status, *retry_after, "and")
            }
            ReachFailure::Redirect { status, location } => {
                f.write_str("the server answered the upgrade with ")?;
                write_redirect(f, *status, location.as_deref())
            }
            ReachFailure::Proxy { proxy, failure } => write!(f, "the proxy {proxy} {failure}"),
            ReachFailure::Subprotocol(m) => write!(f, "{m}"),
            ReachFailure::Io(d) => write!(f, "the dial failed ({d})"),
        }
    }
}

/// The class of a failure to reach a host, as in docs/design.md's upgrade-failure
/// table: network failures, timeouts and TLS failures other than the certificate are
/// transient; a rejected certificate is certificate; a redirect (not followed) is
/// rejected; a subprotocol the server did not agree to is a subprotocol mismatch
/// (the client stops); a status is classified by [`classify_status`], a proxy's failure by
/// [`classify_proxy_failure`]. The fallback adds its own few rules on top
/// ([`FallbackError::class`](super::FallbackError::class)).
///
/// ```
/// use redial::policy::{classify_reach_failure, Class, Phase, ReachFailure};
/// let s = |status| ReachFailure::Status { status, retry_after: None };
/// assert_eq!(classify_reach_failure(&s(401)), Class::Auth);
/// assert_eq!(classify_reach_failure(&s(426)), Class::Rejected);
/// assert_eq!(classify_reach_failure(&s(502)), Class::Transient);
/// assert_eq!(classify_reach_failure(&ReachFailure::Timeout(Phase::Connect)), Class::Transient);
/// let moved = ReachFailure::Redirect { status: 301, location: Some("wss://elsewhere/".into()) };
/// assert_eq!(classify_reach_failure(&moved), Class::Rejected);
/// ```
pub fn classify_reach_failure(failure: &ReachFailure) -> Class {
    match failure {
        ReachFailure::Dns(_)
        | ReachFailure::Refused
        | ReachFailure::Reset
        | ReachFailure::Timeout(_)
        | ReachFailure::Tls(_)
        | ReachFailure::Io(_) => Class::Transient,
        ReachFailure::Certificate(_) => Class::Certificate,
        ReachFailure::Redirect { .. } => Class::Rejected,
        ReachFailure::Proxy { failure, .. } => classify_proxy_failure(failure),
        ReachFailure::Subprotocol(_) => Class::SubprotocolMismatch,
        ReachFailure::Status {
            status,
            retry_after,
        } => classify_status(*status, retry_after.is_some()),
    }
}

/// The class of an HTTP status answering a WebSocket upgrade.
///
/// 401 asks for re-authentication; 429 (and 503 with `Retry-After`) is rate limiting;
/// 408 (request timeout) and other 5xx are transient; every other status (400, 403, 404,
/// 405, 426, a 200 from a proxy, a redirect) means WebSockets are not offered here.
pub fn classify_status(status: u16, has_retry_after: bool) -> Class {
    match status {
        401 => Class::Auth,
        429 if has_retry_after => Class::RateLimited,
        429 => Class::Overload,
        503 if has_retry_after => Class::RateLimited,
        408 | 500..=599 => Class::Transient,
        _ => Class::Rejected,
    }
}

/// "HTTP 503 (Service Unavailable) and Retry-After 2 s": a status with its name and the
/// `Retry-After` asked for, joined by `join` ("and" on the upgrade, "with" on the
/// fallback).
pub(super) fn write_status(
    f: &mut fmt::Formatter<'_>,
    status: u16,
    retry_after: Option<Duration>,
    join: &str,
) -> fmt::Result {
    write!(f, "HTTP {status}")?;
    if let Some(name) = status_name(status) {
        write!(f, " ({name})")?;
    }
    if let Some(ra) = retry_after {
        write!(f, " {join} Retry-After {}", super::fmt_duration(ra))?;
    }
    Ok(())
}

/// "HTTP 301 (Moved Permanently) to Location …, a redirect, which is not followed": a 3xx
/// answer, on the upgrade or on the fallback.
pub(super) fn write_redirect(
    f: &mut fmt::Formatter<'_>,
    status: u16,
    location: Option<&str>,
) -> fmt::Result {
    write!(f, "HTTP {status}")?;
    if let Some(name) = status_name(status) {
        write!(f, " ({name})")?;
    }
    match location {
        Some(l) => write!(f, " to Location {l}")?,
        None => f.write_str(" without a Location")?,
    }
    f.write_str(", a redirect, which is not followed")
}

/// The reason phrase of the HTTP statuses the policy names.
pub fn status_name(status: u16) -> Option<&'static str> {
    Some(match status {
        200 => "OK",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => return None,
    })
}
