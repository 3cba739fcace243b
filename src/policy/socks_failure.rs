//! What a SOCKS5 proxy (RFC 1928, RFC 1929) answered instead of a connection, each
//! answer with its own sentence and class.

use std::fmt;

use super::Class;

/// A SOCKS5 proxy's refusal: of the authentication, or of the CONNECT request (its
/// reply code); or an answer that is not SOCKS5.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocksFailure {
    /// It accepted none of the authentication methods offered (method `0xFF`): no
    /// authentication, and user and password when the URL has them.
    NoAcceptableMethod {
        /// Whether user and password were offered.
        offered_password: bool,
    },
    /// It refused the user and password (RFC 1929: a status other than 0).
    AuthFailed {
        /// The status it answered.
        status: u8,
    },
    /// The URL's user or password is longer than the 255 bytes RFC 1929 allows.
    CredentialsTooLong,
    /// It answered the CONNECT request with a reply code other than 0 (succeeded).
    Reply {
        /// The reply code (RFC 1928 §6).
        reply: u8,
        /// The target it was asked for, `host:port` (an address for `socks5://`, the
        /// name for `socks5h://`).
        target: String,
    },
    /// Its answer was not SOCKS5 (another version byte, a method not offered, an unknown
    /// address type), or it broke off (described).
    Malformed(String),
}

/// RFC 1928 §6's words for a reply code, `None` for the unassigned ones.
pub fn socks_reply_name(reply: u8) -> Option<&'static str> {
    Some(match reply {
        0x00 => "succeeded",
        0x01 => "general SOCKS server failure",
        0x02 => "connection not allowed by ruleset",
        0x03 => "network unreachable",
        0x04 => "host unreachable",
        0x05 => "connection refused",
        0x06 => "TTL expired",
        0x07 => "command not supported",
        0x08 => "address type not supported",
        _ => return None,
    })
}

impl fmt::Display for SocksFailure {
    /// A phrase that follows "the proxy HOST:PORT".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const CHECK: &str = ": check the user and password in the proxy URL";
        match self {
            SocksFailure::NoAcceptableMethod {
                offered_password: true,
            } => write!(
                f,
                "accepted none of the SOCKS5 authentication methods offered (none, user and \
                 password){CHECK}"
            ),
            SocksFailure::NoAcceptableMethod {
                offered_password: false,
            } => write!(
                f,
                "accepted no SOCKS5 connection without authentication: give a user and \
                 password in the proxy URL"
            ),
            SocksFailure::AuthFailed { status } => write!(
                f,
                "refused the SOCKS5 user and password (status {status}){CHECK}"
            ),
            SocksFailure::CredentialsTooLong => write!(
                f,
                "cannot take a SOCKS5 user or password longer than 255 bytes{CHECK}"
            ),
            SocksFailure::Malformed(d) => write!(f, "did not answer in SOCKS5 ({d})"),
            SocksFailure::Reply { reply, target } => {
                write!(f, "answered the SOCKS5 CONNECT to {target} with ")?;
                match socks_reply_name(*reply) {
                    Some(name) => write!(f, "\"{name}\" (reply {reply})")?,
                    None => write!(f, "the unassigned reply {reply}")?,
                }
                match reply {
                    0x02 => f.write_str(": the proxy does not allow this destination"),
                    0x07 => f.write_str(
                        ": the proxy does not carry TCP connections (CONNECT), and no retry \
                         can change that",
                    ),
                    0x08 => f.write_str(match target.starts_with('[') || target.parse::<std::net::SocketAddr>().is_ok() {
                        true => ": the proxy does not take this kind of address (try socks5h://, which sends the name)",
                        false => ": the proxy does not take host names (try socks5://, which sends an address)",
                    }),
                    _ => Ok(()),
                }
            }
        }
    }
}

/// The class of a SOCKS5 refusal: a refused authentication (or none acceptable, or
/// credentials too long to send) is [`Class::ProxyAuth`] (stop: check the user and
/// password); "connection not allowed by ruleset" is rejected, as an HTTP proxy's 403;
/// "command not supported" and "address type not supported" are
/// [`Class::ProxyUnsupported`] (stop: this proxy cannot carry the connection); general
/// failure, "network unreachable", "host unreachable", "connection refused", "TTL
/// expired", unassigned codes and an answer that is not SOCKS5 are transient.
///
/// ```
/// use redial::policy::{classify_socks_failure, Class, SocksFailure};
/// let reply = |reply| SocksFailure::Reply { reply, target: "server:443".into() };
/// assert_eq!(classify_socks_failure(&reply(5)), Class::Transient);
/// assert_eq!(classify_socks_failure(&reply(7)), Class::ProxyUnsupported);
/// assert_eq!(classify_socks_failure(&SocksFailure::AuthFailed { status: 1 }), Class::ProxyAuth);
/// ```
pub fn classify_socks_failure(failure: &SocksFailure) -> Class {
    match failure {
        SocksFailure::NoAcceptableMethod { .. }
        | SocksFailure::AuthFailed { .. }
        | SocksFailure::CredentialsTooLong => Class::ProxyAuth,
        SocksFailure::Malformed(_) => Class::Transient,
        SocksFailure::Reply { reply, .. } => match reply {
            0x02 => Class::Rejected,
            0x07 | 0x08 => Class::ProxyUnsupported,
            _ => Class::Transient,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(reply: u8, target: &str) -> SocksFailure {
        SocksFailure::Reply {
            reply,
            target: target.into(),
        }
    }

    #[test]
    fn every_reply_code_has_its_sentence_and_class() {
        let t = "server.test:443";
        let cases: &[(u8, &str, Class)] = &[
            (1, "with \"general SOCKS server failure\" (reply 1)", Class::Transient),
            (2, "\"connection not allowed by ruleset\" (reply 2): the proxy does not allow this destination", Class::Rejected),
            (3, "\"network unreachable\" (reply 3)", Class::Transient),
            (4, "\"host unreachable\" (reply 4)", Class::Transient),
            (5, "\"connection refused\" (reply 5)", Class::Transient),
            (6, "\"TTL expired\" (reply 6)", Class::Transient),
            (7, "\"command not supported\" (reply 7): the proxy does not carry TCP connections (CONNECT)", Class::ProxyUnsupported),
            (8, "\"address type not supported\" (reply 8): the proxy does not take host names", Class::ProxyUnsupported),
            (9, "the unassigned reply 9", Class::Transient),
            (255, "the unassigned reply 255", Class::Transient),
        ];
        for (code, words, class) in cases {
            let f = reply(*code, t);
            let said = f.to_string();
            assert!(
                said.starts_with("answered the SOCKS5 CONNECT to server.test:443 with "),
                "{said}"
            );
            assert!(said.contains(words), "{code}: {said}");
            assert_eq!(classify_socks_failure(&f), *class, "{code}");
        }
        assert!(reply(8, "10.0.0.1:443")
            .to_string()
            .contains("try socks5h://"));
    }

    #[test]
    fn refused_credentials_say_check_the_user_and_password_and_stop() {
        for f in [
            SocksFailure::AuthFailed { status: 1 },
            SocksFailure::NoAcceptableMethod {
                offered_password: true,
            },
            SocksFailure::CredentialsTooLong,
        ] {
            assert!(
                f.to_string()
                    .ends_with("check the user and password in the proxy URL"),
                "{f}"
            );
            assert_eq!(classify_socks_failure(&f), Class::ProxyAuth);
        }
        let none = SocksFailure::NoAcceptableMethod {
            offered_password: false,
        };
        assert!(none.to_string().contains("give a user and password"));
    }
}
