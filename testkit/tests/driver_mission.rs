//! Issue scenario 1: 101 then close 1008 with an empty reason. One dial, the fallback,
//! the request completes over HTTPS, and the cause names 1008; under codex-compat six
//! dials before the fallback.

mod driver_support;

use std::time::Duration;

use driver_support::*;
use futures_lite::StreamExt;
use redial::config::Preset;
use redial::core::Event;
use redial::driver::Message;
use redial_testkit::{echo_responder, Act, Behavior, SseServer, TestCert, WsServer};

fn mission() -> Behavior {
    Behavior::Accept(vec![
        Act::Wait(Duration::from_millis(3)),
        Act::Close {
            code: Some(1008),
            reason: String::new(),
        },
    ])
}

async fn run(config: redial::config::Config) -> (usize, Vec<Event>, Vec<Message>, usize) {
    let cert = TestCert::localhost();
    let ws = WsServer::start(|_| mission()).await.unwrap();
    let sse = SseServer::start(&cert, echo_responder).await.unwrap();
    let (client, mut events) = spawn(builder(&ws, &cert, config).fallback_url(sse.url()));
    let stream = client.request(r#"{"input":"hello"}"#).await.unwrap();
    let items: Vec<_> = within(Duration::from_secs(20), "the response", stream.collect()).await;
    let seen = until(&mut events, |e| matches!(e, Event::FellBack { .. })).await;
    let items: Vec<Message> = items.into_iter().map(|i| i.expect("no error")).collect();
    let posts = sse.requests().len();
    close_in_time(&client).await;
    (ws.connections(), seen, items, posts)
}

#[async_std::test]
async fn default_policy_one_dial_then_the_request_completes_over_https() {
    let (dials, events, items, posts) = run(fast_default()).await;
    assert_eq!(dials, 1);
    assert_eq!(count(&events, "dial"), 1);
    let cause = cause_of(&events, "fell_back");
    assert!(
        cause.contains("1008 (policy violation), empty reason"),
        "{cause}"
    );
    assert!(
        cause.contains("policy violations are not retried"),
        "{cause}"
    );
    assert_eq!(posts, 1);
    let last = items.last().and_then(|m| m.as_text()).unwrap();
    assert!(last.contains("response.completed"), "{items:?}");
    assert!(items.len() >= 2);
}

#[async_std::test]
async fn codex_compat_dials_six_times_then_falls_back() {
    let mut c = fast(Preset::CodexCompat.config());
    c.backoff.base = Duration::from_millis(5);
    let (dials, events, items, posts) = run(c).await;
    assert_eq!(dials, 6);
    assert_eq!(count(&events, "dial"), 6);
    let cause = cause_of(&events, "fell_back");
    assert!(cause.contains("1008"), "{cause}");
    assert!(cause.contains("6 of 6 dials failed"), "{cause}");
    assert_eq!(posts, 1);
    assert!(items
        .last()
        .and_then(|m| m.as_text())
        .unwrap()
        .contains("response.completed"));
}
