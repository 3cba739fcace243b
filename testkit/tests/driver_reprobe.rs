//! Issue scenarios 12–13: the quiet re-probe returns to WebSockets after the cooldown;
//! and what tungstenite hands over for a received 1014 versus what redial reports.

mod driver_support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use driver_support::*;
use redial::core::Event;
use redial::core::StateName;
use redial::policy::Class;
use redial_testkit::{echo_responder, Act, Behavior, SseServer, TestCert, WsServer};

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

/// The mission's server on every connection: 101, then 1008 after 100 ms. Each quiet
/// re-probe is upgraded and then closed during its trial (`min_uptime`, 500 ms here):
/// the client stays on the fallback, reports no recovery, and writes nothing to the
/// probe's connection: messages sent while the probe is open go over the fallback.
/// (Before the trial, the probe's upgrade switched back to WebSockets at once, and the
/// messages went to a server that was about to close with 1008.)
#[async_std::test]
async fn a_probe_closed_during_its_trial_takes_no_message() {
    let ws = WsServer::start(|_| {
        Behavior::Accept(vec![
            Act::HoldFor(std::time::Duration::from_millis(100)),
            Act::Close {
                code: Some(1008),
                reason: "not now".into(),
            },
        ])
    })
    .await
    .unwrap();
    let cert = TestCert::localhost();
    let sse = SseServer::start(&cert, echo_responder).await.unwrap();
    let (client, mut events) = spawn(builder(&ws, &cert, fast_default()).fallback_url(sse.url()));
    let mut seen = until_kind(&mut events, "fell_back").await;
    for probe in 0..2 {
        seen.extend(
            until(&mut events, |e| {
                matches!(e, Event::Connected { probe: true, .. })
            })
            .await,
        );
        for i in 0..3 {
            client.try_send(format!("p{probe}m{i}")).unwrap();
        }
        seen.extend(until_kind(&mut events, "probe_failed").await);
    }
    within(
        std::time::Duration::from_secs(5),
        "six fallback requests",
        sse.wait_requests(6),
    )
    .await;
    assert_eq!(ws.received(), [], "written to a probe's connection");
    assert_eq!(count(&seen, "recovered"), 0);
    assert_eq!(client.state(), StateName::FellBack);
    let bodies: Vec<String> = sse.requests().into_iter().map(|(_, body)| body).collect();
    assert_eq!(bodies, ["p0m0", "p0m1", "p0m2", "p1m0", "p1m1", "p1m2"]);
    close_in_time(&client).await;
}

/// tungstenite rewrites a received 1014 into 1002 "Protocol violation" (see
/// testkit/tests/driver_close_code_1014.rs); redial reads the raw frame and reports 1014, which
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
