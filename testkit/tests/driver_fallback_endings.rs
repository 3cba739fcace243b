//! How a fallback job ends, for a request and for a plain message (invariants 9 and
//! 10 over the fallback):
//! - a response whose body ends cleanly before the terminal message, or a 2xx with an
//!   empty body, ends the request with an error item, as over WebSockets;
//! - an error after response items arrived ends the request with an error item: it is
//!   never put back in line, so never replayed silently;
//! - a plain message whose POST was written and left unanswered is *maybe delivered*:
//!   resent only with a `Replayed` event, or handed back as written and unanswered.
//!
//! The fallback is in memory ([`Scripted`]): the test plays each response item by item.

mod driver_support;
mod fallback_support;

use std::time::Duration;

use driver_support::*;
use fallback_support::*;
use futures_lite::StreamExt;
use redial::driver::{ClientEvent, Events, Message, Replay, RequestError};
use redial::policy::FallbackError;
use redial_testkit::{Act, Behavior, TestCert, WsServer};

fn policy_close() -> Behavior {
    Behavior::Accept(vec![Act::Close {
        code: Some(1008),
        reason: String::new(),
    }])
}

/// Short fallback timeouts; the idle timeout is long enough never to end a job here.
fn config() -> redial::Config {
    let mut c = fast_default();
    let ms = Duration::from_millis;
    c.fallback.connect_timeout = ms(300);
    c.fallback.tls_timeout = ms(300);
    c.fallback.headers_timeout = ms(300);
    c.fallback.idle_timeout = Duration::from_secs(10);
    c.fallback.reprobe_after = None;
    c
}

/// A client fallen back to `fallback`, with its events.
async fn fallen_back(
    fallback: &Scripted,
    replay: Replay,
) -> (redial::driver::Client, Events, WsServer) {
    let ws = WsServer::start(|_| policy_close()).await.unwrap();
    let cert = TestCert::localhost();
    let b = builder(&ws, &cert, config())
        .fallback(fallback.clone())
        .replay(replay);
    let (client, mut events) = spawn(b);
    until_kind(&mut events, "fell_back").await;
    (client, events, ws)
}

/// Every client event until the driver ends (after `close`).
async fn after_close(client: &redial::driver::Client, mut events: Events) -> Vec<ClientEvent> {
    close_in_time(client).await;
    let collect = async {
        let mut seen = Vec::new();
        while let Some(e) = events.next().await {
            seen.push(e);
        }
        seen
    };
    within(Duration::from_secs(10), "the events' end", collect).await
}

fn replayed(seen: &[ClientEvent]) -> usize {
    seen.iter()
        .filter(|e| matches!(e, ClientEvent::Replayed { .. }))
        .count()
}

/// A request, its POST taken; returns its stream.
async fn requested(
    client: &redial::driver::Client,
    requests: &async_channel::Receiver<()>,
) -> redial::driver::RequestStream {
    let stream = client.request("ask").await.unwrap();
    within(Duration::from_secs(5), "the POST", requests.recv())
        .await
        .unwrap();
    stream
}

#[async_std::test]
async fn a_response_that_ends_before_the_terminal_message_ends_the_request_with_an_error() {
    // Items, then a clean end; and a 2xx with an empty body (no item at all).
    for items in [vec!["part"], vec![]] {
        let (fallback, requests) = Scripted::new();
        let (client, events, _ws) = fallen_back(&fallback, Replay::IfUnanswered).await;
        let stream = requested(&client, &requests).await;
        let response = fallback.respond();
        for item in &items {
            response.send(Ok((*item).into())).await.unwrap();
        }
        drop(response);
        let got: Vec<_> = within(Duration::from_secs(5), "the stream", stream.collect()).await;
        let (last, parts) = got.split_last().expect("an item");
        let parts: Vec<_> = parts.iter().cloned().map(Result::unwrap).collect();
        assert_eq!(
            parts,
            items.iter().map(|i| Message::from(*i)).collect::<Vec<_>>()
        );
        match last {
            Err(RequestError::Interrupted {
                sent: true,
                response_started,
                cause,
            }) => {
                assert_eq!(*response_started, !items.is_empty());
                assert!(cause.contains("terminal"), "{cause}");
            }
            other => panic!("the stream ended with {other:?}, items {items:?}"),
        }
        let seen = after_close(&client, events).await;
        assert_eq!(replayed(&seen), 0);
        assert_eq!(*fallback.bodies.lock().unwrap(), ["ask"]);
    }
}

#[async_std::test]
async fn an_error_after_response_items_ends_the_request_and_is_never_replayed() {
    for replay in [Replay::Never, Replay::IfUnanswered] {
        let (fallback, requests) = Scripted::new();
        let (client, events, _ws) = fallen_back(&fallback, replay).await;
        let mut stream = requested(&client, &requests).await;
        let response = fallback.respond();
        response.send(Ok("part".into())).await.unwrap();
        let first = within(Duration::from_secs(5), "part", stream.next()).await;
        assert_eq!(first, Some(Ok(Message::from("part"))));
        let broke = FallbackError::Unanswered("connection reset".into());
        response.send(Err(broke)).await.unwrap();
        let rest: Vec<_> = within(Duration::from_secs(5), "the stream", stream.collect()).await;
        assert!(
            matches!(
                rest.as_slice(),
                [Err(RequestError::Interrupted {
                    sent: true,
                    response_started: true,
                    ..
                })]
            ),
            "{replay:?}: {rest:?}"
        );
        let seen = after_close(&client, events).await;
        assert_eq!(replayed(&seen), 0, "{replay:?}");
        assert_eq!(*fallback.bodies.lock().unwrap(), ["ask"], "{replay:?}");
    }
}

#[async_std::test]
async fn a_message_written_and_left_unanswered_is_resent_with_an_event_or_handed_back() {
    for replay in [Replay::IfUnanswered, Replay::Never] {
        let (fallback, requests) = Scripted::new();
        let (client, mut events, _ws) = fallen_back(&fallback, replay).await;
        let mut messages = client.messages();
        client.send("m").unwrap();
        within(Duration::from_secs(5), "the POST", requests.recv())
            .await
            .unwrap();
        let unanswered = FallbackError::Unanswered("connection reset".into());
        fallback.respond().send(Err(unanswered)).await.unwrap();
        if replay == Replay::IfUnanswered {
            // Resent after the fallback's backoff, and announced.
            let announced = async {
                while let Some(e) = events.next().await {
                    if let ClientEvent::Replayed { cause, .. } = e {
                        return cause;
                    }
                }
                panic!("the events ended without Replayed");
            };
            let cause = within(Duration::from_secs(5), "Replayed", announced).await;
            assert!(cause.contains("connection reset"), "{cause}");
            within(Duration::from_secs(5), "the second POST", requests.recv())
                .await
                .unwrap();
            let response = fallback.respond();
            response.send(Ok("ok".into())).await.unwrap();
            drop(response);
            let got = within(Duration::from_secs(5), "the answer", messages.next()).await;
            assert_eq!(got, Some(Message::from("ok")));
            let seen = after_close(&client, events).await;
            assert!(!seen.iter().any(|e| matches!(
                e,
                ClientEvent::Undelivered(_) | ClientEvent::Unanswered { .. }
            )));
            assert_eq!(*fallback.bodies.lock().unwrap(), ["m", "m"]);
        } else {
            // The failure reaches the driver before the close does.
            let mut seen = Vec::new();
            let failed = async {
                while let Some(e) = events.next().await {
                    let done =
                        matches!(e, ClientEvent::Core(ref c) if c.kind() == "fallback_failed");
                    seen.push(e);
                    if done {
                        return;
                    }
                }
            };
            within(Duration::from_secs(5), "fallback_failed", failed).await;
            seen.extend(after_close(&client, events).await);
            assert_eq!(replayed(&seen), 0);
            let back: Vec<_> = seen
                .iter()
                .filter_map(|e| match e {
                    ClientEvent::Unanswered { message, cause } => Some((message, cause)),
                    _ => None,
                })
                .collect();
            assert_eq!(back.len(), 1, "{seen:#?}");
            assert_eq!(*back[0].0, Message::from("m"));
            assert!(back[0].1.contains("connection reset"), "{}", back[0].1);
            assert!(!seen
                .iter()
                .any(|e| matches!(e, ClientEvent::Undelivered(_))));
            assert_eq!(*fallback.bodies.lock().unwrap(), ["m"]);
        }
    }
}
