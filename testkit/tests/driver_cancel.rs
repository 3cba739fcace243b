//! Invariant 14: cancelling a written request (dropping its stream) never holds the
//! next request longer than `cancel_grace`: the response's end, a cancel message, or a
//! recycled connection, whichever comes first, and a `CancelSettled` event says which.
//!
//! The server answers "first" with one response item and never its terminal message
//! (a user interrupting a turn that would stream for minutes). The request idle
//! timeout is left at its default (5 minutes): only `cancel_grace` can free the line
//! within the test's guard.

mod driver_support;
mod fallback_support;

use std::sync::Arc;
use std::time::Duration;

use driver_support::*;
use fallback_support::*;
use futures_lite::StreamExt;
use redial::core::Event;
use redial::core::StableBy;
use redial::core::StateName;
use redial::driver::{CancelSettled, Client, ClientEvent, Events, Message, RequestStream};
use redial_testkit::{Act, Behavior, TestCert, WsServer};

const GRACE: Duration = Duration::from_millis(300);

fn done(n: &str) -> String {
    format!(r#"{{"type":"response.completed","n":"{n}"}}"#)
}

/// "first": one item, never the end; "cancel": the end of "first"; anything else: its
/// own end.
fn server_behavior(_: &redial_testkit::ConnInfo) -> Behavior {
    Behavior::Accept(vec![Act::Respond(Arc::new(|text: &str| match text {
        "first" => vec![r#"{"type":"delta"}"#.to_owned()],
        "cancel" => vec![done("first")],
        other => vec![done(other)],
    }))])
}

/// No heartbeat: nothing but the cancellation decides when the line is free.
fn config() -> redial::config::Config {
    let mut c = fast_default();
    c.heartbeat.ping_interval = None;
    c
}

/// Read `stream` to its end (guarded).
async fn all(stream: RequestStream) -> Vec<Result<Message, redial::driver::RequestError>> {
    within(Duration::from_secs(5), "the response", stream.collect()).await
}

/// The first `CancelSettled` among the events, with the core events before it.
async fn settled(events: &mut Events) -> (CancelSettled, bool, Vec<Event>) {
    let mut core = Vec::new();
    let find = async {
        while let Some(e) = events.next().await {
            match e {
                ClientEvent::CancelSettled {
                    how,
                    cancel_message,
                } => return (how, cancel_message),
                ClientEvent::Core(e) => core.push(e),
                _ => {}
            }
        }
        panic!("the events ended without CancelSettled");
    };
    let (how, message) = within(Duration::from_secs(5), "CancelSettled", find).await;
    (how, message, core)
}

/// "first" is written and answered with one item, then its stream is dropped.
async fn cancel_first(client: &Client) {
    let mut first = client.request("first").await.unwrap();
    let item = within(Duration::from_secs(5), "first's item", first.next()).await;
    assert!(matches!(item, Some(Ok(_))), "{item:?}");
    drop(first);
}

#[async_std::test]
async fn a_response_that_never_ends_is_cut_by_recycling_the_connection() {
    let cert = TestCert::localhost();
    let server = WsServer::start(server_behavior).await.unwrap();
    let b = builder(&server, &cert, config()).cancel_grace(GRACE);
    let (client, mut events) = spawn(b);
    until_state(&mut events, StateName::Open).await;
    cancel_first(&client).await;
    let second = client.request("second").await.unwrap();
    // Before invariant 14 this waited for the request idle timeout (5 minutes).
    let items = all(second).await;
    assert_eq!(items, [Ok(Message::from(done("second")))]);
    let (how, cancel_message, _) = settled(&mut events).await;
    assert_eq!((how, cancel_message), (CancelSettled::Recycled, false));
    // The recycle: a close 1000 with its reason, then a second connection.
    assert_eq!(server.connections(), 2);
    let closes = server.closes_received();
    assert_eq!(closes[0].0, 1);
    let (code, reason) = closes[0].1.clone().expect("a close frame with a code");
    assert_eq!(code, 1000);
    assert!(reason.contains("cancelled request"), "{reason}");
    close_in_time(&client).await;
}

#[async_std::test]
async fn a_recycle_spends_no_retry_budget() {
    let cert = TestCert::localhost();
    let server = WsServer::start(server_behavior).await.unwrap();
    let mut c = config();
    // One dial per budget: a recycle that counted as a failed attempt would stop here.
    c.budget.max_attempts = 1;
    let b = builder(&server, &cert, c).cancel_grace(GRACE);
    let (client, mut events) = spawn(b);
    until_state(&mut events, StateName::Open).await;
    for round in 0..3 {
        cancel_first(&client).await;
        let next = client.request(format!("next{round}")).await.unwrap();
        assert_eq!(
            all(next).await,
            [Ok(Message::from(done(&format!("next{round}"))))]
        );
    }
    let seen = until_state(&mut events, StateName::Open).await;
    let mut dials = Vec::new();
    let mut stable = 0;
    let mut more = seen;
    while dials.len() < 3 {
        for e in &more {
            match e {
                Event::Dial { attempt, .. } => dials.push(*attempt),
                Event::Stable {
                    by: StableBy::Recycled,
                    ..
                } => stable += 1,
                _ => {}
            }
        }
        if dials.len() < 3 {
            more = until_state(&mut events, StateName::Open).await;
        }
    }
    assert_eq!(
        dials,
        [1, 1, 1],
        "each replacement is the first dial of a budget"
    );
    assert_eq!(stable, 3);
    assert_eq!(server.connections(), 4);
    assert_eq!(client.state(), StateName::Open);
    close_in_time(&client).await;
}

#[async_std::test]
async fn a_cancel_message_that_ends_the_response_keeps_the_connection() {
    let cert = TestCert::localhost();
    let server = WsServer::start(server_behavior).await.unwrap();
    let b = builder(&server, &cert, config())
        // Long: the cancel message's answer must be what frees the line.
        .cancel_grace(Duration::from_secs(60))
        .cancel_message(|body| (body.as_text() == Some("first")).then(|| "cancel".into()));
    let (client, mut events) = spawn(b);
    until_state(&mut events, StateName::Open).await;
    cancel_first(&client).await;
    let second = client.request("second").await.unwrap();
    assert_eq!(all(second).await, [Ok(Message::from(done("second")))]);
    let (how, cancel_message, _) = settled(&mut events).await;
    assert_eq!((how, cancel_message), (CancelSettled::Ended, true));
    assert_eq!(server.connections(), 1);
    let texts: Vec<_> = server
        .received()
        .into_iter()
        .map(|(_, r)| format!("{r:?}"))
        .collect();
    assert_eq!(texts.len(), 3, "first, cancel, second: {texts:?}");
    assert!(texts[1].contains("cancel"), "{texts:?}");
    close_in_time(&client).await;
}

#[async_std::test]
async fn over_the_fallback_a_cancelled_response_is_released_at_once() {
    let ws = WsServer::start(|_| {
        Behavior::Accept(vec![Act::Close {
            code: Some(1008),
            reason: String::new(),
        }])
    })
    .await
    .unwrap();
    let cert = TestCert::localhost();
    let (fallback, requests) = Scripted::new();
    let mut c = config();
    c.fallback.idle_timeout = Duration::from_secs(60);
    let b = builder(&ws, &cert, c)
        .fallback(fallback.clone())
        .cancel_grace(Duration::from_secs(60));
    let (client, mut events) = spawn(b);
    until_kind(&mut events, "fell_back").await;
    let mut first = client.request("first").await.unwrap();
    within(Duration::from_secs(5), "the POST", requests.recv())
        .await
        .unwrap();
    let response = fallback.respond();
    response.send(Ok("item".into())).await.unwrap();
    assert!(within(Duration::from_secs(5), "item", first.next())
        .await
        .is_some());
    drop(first);
    let second = client.request("second").await.unwrap();
    within(Duration::from_secs(5), "the second POST", requests.recv())
        .await
        .unwrap();
    let answer = fallback.respond();
    answer.send(Ok(done("second"))).await.unwrap();
    assert_eq!(all(second).await, [Ok(Message::from(done("second")))]);
    let (how, cancel_message, _) = settled(&mut events).await;
    assert_eq!((how, cancel_message), (CancelSettled::Released, false));
    drop(response);
    close_in_time(&client).await;
}

/// Dropping a written request's stream is heard at once (the drop wakes the driver):
/// its cancel message goes out and the server's answer settles it, while nothing else
/// happens (no heartbeat, no other request, every timer far away). The driver runs on
/// the test's thread (a local executor): when the test drops the stream, the driver has
/// finished the poll that delivered the item and waits, so only the drop can wake it.
/// Without that wake-up, the cancellation waited for the driver's next one.
#[test]
fn dropping_a_written_requests_stream_sends_its_cancel_message_at_once() {
    let ex = smol::LocalExecutor::new();
    smol::block_on(ex.run(async {
        let cert = TestCert::localhost();
        let server = WsServer::start(server_behavior).await.unwrap();
        let b = builder(&server, &cert, config())
            .cancel_grace(Duration::from_secs(60))
            .cancel_message(|body| (body.as_text() == Some("first")).then(|| "cancel".into()));
        let (client, driver) = b.build().expect("valid client");
        let mut events = client.events();
        ex.spawn(driver.run()).detach();
        // Stable: the core's uptime deadline is behind it, and no other is near.
        until_kind(&mut events, "stable").await;
        cancel_first(&client).await;
        let (how, cancel_message, _) = settled(&mut events).await;
        assert_eq!((how, cancel_message), (CancelSettled::Ended, true));
        let texts: Vec<_> = server
            .received()
            .into_iter()
            .map(|(_, r)| format!("{r:?}"))
            .collect();
        assert_eq!(texts.len(), 2, "first, cancel: {texts:?}");
        assert!(texts[1].contains("cancel"), "{texts:?}");
        close_in_time(&client).await;
    }));
}

/// A written request abandoned while the client closes (the close handshake waits for
/// a server that never answers, `close_grace`), whose `cancel_grace` runs out before
/// the close is over: it leaves the line, and nothing is recycled: a closing
/// connection is not replaced, and no `CancelSettled` says it was.
#[async_std::test]
async fn a_grace_that_runs_out_while_the_client_closes_recycles_nothing() {
    let cert = TestCert::localhost();
    let server = WsServer::start(|_| {
        Behavior::Accept(vec![
            Act::AwaitMessage,
            Act::Text(r#"{"type":"delta"}"#.into()),
            Act::Mute,
        ])
    })
    .await
    .unwrap();
    // Shorter than close_grace (300 ms).
    let b = builder(&server, &cert, config()).cancel_grace(Duration::from_millis(50));
    let (client, mut events) = spawn(b);
    until_state(&mut events, StateName::Open).await;
    let mut first = client.request("first").await.unwrap();
    let item = within(Duration::from_secs(5), "first's item", first.next()).await;
    assert!(matches!(item, Some(Ok(_))), "{item:?}");
    let abandon = async {
        until_state(&mut events, StateName::Closing).await;
        drop(first);
        let mut settled = Vec::new();
        while let Some(e) = events.next().await {
            if let ClientEvent::CancelSettled { how, .. } = e {
                settled.push(how);
            }
        }
        settled
    };
    let (_, settled) = futures_lite::future::zip(close_in_time(&client), abandon).await;
    assert!(
        !settled.contains(&CancelSettled::Recycled),
        "reported recycled while closing: {settled:?}"
    );
    assert_eq!(server.connections(), 1);
}
