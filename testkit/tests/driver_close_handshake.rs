//! Invariant 13: every close frame the server sends is answered with a close frame
//! (RFC 6455 §5.5.1), by the spawned driver and by the in-task connection alike, for
//! every class of close code; a close the client starts is answered by the server
//! and waited for.
//!
//! The testkit server records each close frame it reads (`closes_received`). A client
//! that drops the TCP connection without answering leaves no record for that
//! connection: the server saw 1006.

mod driver_support;

use std::time::{Duration, Instant};

use driver_support::*;
use futures_lite::StreamExt;
use futures_util::SinkExt;
use redial::core::Event;
use redial::core::{StateName, Trigger};
use redial_testkit::{Act, Behavior, ConnInfo, TestCert, WsServer};

/// Codes of every class: done, transient, restart, overload, policy, protocol, auth,
/// application, and a frame without status.
const CODES: [Option<u16>; 9] = [
    Some(1000),
    Some(1001),
    Some(1012),
    Some(1013),
    Some(1008),
    Some(1003),
    Some(3000),
    Some(4000),
    None,
];

/// Every connection: 101, then a close frame with `code` and a reason.
fn closing(code: Option<u16>) -> impl Fn(&ConnInfo) -> Behavior + Send + Sync + 'static {
    move |_| {
        Behavior::Accept(vec![Act::Close {
            code,
            reason: "bye".into(),
        }])
    }
}

/// What the server should read back: tungstenite echoes the frame it received.
fn echoed(code: Option<u16>) -> Option<(u16, String)> {
    code.map(|c| (c, "bye".to_owned()))
}

/// Wait until the server has read `n` close frames (guarded), then check the first
/// connection's.
async fn answered(server: &WsServer, code: Option<u16>) {
    within(
        Duration::from_secs(3),
        &format!("the client's answer to a close with {code:?}"),
        server.wait_closes(1),
    )
    .await;
    let closes = server.closes_received();
    assert_eq!(closes[0], (1, echoed(code)), "close {code:?}: {closes:?}");
}

#[async_std::test]
async fn the_spawned_driver_answers_every_server_close() {
    let cert = TestCert::localhost();
    for code in CODES {
        let server = WsServer::start(closing(code)).await.unwrap();
        let (client, _events) = spawn(builder(&server, &cert, fast_default()));
        answered(&server, code).await;
        close_in_time(&client).await;
    }
}

#[async_std::test]
async fn the_in_task_connection_answers_every_server_close() {
    let cert = TestCert::localhost();
    for code in CODES {
        let server = WsServer::start(closing(code)).await.unwrap();
        let mut conn = builder(&server, &cert, fast_default())
            .connection()
            .unwrap();
        // The connection makes progress only while polled: read it until the server
        // has the answer.
        let reading = async {
            while conn.next().await.is_some() {}
            futures_lite::future::pending::<()>().await;
        };
        futures_lite::future::or(answered(&server, code), reading).await;
        within(Duration::from_secs(10), "close", conn.close())
            .await
            .unwrap();
    }
}

#[async_std::test]
async fn a_close_the_client_starts_reaches_the_server_and_its_answer_is_read() {
    let cert = TestCert::localhost();
    let server = WsServer::start(|_| Behavior::Accept(vec![Act::Hold]))
        .await
        .unwrap();
    let (client, mut events) = spawn(builder(&server, &cert, fast_default()));
    until_state(&mut events, StateName::Open).await;
    close_in_time(&client).await;
    let closes = server.closes_received();
    assert_eq!(closes.len(), 1, "{closes:?}");
    assert_eq!(closes[0].1.as_ref().map(|c| c.0), Some(1000));
    // The server's answer was read: the close ended on it, not on `close_grace`.
    let seen = until_state(&mut events, StateName::Stopped).await;
    assert!(
        matches!(
            seen.last(),
            Some(Event::StateChanged {
                trigger: Trigger::Closed,
                ..
            })
        ),
        "{seen:#?}"
    );
}

#[async_std::test]
async fn a_close_the_server_never_answers_is_waited_for_until_close_grace() {
    let cert = TestCert::localhost();
    let server = WsServer::start(|_| Behavior::Accept(vec![Act::Mute]))
        .await
        .unwrap();
    let (client, mut events) = spawn(builder(&server, &cert, fast_default()));
    until_state(&mut events, StateName::Open).await;
    let started = Instant::now();
    close_in_time(&client).await;
    assert!(started.elapsed() >= CLOSE_GRACE, "{:?}", started.elapsed());
    let seen = until_state(&mut events, StateName::Stopped).await;
    assert!(
        matches!(
            seen.last(),
            Some(Event::StateChanged {
                trigger: Trigger::CloseGraceElapsed,
                ..
            })
        ),
        "{seen:#?}"
    );
}
