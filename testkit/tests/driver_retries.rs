//! Issue scenarios 2–4: accept-then-1001 loops stop at max_attempts then fall back; 1012
//! reconnects after the restart window; 1013 backs off longer than 1001.

mod driver_support;

use std::time::Duration;

use driver_support::*;
use redial::core::Event;
use redial::core::StateName;
use redial_testkit::{echo_responder, Act, Behavior, SseServer, TestCert, WsServer};

fn close(code: u16) -> Act {
    Act::Close {
        code: Some(code),
        reason: String::new(),
    }
}

#[async_std::test]
async fn accept_then_1001_stops_at_max_attempts_then_falls_back() {
    let cert = TestCert::localhost();
    let ws = WsServer::start(|_| Behavior::Accept(vec![close(1001)]))
        .await
        .unwrap();
    let sse = SseServer::start(&cert, echo_responder).await.unwrap();
    let config = fast_default();
    let max = config.budget.max_attempts as usize;
    let (client, mut events) = spawn(builder(&ws, &cert, config).fallback_url(sse.url()));
    let seen = until_kind(&mut events, "fell_back").await;
    assert_eq!(ws.connections(), max);
    assert_eq!(count(&seen, "dial"), max);
    assert_eq!(count(&seen, "retry"), max - 1);
    let cause = cause_of(&seen, "fell_back");
    assert!(
        cause.contains(&format!("{max} of {max} dials failed")),
        "{cause}"
    );
    assert!(cause.contains("1001 (going away)"), "{cause}");
    close_in_time(&client).await;
}

#[async_std::test]
async fn service_restart_reconnects_after_the_restart_window() {
    let ws = WsServer::start(|c| {
        if c.index == 1 {
            Behavior::Accept(vec![Act::Text("hello".into()), close(1012)])
        } else {
            Behavior::Accept(vec![Act::Text("back".into()), Act::Hold])
        }
    })
    .await
    .unwrap();
    let cert = TestCert::localhost();
    let config = fast_default();
    let window = config.delays.restart_min..=config.delays.restart_max;
    let (client, mut events) = spawn(builder(&ws, &cert, config));
    let seen = until(&mut events, |e| matches!(e, Event::RetryScheduled { .. })).await;
    let Some(Event::RetryScheduled { delay, .. }) = seen.last() else {
        unreachable!()
    };
    assert!(window.contains(delay), "{delay:?}");
    let closed_at = ws.accept_times()[0];
    until(&mut events, |e| matches!(e, Event::Stable { .. })).await;
    let times = ws.accept_times();
    assert_eq!(times.len(), 2);
    assert!(
        times[1] - closed_at >= *window.start(),
        "{:?}",
        times[1] - closed_at
    );
    assert_eq!(client.state(), StateName::Open);
    close_in_time(&client).await;
}

async fn first_retry_delay(code: u16) -> (Duration, Duration) {
    let ws = WsServer::start(move |c| {
        if c.index == 1 {
            Behavior::Accept(vec![close(code)])
        } else {
            Behavior::Accept(vec![Act::Text("ok".into()), Act::Hold])
        }
    })
    .await
    .unwrap();
    let cert = TestCert::localhost();
    let (client, mut events) = spawn(builder(&ws, &cert, fast_default()));
    let seen = until(&mut events, |e| matches!(e, Event::Stable { .. })).await;
    let delay = seen
        .iter()
        .find_map(|e| match e {
            Event::RetryScheduled { delay, .. } => Some(*delay),
            _ => None,
        })
        .unwrap();
    let t = ws.accept_times();
    close_in_time(&client).await;
    (delay, t[1] - t[0])
}

#[async_std::test]
async fn try_again_later_backs_off_longer_than_going_away() {
    let overload_min = fast_default().delays.overload_min;
    let (slow, slow_gap) = first_retry_delay(1013).await;
    let (normal, normal_gap) = first_retry_delay(1001).await;
    assert!(slow >= overload_min, "{slow:?}");
    assert!(slow > normal, "{slow:?} vs {normal:?}");
    assert!(slow_gap >= overload_min, "{slow_gap:?}");
    assert!(slow_gap > normal_gap, "{slow_gap:?} vs {normal_gap:?}");
}
