//! Dial failures (DNS, TCP, TLS, upgrade timeouts and HTTP statuses) and their classes.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

use super::{classify_proxy_failure, Class, ProxyFailure};

/// Which part of a dial a timeout or failure happened in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DialPhase {
    /// DNS, TCP connect and TLS.
    Connect,
    /// The HTTP upgrade request and its response.
    Handshake,
}

impl fmt::Display for DialPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DialPhase::Connect => "connect",
            DialPhase::Handshake => "handshake",
        })
    }
}

/// Why a dial did not reach an open WebSocket. The driver reports it; the core classifies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DialFailure {
    /// The host name did not resolve.
    Dns(String),
    /// The TCP connection was refused.
    Refused,
    /// The TCP connection was reset during the dial.
    Reset,
    /// The connect or handshake phase took longer than its configured timeout.
    Timeout(DialPhase),
    /// The peer's TLS certificate was rejected (unknown issuer, expired, wrong name, …).
    Certificate(String),
    /// Another TLS failure (alert, protocol mismatch).
    Tls(String),
    /// The upgrade was answered with an HTTP status other than 101.
    Status {
        /// The HTTP status code.
        status: u16,
        /// The parsed `Retry-After` header, if the response had one.
        retry_after: Option<Duration>,
    },
    /// The upgrade was answered with a redirect (3xx), which is not followed (as
    /// browsers do not follow one on a WebSocket upgrade).
    Redirect {
        /// The HTTP status code.
        status: u16,
        /// The `Location` header, credentials and query hidden.
        location: Option<String>,
    },
    /// The HTTP proxy did not open a tunnel to the server.
    Proxy {
        /// The proxy, as `host:port` (never with credentials).
        proxy: Box<str>,
        /// What went wrong (boxed: failures travel in every input, and stay small).
        failure: Box<ProxyFailure>,
    },
    /// Any other I/O error, described.
    Io(String),
}

impl DialFailure {
    /// The HTTP status, when the failure is one.
    pub fn status(&self) -> Option<u16> {
        match self {
            DialFailure::Status { status, .. } | DialFailure::Redirect { status, .. } => {
                Some(*status)
            }
            _ => None,
        }
    }

    /// The `Retry-After` the server asked for, when it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            DialFailure::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

impl fmt::Display for DialFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DialFailure::Dns(d) => write!(f, "the host name did not resolve ({d})"),
            DialFailure::Refused => f.write_str("the TCP connection was refused"),
            DialFailure::Reset => f.write_str("the TCP connection was reset during the dial"),
            DialFailure::Timeout(p) => write!(f, "the {p} phase timed out"),
            DialFailure::Certificate(d) => {
                write!(f, "the server's TLS certificate was rejected ({d})")
            }
            DialFailure::Tls(d) => write!(f, "the TLS handshake failed ({d})"),
            DialFailure::Status {
                status,
                retry_after,
            } => {
                write!(f, "the server answered the upgrade with HTTP {status}")?;
                if let Some(name) = status_name(*status) {
                    write!(f, " ({name})")?;
                }
                if let Some(ra) = retry_after {
                    write!(f, " and Retry-After {}", super::fmt_duration(*ra))?;
                }
                Ok(())
            }
            DialFailure::Redirect { status, location } => {
                f.write_str("the server answered the upgrade with ")?;
                write_redirect(f, *status, location.as_deref())
            }
            DialFailure::Proxy { proxy, failure } => write!(f, "the proxy {proxy} {failure}"),
            DialFailure::Io(d) => write!(f, "the dial failed ({d})"),
        }
    }
}

/// The class of a dial failure, as in docs/design.md's upgrade-failure table.
///
/// ```
/// use redial::policy::{classify_dial_failure, Class, DialFailure};
/// let s = |status| DialFailure::Status { status, retry_after: None };
/// assert_eq!(classify_dial_failure(&s(401)), Class::Auth);
/// assert_eq!(classify_dial_failure(&s(426)), Class::Rejected);
/// assert_eq!(classify_dial_failure(&s(502)), Class::Transient);
/// let moved = DialFailure::Redirect { status: 301, location: Some("wss://elsewhere/".into()) };
/// assert_eq!(classify_dial_failure(&moved), Class::Rejected);
/// ```
pub fn classify_dial_failure(failure: &DialFailure) -> Class {
    match failure {
        DialFailure::Dns(_)
        | DialFailure::Refused
        | DialFailure::Reset
        | DialFailure::Timeout(_)
        | DialFailure::Tls(_)
        | DialFailure::Io(_) => Class::Transient,
        DialFailure::Certificate(_) => Class::Certificate,
        DialFailure::Redirect { .. } => Class::Rejected,
        DialFailure::Proxy { failure, .. } => classify_proxy_failure(failure),
        DialFailure::Status {
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
