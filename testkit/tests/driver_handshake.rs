//! Issue scenarios 5–8: 429 with Retry-After, 401 and re-authentication, 426/404 fall
//! back at once, a stalled handshake times out and is retried.

mod driver_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use driver_support::*;
use redial::core::Event;
use redial::driver::Headers;
use redial_testkit::{echo_responder, Act, Behavior, SseServer, TestCert, WsServer};

fn healthy() -> Behavior {
    Behavior::Accept(vec![Act::Text("welcome".into()), Act::Hold])
}

fn reject(status: u16, headers: &[(&str, &str)]) -> Behavior {
    Behavior::Reject {
        status,
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

#[async_std::test]
async fn rate_limited_upgrade_waits_for_retry_after() {
    let ws = WsServer::start(|c| {
        if c.index == 1 {
            reject(429, &[("Retry-After", "1")])
        } else {
            healthy()
        }
    })
    .await
    .unwrap();
    let cert = TestCert::localhost();
    let (client, mut events) = spawn(builder(&ws, &cert, fast_default()));
    let seen = until(&mut events, |e| matches!(e, Event::Stable { .. })).await;
    let t = ws.accept_times();
    assert!(t[1] - t[0] >= Duration::from_secs(1), "{:?}", t[1] - t[0]);
    let cause = cause_of(&seen, "retry");
    assert!(
        cause.contains("HTTP 429") && cause.contains("Retry-After 1 s"),
        "{cause}"
    );
    close_in_time(&client).await;
}

fn reauth_builder(
    ws: &WsServer,
    cert: &TestCert,
    calls: Arc<AtomicUsize>,
) -> redial::driver::ClientBuilder {
    builder(ws, cert, fast_default())
        .header("Authorization", "Bearer stale")
        .on_reauth(move || {
            let calls = calls.clone();
            async move {
                calls.fetch_add(1, Ordering::SeqCst);
                Some(
                    [("Authorization", "Bearer fresh")]
                        .into_iter()
                        .collect::<Headers>(),
                )
            }
        })
}

#[async_std::test]
async fn unauthorized_upgrade_reauthenticates_once_then_connects() {
    let ws = WsServer::start(|c| match c.header("authorization") {
        Some("Bearer fresh") => healthy(),
        _ => reject(401, &[]),
    })
    .await
    .unwrap();
    let cert = TestCert::localhost();
    let calls = Arc::new(AtomicUsize::new(0));
    let (client, mut events) = spawn(reauth_builder(&ws, &cert, calls.clone()));
    until(&mut events, |e| matches!(e, Event::Stable { .. })).await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(ws.connections(), 2);
    close_in_time(&client).await;
}

#[async_std::test]
async fn two_unauthorized_upgrades_stop() {
    let ws = WsServer::start(|_| reject(401, &[])).await.unwrap();
    let cert = TestCert::localhost();
    let calls = Arc::new(AtomicUsize::new(0));
    let (client, mut events) = spawn(reauth_builder(&ws, &cert, calls.clone()));
    let seen = until_kind(&mut events, "gave_up").await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(ws.connections(), 2);
    let cause = cause_of(&seen, "gave_up");
    assert!(
        cause.contains("still unauthorized after re-authenticating"),
        "{cause}"
    );
    client.closed().await;
}

#[async_std::test]
async fn upgrade_required_or_not_found_falls_back_at_once() {
    for status in [426, 404] {
        let cert = TestCert::localhost();
        let ws = WsServer::start(move |_| reject(status, &[])).await.unwrap();
        let sse = SseServer::start(&cert, echo_responder).await.unwrap();
        let (client, mut events) =
            spawn(builder(&ws, &cert, fast_default()).fallback_url(sse.url()));
        let seen = until_kind(&mut events, "fell_back").await;
        assert_eq!(ws.connections(), 1, "{status}");
        assert_eq!(count(&seen, "retry"), 0);
        let cause = cause_of(&seen, "fell_back");
        assert!(cause.contains(&format!("HTTP {status}")), "{cause}");
        assert!(cause.contains("does not offer WebSockets"), "{cause}");
        close_in_time(&client).await;
    }
}

#[async_std::test]
async fn a_stalled_handshake_times_out_and_is_retried() {
    let ws = WsServer::start(|c| {
        if c.index == 1 {
            Behavior::StallHandshake
        } else {
            healthy()
        }
    })
    .await
    .unwrap();
    let cert = TestCert::localhost();
    let config = fast_default();
    let handshake = config.timeouts.handshake;
    let (client, mut events) = spawn(builder(&ws, &cert, config));
    let seen = until(&mut events, |e| matches!(e, Event::Stable { .. })).await;
    let cause = cause_of(&seen, "handshake_failed");
    assert!(cause.contains("the handshake phase timed out"), "{cause}");
    let t = ws.accept_times();
    assert!(t[1] - t[0] >= handshake, "{:?}", t[1] - t[0]);
    assert_eq!(count(&seen, "retry"), 1);
    close_in_time(&client).await;
}
