//! Issue 8, part 3: hostile servers, through the driver. Oversized frames and messages,
//! a never-ending fragmented message, invalid UTF-8 in a text frame and in a close
//! reason, a ping flood, and close codes that must never be on the wire (1005, 1006,
//! 1015). For each: the client reads a bounded number of bytes (limits set with
//! `max_message_size`), ends the connection with a cause that names the problem, does
//! not panic, and follows the policy's decision for it.

mod driver_support;
mod hostile_support;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use driver_support::*;
use futures_lite::StreamExt;
use hostile_support::{frame, Hostile, Then};
use redial::core::{Event, StateName};
use redial::driver::{Client, ClientEvent};
use redial_testkit::{Act, Behavior, TestCert, WsServer};

/// The client's limits: 64 KiB per message, 16 KiB per frame.
const MAX_MESSAGE: usize = 64 << 10;
const MAX_FRAME: usize = 16 << 10;
/// What a client may read past its message limit: tungstenite reads ahead into a
/// buffer of 128 KiB, plus one frame.
const READ_AHEAD: usize = (128 << 10) + MAX_FRAME;

/// Runs a client (limits as above, `max_attempts` dials, no fallback) against `peer`
/// until it stops; returns the final cause and every core event.
async fn run(peer: &Hostile, max_attempts: u32) -> (String, Vec<Event>) {
    let mut config = fast_default();
    config.budget.max_attempts = max_attempts;
    let peer = peer.clone();
    let (client, driver) = Client::builder("ws://hostile.invalid/")
        .config(config)
        .max_message_size(MAX_MESSAGE, MAX_FRAME)
        .connector(move |_| {
            let stream = peer.stream();
            async move { Ok(stream) }
        })
        .build()
        .unwrap();
    let mut events = client.events();
    let cause = within(Duration::from_secs(20), "the client to stop", driver.run()).await;
    drop(client);
    let mut seen = Vec::new();
    while let Some(e) = events.next().await {
        if let ClientEvent::Core(e) = e {
            seen.push(e);
        }
    }
    (cause.expect("a cause"), seen)
}

fn closes(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Closed { failure } => Some(format!("{failure} [class {}]", failure.class())),
            _ => None,
        })
        .collect()
}

/// Every connection ended with `needle` in its cause; the policy retried (a transient
/// class) until the budget of 2 dials was spent, then stopped.
fn dropped_and_retried(cause: &str, events: &[Event], needle: &str) {
    let closes = closes(events);
    assert_eq!(closes.len(), 2, "{events:#?}");
    for c in &closes {
        assert!(
            c.contains(needle) && c.ends_with("[class transient]"),
            "{c}"
        );
    }
    assert_eq!(count(events, "dial"), 2);
    assert_eq!(count(events, "retry"), 1);
    assert_eq!(count(events, "gave_up"), 1);
    assert!(cause.contains("2 of 2 dials failed"), "{cause}");
}

#[async_std::test]
async fn an_oversized_frame_is_refused_from_its_header() {
    // A binary frame announcing 1 TiB, then zeros without end (64 MiB at most).
    let mut head = vec![0x82, 127];
    head.extend((1u64 << 40).to_be_bytes());
    let peer = Hostile::new(head, Then::Eof).flood(vec![0; 4096], 64 << 20);
    let (cause, events) = run(&peer, 2).await;
    dropped_and_retried(&cause, &events, "Message too long");
    let read = peer.most_read.load(Ordering::SeqCst);
    assert!(read <= READ_AHEAD, "read {read} bytes of the frame");
}

#[async_std::test]
async fn an_oversized_message_in_small_frames_is_refused_at_the_limit() {
    // 10 fragments of 8 KiB: 80 KiB against 64 KiB, each frame within 16 KiB.
    let chunk = vec![b'a'; 8 << 10];
    let mut head = frame(0x01, &chunk);
    for i in 1..10 {
        head.extend(frame(if i == 9 { 0x80 } else { 0x00 }, &chunk));
    }
    let (cause, events) = run(&Hostile::new(head, Then::Eof), 2).await;
    dropped_and_retried(&cause, &events, "Message too long");
    assert_eq!(count(&events, "stable"), 0, "no message was delivered");
}

#[async_std::test]
async fn a_never_ending_fragmented_message_is_cut_off_at_the_limit() {
    // A text message begun, then continuation frames of 1 KiB without end (64 MiB at most).
    let peer =
        Hostile::new(frame(0x01, b"start"), Then::Eof).flood(frame(0x00, &[b'x'; 1024]), 64 << 20);
    let (cause, events) = run(&peer, 2).await;
    dropped_and_retried(&cause, &events, "Message too long");
    let read = peer.most_read.load(Ordering::SeqCst);
    assert!(
        read <= MAX_MESSAGE + READ_AHEAD,
        "read {read} bytes of a never-ending message"
    );
}

#[async_std::test]
async fn invalid_utf8_in_a_text_frame_ends_the_connection() {
    let peer = Hostile::new(frame(0x81, &[b'o', b'k', 0xff, 0xfe]), Then::Eof);
    let (cause, events) = run(&peer, 2).await;
    dropped_and_retried(&cause, &events, "UTF-8");
}

#[async_std::test]
async fn invalid_utf8_in_a_close_reason_keeps_the_servers_code_and_its_decision() {
    // Close 1008 with the reason bytes "ok\xff\xfe". The WebSocket library refuses the
    // frame (and with it the code); the driver takes the code from the raw frame, so
    // the policy decides on the server's 1008 (fall back: here, with no fallback, stop)
    // instead of retrying a "drop".
    let peer = Hostile::new(
        frame(0x88, &[0x03, 0xf0, b'o', b'k', 0xff, 0xfe]),
        Then::Eof,
    );
    let (cause, events) = run(&peer, 2).await;
    let closes = closes(&events);
    assert_eq!(closes.len(), 1, "{events:#?}");
    assert!(
        closes[0].contains("1008") && closes[0].contains("UTF-8"),
        "{}",
        closes[0]
    );
    assert!(closes[0].ends_with("[class policy]"), "{}", closes[0]);
    assert_eq!(count(&events, "dial"), 1);
    assert_eq!(count(&events, "retry"), 0);
    assert!(cause.contains("1008"), "{cause}");
}

/// Starts a client (one dial) on `peer`'s flood; returns once `at` flood bytes are read.
async fn flooded_client(peer: Hostile, at: usize) -> (Client, redial::driver::Events) {
    let (tx, flooded) = async_channel::bounded(1);
    let peer = Hostile {
        flooded: Some((at, tx)),
        ..peer
    };
    let mut config = fast_default();
    config.budget.max_attempts = 1;
    let (client, events) = spawn(
        Client::builder("ws://hostile.invalid/")
            .config(config)
            .max_message_size(MAX_MESSAGE, MAX_FRAME)
            .connector(move |_| {
                let stream = peer.stream();
                async move { Ok(stream) }
            }),
    );
    within(Duration::from_secs(20), "the flood", flooded.recv())
        .await
        .unwrap();
    (client, events)
}

#[async_std::test]
async fn a_ping_flood_keeps_the_connection_alive_until_it_stops() {
    // "hello" (the connection is stable), 100,000 pings, then silence.
    let peer = Hostile::new(frame(0x81, b"hello"), Then::Stall).flood(frame(0x89, &[]), 200_000);
    let (client, mut events) = flooded_client(peer, usize::MAX).await;
    // Every ping was read, answered and taken as a sign of life; then the heartbeat's
    // own ping goes unanswered.
    let seen = until_kind(&mut events, "retry").await;
    let closes = closes(&seen);
    assert_eq!(closes.len(), 1, "{seen:#?}");
    assert!(
        closes[0].contains("no pong") && closes[0].ends_with("[class transient]"),
        "{closes:?}"
    );
    assert_eq!(count(&seen, "stable"), 1);
    within(Duration::from_secs(5), "the close", client.close()).await;
}

#[async_std::test]
async fn a_never_ending_ping_flood_does_not_hold_the_client() {
    // Pings without end (1 GB at most): the application's close still ends the client.
    let peer = Hostile::new(frame(0x81, b"hello"), Then::Eof).flood(frame(0x89, &[]), 1 << 30);
    let most_read = peer.most_read.clone();
    let (client, mut events) = flooded_client(peer, 1 << 20).await;
    within(Duration::from_secs(5), "the close", client.close()).await;
    let seen = until_state(&mut events, StateName::Stopped).await;
    let Some(Event::StateChanged { cause, .. }) = seen.last() else {
        unreachable!()
    };
    // Closed by the application; the flooding server never answers the close, so the
    // client lets go after its close grace.
    assert!(
        cause.to_string().starts_with("closed by the application"),
        "{cause}"
    );
    assert!(
        closes(&seen).is_empty(),
        "the pings kept it alive: {seen:#?}"
    );
    let read = most_read.load(Ordering::SeqCst);
    assert!(read < 1 << 30, "read the whole flood");
}

/// Close codes that must never be on the wire, sent in a close frame by a real
/// (loopback) server: the policy classifies the raw code, not the library's 1002.
#[async_std::test]
async fn close_codes_that_must_never_be_on_the_wire_are_classified_by_their_raw_code() {
    let cert = TestCert::localhost();
    for (code, name, class, retries) in [
        (1005u16, "1005 (no status received)", "transient", 1),
        (1006, "1006 (abnormal closure)", "transient", 1),
        (1015, "1015 (TLS handshake failure)", "protocol", 0),
    ] {
        let ws = WsServer::start(move |_| {
            Behavior::Accept(vec![Act::Close {
                code: Some(code),
                reason: "x".into(),
            }])
        })
        .await
        .unwrap();
        let mut config = fast_default();
        config.budget.max_attempts = 2;
        let (client, mut events) = spawn(builder(&ws, &cert, config));
        let seen = until_kind(&mut events, "gave_up").await;
        let closes = closes(&seen);
        assert_eq!(closes.len(), retries + 1, "{code}: {closes:?}");
        for c in &closes {
            assert!(
                c.starts_with(&format!(
                    "server closed the WebSocket with {name}, reason \"x\""
                )),
                "{c}"
            );
            assert!(c.ends_with(&format!("[class {class}]")), "{c}");
        }
        assert_eq!(count(&seen, "retry"), retries, "{code}");
        let cause = cause_of(&seen, "gave_up");
        assert!(cause.contains(name), "{cause}");
        client.closed().await;
        ws.shutdown().await;
    }
}

/// A server that stops reading while the client still has data to write must not wedge
/// the client: the heartbeat, or the application's `close`, must still end it.
///
/// This found a driver bug: writes were awaited with nothing racing them, so once the
/// socket buffers were full (about 4 MB on loopback) the driver waited for ever. Writes
/// now make progress inside the driver's poll (`src/driver/writer.rs`).
#[async_std::test]
async fn a_server_that_stops_reading_cannot_wedge_the_client() {
    let ws = WsServer::start(|_| Behavior::Accept(vec![Act::Text("hi".into()), Act::Mute]))
        .await
        .unwrap();
    let (client, mut events) = spawn(builder(&ws, &TestCert::localhost(), fast_default()));
    // Open (not stable: the muted server's connection dies of the pong timeout before
    // min_uptime, and a message alone is not stability).
    until_kind(&mut events, "connected").await;
    // Up to 12 MB in messages of 60 kB, as fast as the queue (1 MiB) takes them.
    let (start, big) = (Instant::now(), "x".repeat(60_000));
    let mut accepted = 0;
    while accepted < 200 && start.elapsed() < Duration::from_secs(5) {
        match client.try_send(big.clone()) {
            Ok(()) => accepted += 1,
            // Full: pace the retries (the driver drains the queue meanwhile).
            Err(_) => {
                async_io::Timer::after(Duration::from_millis(5)).await;
            }
        };
    }
    let seen = until_kind(&mut events, "closed").await;
    let closes = closes(&seen);
    assert!(closes[0].contains("no pong"), "{closes:?}");
    within(Duration::from_secs(5), "the close", client.close()).await;
}

/// On a single-threaded executor, a transport that is always ready must not starve the
/// executor's other tasks: the driver yields every so many wake-ups.
#[test]
fn a_flood_does_not_starve_other_tasks_on_a_single_threaded_executor() {
    let (done, finished) = std::sync::mpsc::channel();
    // A thread of its own: a starved executor fails this test instead of hanging it.
    std::thread::spawn(move || {
        let peer = Hostile::new(frame(0x81, b"hello"), Then::Eof).flood(frame(0x89, &[]), 1 << 30);
        let most_read = peer.most_read.clone();
        let (client, driver) = Client::builder("ws://hostile.invalid/")
            .config(fast_default())
            .connector(move |_| {
                let stream = peer.stream();
                async move { Ok(stream) }
            })
            .build()
            .unwrap();
        let ex = smol::LocalExecutor::new();
        let answer = futures_lite::future::block_on(ex.run(async {
            let driver = ex.spawn(driver.run());
            // Runs only when the flooded driver gives the thread back.
            let other = ex.spawn(async { 42 }).await;
            close_in_time(&client).await;
            driver.await;
            other
        }));
        let _ = done.send((answer, most_read.load(Ordering::SeqCst)));
    });
    let (answer, read) = finished
        .recv_timeout(Duration::from_secs(30))
        .expect("the other task never ran: the driver starved the executor");
    assert_eq!(answer, 42);
    assert!(read < 1 << 30, "read the whole flood");
}
