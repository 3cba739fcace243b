//! Issue 12, the application side: the driver never waits on the application. A client
//! whose application reads nothing, reads late, drops request streams or sends too much
//! still runs its timers and closes in bounded time, and loses nothing it accepted.
//!
//! Each test names the bug it guards against and why it failed on the code before
//! issue 12 (commit 7d73981).

mod driver_support;

use std::time::Duration;

use driver_support::*;
use futures_lite::StreamExt;
use redial::core::StateName;
use redial::driver::{ClientEvent, Events, Message, Replay, RequestError, SendError};
use redial_testkit::{Act, Behavior, Received, TestCert, WsServer};

const DONE: &str = r#"{"type":"response.completed"}"#;

/// Wait for the first event `pick` accepts (with a 10 s guard).
async fn event<T>(events: &mut Events, pick: impl Fn(&ClientEvent) -> Option<T>) -> T {
    let wait = async {
        while let Some(e) = events.next().await {
            if let Some(t) = pick(&e) {
                return t;
            }
        }
        panic!("the event stream ended");
    };
    within(Duration::from_secs(10), "an event", wait).await
}

fn texts(n: usize) -> Vec<Act> {
    let mut acts: Vec<Act> = (0..n).map(|i| Act::Text(format!("s{i}"))).collect();
    acts.push(Act::Hold);
    acts
}

/// Bug 2 of the issue: the server sends 300 messages, the application holds the client
/// and never asks for `messages()`. Before, the driver awaited the full inbound channel
/// (256) inside its poll, so `close()` never returned. Now the messages are counted
/// (`Discarded`), not kept, and `close()` returns within `close_grace`.
#[async_std::test]
async fn close_returns_when_the_application_never_reads_300_server_messages() {
    let ws = WsServer::start(|_| Behavior::Accept(texts(300)))
        .await
        .unwrap();
    let cert = TestCert::localhost();
    let (client, mut events) = spawn(builder(&ws, &cert, fast_default()));
    event(&mut events, |e| {
        matches!(e, ClientEvent::Discarded { .. }).then_some(())
    })
    .await;
    // The server has sent them all once it reads what the client writes.
    client.try_send("after").unwrap();
    within(Duration::from_secs(5), "after", ws.wait_received(1)).await;
    // close_grace is 300 ms; one second covers the scheduling.
    within(Duration::from_secs(1), "close()", client.close()).await;
    assert_eq!(client.state(), StateName::Stopped);
    // The last report, when the driver ended, counts all 300.
    let mut last = 0;
    while let Some(e) = events.next().await {
        if let ClientEvent::Discarded { total } = e {
            last = total;
        }
    }
    assert_eq!(last, 300);
}

/// A stream held and not read: 256 messages wait in it, then the driver stops reading
/// the socket (`ReadingPaused`). Meanwhile the heartbeat (pong timeout 200 ms) does not
/// count the unread pongs against the server: the connection survives several pong
/// timeouts, and every message then arrives once, in order. Before, the driver awaited
/// the stream's room inside its poll (no timers, no commands).
#[async_std::test]
async fn a_stream_not_read_pauses_reading_and_the_heartbeat_does_not_blame_the_server() {
    let ws = WsServer::start(|_| Behavior::Accept(texts(600)))
        .await
        .unwrap();
    let cert = TestCert::localhost();
    let (client, mut events, mut messages) =
        spawn_with_messages(builder(&ws, &cert, fast_default()));
    let stream = event(&mut events, |e| match e {
        ClientEvent::ReadingPaused { stream } => Some(*stream),
        _ => None,
    })
    .await;
    assert_eq!(stream, "messages");
    // Five pong timeouts pass with reading paused (a bounded wait; what is checked
    // after it is that the connection is the same one and nothing was lost).
    async_io::Timer::after(Duration::from_millis(1000)).await;
    let read = async {
        let mut got = Vec::new();
        while got.len() < 600 {
            got.push(messages.next().await.expect("a message"));
        }
        got
    };
    let got = within(Duration::from_secs(10), "600 messages", read).await;
    let want: Vec<Message> = (0..600).map(|i| Message::from(format!("s{i}"))).collect();
    assert_eq!(got, want);
    assert_eq!(ws.connections(), 1, "the heartbeat ended the connection");
    assert_eq!(client.state(), StateName::Open);
    event(&mut events, |e| {
        matches!(e, ClientEvent::ReadingResumed).then_some(())
    })
    .await;
    within(Duration::from_secs(1), "close()", client.close()).await;
}

/// `close()` returns in bounded time while a held stream is full and reading paused.
#[async_std::test]
async fn close_returns_while_reading_is_paused() {
    let ws = WsServer::start(|_| Behavior::Accept(texts(400)))
        .await
        .unwrap();
    let cert = TestCert::localhost();
    let (client, mut events, _unread) = spawn_with_messages(builder(&ws, &cert, fast_default()));
    event(&mut events, |e| {
        matches!(e, ClientEvent::ReadingPaused { .. }).then_some(())
    })
    .await;
    within(Duration::from_secs(1), "close()", client.close()).await;
}

/// Bug "a message larger than `queue.max_bytes` fails with 'queue full (0 messages, 0
/// bytes)'": it now gets its own error, with its size and the bound.
#[async_std::test]
async fn a_message_over_the_byte_bound_is_too_large_not_full() {
    let ws = WsServer::start(|_| Behavior::StallHandshake).await.unwrap();
    let cert = TestCert::localhost();
    let mut config = fast_default();
    config.queue.max_bytes = 10;
    let (client, _events) = spawn(builder(&ws, &cert, config));
    match client.try_send("0123456789a") {
        Err(SendError::TooLarge {
            message,
            size: 11,
            limit: 10,
        }) => assert_eq!(message, Message::from("0123456789a")),
        other => panic!("expected TooLarge, got {other:?}"),
    }
    client.try_send("0123456789").unwrap();
    assert!(matches!(client.try_send("x"), Err(SendError::Full { .. })));
    close_in_time(&client).await;
}

/// Wait (bounded: 200 × 10 ms) until `send` accepts `m`.
async fn send_when_room(client: &redial::driver::Client, m: &str) {
    for _ in 0..200 {
        if client.try_send(m).is_ok() {
            return;
        }
        async_io::Timer::after(Duration::from_millis(10)).await;
    }
    panic!("no room for {m} after 2 s");
}

/// Bug "requests bypass the send queue's bounds" and "dropping the `RequestStream`
/// does not free the line": a request waiting to be written holds room in the queue
/// (a request over the bound is refused with the body handed back); dropping its
/// stream frees the room, and the server never receives it.
#[async_std::test]
async fn requests_count_against_the_queue_and_a_dropped_one_frees_its_room() {
    let ws = WsServer::start(|c| match c.index {
        1 => Behavior::StallHandshake,
        _ => Behavior::Accept(vec![Act::Echo]),
    })
    .await
    .unwrap();
    let cert = TestCert::localhost();
    let mut config = fast_default();
    config.queue.max_messages = 1;
    config.timeouts.handshake = Duration::from_millis(500);
    let (client, _events) = spawn(builder(&ws, &cert, config));
    let first = client.request("dropped").await.unwrap();
    assert!(matches!(client.try_send("m"), Err(SendError::Full { .. })));
    match client.request("second").await {
        Err(RequestError::Refused(SendError::Full { message, .. })) => {
            assert_eq!(message, Message::from("second"))
        }
        Err(e) => panic!("expected Refused(Full), got {e:?}"),
        Ok(_) => panic!("expected Refused(Full), got a stream"),
    }
    drop(first);
    send_when_room(&client, "m").await;
    within(Duration::from_secs(10), "m", ws.wait_received(1)).await;
    let got: Vec<_> = ws.received().into_iter().map(|(_, r)| r).collect();
    assert_eq!(got, [Received::Text("m".into())]);
    close_in_time(&client).await;
}

/// Bug "one [request] whose terminal message never comes blocks all later requests":
/// the request times out (`request_idle_timeout`), its stream ends with an error item
/// that says it was written and unanswered, and the next request completes. Before,
/// there was no idle timeout: the second request was never written.
#[async_std::test]
async fn a_request_without_an_answer_times_out_and_the_next_one_completes() {
    let respond = Act::Respond(std::sync::Arc::new(|body: &str| match body {
        "second" => vec!["part".to_string(), DONE.to_string()],
        _ => Vec::new(),
    }));
    let ws = WsServer::start(move |_| Behavior::Accept(vec![respond.clone()]))
        .await
        .unwrap();
    let cert = TestCert::localhost();
    let b = builder(&ws, &cert, fast_default()).request_idle_timeout(Duration::from_millis(200));
    let (client, _events) = spawn(b);
    let first = client.request("first").await.unwrap();
    let second = client.request("second").await.unwrap();
    let items: Vec<_> = within(Duration::from_secs(5), "first", first.collect()).await;
    match items.as_slice() {
        [Err(RequestError::TimedOut {
            sent: true,
            response_started: false,
            ..
        })] => {}
        other => panic!("expected one TimedOut item, got {other:?}"),
    }
    let items: Vec<_> = within(Duration::from_secs(5), "second", second.collect()).await;
    let items: Vec<Message> = items.into_iter().map(|i| i.unwrap()).collect();
    assert_eq!(items, [Message::from("part"), Message::from(DONE)]);
    close_in_time(&client).await;
}

/// The first connection takes the request and resets without answering; the second
/// answers. Returns what the request's stream yielded, the replays reported, and how
/// many times the server received the request.
async fn unanswered_then_dropped(
    replay: Replay,
) -> (Vec<Result<Message, RequestError>>, Vec<ClientEvent>, usize) {
    let ws = WsServer::start(|c| match c.index {
        1 => Behavior::Accept(vec![Act::HoldFor(Duration::from_millis(200)), Act::Reset]),
        _ => Behavior::Accept(vec![Act::Respond(std::sync::Arc::new(|_: &str| {
            vec![DONE.to_string()]
        }))]),
    })
    .await
    .unwrap();
    let cert = TestCert::localhost();
    let (client, mut events) = spawn(builder(&ws, &cert, fast_default()).replay(replay));
    let stream = client.request("order").await.unwrap();
    let items: Vec<_> = within(Duration::from_secs(10), "the request", stream.collect()).await;
    let received = ws.received().len();
    close_in_time(&client).await;
    let mut replays = Vec::new();
    while let Some(e) = events.next().await {
        if matches!(e, ClientEvent::Replayed { .. }) {
            replays.push(e);
        }
    }
    (items, replays, received)
}

/// Bug "a request written but unanswered when the connection drops is replayed by
/// default with no event": the replay is now an event with its cause. Before, the
/// request was sent twice and nothing said so.
#[async_std::test]
async fn every_replay_is_an_event_with_its_cause() {
    let (items, replays, received) = unanswered_then_dropped(Replay::IfUnanswered).await;
    assert_eq!(received, 2, "written on both connections");
    assert_eq!(items.len(), 1);
    assert_eq!(items[0], Ok(Message::from(DONE)));
    match replays.as_slice() {
        [ClientEvent::Replayed {
            cause,
            response_started: false,
        }] => assert!(!cause.is_empty()),
        other => panic!("expected one Replayed event, got {other:?}"),
    }
}

/// With `Replay::Never`, the request is not written again: its stream ends with an
/// error item that says it was written and that no response had arrived.
#[async_std::test]
async fn replay_never_ends_the_request_with_what_is_known() {
    let (items, replays, received) = unanswered_then_dropped(Replay::Never).await;
    assert_eq!(received, 1);
    assert!(replays.is_empty());
    match items.as_slice() {
        [Err(RequestError::Interrupted {
            sent: true,
            response_started: false,
            ..
        })] => {}
        other => panic!("expected one Interrupted item, got {other:?}"),
    }
}

/// A written request waiting to be replayed when the client stops still says it was
/// written: the server may have it (before, an unsent request ended with `Stopped`,
/// which reads as "never written").
#[async_std::test]
async fn a_request_waiting_for_its_replay_when_the_client_stops_says_it_was_written() {
    let ws = WsServer::start(|c| match c.index {
        1 => Behavior::Accept(vec![Act::HoldFor(Duration::from_millis(200)), Act::Reset]),
        _ => Behavior::Reject {
            status: 403,
            headers: Vec::new(),
        },
    })
    .await
    .unwrap();
    let cert = TestCert::localhost();
    let (client, mut events) = spawn(builder(&ws, &cert, fast_default()));
    let stream = client.request("order").await.unwrap();
    event(&mut events, |e| {
        matches!(e, ClientEvent::Replayed { .. }).then_some(())
    })
    .await;
    let items: Vec<_> = within(Duration::from_secs(10), "the request", stream.collect()).await;
    match items.as_slice() {
        [Err(RequestError::Interrupted {
            sent: true,
            response_started: false,
            ..
        })] => {}
        other => panic!("expected one Interrupted {{ sent: true }} item, got {other:?}"),
    }
    assert_eq!(ws.received().len(), 1);
    client.closed().await;
}

/// No heartbeat: nothing wakes the driver but the server, the application and the
/// timers a test sets.
fn quiet() -> redial::config::Config {
    let mut c = fast_default();
    c.heartbeat.ping_interval = None;
    c
}

/// A server that answers "ask" with 300 response items, none of them terminal, and
/// anything else with nothing: 256 fill the request's stream, the 257th is held back
/// (reading paused), the rest wait in the socket.
async fn three_hundred_items() -> WsServer {
    let respond = Act::Respond(std::sync::Arc::new(|body: &str| match body {
        "ask" => (0..300).map(|i| format!("i{i}")).collect(),
        _ => Vec::new(),
    }));
    WsServer::start(move |_| Behavior::Accept(vec![respond.clone()]))
        .await
        .unwrap()
}

/// Whether a `ReadingResumed` is among the events already broadcast (none is waited
/// for).
async fn resumed_so_far(events: &mut Events) -> bool {
    let mut resumed = false;
    while let Some(Some(e)) = futures_lite::future::poll_once(events.next()).await {
        resumed |= matches!(e, ClientEvent::ReadingResumed);
    }
    resumed
}

/// A request whose stream is full when it times out: the response item held back for
/// it goes into the stream before the timeout's error item (a spare slot takes it),
/// so nothing that arrived is lost. Here the stream is never read until the end: 256
/// items, the held 257th, then `TimedOut`.
#[async_std::test]
async fn a_held_response_item_goes_before_the_timeout_that_ends_its_request() {
    let ws = three_hundred_items().await;
    let cert = TestCert::localhost();
    let b = builder(&ws, &cert, quiet())
        .request_idle_timeout(Duration::from_millis(300))
        .cancel_grace(Duration::from_millis(200));
    let (client, mut events) = spawn(b);
    let stream = client.request("ask").await.unwrap();
    let paused = event(&mut events, |e| match e {
        ClientEvent::ReadingPaused { stream } => Some(*stream),
        _ => None,
    })
    .await;
    assert_eq!(paused, "request");
    // After the timeout, the rest of the response is discarded and, as it never ends,
    // the connection is recycled: the request has long been over.
    event(&mut events, |e| {
        matches!(e, ClientEvent::CancelSettled { .. }).then_some(())
    })
    .await;
    let items: Vec<_> = within(Duration::from_secs(5), "the stream", stream.collect()).await;
    let (last, got) = items.split_last().expect("items");
    let got: Vec<Message> = got.iter().map(|i| i.clone().unwrap()).collect();
    let want: Vec<Message> = (0..257).map(|i| Message::from(format!("i{i}"))).collect();
    assert_eq!(got, want, "the held 257th item first");
    assert!(
        matches!(
            last,
            Err(RequestError::TimedOut {
                sent: true,
                response_started: true,
                ..
            })
        ),
        "{last:?}"
    );
    close_in_time(&client).await;
}

/// `ReadingResumed` says the application caught up: it comes once every stream the
/// driver fills is at most half full (here the request's: 128 of 256), not as soon as
/// the held item fits, nor only when the stream is empty. The first poke is a message
/// the server receives after the driver has seen the read before it (the driver waits,
/// nothing else happens); the second wakes the driver once 100 items wait.
#[async_std::test]
async fn reading_is_reported_resumed_once_the_request_stream_is_half_read() {
    let ws = three_hundred_items().await;
    let cert = TestCert::localhost();
    let (client, mut events) = spawn(builder(&ws, &cert, quiet()));
    let mut stream = client.request("ask").await.unwrap();
    let paused = event(&mut events, |e| match e {
        ClientEvent::ReadingPaused { stream } => Some(*stream),
        _ => None,
    })
    .await;
    assert_eq!(paused, "request");
    let mut next = async || {
        within(Duration::from_secs(5), "an item", stream.next())
            .await
            .expect("an item")
            .expect("a response item")
    };
    // One read: the held item goes in, and the stream is full again.
    assert_eq!(next().await, Message::from("i0"));
    client.try_send("poke1").unwrap();
    within(Duration::from_secs(5), "poke1", ws.wait_received(2)).await;
    assert!(
        !resumed_so_far(&mut events).await,
        "reported resumed with 256 items waiting"
    );
    // 200 of 300 read: 100 wait, under half of 256.
    for i in 1..200 {
        assert_eq!(next().await, Message::from(format!("i{i}")));
    }
    // A wake-up (the driver is not woken by reads while it holds nothing back).
    client.try_send("poke2").unwrap();
    event(&mut events, |e| {
        matches!(e, ClientEvent::ReadingResumed).then_some(())
    })
    .await;
    close_in_time(&client).await;
}

/// Each discarded message (none held a message stream) is reported once: the first
/// at once, and the driver's end reports only what was not reported yet. A run that
/// discarded nothing reports nothing.
#[async_std::test]
async fn discarded_messages_are_reported_once_and_a_run_without_any_reports_none() {
    let cert = TestCert::localhost();
    for sent in [1, 0] {
        let ws = WsServer::start(move |_| Behavior::Accept(texts(sent)))
            .await
            .unwrap();
        let (client, mut events) = spawn(builder(&ws, &cert, quiet()));
        let mut reports = Vec::new();
        if sent == 1 {
            reports.push(
                event(&mut events, |e| match e {
                    ClientEvent::Discarded { total } => Some(*total),
                    _ => None,
                })
                .await,
            );
        } else {
            until_state(&mut events, StateName::Open).await;
        }
        close_in_time(&client).await;
        let rest = async {
            while let Some(e) = events.next().await {
                if let ClientEvent::Discarded { total } = e {
                    reports.push(total);
                }
            }
        };
        within(Duration::from_secs(5), "the events' end", rest).await;
        let want: &[u64] = if sent == 1 { &[1] } else { &[] };
        assert_eq!(reports, want, "{sent} sent");
    }
}

/// A request sent to a driver that never ran: its command was never taken, and the
/// driver's end (here its drop) takes it and ends its stream. Before, the command
/// channel, kept alive by the client's handle, kept the request and its stream open.
#[async_std::test]
async fn a_request_sent_to_a_driver_that_never_ran_ends_when_the_driver_is_dropped() {
    let ws = WsServer::start(|_| Behavior::Accept(vec![Act::Hold]))
        .await
        .unwrap();
    let cert = TestCert::localhost();
    let (client, driver) = builder(&ws, &cert, quiet()).build().unwrap();
    let stream = client.request("never carried").await.unwrap();
    drop(driver);
    let items: Vec<_> = within(Duration::from_secs(5), "the stream", stream.collect()).await;
    assert!(
        matches!(items.as_slice(), [Err(RequestError::Stopped(_))]),
        "{items:?}"
    );
    assert_eq!(ws.connections(), 0);
}
