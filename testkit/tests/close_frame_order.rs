//! The first of two close frames is the one that counts, however the bytes arrive.
//!
//! `hostile_server`, after-upgrade bytes `88 02 03 e9 88 02 03 f0`: two close frames,
//! 1001 then 1008. tungstenite reports the first close and reads nothing after it, but
//! `FrameScanner` kept the *last* complete close frame it had seen, and the whole input
//! arrives in one read: the driver took 1008 for the code. The other order is the
//! dangerous one (below): a 1008 followed by a 1001 was retried as a transient close.
//! Fixed in `src/driver/raw_close.rs`: the scanner keeps the first close frame.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_lite::StreamExt;
use redial::driver::{Client, ClientEvent};
use redial::policy::ReachFailure;
use redial::testing::{FrameScanner, MemoryPeer};
use redial::{Event, Preset, StateName};

fn close(code: u16) -> Vec<u8> {
    let [a, b] = code.to_be_bytes();
    vec![0x88, 0x02, a, b]
}

/// The client as the fuzz target runs it, with two dials allowed (the peer is served
/// once; a second dial is refused).
fn run(after_upgrade: Vec<u8>) -> (String, Vec<Event>) {
    let mut c = Preset::Default.config();
    c.budget.max_attempts = 2;
    c.backoff.base = Duration::ZERO;
    c.backoff.cap = Some(Duration::ZERO);
    c.seed = Some(1);
    let peer = Arc::new(Mutex::new(Some(MemoryPeer::new(after_upgrade))));
    let (client, driver) = Client::builder("ws://peer.invalid/")
        .config(c)
        .max_message_size(1024, 512)
        .connector(move |_| {
            let served = peer.lock().unwrap().take();
            async move { served.ok_or(ReachFailure::Refused) }
        })
        .build()
        .unwrap();
    let mut events = client.events();
    let cause = futures_lite::future::block_on(driver.run()).unwrap();
    drop(client);
    let seen = futures_lite::future::block_on(async {
        let mut v = Vec::new();
        while let Some(ClientEvent::Core(e)) = events.next().await {
            v.push(e);
        }
        v
    });
    (cause, seen)
}

/// The code of the close the driver handed to the core.
fn closed_code(events: &[Event]) -> Option<u16> {
    events.iter().find_map(|e| match e {
        Event::Closed { failure } => failure.code(),
        _ => None,
    })
}

#[test]
fn the_first_close_frame_is_the_one_reported() {
    let (_, events) = run([close(1001), close(1008)].concat());
    assert_eq!(closed_code(&events), Some(1001), "{events:#?}");
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::RetryScheduled { .. })));
}

#[test]
fn a_1008_followed_by_another_close_is_not_retried() {
    let (cause, events) = run([close(1008), close(1001)].concat());
    assert_eq!(closed_code(&events), Some(1008), "{events:#?}");
    assert!(cause.contains("with 1008 (policy violation)"), "{cause}");
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::RetryScheduled { .. })),
        "{events:#?}"
    );
    let last = events.iter().rev().find_map(|e| match e {
        Event::StateChanged { to, .. } => Some(*to),
        _ => None,
    });
    assert_eq!(last, Some(StateName::Stopped));
}

#[test]
fn frame_scanner_keeps_the_first_close_in_any_chunking() {
    let mut stream = b"HTTP/1.1 101 Switching Protocols\r\n\r\n".to_vec();
    stream.extend([close(1008), vec![0x81, 0x01, b'x'], close(1001)].concat());
    for chunk in 1..=stream.len() {
        let mut s = FrameScanner::new();
        for c in stream.chunks(chunk) {
            s.feed(c);
        }
        assert_eq!(s.close_frame().unwrap().code, Some(1008), "chunk {chunk}");
    }
}
