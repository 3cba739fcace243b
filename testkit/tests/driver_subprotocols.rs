//! Issue 27: WebSocket subprotocols. The list offered goes out as
//! `Sec-WebSocket-Protocol` on every dial; the server's choice is in the `connected`
//! event and `Client::protocol`; a choice that does not fit the offer fails the dial
//! with a cause naming both sides, class `subprotocol_mismatch`, and the client stops
//! (one dial, no retry loop); a server that switches between connections is reported.

mod driver_support;

use driver_support::*;
use redial::core::{Event, StateName};
use redial::driver::{BuildError, Client};
use redial::policy::Class;
use redial_testkit::{Act, Behavior, ConnInfo, TestCert, WsServer};

const OFFER: [&str; 2] = ["chat.v2", "chat.v1"];

/// 101 with `Sec-WebSocket-Protocol: chosen` (none: without the header), then `acts`.
fn choose(chosen: Option<&str>, acts: Vec<Act>) -> Behavior {
    Behavior::AcceptWith {
        headers: chosen
            .map(|p| ("Sec-WebSocket-Protocol".to_string(), p.to_string()))
            .into_iter()
            .collect(),
        acts,
    }
}

fn offered(c: &ConnInfo) -> Option<String> {
    c.header("sec-websocket-protocol").map(str::to_string)
}

fn handshake_failure(events: &[Event]) -> (Class, String) {
    let failure = events
        .iter()
        .find_map(|e| match e {
            Event::HandshakeFailed { failure } => Some(failure.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no handshake_failed in {events:#?}"));
    (failure.class(), failure.to_string())
}

#[async_std::test]
async fn the_list_is_offered_and_the_servers_choice_is_exposed() {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    let ws = WsServer::start(move |c| {
        record.lock().unwrap().push(offered(c));
        choose(Some("chat.v1"), vec![Act::Hold])
    })
    .await
    .unwrap();
    let cert = TestCert::localhost();
    let (client, mut events) = spawn(builder(&ws, &cert, fast_default()).protocols(OFFER));
    let got = until(&mut events, |e| e.kind() == "connected").await;
    let Some(Event::Connected { protocol, .. }) = got.last() else {
        unreachable!()
    };
    assert_eq!(protocol.as_deref(), Some("chat.v1"));
    let line = got.last().unwrap().to_json(std::time::Duration::ZERO);
    assert_eq!(line["protocol"], "chat.v1", "{line}");
    assert_eq!(client.protocol().as_deref(), Some("chat.v1"));
    assert_eq!(
        *seen.lock().unwrap(),
        [Some("chat.v2, chat.v1".to_string())],
        "offered in order of preference, in one header"
    );
    close_in_time(&client).await;
}

#[async_std::test]
async fn without_a_list_nothing_is_offered_and_no_choice_is_reported() {
    let ws = WsServer::start(|c| {
        assert_eq!(offered(c), None);
        choose(None, vec![Act::Hold])
    })
    .await
    .unwrap();
    let cert = TestCert::localhost();
    let (client, mut events) = spawn(builder(&ws, &cert, fast_default()));
    let got = until(&mut events, |e| e.kind() == "connected").await;
    assert!(matches!(
        got.last(),
        Some(Event::Connected { protocol: None, .. })
    ));
    assert_eq!(client.protocol(), None);
    close_in_time(&client).await;
}

/// One dial, a `handshake_failed` of class `subprotocol_mismatch` whose cause contains
/// every needle, and the client stopped (no retry, no fallback).
async fn mismatch(chosen: Option<&'static str>, offer: &[&str], needles: &[&str]) {
    let ws = WsServer::start(move |_| choose(chosen, vec![Act::Hold]))
        .await
        .unwrap();
    let cert = TestCert::localhost();
    let b = builder(&ws, &cert, fast_default()).protocols(offer.iter().copied());
    let (client, mut events) = spawn(b);
    let got = until_kind(&mut events, "gave_up").await;
    let (class, cause) = handshake_failure(&got);
    assert_eq!(class, Class::SubprotocolMismatch, "{cause}");
    for needle in needles {
        assert!(cause.contains(needle), "{needle:?} not in {cause:?}");
    }
    assert_eq!(count(&got, "dial"), 1, "no retry: {got:#?}");
    assert_eq!(count(&got, "retry"), 0);
    assert_eq!(ws.connections(), 1);
    let gave_up = cause_of(&got, "gave_up");
    assert!(
        gave_up.contains("the next dial would offer the same subprotocols"),
        "{gave_up}"
    );
    assert_eq!(client.state(), StateName::Stopped);
    client.closed().await;
}

#[async_std::test]
async fn a_protocol_not_offered_fails_the_dial_naming_both_sides_and_stops() {
    mismatch(
        Some("chat.v3"),
        &OFFER,
        &[
            r#"the server chose subprotocol "chat.v3", which was not offered"#,
            r#"(offered: "chat.v2", "chat.v1")"#,
        ],
    )
    .await;
}

#[async_std::test]
async fn no_protocol_when_some_were_offered_fails_the_dial_and_stops() {
    mismatch(
        None,
        &OFFER,
        &[r#"the server chose no subprotocol, but the client requires one of "chat.v2", "chat.v1""#],
    )
    .await;
}

/// tungstenite refuses a 101 that names a subprotocol when none was offered (RFC 6455
/// §4.1: the client must fail the connection); the cause says what the server chose.
#[async_std::test]
async fn a_protocol_chosen_when_none_was_offered_fails_the_dial_and_stops() {
    mismatch(
        Some("chat.v2"),
        &[],
        &[r#"the server chose subprotocol "chat.v2", but the client offered none"#],
    )
    .await;
}

#[async_std::test]
async fn a_reconnect_offers_the_same_list_and_a_switch_is_reported() {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    let ws = WsServer::start(move |c| {
        record.lock().unwrap().push(offered(c));
        match c.index {
            // Going away (1001, transient): the client dials again.
            1 => choose(
                Some("chat.v2"),
                vec![Act::Close {
                    code: Some(1001),
                    reason: String::new(),
                }],
            ),
            _ => choose(Some("chat.v1"), vec![Act::Hold]),
        }
    })
    .await
    .unwrap();
    let cert = TestCert::localhost();
    let (client, mut events) = spawn(builder(&ws, &cert, fast_default()).protocols(OFFER));
    let got = until(&mut events, |e| e.kind() == "subprotocol_changed").await;
    assert_eq!(count(&got, "connected"), 2, "{got:#?}");
    let Some(Event::SubprotocolChanged { from, to }) = got.last() else {
        unreachable!()
    };
    assert_eq!(
        (from.as_deref(), to.as_deref()),
        (Some("chat.v2"), Some("chat.v1"))
    );
    let said = got.last().unwrap().to_string();
    assert_eq!(
        said,
        r#"the server switched subprotocol from "chat.v2" to "chat.v1" since the previous connection"#
    );
    assert_eq!(client.protocol().as_deref(), Some("chat.v1"));
    let offer = Some("chat.v2, chat.v1".to_string());
    assert_eq!(*seen.lock().unwrap(), [offer.clone(), offer]);
    close_in_time(&client).await;
}

#[async_std::test]
async fn the_same_choice_again_is_not_reported_as_a_switch() {
    let ws = WsServer::start(|c| match c.index {
        1 => choose(
            Some("chat.v2"),
            vec![Act::Close {
                code: Some(1001),
                reason: String::new(),
            }],
        ),
        _ => choose(Some("chat.v2"), vec![Act::Hold]),
    })
    .await
    .unwrap();
    let cert = TestCert::localhost();
    let (client, mut events) = spawn(builder(&ws, &cert, fast_default()).protocols(OFFER));
    // A switch is reported between the upgrade's `connected` and its entry into Open.
    let opened = std::sync::atomic::AtomicUsize::new(0);
    let got = until(&mut events, |e| {
        matches!(
            e,
            Event::StateChanged {
                to: StateName::Open,
                ..
            }
        ) && opened.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 1
    })
    .await;
    assert_eq!(count(&got, "connected"), 2, "{got:#?}");
    assert_eq!(count(&got, "subprotocol_changed"), 0, "{got:#?}");
    close_in_time(&client).await;
}

#[test]
fn names_that_are_not_tokens_or_repeat_are_refused_naming_the_field() {
    for bad in [
        vec!["chat v2"],
        vec![""],
        vec!["a,b"],
        vec!["x", "x"],
        vec!["é"],
    ] {
        let err = Client::builder("ws://127.0.0.1:1/")
            .protocols(bad.clone())
            .build()
            .map(|_| ())
            .unwrap_err();
        match err {
            BuildError::Config(e) => assert_eq!(e.field(), Some("protocols"), "{bad:?}: {e}"),
            e => panic!("{bad:?}: {e}"),
        }
    }
}
