//! Failures of an HTTP CONNECT proxy, for the WebSocket dial and the fallback alike, and
//! their classes (docs/design.md, "Networks").

use std::fmt;

use super::{classify_socks_failure, status_name, Class, SocksFailure};

/// Why a proxy did not open a tunnel to the target: an HTTP proxy's `CONNECT
/// host:port`, or a SOCKS5 proxy's CONNECT request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxyFailure {
    /// The proxy could not be reached, or the connection to it broke before it answered
    /// the CONNECT: its name did not resolve, it refused or reset the TCP connection
    /// (described).
    Unreachable(String),
    /// The proxy answered the CONNECT with a status other than 2xx.
    Status {
        /// The HTTP status code.
        status: u16,
        /// The reason phrase of the proxy's status line, as the proxy sent it ("Unable
        /// to connect"), when it sent one: causes quote it instead of the standard
        /// phrase of the status, which may not be what the proxy meant.
        reason: Option<String>,
    },
    /// The proxy's answer to the CONNECT was not an HTTP response (described).
    Malformed(String),
    /// A SOCKS5 proxy refused the authentication or the CONNECT request.
    Socks(SocksFailure),
}

impl ProxyFailure {
    /// The proxy's answer `status`, without a reason phrase.
    pub fn status(status: u16) -> ProxyFailure {
        ProxyFailure::Status {
            status,
            reason: None,
        }
    }
}

impl fmt::Display for ProxyFailure {
    /// A phrase that follows "the proxy HOST:PORT".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProxyFailure::Unreachable(d) => write!(f, "could not be reached ({d})"),
            ProxyFailure::Status { status, reason } => {
                write!(f, "answered the CONNECT with HTTP {status}")?;
                // The proxy's own words, quoted; else the status's standard name.
                match (reason.as_deref().map(str::trim), status_name(*status)) {
                    (Some(reason), _) if !reason.is_empty() => write!(f, " {reason:?}")?,
                    (_, Some(name)) => write!(f, " ({name})")?,
                    _ => {}
                }
                match status {
                    // 401 is what some proxies (tinyproxy) answer wrong credentials with.
                    401 | 407 => f.write_str(": check the user and password in the proxy URL"),
                    403 => f.write_str(": the proxy does not allow this destination"),
                    _ => Ok(()),
                }
            }
            ProxyFailure::Malformed(d) => {
                write!(f, "did not answer the CONNECT in HTTP ({d})")
            }
            ProxyFailure::Socks(s) => write!(f, "{s}"),
        }
    }
}

/// The class of a proxy failure: an unreachable proxy, a broken answer, 408, 429 and
/// 5xx (the proxy could not reach the target: 502, 503, 504) are transient; 407 (the
/// proxy refused the credentials) and 401 (how some proxies, tinyproxy among them,
/// refuse them) are [`Class::ProxyAuth`], which stops: retrying or falling back through
/// the same proxy cannot help; any other status (403: the proxy does not allow the
/// destination) is rejected. A SOCKS5 proxy's refusal is classified by
/// [`classify_socks_failure`].
///
/// ```
/// use redial::policy::{classify_proxy_failure, Class, ProxyFailure};
/// assert_eq!(classify_proxy_failure(&ProxyFailure::status(407)), Class::ProxyAuth);
/// assert_eq!(classify_proxy_failure(&ProxyFailure::status(401)), Class::ProxyAuth);
/// assert_eq!(classify_proxy_failure(&ProxyFailure::status(403)), Class::Rejected);
/// assert_eq!(classify_proxy_failure(&ProxyFailure::status(502)), Class::Transient);
/// assert_eq!(classify_proxy_failure(&ProxyFailure::Unreachable("refused".into())), Class::Transient);
/// ```
pub fn classify_proxy_failure(failure: &ProxyFailure) -> Class {
    match failure {
        ProxyFailure::Unreachable(_) | ProxyFailure::Malformed(_) => Class::Transient,
        ProxyFailure::Status {
            status: 401 | 407, ..
        } => Class::ProxyAuth,
        ProxyFailure::Status {
            status: 408 | 429 | 500..=599,
            ..
        } => Class::Transient,
        ProxyFailure::Status { .. } => Class::Rejected,
        ProxyFailure::Socks(s) => classify_socks_failure(s),
    }
}
