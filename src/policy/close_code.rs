//! Classification of WebSocket close codes (RFC 6455 §7.4 and the IANA registry).
//!
//! The core classifies the raw `u16` that arrived on the wire (or `None` when the close
//! frame had no status code), never a library's rewritten value: tungstenite, for one,
//! hands over 1014 as 1002.

use super::Class;

/// The class of a received close code, as in docs/design.md's "Default policy" table.
///
/// `None` is a close frame without a status code, which RFC 6455 reports as 1005.
///
/// ```
/// use redial::policy::{classify_close, Class};
/// assert_eq!(classify_close(Some(1008)), Class::Policy);
/// assert_eq!(classify_close(Some(1001)), Class::Transient);
/// assert_eq!(classify_close(None), Class::Transient);
/// assert_eq!(classify_close(Some(4000)), Class::Application);
/// ```
pub fn classify_close(code: Option<u16>) -> Class {
    let Some(code) = code else {
        return Class::Transient;
    };
    match code {
        1000 => Class::Done,
        1001 | 1005 | 1006 | 1011 | 1014 => Class::Transient,
        1012 => Class::Restart,
        1013 => Class::Overload,
        1008 => Class::Policy,
        3000 | 3003 => Class::Auth,
        3001..=4999 => Class::Application,
        // 1002, 1003, 1007, 1009, 1010, 1015, codes that must never be on the wire and
        // unassigned codes (<1000, 1004, 1016–2999, ≥5000).
        _ => Class::Protocol,
    }
}

/// The registered name of a close code, or a description of its range.
///
/// ```
/// assert_eq!(redial::policy::close_code_name(1008), "policy violation");
/// assert_eq!(redial::policy::close_code_name(4001), "application-defined");
/// ```
pub fn close_code_name(code: u16) -> &'static str {
    match code {
        1000 => "normal closure",
        1001 => "going away",
        1002 => "protocol error",
        1003 => "unsupported data",
        1004 => "reserved",
        1005 => "no status received",
        1006 => "abnormal closure",
        1007 => "invalid payload data",
        1008 => "policy violation",
        1009 => "message too big",
        1010 => "mandatory extension",
        1011 => "internal error",
        1012 => "service restart",
        1013 => "try again later",
        1014 => "bad gateway",
        1015 => "TLS handshake failure",
        3000 => "unauthorized",
        3003 => "forbidden",
        0..=999 => "invalid code",
        1016..=2999 => "reserved for the WebSocket standard",
        3001..=3999 => "registered for libraries and frameworks",
        4000..=4999 => "application-defined",
        5000..=u16::MAX => "invalid code",
    }
}
