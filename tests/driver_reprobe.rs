//! Issue scenarios 12–13: the quiet re-probe returns to WebSockets after the cooldown;
//! and what tungstenite hands over for a received 1014 versus what redial reports.

#![cfg(feature = "testkit")]

mod driver_support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use driver_support::*;
use redial::core::StateName;
use redial::policy::Class;
use redial::testkit::{echo_responder, Act, Behavior, SseServer, TestCert, WsServer};
use redial::Event;

#[async_std::test]
async fn websockets_come_back_after_the_cooldown() {
    let healthy = Arc::new(AtomicBool::new(false));
    let h = healthy.clone();
    let ws = WsServer::start(move |_| {
        if h.load(Ordering::SeqCst) {
            Behavior::Accept(vec![Act::Text("welcome back".into()), Act::Hold])
        } else {
            Behavior::Accept(vec![Act::Close {
                code: Some(1008),
                reason: "not now".into(),
            }])
        }
    })
    .await
    .unwrap();
    let cert = TestCert::localhost();
    let sse = SseServer::start(&cert, echo_responder).await.unwrap();
    let config = fast_default();
    let cooldown = config.fallback.reprobe_after.unwrap();
    let (client, mut events) = spawn(builder(&ws, &cert, config).fallback_url(sse.url()));
    until_kind(&mut events, "fell_back").await;
    healthy.store(true, Ordering::SeqCst);
    let seen = until_kind(&mut events, "recovered").await;
    assert!(seen
        .iter()
        .any(|e| matches!(e, Event::Dial { probe: true, .. })));
    let t = ws.accept_times();
    assert_eq!(t.len(), 2);
    assert!(t[1] - t[0] >= cooldown, "{:?}", t[1] - t[0]);
    assert_eq!(client.state(), StateName::Open);
    close_in_time(&client).await;
}

/// tungstenite rewrites a received 1014 into 1002 "Protocol violation" (see
/// tests/driver_close_code_1014.rs); redial reads the raw frame and reports 1014, which
/// the policy classes as transient (retry), not protocol (fall back).
#[async_std::test]
async fn a_received_1014_is_reported_raw_and_retried() {
    let ws = WsServer::start(|c| {
        if c.index == 1 {
            Behavior::Accept(vec![Act::Close {
                code: Some(1014),
                reason: "upstream down".into(),
            }])
        } else {
            Behavior::Accept(vec![Act::Text("ok".into()), Act::Hold])
        }
    })
    .await
    .unwrap();
    let cert = TestCert::localhost();
    let (client, mut events) = spawn(builder(&ws, &cert, fast_default()));
    let seen = until(&mut events, |e| matches!(e, Event::Stable { .. })).await;
    let closed = seen.iter().find_map(|e| match e {
        Event::Closed { failure } => Some(failure.clone()),
        _ => None,
    });
    let closed = closed.expect("a close");
    assert_eq!(closed.code(), Some(1014));
    assert_eq!(closed.class(), Class::Transient);
    assert_eq!(closed.reason().map(|r| r.as_str()), Some("upstream down"));
    assert_eq!(count(&seen, "retry"), 1);
    assert_eq!(count(&seen, "fell_back"), 0);
    close_in_time(&client).await;
}
