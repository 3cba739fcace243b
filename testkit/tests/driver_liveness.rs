//! Issue scenarios 9–11: a server that never answers pings is dead after the ping
//! interval plus the pong timeout; a TCP reset mid-stream interrupts the request (sent and started) and
//! reconnects; an unknown TLS certificate stops without falling back.

mod driver_support;

use std::time::Duration;

use driver_support::*;
use futures_lite::StreamExt;
use redial::core::Event;
use redial::driver::{Client, RequestError};
use redial::policy::Class;
use redial_testkit::{echo_responder, Act, Behavior, SseServer, TestCert, WsServer};

fn healthy() -> Behavior {
    Behavior::Accept(vec![Act::Text("welcome".into()), Act::Hold])
}

#[async_std::test]
async fn a_server_that_never_answers_pings_is_dead_and_redialed() {
    let ws = WsServer::start(|c| {
        if c.index == 1 {
            Behavior::Accept(vec![Act::Text("hi".into()), Act::Mute])
        } else {
            healthy()
        }
    })
    .await
    .unwrap();
    let cert = TestCert::localhost();
    let config = fast_default();
    let dead_after = config.heartbeat.ping_interval.unwrap() + config.heartbeat.pong_timeout;
    let (client, mut events) = spawn(builder(&ws, &cert, config));
    let seen = until_kind(&mut events, "closed").await;
    let Some(Event::Closed { failure }) = seen.last() else {
        unreachable!()
    };
    assert!(failure.to_string().contains("no pong"), "{failure}");
    assert_eq!(failure.code(), Some(1006));
    until(&mut events, |e| matches!(e, Event::Connected { .. })).await;
    let t = ws.accept_times();
    assert!(t[1] - t[0] >= dead_after, "{:?}", t[1] - t[0]);
    close_in_time(&client).await;
}

#[async_std::test]
async fn a_reset_mid_stream_reports_the_request_sent_and_started_then_reconnects() {
    let delta = r#"{"type":"response.output_text.delta","delta":"par"}"#;
    let ws = WsServer::start(move |c| {
        if c.index == 1 {
            // Wait for the request, answer one delta, then reset.
            Behavior::Accept(vec![Act::AwaitMessage, Act::Text(delta.into()), Act::Reset])
        } else {
            healthy()
        }
    })
    .await
    .unwrap();
    let cert = TestCert::localhost();
    let (client, mut events) = spawn(builder(&ws, &cert, fast_default()));
    let stream = client.request(r#"{"input":"x"}"#).await.unwrap();
    let items: Vec<_> = within(Duration::from_secs(10), "the request", stream.collect()).await;
    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(items[0].as_ref().unwrap().as_text(), Some(delta));
    match &items[1] {
        Err(RequestError::Interrupted {
            sent,
            response_started,
            ..
        }) => {
            assert!(*sent && *response_started, "{:?}", items[1]);
        }
        other => panic!("expected an interruption, got {other:?}"),
    }
    // A server message alone does not make a connection stable (it lasted a few
    // milliseconds of the 500 ms min_uptime), so the redial is attempt 2 of the same
    // streak.
    until(&mut events, |e| {
        matches!(e, Event::Connected { attempt: 1, .. })
    })
    .await;
    until(&mut events, |e| {
        matches!(e, Event::Connected { attempt: 2, .. })
    })
    .await;
    assert_eq!(ws.connections(), 2);
    close_in_time(&client).await;
}

#[async_std::test]
async fn an_unknown_certificate_stops_without_falling_back() {
    let cert = TestCert::localhost();
    let ws = WsServer::start_tls(&cert, |_| healthy()).await.unwrap();
    let sse = SseServer::start(&cert, echo_responder).await.unwrap();
    // The client does not trust the test certificate.
    let b = Client::builder(ws.url())
        .config(fast_default())
        .fallback_url(sse.url());
    let (client, mut events) = spawn(b);
    let seen = until_kind(&mut events, "gave_up").await;
    assert_eq!(count(&seen, "fell_back"), 0);
    assert_eq!(count(&seen, "dial"), 1);
    let failed = seen.iter().find_map(|e| match e {
        Event::HandshakeFailed { failure } => Some(failure),
        _ => None,
    });
    assert_eq!(failed.map(|f| f.class()), Some(Class::Certificate));
    let cause = cause_of(&seen, "gave_up");
    assert!(cause.contains("certificate"), "{cause}");
    assert!(sse.requests().is_empty());
    client.closed().await;
}

#[async_std::test]
async fn a_trusted_certificate_connects_over_tls() {
    let cert = TestCert::localhost();
    let ws = WsServer::start_tls(&cert, |_| healthy()).await.unwrap();
    let (client, mut events) = spawn(builder(&ws, &cert, fast_default()));
    until(&mut events, |e| matches!(e, Event::Stable { .. })).await;
    close_in_time(&client).await;
}
