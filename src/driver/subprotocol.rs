//! WebSocket subprotocols on the dial (`Sec-WebSocket-Protocol`, RFC 6455 §4.1): the
//! list offered, the server's choice read from its answer, and a choice that does not
//! fit the offer as the core's [`ReachFailure::Subprotocol`].
//!
//! tungstenite checks the answer against the request's header itself and refuses a
//! 101 that does not fit, without saying what the server chose; the dial reads that from
//! the response head the [`FrameScanner`] kept.

use std::sync::Mutex;

use async_tungstenite::tungstenite::http::{HeaderMap, HeaderValue};

use super::lock::lock;
use super::raw_close::FrameScanner;
use crate::core::Input;
use crate::policy::{ReachFailure, SubprotocolMismatch};

/// The header's name.
pub(crate) const HEADER: &str = "sec-websocket-protocol";

/// Offer `protocols` (in order of preference) on `request`: replaces any
/// `Sec-WebSocket-Protocol` of the application's; none offered leaves the headers as
/// they are.
pub(super) fn offer(request: &mut HeaderMap, protocols: &[String]) -> Result<(), ReachFailure> {
    if protocols.is_empty() {
        return Ok(());
    }
    let value = HeaderValue::from_str(&protocols.join(", "))
        .map_err(|_| ReachFailure::Io("invalid subprotocol name".into()))?;
    request.insert(HEADER, value);
    Ok(())
}

/// The subprotocols a request offers, in its order.
pub(super) fn offered(request: &HeaderMap) -> Vec<String> {
    request
        .get_all(HEADER)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

/// The subprotocol a response head (status line, headers, blank line) names, if any:
/// its first `Sec-WebSocket-Protocol`, as sent (lossily decoded, trimmed).
pub(crate) fn answered(head: &[u8]) -> Option<String> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    // A head cut short (the kept bytes' bound) still gives the headers parsed so far.
    let _ = response.parse(head);
    response
        .headers
        .iter()
        .take_while(|h| !h.name.is_empty())
        .find(|h| h.name.eq_ignore_ascii_case(HEADER))
        .map(|h| String::from_utf8_lossy(h.value).trim().to_string())
}

/// The failure of a dial whose 101 tungstenite refused for its subprotocol.
/// `offered` is what the request offered ([`offered`]).
pub(super) fn mismatch(offered: Vec<String>, scanner: &Mutex<FrameScanner>) -> ReachFailure {
    let answered = answered(lock(scanner).response_head());
    ReachFailure::Subprotocol(Box::new(SubprotocolMismatch { offered, answered }))
}

/// The core's input for an upgrade that succeeded: with the subprotocol the server chose
/// (tungstenite has checked that it was offered). The kept response head goes.
pub(super) fn succeeded(scanner: &Mutex<FrameScanner>) -> Input {
    let mut scanner = lock(scanner);
    let protocol = answered(scanner.response_head());
    scanner.forget_head();
    match protocol {
        Some(protocol) => Input::DialSucceededWith { protocol },
        None => Input::DialSucceeded,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_is_read_from_a_head_whole_or_cut_short() {
        let head = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                     Sec-WebSocket-Protocol:  chat.v2 \r\nConnection: Upgrade\r\n\r\n";
        assert_eq!(answered(head).as_deref(), Some("chat.v2"));
        let cut = head.windows(10).position(|w| w == b"Connection").unwrap();
        assert_eq!(answered(&head[..cut]).as_deref(), Some("chat.v2"));
        assert_eq!(answered(&head[..40]), None);
        assert_eq!(answered(b"HTTP/1.1 101 OK\r\n\r\n"), None);
        assert_eq!(answered(b"\xff\x00garbage"), None);
    }

    #[test]
    fn the_offer_replaces_the_applications_header_and_reads_back_in_order() {
        let mut h = HeaderMap::new();
        h.insert(HEADER, HeaderValue::from_static("old"));
        offer(&mut h, &["a".into(), "b".into()]).unwrap();
        assert_eq!(h.get_all(HEADER).iter().count(), 1);
        assert_eq!(offered(&h), ["a", "b"]);
        offer(&mut h, &[]).unwrap();
        assert_eq!(offered(&h), ["a", "b"], "an empty list leaves it");
    }
}
