//! What async-tungstenite 0.35 / tungstenite 0.30 hand a client for a received close
//! frame, pinned code by code.
//!
//! # Finding
//!
//! **tungstenite rewrites 1014 to 1002.** When a close frame arrives in the `Active`
//! state, `WebSocketContext::do_close` replaces any code whose
//! `CloseCode::is_allowed()` is false with `CloseFrame { code: 1002 (Protocol), reason:
//! "Protocol violation" }`, hands that to the application as `Message::Close`, and
//! echoes the rewritten frame back to the server. `CloseCode::from(u16)` maps 1014 (it
//! has no named variant in tungstenite) to `Bad(1014)`, which is not allowed. So are
//! 1004, 1005, 1006, 1015, 1016–2999 (`Reserved`), < 1000 and ≥ 5000 (`Bad`): each of
//! them reaches the client as 1002 "Protocol violation", and the original reason is lost
//! too. Unchanged: 1000–1003, 1007–1013, 3000–4999 (code and reason). A close frame with
//! an empty payload reaches the client as `Message::Close(None)` (the driver reports
//! that as 1005, "no status").
//!
//! Consequence for the driver: classifying the `CloseCode` tungstenite hands over would
//! turn 1014 (bad gateway, *transient*: retry) into 1002 (*protocol*: no retry over
//! WebSockets), and 1002 is also what a server that really sent 1002 produces, so the
//! two cannot be told apart from the message alone (not even by the reason: a server
//! may send 1002 "Protocol violation" itself).
//!
//! Can the raw frame be recovered through tungstenite? No:
//! - `Message::Frame` is only for *sending* raw frames; the read path
//!   (`read_message_frame`) never yields it, only Text/Binary/Ping/Pong/Close.
//! - `WebSocketConfig` has no option about close codes (its fields are buffer sizes,
//!   message/frame size limits and `accept_unmasked_frames`).
//!
//! It can be recovered below tungstenite: the close frame is on the wire unchanged, so a
//! wrapper around the transport stream that watches the server's bytes (HTTP response,
//! then frame headers) can keep the last close frame's payload; the driver reads it via
//! `WebSocketStream::get_ref()` when `Message::Close` arrives. The last test here does
//! that with a minimal tap (fine for this test's small unmasked frames) and gets 1014
//! back. (Server side, tungstenite does the same rewriting of what clients send.)
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use async_io::Timer;
use async_net::TcpStream;
use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use async_tungstenite::tungstenite::Message;
use futures_lite::{future, AsyncRead, AsyncWrite, StreamExt};
use redial_testkit::{Act, Behavior, ConnInfo, WsServer};

/// Fails the test instead of hanging when a future takes more than 10 s.
async fn within<T>(fut: impl std::future::Future<Output = T>) -> T {
    future::or(fut, async {
        Timer::after(Duration::from_secs(10)).await;
        panic!("timed out after 10 s");
    })
    .await
}

/// (code sent on the wire, reason sent, what the client is handed: `(code, reason)`).
type Case = (Option<u16>, &'static str, Option<(u16, &'static str)>);

/// Server script: connection `i` (1-based) closes at once with `CASES[i - 1].0`.
const CASES: &[Case] = &[
    (
        Some(1014),
        "bad gateway",
        Some((1002, "Protocol violation")),
    ),
    (None, "", None),
    (Some(1005), "", Some((1002, "Protocol violation"))),
    (Some(1015), "tls", Some((1002, "Protocol violation"))),
    (Some(999), "low", Some((1002, "Protocol violation"))),
    (Some(5000), "high", Some((1002, "Protocol violation"))),
    (Some(1004), "", Some((1002, "Protocol violation"))),
    (Some(1016), "", Some((1002, "Protocol violation"))),
    (Some(4000), "app", Some((4000, "app"))),
    (Some(3000), "unauthorized", Some((3000, "unauthorized"))),
    (Some(1000), "done", Some((1000, "done"))),
    (
        Some(1002),
        "Protocol violation",
        Some((1002, "Protocol violation")),
    ),
    (Some(1008), "", Some((1008, ""))),
    (Some(1011), "oops", Some((1011, "oops"))),
    (Some(1012), "", Some((1012, ""))),
    (Some(1013), "", Some((1013, ""))),
];

fn script(conn: &ConnInfo) -> Behavior {
    let (code, reason, _) = CASES[(conn.index - 1) % CASES.len()];
    Behavior::Accept(vec![Act::Close {
        code,
        reason: reason.to_string(),
    }])
}

#[async_std::test]
async fn tungstenite_rewrites_disallowed_close_codes_to_1002() {
    within(async {
        let server = WsServer::start(script).await.unwrap();
        for (i, &(sent, _, expected)) in CASES.iter().enumerate() {
            let tcp = TcpStream::connect(server.addr()).await.unwrap();
            let (mut ws, _) = async_tungstenite::client_async(server.url(), tcp)
                .await
                .unwrap();
            let seen = match ws.next().await {
                Some(Ok(Message::Close(frame))) => {
                    frame.map(|f| (u16::from(f.code), f.reason.as_str().to_owned()))
                }
                other => panic!("case {i} ({sent:?}): expected a close, got {other:?}"),
            };
            let expected = expected.map(|(code, reason)| (code, reason.to_owned()));
            assert_eq!(seen, expected, "case {i}: server sent {sent:?}");
            // Reading on flushes the client's close answer; the stream then ends.
            assert!(ws.next().await.is_none());
        }
        // The client echoes the frame it was handed, rewritten: the server sees 1002 too.
        server.wait_closes(CASES.len()).await;
        let closes = server.closes_received();
        assert_eq!(
            closes[0],
            (1, Some((1002, "Protocol violation".to_owned())))
        );
        assert_eq!(closes[1], (2, None));
    })
    .await;
}

#[test]
fn close_code_mapping_for_the_codes_in_question() {
    // 1014 has no named variant: it is `Bad`, like < 1000 and ≥ 5000; 1015 is `Tls`.
    for code in [1014u16, 999, 5000, 1004, 0] {
        let mapped = CloseCode::from(code);
        assert!(!mapped.is_allowed(), "{code} is not allowed");
        assert_eq!(
            u16::from(mapped),
            code,
            "the conversion itself keeps the number"
        );
        assert_eq!(format!("{mapped:?}"), format!("Bad({code})"));
    }
    assert_eq!(CloseCode::from(1015), CloseCode::Tls);
    assert_eq!(CloseCode::from(1005), CloseCode::Status);
    assert_eq!(format!("{:?}", CloseCode::from(1016)), "Reserved(1016)");
    assert_eq!(format!("{:?}", CloseCode::from(4000)), "Library(4000)");
    assert!(CloseCode::from(4000).is_allowed() && CloseCode::from(3000).is_allowed());
    for code in [1015u16, 1005, 1006, 1016, 2999] {
        assert!(!CloseCode::from(code).is_allowed(), "{code} is not allowed");
    }
}

/// Keeps every byte read from the server.
struct Tap {
    inner: TcpStream,
    seen: Arc<Mutex<Vec<u8>>>,
}

impl AsyncRead for Tap {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(n)) = &poll {
            self.seen.lock().unwrap().extend_from_slice(&buf[..*n]);
        }
        poll
    }
}

impl AsyncWrite for Tap {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

/// The payload of the last close frame in server-to-client bytes (after the HTTP
/// response). Minimal: unmasked frames, as servers send them.
fn last_close_payload(bytes: &[u8]) -> Option<Vec<u8>> {
    let start = bytes.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let (mut at, mut last) = (start, None);
    while at + 2 <= bytes.len() {
        let opcode = bytes[at] & 0x0f;
        let (len, header) = match bytes[at + 1] & 0x7f {
            126 => (
                u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]) as usize,
                4,
            ),
            127 => (
                u64::from_be_bytes(bytes[at + 2..at + 10].try_into().ok()?) as usize,
                10,
            ),
            n => (n as usize, 2),
        };
        let payload = bytes.get(at + header..at + header + len)?;
        if opcode == 0x8 {
            last = Some(payload.to_vec());
        }
        at += header + len;
    }
    last
}

#[async_std::test]
async fn raw_1014_is_recoverable_from_the_wire() {
    within(async {
        let server = WsServer::start(|_: &ConnInfo| {
            Behavior::Accept(vec![
                Act::Text("first".into()),
                Act::Close {
                    code: Some(1014),
                    reason: "upstream down".into(),
                },
            ])
        })
        .await
        .unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let tap = Tap {
            inner: TcpStream::connect(server.addr()).await.unwrap(),
            seen: seen.clone(),
        };
        let (mut ws, _) = async_tungstenite::client_async(server.url(), tap)
            .await
            .unwrap();
        assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("first"));
        match ws.next().await {
            Some(Ok(Message::Close(Some(frame)))) => assert_eq!(frame.code, CloseCode::Protocol),
            other => panic!("expected the rewritten close, got {other:?}"),
        }
        // What tungstenite hid is still in the bytes the stream wrapper saw.
        let raw = last_close_payload(&ws.get_ref().seen.lock().unwrap())
            .expect("a close frame on the wire");
        assert_eq!(u16::from_be_bytes([raw[0], raw[1]]), 1014);
        assert_eq!(&raw[2..], b"upstream down");
    })
    .await;
}
