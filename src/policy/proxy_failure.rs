//! Failures of an HTTP CONNECT proxy, for the WebSocket dial and the fallback alike, and
//! their classes (ARCHITECTURE.md, "Networks as users have them").

use std::fmt;

use super::{status_name, Class};

/// Why an HTTP proxy did not open a tunnel (`CONNECT host:port`) to the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxyFailure {
    /// The proxy could not be reached, or the connection to it broke before it answered
    /// the CONNECT: its name did not resolve, it refused or reset the TCP connection
    /// (described).
    Unreachable(String),
    /// The proxy answered the CONNECT with a status other than 2xx.
    Status(u16),
    /// The proxy's answer to the CONNECT was not an HTTP response (described).
    Malformed(String),
}

impl fmt::Display for ProxyFailure {
    /// A phrase that follows "the proxy HOST:PORT".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProxyFailure::Unreachable(d) => write!(f, "could not be reached ({d})"),
            ProxyFailure::Status(status) => {
                write!(f, "answered the CONNECT with HTTP {status}")?;
                if let Some(name) = status_name(*status) {
                    write!(f, " ({name})")?;
                }
                match status {
                    407 => f.write_str(": check the user and password in the proxy URL"),
                    403 => f.write_str(": the proxy does not allow this destination"),
                    _ => Ok(()),
                }
            }
            ProxyFailure::Malformed(d) => {
                write!(f, "did not answer the CONNECT in HTTP ({d})")
            }
        }
    }
}

/// The class of a proxy failure: an unreachable proxy, a broken answer, 408, 429 and
/// 5xx (the proxy could not reach the target: 502, 503, 504) are transient; 407 (the
/// proxy refused the credentials) is [`Class::ProxyAuth`], which stops: retrying or
/// falling back through the same proxy cannot help; any other status (403: the proxy
/// does not allow the destination) is rejected.
///
/// ```
/// use redial::policy::{classify_proxy_failure, Class, ProxyFailure};
/// assert_eq!(classify_proxy_failure(&ProxyFailure::Status(407)), Class::ProxyAuth);
/// assert_eq!(classify_proxy_failure(&ProxyFailure::Status(403)), Class::Rejected);
/// assert_eq!(classify_proxy_failure(&ProxyFailure::Status(502)), Class::Transient);
/// assert_eq!(classify_proxy_failure(&ProxyFailure::Unreachable("refused".into())), Class::Transient);
/// ```
pub fn classify_proxy_failure(failure: &ProxyFailure) -> Class {
    match failure {
        ProxyFailure::Unreachable(_) | ProxyFailure::Malformed(_) => Class::Transient,
        ProxyFailure::Status(407) => Class::ProxyAuth,
        ProxyFailure::Status(408 | 429 | 500..=599) => Class::Transient,
        ProxyFailure::Status(_) => Class::Rejected,
    }
}
