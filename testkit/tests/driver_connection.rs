//! The in-task connection (`ClientBuilder::connection`): a `Stream` of received messages
//! and a `Sink` of messages to send, driven by the task that polls it, with the spawned
//! driver's policy, events and guarantees (invariants 9–11 against each party).

mod driver_support;

use std::time::{Duration, Instant};

use driver_support::*;
use futures_lite::StreamExt;
use futures_util::SinkExt;
use redial::config::Config;
use redial::core::Event;
use redial::core::StateName;
use redial::driver::{
    ClientEvent, Connection, ConnectionError, Events, Incoming, Message, TransportKind,
};
use redial_testkit::{echo_responder, Act, Behavior, SseServer, TestCert, WsServer};

/// Close the connection's sink, and check that it took at most `close_grace` plus the
/// margin (invariant 11).
async fn close_connection_in_time(conn: &mut Connection) {
    let started = Instant::now();
    within(Duration::from_secs(10), "the sink's close", conn.close())
        .await
        .expect("closing never fails");
    let took = started.elapsed();
    assert!(
        took <= CLOSE_GRACE + SCHEDULING_MARGIN,
        "close took {took:?} with close_grace {CLOSE_GRACE:?}"
    );
    assert_eq!(conn.state(), StateName::Stopped);
}

/// Every core event the subscription had, and the messages it handed back, until it
/// ended.
async fn drain(mut events: Events) -> (Vec<Event>, Vec<Message>) {
    let (mut core, mut back) = (Vec::new(), Vec::new());
    let all = async {
        while let Some(e) = events.next().await {
            match e {
                ClientEvent::Core(e) => core.push(e),
                ClientEvent::Undelivered(m) => back.push(m),
                _ => {}
            }
        }
    };
    within(Duration::from_secs(10), "the end of the events", all).await;
    (core, back)
}

/// A server that answers every upgrade with 503.
async fn refusing_server() -> WsServer {
    WsServer::start(|_| Behavior::Reject {
        status: 503,
        headers: vec![],
    })
    .await
    .unwrap()
}

fn mission() -> Behavior {
    Behavior::Accept(vec![
        Act::Wait(Duration::from_millis(3)),
        Act::Close {
            code: Some(1008),
            reason: String::new(),
        },
    ])
}

#[async_std::test]
async fn echo_through_the_sink_and_the_stream_then_the_close_ends_the_stream() {
    let cert = TestCert::localhost();
    let ws = WsServer::start(|_| Behavior::Accept(vec![Act::Echo]))
        .await
        .unwrap();
    let mut conn = builder(&ws, &cert, fast_default()).connection().unwrap();
    for i in 0..3 {
        within(
            Duration::from_secs(10),
            "send",
            conn.send(format!("m{i}").into()),
        )
        .await
        .unwrap();
    }
    for i in 0..3 {
        let got = within(Duration::from_secs(10), "an echo", conn.next()).await;
        assert_eq!(
            got,
            Some(Incoming {
                message: format!("m{i}").into(),
                transport: TransportKind::Websocket
            })
        );
    }
    close_connection_in_time(&mut conn).await;
    let end = within(Duration::from_secs(10), "the end", conn.next()).await;
    assert_eq!(end, None, "the stream ends after the close");
    ws.wait_closes(1).await;
    let closes = ws.closes_received();
    assert_eq!(closes[0].1.as_ref().map(|c| c.0), Some(1000), "{closes:?}");
    assert_eq!(ws.connections(), 1);
}

#[async_std::test]
async fn the_missions_server_is_dialed_once_and_the_message_goes_over_https() {
    let cert = TestCert::localhost();
    let ws = WsServer::start(|_| mission()).await.unwrap();
    let sse = SseServer::start(&cert, echo_responder).await.unwrap();
    let mut conn = builder(&ws, &cert, fast_default())
        .fallback_url(sse.url())
        .connection()
        .unwrap();
    let mut events = conn.events();
    // Poll until the client has fallen back (a message sent earlier could be written
    // over the WebSocket in the 3 ms before the 1008).
    let mut seen = fall_back(&mut conn, &mut events).await;
    let hello = r#"{"input":"hello"}"#;
    // The flush returns once the fallback's server has answered the message's POST.
    within(Duration::from_secs(20), "send", conn.send(hello.into()))
        .await
        .unwrap();
    assert_eq!(sse.requests().len(), 1);
    assert_eq!(sse.requests()[0].1, hello);
    let mut answer = Vec::new();
    while !answer
        .last()
        .is_some_and(|i: &Incoming| i.message.as_text().unwrap().contains("completed"))
    {
        let item = within(Duration::from_secs(20), "an answer", conn.next()).await;
        answer.push(item.expect("the stream goes on"));
    }
    assert!(answer.iter().all(|i| i.transport == TransportKind::Https));
    assert_eq!(conn.state(), StateName::FellBack);
    close_connection_in_time(&mut conn).await;
    let (core, back) = drain(events).await;
    seen.extend(core);
    let core = seen;
    assert_eq!(ws.connections(), 1, "policy closes are not retried");
    assert_eq!(count(&core, "dial"), 1);
    let cause = cause_of(&core, "fell_back");
    assert!(
        cause.contains("1008 (policy violation), empty reason"),
        "{cause}"
    );
    assert!(back.is_empty(), "nothing handed back: {back:?}");
}

/// Poll `conn` until its events say it fell back; the core events seen so far.
async fn fall_back(conn: &mut Connection, events: &mut Events) -> Vec<Event> {
    let polled = async {
        while conn.next().await.is_some() {}
        panic!("the connection ended before falling back");
    };
    futures_lite::future::or(polled, until_kind(events, "fell_back")).await
}

/// The core events of the mission with a fixed seed: the same, state by state and
/// kind by kind, whichever way the client runs.
async fn mission_kinds(in_task: bool) -> Vec<String> {
    let cert = TestCert::localhost();
    let ws = WsServer::start(|_| mission()).await.unwrap();
    let sse = SseServer::start(&cert, echo_responder).await.unwrap();
    let mut config = fast_default();
    config.seed = Some(7);
    // No quiet re-probe: its timing would differ between two runs.
    config.fallback.reprobe_after = None;
    let b = builder(&ws, &cert, config).fallback_url(sse.url());
    let core = match in_task {
        true => {
            let mut conn = b.connection().unwrap();
            let mut events = conn.events();
            let mut seen = fall_back(&mut conn, &mut events).await;
            close_connection_in_time(&mut conn).await;
            seen.extend(drain(events).await.0);
            seen
        }
        false => {
            let (client, mut events) = spawn(b);
            let mut seen = until_kind(&mut events, "fell_back").await;
            close_in_time(&client).await;
            seen.extend(drain(events).await.0);
            seen
        }
    };
    core.iter()
        .map(|e| match e {
            Event::StateChanged { from, to, .. } => format!("{from:?}->{to:?}"),
            other => other.kind().to_string(),
        })
        .collect()
}

#[async_std::test]
async fn the_same_events_in_task_and_spawned() {
    let in_task = mission_kinds(true).await;
    let spawned = mission_kinds(false).await;
    assert!(in_task.iter().any(|k| k == "Open->FellBack"), "{in_task:?}");
    assert_eq!(in_task, spawned);
}

#[async_std::test]
async fn a_server_that_refuses_every_dial_gets_nothing_and_everything_is_handed_back() {
    let ws = refusing_server().await;
    let cert = TestCert::localhost();
    let mut config: Config = fast_default();
    config.budget.max_attempts = 2;
    let mut conn = builder(&ws, &cert, config).connection().unwrap();
    let events = conn.events();
    let sent: Vec<Message> = (0..5).map(|i| format!("m{i}").into()).collect();
    for m in &sent {
        conn.try_send(m.clone()).unwrap();
    }
    // The flush cannot succeed: the client gives up, and says so.
    let flushed = within(Duration::from_secs(20), "flush", conn.flush()).await;
    match flushed {
        Err(ConnectionError::Stopped { cause }) => {
            assert!(cause.contains("503"), "{cause}")
        }
        other => panic!("expected Stopped, got {other:?}"),
    }
    assert_eq!(
        within(Duration::from_secs(10), "the end", conn.next()).await,
        None
    );
    // The sink refuses what comes after, and the refusal names the cause.
    let refused = conn.send("late".into()).await;
    assert!(matches!(refused, Err(ConnectionError::Stopped { .. })));
    let (core, back) = drain(events).await;
    assert_eq!(count(&core, "dial"), 2);
    assert_eq!(back, sent, "every queued message is handed back, in order");
    assert!(ws.received().is_empty());
}

#[async_std::test]
async fn an_application_that_only_writes_pauses_reading_and_still_closes_in_time() {
    let flood = Act::Respond(std::sync::Arc::new(|m: &str| match m {
        "go" => vec!["x".repeat(64); 2000],
        _ => Vec::new(),
    }));
    let ws = WsServer::start(move |_| Behavior::Accept(vec![flood.clone()]))
        .await
        .unwrap();
    let cert = TestCert::localhost();
    let mut conn = builder(&ws, &cert, fast_default()).connection().unwrap();
    let mut events = conn.events();
    within(Duration::from_secs(10), "send", conn.send("go".into()))
        .await
        .unwrap();
    // Keep writing, never read: the inbox fills, and the driver stops reading.
    let paused = async {
        let mut i = 0;
        loop {
            conn.send(format!("w{i}").into()).await.unwrap();
            i += 1;
            // A send that never waits must not starve the guard below.
            futures_lite::future::yield_now().await;
            while let Some(Some(e)) = futures_lite::future::poll_once(events.next()).await {
                if let ClientEvent::ReadingPaused { stream } = e {
                    return stream;
                }
            }
        }
    };
    let stream = within(Duration::from_secs(20), "ReadingPaused", paused).await;
    assert_eq!(stream, "messages");
    close_connection_in_time(&mut conn).await;
    let mut kept = 0;
    while let Some(i) = conn.next().await {
        assert_eq!(i.message, Message::from("x".repeat(64)));
        kept += 1;
    }
    assert!((256..=257).contains(&kept), "{kept} messages were kept");
}

#[async_std::test]
async fn a_dropped_connection_hands_back_what_it_held() {
    // Every dial is refused; a long backoff keeps the messages queued.
    let ws = refusing_server().await;
    let cert = TestCert::localhost();
    let mut config = fast_default();
    config.backoff.base = Duration::from_secs(30);
    config.backoff.cap = Some(Duration::from_secs(60));
    let mut conn = builder(&ws, &cert, config).connection().unwrap();
    let mut events = conn.events();
    conn.try_send("a").unwrap();
    conn.try_send("b").unwrap();
    // Poll until the first dial has failed (the client then waits in Backoff).
    let polled = async {
        let _ = conn.next().await;
    };
    let backoff = futures_lite::future::or(polled, events_until_backoff(&mut events));
    within(Duration::from_secs(10), "the backoff", backoff).await;
    assert_eq!(conn.state(), StateName::Backoff);
    drop(conn);
    let (_, back) = drain(events).await;
    assert_eq!(back, vec![Message::from("a"), Message::from("b")]);
}

async fn events_until_backoff(events: &mut Events) {
    while let Some(e) = events.next().await {
        if let ClientEvent::Core(Event::StateChanged {
            to: StateName::Backoff,
            ..
        }) = e
        {
            return;
        }
    }
}

#[async_std::test]
async fn a_driver_dropped_before_it_ran_hands_back_and_close_returns() {
    let cert = TestCert::localhost();
    let ws = WsServer::start(|_| Behavior::Accept(vec![Act::Echo]))
        .await
        .unwrap();
    let (client, driver) = builder(&ws, &cert, fast_default()).build().unwrap();
    client.try_send("kept").unwrap();
    drop(driver);
    assert_eq!(client.take_undelivered(), vec![Message::from("kept")]);
    assert_eq!(client.state(), StateName::Stopped);
    close_in_time(&client).await;
    assert!(client.try_send("late").is_err());
    assert_eq!(ws.connections(), 0);
}

#[async_std::test]
async fn queued_counts_the_messages_not_yet_written() {
    let cert = TestCert::localhost();
    let ws = WsServer::start(|_| Behavior::Accept(vec![Act::Echo]))
        .await
        .unwrap();
    let mut conn = builder(&ws, &cert, fast_default()).connection().unwrap();
    assert_eq!(conn.queued(), 0);
    for text in ["a", "b", "c"] {
        conn.try_send(text).unwrap();
    }
    // Nothing polled the connection yet: all three wait.
    assert_eq!(conn.queued(), 3);
    within(Duration::from_secs(10), "the flush", conn.flush())
        .await
        .unwrap();
    assert_eq!(conn.queued(), 0);
    for text in ["a", "b", "c"] {
        let got = within(Duration::from_secs(10), "an echo", conn.next()).await;
        assert_eq!(got.map(|i| i.message), Some(Message::from(text)));
    }
    close_connection_in_time(&mut conn).await;
}
