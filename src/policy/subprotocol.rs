//! A WebSocket subprotocol the client and the server did not agree on
//! (`Sec-WebSocket-Protocol`, RFC 6455 §1.9 and §4.1), and its sentence.

use std::fmt;

/// The server's answer to the subprotocols the client offered did not fit them: it
/// picked one that was not offered, it picked none although the client offered some
/// (the client then requires one: a list is offered because the application speaks
/// only those), or it picked one when none was offered.
///
/// Its class is [`Class::SubprotocolMismatch`](super::Class::SubprotocolMismatch):
/// the client stops, since the next dial offers the same list to the same server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubprotocolMismatch {
    /// What the client offered, in its order of preference (empty: none).
    pub offered: Vec<String>,
    /// What the server answered: `None` when its 101 had no `Sec-WebSocket-Protocol`.
    pub answered: Option<String>,
}

impl fmt::Display for SubprotocolMismatch {
    /// "the server chose subprotocol "x", which was not offered (offered: "a", "b")".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let offered = || {
            self.offered
                .iter()
                .map(|p| format!("{p:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match (&self.answered, self.offered.is_empty()) {
            (Some(a), true) => write!(
                f,
                "the server chose subprotocol {a:?}, but the client offered none"
            ),
            (Some(a), false) => write!(
                f,
                "the server chose subprotocol {a:?}, which was not offered (offered: {})",
                offered()
            ),
            (None, _) => write!(
                f,
                "the server chose no subprotocol, but the client requires one of {}",
                offered()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(offered: &[&str], answered: Option<&str>) -> String {
        SubprotocolMismatch {
            offered: offered.iter().map(|s| s.to_string()).collect(),
            answered: answered.map(str::to_string),
        }
        .to_string()
    }

    #[test]
    fn the_sentence_names_both_sides() {
        assert_eq!(
            m(&["chat.v2", "chat.v1"], Some("chat.v3")),
            r#"the server chose subprotocol "chat.v3", which was not offered (offered: "chat.v2", "chat.v1")"#
        );
        assert_eq!(
            m(&["chat.v2"], None),
            r#"the server chose no subprotocol, but the client requires one of "chat.v2""#
        );
        assert_eq!(
            m(&[], Some("x")),
            r#"the server chose subprotocol "x", but the client offered none"#
        );
    }
}
