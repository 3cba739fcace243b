//! Invariant 16: an in-task connection split into a reader task and a writer task (the
//! usual `split()` of a `WebSocketStream`) makes progress from whichever task polls
//! each half. The reader parks in `next()`; the writer's `send` polls the driver, so
//! every waker the socket and the timers hold was once the writer's. The reader must
//! still be woken when a message arrives.
//!
//! The heartbeat is off and the other timers are long, so nothing else polls the
//! connection: without its own wake-up the reader would wait for ever (the guard
//! fails the test instead).

mod driver_random;
mod driver_support;

use std::future::poll_fn;
use std::task::Poll;
use std::time::Duration;

use driver_random::Sockets;
use driver_support::*;
use futures_util::{FutureExt, SinkExt, StreamExt};
use redial::core::StateName;
use redial::driver::{ClientEvent, ConnectionError, Incoming, Message, TransportKind};
use redial::{Config, Event};
use redial_testkit::{Act, Behavior, TestCert, WsServer};

/// No heartbeat, nothing timed within the test's reach.
fn quiet() -> Config {
    let mut c = fast_default();
    c.heartbeat.ping_interval = None;
    c.budget.min_uptime = Duration::from_secs(60);
    c
}

fn echoed(text: &str) -> Option<Incoming> {
    Some(Incoming {
        message: Message::from(text),
        transport: TransportKind::Websocket,
    })
}

#[async_std::test]
async fn a_reader_task_is_woken_for_each_echo_while_the_writer_waits_elsewhere() {
    let cert = TestCert::localhost();
    let server = WsServer::start(|_| Behavior::Accept(vec![Act::Echo]))
        .await
        .unwrap();
    let conn = builder(&server, &cert, quiet()).connection().unwrap();
    let (mut sink, mut stream) = conn.split();
    let (got_tx, got_rx) = async_channel::unbounded();
    let reader = async_std::task::spawn(async move {
        while let Some(incoming) = stream.next().await {
            if got_tx.send(incoming).await.is_err() {
                break;
            }
        }
    });
    for i in 0..5 {
        let text = format!("m{i}");
        // The writer's send returns once the message is written, then the writer
        // waits on the reader's channel, not on the connection.
        within(
            Duration::from_secs(5),
            "send",
            sink.send(text.as_str().into()),
        )
        .await
        .unwrap();
        let got = within(
            Duration::from_secs(3),
            "the echo in the reader",
            got_rx.recv(),
        )
        .await
        .ok();
        assert_eq!(got, echoed(&text));
    }
    within(Duration::from_secs(5), "close", sink.close())
        .await
        .unwrap();
    within(Duration::from_secs(5), "the reader's end", reader).await;
}

#[async_std::test]
async fn a_writer_task_that_fills_the_queue_and_flushes_while_a_reader_task_reads() {
    let cert = TestCert::localhost();
    let server = WsServer::start(|_| Behavior::Accept(vec![Act::Echo]))
        .await
        .unwrap();
    // Two messages fill the queue: the writer waits for room (before the connection
    // is open, and while the socket writes), and then for the flush, while the reader
    // task polls the same driver for the echoes.
    let mut config = quiet();
    config.queue.max_messages = 2;
    let conn = builder(&server, &cert, config).connection().unwrap();
    let (mut sink, mut stream) = conn.split();
    let reader = async_std::task::spawn(async move {
        let mut got = Vec::new();
        while let Some(incoming) = stream.next().await {
            got.push(incoming);
            if got.len() == 20 {
                break;
            }
        }
        got
    });
    for i in 0..20 {
        // `feed`: into the queue, waiting for room only.
        within(
            Duration::from_secs(5),
            "room in the queue",
            sink.feed(format!("m{i}").as_str().into()),
        )
        .await
        .unwrap();
    }
    within(Duration::from_secs(5), "the flush", sink.flush())
        .await
        .unwrap();
    let got = within(Duration::from_secs(5), "every echo", reader).await;
    let expected: Vec<_> = (0..20).filter_map(|i| echoed(&format!("m{i}"))).collect();
    assert_eq!(got, expected);
}

/// Found by `prop_connection_split`: a message fed through `StreamExt::split`'s sink
/// just as the server closes (1002: the client stops) sat in that sink's own slot and
/// was dropped with it, neither written nor handed back. `Connection::split` keeps no
/// slot: a message it accepts is queued at once (then written, or handed back when the
/// client stops); one it does not accept is refused, and the application is told.
#[async_std::test]
async fn a_message_fed_as_the_client_stops_is_handed_back_never_lost() {
    let cert = TestCert::localhost();
    for round in 0..20 {
        let server = WsServer::start(|_| {
            Behavior::Accept(vec![
                Act::HoldFor(Duration::from_millis(8)),
                Act::Close {
                    code: Some(1002),
                    reason: String::new(),
                },
            ])
        })
        .await
        .unwrap();
        let sockets = Sockets::default();
        let conn = builder(&server, &cert, quiet())
            .connector(sockets.connector())
            .connection()
            .unwrap();
        let events = conn.events();
        let (mut sink, mut stream) = conn.split();
        let reader = async_std::task::spawn(async move { while stream.next().await.is_some() {} });
        within(
            Duration::from_secs(5),
            "the upgrade",
            server.wait_for(|s| s.upgrades() == 1),
        )
        .await;
        // Around the server's close: before it, the message is queued; after it, refused.
        async_io::Timer::after(Duration::from_millis(8)).await;
        let fed = within(Duration::from_secs(5), "feed", sink.feed("m".into())).await;
        let _ = within(Duration::from_secs(5), "flush", sink.flush()).await;
        let _ = within(Duration::from_secs(5), "close", sink.close()).await;
        within(Duration::from_secs(5), "the reader", reader).await;
        let events: Vec<ClientEvent> =
            within(Duration::from_secs(5), "events", events.collect()).await;
        let handed_back = events
            .iter()
            .any(|e| matches!(e, ClientEvent::Undelivered(m) if m.as_text() == Some("m")));
        // Written in full to the socket (the server, closing, may drop it unread).
        let written = sockets.written().contains(&"m".to_owned());
        match fed {
            Ok(()) => assert!(
                handed_back || written,
                "round {round}: accepted, then neither written nor handed back: {events:#?}"
            ),
            Err(ConnectionError::Refused(e)) => {
                assert_eq!(e.into_message(), Message::from("m"), "round {round}")
            }
            // Refused before it was taken (the sink was not ready): never accepted, and
            // the application was told.
            Err(ConnectionError::Stopped { .. }) => {}
            Err(other) => panic!("round {round}: {other:?}"),
        }
    }
}

#[async_std::test]
async fn the_writers_close_ends_a_reader_parked_while_no_socket_is_open() {
    // The server sends a message, then closes with 1000: a finished exchange, and the
    // client waits for demand (Idle) with no socket and no timer within reach (the
    // dial's timeouts are long too: the driver's timer stays armed at the dial's
    // deadline). The reader task reads the message and parks in `next()`; the writer's
    // close then ends the driver within the writer's own poll, and no socket or timer
    // is left to wake the reader: the writer half must.
    let cert = TestCert::localhost();
    let server = WsServer::start(|_| {
        Behavior::Accept(vec![
            Act::Text("done".into()),
            Act::Close {
                code: Some(1000),
                reason: String::new(),
            },
        ])
    })
    .await
    .unwrap();
    let mut config = quiet();
    config.timeouts.connect = Duration::from_secs(60);
    config.timeouts.handshake = Duration::from_secs(60);
    let conn = builder(&server, &cert, config).connection().unwrap();
    let mut events = conn.events();
    let (mut sink, mut stream) = conn.split();
    let (parked_tx, parked_rx) = async_channel::unbounded();
    let reader = async_std::task::spawn(async move {
        let (mut got, mut idle) = (Vec::new(), false);
        poll_fn(|cx| loop {
            match stream.poll_next_unpin(cx) {
                Poll::Ready(Some(incoming)) => got.push(incoming),
                Poll::Ready(None) => return Poll::Ready(()),
                Poll::Pending => {
                    // The events of the poll that just returned `Pending` (only this
                    // task polls the connection until the close): parked in Idle?
                    while let Some(Some(e)) = events.next().now_or_never() {
                        idle |= matches!(
                            e,
                            ClientEvent::Core(Event::StateChanged {
                                to: StateName::Idle,
                                ..
                            })
                        );
                    }
                    if idle {
                        let _ = parked_tx.try_send(());
                    }
                    return Poll::Pending;
                }
            }
        })
        .await;
        got
    });
    within(
        Duration::from_secs(5),
        "the reader parked in Idle",
        parked_rx.recv(),
    )
    .await
    .unwrap();
    within(Duration::from_secs(5), "close", sink.close())
        .await
        .unwrap();
    let got = within(Duration::from_secs(5), "the parked reader's end", reader).await;
    assert_eq!(got, vec![echoed("done").unwrap()]);
}
