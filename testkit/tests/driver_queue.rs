//! Issue scenario 14: messages sent while reconnecting arrive after the reconnect, in
//! order; a full queue rejects `send` at once; what is left at the end is handed back.

mod driver_support;

use std::time::Duration;

use driver_support::*;
use futures_lite::StreamExt;
use redial::core::StateName;
use redial::driver::{ClientEvent, Message, SendError};
use redial_testkit::{Act, Behavior, Received, TestCert, WsServer};

/// Fail the test when `fut` takes more than 10 s (a guard, not a synchronisation).
async fn soon<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    within(Duration::from_secs(10), what, fut).await
}

#[async_std::test]
async fn messages_sent_while_reconnecting_arrive_in_order_and_a_full_queue_refuses() {
    let ws = WsServer::start(|c| {
        if c.index == 1 {
            Behavior::ResetBeforeUpgrade
        } else {
            Behavior::Accept(vec![Act::Hold])
        }
    })
    .await
    .unwrap();
    let cert = TestCert::localhost();
    let mut config = fast_default();
    config.queue.max_messages = 5;
    let (client, mut events) = spawn(builder(&ws, &cert, config));
    // The first dial fails: the client is reconnecting (Backoff) now.
    until_kind(&mut events, "retry").await;
    for i in 0..5 {
        client.try_send(format!("m{i}")).unwrap();
    }
    match client.try_send("m5") {
        Err(SendError::Full {
            message,
            messages: 5,
            ..
        }) => assert_eq!(message, Message::from("m5")),
        other => panic!("expected Full, got {other:?}"),
    }
    soon("5 messages", ws.wait_received(5)).await;
    let got = ws.received();
    let want: Vec<_> = (0..5)
        .map(|i| (2, Received::Text(format!("m{i}"))))
        .collect();
    assert_eq!(got, want);
    // Room again once written.
    client.try_send("m6").unwrap();
    soon("m6", ws.wait_received(6)).await;
    close_in_time(&client).await;
}

#[async_std::test]
async fn byte_bound_refuses_and_leftovers_are_handed_back() {
    let ws = WsServer::start(|_| Behavior::StallHandshake).await.unwrap();
    let cert = TestCert::localhost();
    let mut config = fast_default();
    config.queue.max_bytes = 10;
    let (client, driver) = builder(&ws, &cert, config).build().unwrap();
    let mut events = client.events();
    client.try_send("0123456789").unwrap();
    assert!(matches!(
        client.try_send("x"),
        Err(SendError::Full { bytes: 10, .. })
    ));
    async_std::task::spawn(driver.run());
    soon("a dial", ws.wait_connections(1)).await;
    close_in_time(&client).await;
    let mut handed_back = Vec::new();
    while let Some(e) = events.next().await {
        if let ClientEvent::Undelivered(m) = e {
            handed_back.push(m);
        }
    }
    assert_eq!(handed_back, [Message::from("0123456789")]);
    assert!(matches!(
        client.try_send("late"),
        Err(SendError::Stopped { .. })
    ));
}

#[async_std::test]
async fn after_a_normal_close_the_next_send_reconnects() {
    let ws = WsServer::start(|c| {
        if c.index == 1 {
            Behavior::Accept(vec![
                Act::Text("hello".into()),
                Act::Close {
                    code: Some(1000),
                    reason: "done".into(),
                },
            ])
        } else {
            Behavior::Accept(vec![Act::Hold])
        }
    })
    .await
    .unwrap();
    let cert = TestCert::localhost();
    let (client, mut events) = spawn(builder(&ws, &cert, fast_default()));
    until(&mut events, |e| {
        matches!(
            e,
            redial::core::Event::StateChanged {
                to: redial::core::StateName::Idle,
                ..
            }
        )
    })
    .await;
    assert_eq!(ws.connections(), 1);
    client.try_send("again").unwrap();
    soon("the resend", ws.wait_received(1)).await;
    assert_eq!(ws.received(), [(2, Received::Text("again".into()))]);
    close_in_time(&client).await;
}

#[async_std::test]
async fn with_no_event_stream_open_leftovers_wait_in_take_undelivered() {
    let ws = WsServer::start(|_| Behavior::StallHandshake).await.unwrap();
    let (client, driver) = builder(&ws, &TestCert::localhost(), fast_default())
        .build()
        .unwrap();
    client.try_send("a").unwrap();
    client.try_send(vec![1u8, 2]).unwrap();
    async_std::task::spawn(driver.run());
    soon("a dial", ws.wait_connections(1)).await;
    close_in_time(&client).await;
    assert_eq!(
        client.take_undelivered(),
        [Message::from("a"), Message::from(vec![1u8, 2])]
    );
    // Each is returned once.
    assert!(client.take_undelivered().is_empty());
}

#[async_std::test]
async fn messages_sent_just_before_close_are_written_before_the_close_frame() {
    let ws = WsServer::start(|_| Behavior::Accept(vec![Act::Hold]))
        .await
        .unwrap();
    let (client, mut events) = spawn(builder(&ws, &TestCert::localhost(), fast_default()));
    until_kind(&mut events, "connected").await;
    for i in 0..20 {
        client.try_send(format!("m{i}")).unwrap();
    }
    close_in_time(&client).await;
    let mut handed_back = 0;
    while let Some(e) = events.next().await {
        if let ClientEvent::Undelivered(_) = e {
            handed_back += 1;
        }
    }
    assert_eq!(handed_back, 0);
    let want: Vec<_> = (0..20)
        .map(|i| (1, Received::Text(format!("m{i}"))))
        .collect();
    soon("20 messages", ws.wait_received(20)).await;
    assert_eq!(ws.received(), want);
}

#[async_std::test]
async fn a_request_over_the_websocket_is_written_once_then_the_queue_follows() {
    let responder = Act::Respond(std::sync::Arc::new(|m: &str| {
        if m.starts_with("req") {
            vec![
                "part".to_string(),
                r#"{"type":"response.completed"}"#.into(),
            ]
        } else {
            Vec::new()
        }
    }));
    let ws = WsServer::start(move |_| Behavior::Accept(vec![responder.clone()]))
        .await
        .unwrap();
    let (client, mut events) = spawn(builder(&ws, &TestCert::localhost(), fast_default()));
    until_kind(&mut events, "connected").await;
    let stream = client.request("req").await.unwrap();
    client.try_send("after").unwrap();
    let items: Vec<_> = soon("the response", stream.collect()).await;
    assert_eq!(items.len(), 2, "{items:?}");
    soon("the queued message", ws.wait_received(2)).await;
    close_in_time(&client).await;
    assert_eq!(
        ws.received(),
        [
            (1, Received::Text("req".into())),
            (1, Received::Text("after".into()))
        ]
    );
}

#[async_std::test]
async fn a_message_sent_on_a_quiet_open_connection_is_written_at_once() {
    // No heartbeat, and every timer far away (the dial's timeouts too: the driver's
    // timer stays armed at the dial's deadline): only the send itself wakes the driver.
    let ws = WsServer::start(|_| Behavior::Accept(vec![Act::Hold]))
        .await
        .unwrap();
    let cert = TestCert::localhost();
    let mut config = fast_default();
    config.heartbeat.ping_interval = None;
    config.budget.min_uptime = Duration::from_secs(60);
    config.timeouts.connect = Duration::from_secs(60);
    config.timeouts.handshake = Duration::from_secs(60);
    let (client, mut events) = spawn(builder(&ws, &cert, config));
    until_state(&mut events, StateName::Open).await;
    // Once the server has the first, the driver has long been waiting for work: each
    // later message is written only if its send woke the driver.
    for i in 1..=3 {
        client.try_send(format!("m{i}")).unwrap();
        within(
            Duration::from_secs(5),
            "the message on the wire",
            ws.wait_received(i),
        )
        .await;
    }
    let want: Vec<_> = (1..=3)
        .map(|i| (1, Received::Text(format!("m{i}"))))
        .collect();
    assert_eq!(ws.received(), want);
    close_in_time(&client).await;
}

/// A queue of `n` messages, and 300 ms (no jitter) between a refused dial and the next,
/// while the test fills the queue.
fn small_queue_slow_retry(n: usize) -> redial::config::Config {
    let mut config = fast_default();
    config.queue.max_messages = n;
    config.backoff.strategy = redial::config::Strategy::None;
    config.backoff.base = Duration::from_millis(300);
    config.backoff.cap = Some(Duration::from_millis(300));
    config
}

/// `send(..).await` waits while the queue is full (`try_send` would fail), and goes
/// through once the reconnect has written what was queued: in order, after them.
#[async_std::test]
async fn an_awaited_send_waits_for_room_and_keeps_its_place() {
    let ws = WsServer::start(|c| match c.index {
        1 => Behavior::ResetBeforeUpgrade,
        _ => Behavior::Accept(vec![Act::Hold]),
    })
    .await
    .unwrap();
    let cert = TestCert::localhost();
    let (client, mut events) = spawn(builder(&ws, &cert, small_queue_slow_retry(3)));
    until_kind(&mut events, "retry").await;
    for i in 0..3 {
        client.try_send(format!("m{i}")).unwrap();
    }
    let mut waiting = Box::pin(client.send("after"));
    assert!(
        futures_lite::future::poll_once(&mut waiting)
            .await
            .is_none(),
        "a full queue: the send waits"
    );
    soon("room for the waiting send", waiting)
        .await
        .expect("sent");
    soon("4 messages", ws.wait_received(4)).await;
    let got: Vec<_> = ws.received().into_iter().map(|(_, m)| m).collect();
    let want: Vec<_> = ["m0", "m1", "m2", "after"]
        .into_iter()
        .map(|m| Received::Text(m.into()))
        .collect();
    assert_eq!(got, want);
    close_in_time(&client).await;
}

/// A send waiting for room never outlives the client: closing it (or dropping the
/// driver) hands the message back as `Stopped`, and close() still returns in time.
#[async_std::test]
async fn an_awaited_send_on_a_full_queue_ends_when_the_client_closes() {
    let ws = WsServer::start(|_| Behavior::ResetBeforeUpgrade)
        .await
        .unwrap();
    let cert = TestCert::localhost();
    let (client, mut events) = spawn(builder(&ws, &cert, small_queue_slow_retry(2)));
    until_kind(&mut events, "retry").await;
    for i in 0..2 {
        client.try_send(format!("m{i}")).unwrap();
    }
    let mut waiting = Box::pin(client.send("late"));
    assert!(
        futures_lite::future::poll_once(&mut waiting)
            .await
            .is_none(),
        "a full queue: the send waits"
    );
    close_in_time(&client).await;
    match soon("the waiting send", waiting).await {
        Err(SendError::Stopped { message }) => assert_eq!(message, Message::from("late")),
        other => panic!("expected Stopped, got {other:?}"),
    }
}
