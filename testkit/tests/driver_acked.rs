//! Acknowledged delivery over real sockets (invariant 17): a server that resets after
//! reading half of what was sent, one that never acknowledges, inbound duplicates, the
//! turn to the fallback, and the dial hook. Each test keeps a ledger of what the
//! server's application received (distinct sequence numbers) and of what the client
//! handed back, and checks that every message is in exactly one of them.

mod driver_support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use driver_support::*;
use futures_lite::StreamExt;
use redial::driver::{AckOptions, AckTimeoutAction, ClientEvent, DialExtras, Message};
use redial_testkit::{Act, Behavior, Received, SseServer, TestCert, WsServer};
use serde_json::{json, Value};

/// The envelope's acknowledgement of `text` if it carries a sequence number.
fn ack_of(text: &str) -> Vec<String> {
    let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    match v["seq"].as_u64() {
        Some(seq) => vec![json!({ "ack": seq }).to_string()],
        None => Vec::new(),
    }
}

/// A server connection that acknowledges every numbered message.
fn acknowledging() -> Behavior {
    Behavior::Accept(vec![Act::Respond(Arc::new(ack_of))])
}

/// What the server's application received, by sequence number: the text and how many
/// times it arrived (a count above 1 is a resend, dropped by the application).
fn ledger<'a>(texts: impl IntoIterator<Item = &'a str>) -> BTreeMap<u64, (String, usize)> {
    let mut got: BTreeMap<u64, (String, usize)> = BTreeMap::new();
    for t in texts {
        let v: Value = serde_json::from_str(t).expect("an envelope");
        let (Some(seq), Some(text)) = (v["seq"].as_u64(), v["text"].as_str()) else {
            continue;
        };
        let entry = got.entry(seq).or_insert_with(|| (text.to_string(), 0));
        assert_eq!(entry.0, text, "seq {seq} carried two texts");
        entry.1 += 1;
    }
    got
}

fn ws_texts(ws: &WsServer) -> Vec<String> {
    ws.received()
        .into_iter()
        .filter_map(|(_, r)| match r {
            Received::Text(t) => Some(t),
            _ => None,
        })
        .collect()
}

/// Every event until the driver ends (close first).
async fn rest(events: redial::driver::Events) -> Vec<ClientEvent> {
    within(Duration::from_secs(10), "the events' end", events.collect()).await
}

fn handed_back(events: &[ClientEvent]) -> Vec<(&'static str, Message)> {
    events
        .iter()
        .filter_map(|e| match e {
            ClientEvent::Undelivered(m) => Some(("undelivered", m.clone())),
            ClientEvent::Unacknowledged { message, .. } => {
                Some(("unacknowledged", message.clone()))
            }
            _ => None,
        })
        .collect()
}

fn resent(events: &[ClientEvent]) -> Vec<(usize, String)> {
    events
        .iter()
        .filter_map(|e| match e {
            ClientEvent::Resent { messages, cause } => Some((*messages, cause.clone())),
            _ => None,
        })
        .collect()
}

#[async_std::test]
async fn a_server_that_resets_after_reading_half_loses_nothing_every_message_arrives_once() {
    const N: u64 = 10;
    let ws = WsServer::start(|c| match c.index {
        // Reads half, acknowledges nothing, resets.
        1 => Behavior::Accept(
            std::iter::repeat_with(|| Act::AwaitMessage)
                .take(N as usize / 2)
                .chain([Act::Reset])
                .collect(),
        ),
        _ => acknowledging(),
    })
    .await
    .unwrap();
    let cert = TestCert::localhost();
    let (client, events) =
        spawn(builder(&ws, &cert, fast_default()).acknowledged(AckOptions::json_envelope()));
    for i in 1..=N {
        within(
            Duration::from_secs(10),
            "send",
            client.send(format!("m{i}")),
        )
        .await
        .unwrap();
    }
    let all = |s: &WsServer| ledger(ws_texts(s).iter().map(String::as_str)).len() == N as usize;
    within(Duration::from_secs(10), "every message", ws.wait_for(all)).await;
    close_in_time(&client).await;
    let events = rest(events).await;
    let got = ledger(ws_texts(&ws).iter().map(String::as_str));
    let want: BTreeMap<u64, String> = (1..=N).map(|i| (i, format!("m{i}"))).collect();
    assert_eq!(
        got.iter()
            .map(|(k, v)| (*k, v.0.clone()))
            .collect::<BTreeMap<_, _>>(),
        want
    );
    // What the first connection read (half) was written again on the second.
    let resends = resent(&events);
    assert_eq!(resends.len(), 1, "{events:#?}");
    assert!(resends[0].0 >= N as usize / 2, "{resends:?}");
    assert!(resends[0].1.contains("connection ended"), "{resends:?}");
    assert!(got.values().filter(|v| v.1 > 1).count() >= N as usize / 2);
    // The server acknowledged everything on the second connection: nothing handed back.
    assert_eq!(handed_back(&events), []);
    assert_eq!(ws.connections(), 2);
}

#[async_std::test]
async fn inbound_duplicates_are_dropped_and_the_client_acknowledges_what_it_received() {
    let ws = WsServer::start(|_| {
        Behavior::Accept(vec![
            Act::Text(json!({"seq": 1, "text": "a"}).to_string()),
            Act::Text(json!({"seq": 2, "text": "b"}).to_string()),
            Act::Text(json!({"seq": 1, "text": "a"}).to_string()),
            Act::Text("not an envelope".into()),
            Act::Hold,
        ])
    })
    .await
    .unwrap();
    let cert = TestCert::localhost();
    let (client, events, messages) = spawn_with_messages(
        builder(&ws, &cert, fast_default()).acknowledged(AckOptions::json_envelope()),
    );
    let got: Vec<_> = within(
        Duration::from_secs(10),
        "3 messages",
        messages.take(3).collect(),
    )
    .await;
    let texts: Vec<_> = got.to_vec();
    assert_eq!(
        texts,
        [Message::from("a"), "b".into(), "not an envelope".into()]
    );
    let acked_2 = |s: &WsServer| ws_texts(s).iter().any(|t| t == r#"{"ack":2}"#);
    within(
        Duration::from_secs(10),
        "the ack of 2",
        ws.wait_for(acked_2),
    )
    .await;
    close_in_time(&client).await;
    let events = rest(events).await;
    let dups: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            ClientEvent::DuplicateDropped { id, total } => Some((*id, *total)),
            _ => None,
        })
        .collect();
    assert_eq!(dups, [(1, 1)]);
}

#[async_std::test]
async fn a_connection_that_never_acknowledges_is_recycled_and_the_messages_resent() {
    let ws = WsServer::start(|c| match c.index {
        1 => Behavior::Accept(vec![Act::Hold]),
        _ => acknowledging(),
    })
    .await
    .unwrap();
    let cert = TestCert::localhost();
    let options = AckOptions::json_envelope().ack_timeout(Duration::from_millis(200));
    let (client, events) = spawn(builder(&ws, &cert, fast_default()).acknowledged(options));
    for i in 1..=3 {
        client.send(format!("m{i}")).await.unwrap();
    }
    let acked = |s: &WsServer| {
        s.connections() == 2
            && ledger(ws_texts(s).iter().map(String::as_str))
                .values()
                .all(|v| v.1 == 2)
            && ledger(ws_texts(s).iter().map(String::as_str)).len() == 3
    };
    within(Duration::from_secs(10), "the resends", ws.wait_for(acked)).await;
    close_in_time(&client).await;
    let events = rest(events).await;
    let overdue: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            ClientEvent::AckOverdue {
                messages, action, ..
            } => Some((*messages, *action)),
            _ => None,
        })
        .collect();
    assert_eq!(overdue, [(3, AckTimeoutAction::Recycle)]);
    let closes = ws.closes_received();
    let (code, reason) = closes[0].1.clone().expect("a close frame on the first");
    assert_eq!(code, 1000);
    assert!(reason.contains("no acknowledgement within"), "{reason}");
    assert_eq!(resent(&events).iter().map(|r| r.0).sum::<usize>(), 3);
    assert_eq!(handed_back(&events), []);
}

#[async_std::test]
async fn resending_on_the_same_connection_writes_the_late_ones_again() {
    let ws = WsServer::start(|_| Behavior::Accept(vec![Act::Hold]))
        .await
        .unwrap();
    let cert = TestCert::localhost();
    let options = AckOptions::json_envelope()
        .ack_timeout(Duration::from_millis(100))
        .on_ack_timeout(AckTimeoutAction::Resend);
    let (client, events) = spawn(builder(&ws, &cert, fast_default()).acknowledged(options));
    client.send("m1").await.unwrap();
    let twice = |s: &WsServer| {
        ledger(ws_texts(s).iter().map(String::as_str))
            .get(&1)
            .is_some_and(|v| v.1 >= 2)
    };
    within(Duration::from_secs(10), "a resend", ws.wait_for(twice)).await;
    assert_eq!(ws.connections(), 1);
    close_in_time(&client).await;
    let events = rest(events).await;
    // Never acknowledged: handed back as maybe delivered, with its sequence number.
    let back: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            ClientEvent::Unacknowledged { seq, message } => Some((*seq, message.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(back, [(1, Message::from("m1"))]);
    assert!(resent(&events)[0].1.contains("no acknowledgement within"));
}

#[async_std::test]
async fn unacknowledged_messages_are_handed_back_as_written_and_the_rest_as_undelivered() {
    let ws = WsServer::start(|_| Behavior::Accept(vec![Act::Hold]))
        .await
        .unwrap();
    let cert = TestCert::localhost();
    let options = AckOptions::json_envelope().limits(2, 1 << 20);
    let (client, events) = spawn(builder(&ws, &cert, fast_default()).acknowledged(options));
    for i in 1..=3 {
        client.send(format!("m{i}")).await.unwrap();
    }
    // Two are written; the outbox is full, so the third waits in the queue.
    within(Duration::from_secs(10), "two written", ws.wait_received(2)).await;
    close_in_time(&client).await;
    let events = rest(events).await;
    assert_eq!(
        handed_back(&events),
        [
            ("unacknowledged", Message::from("m1")),
            ("unacknowledged", "m2".into()),
            ("undelivered", "m3".into()),
        ]
    );
    assert_eq!(ws.received().len(), 2);
}

#[async_std::test]
async fn messages_unacknowledged_on_the_websocket_are_resent_over_the_fallback() {
    let cert = TestCert::localhost();
    // Reads two messages, acknowledges none, and closes with 1008 (fall back).
    let ws = WsServer::start(|_| {
        Behavior::Accept(vec![
            Act::AwaitMessage,
            Act::AwaitMessage,
            Act::Close {
                code: Some(1008),
                reason: String::new(),
            },
        ])
    })
    .await
    .unwrap();
    let sse = SseServer::start(&cert, ack_of).await.unwrap();
    let (client, mut events) = spawn(
        builder(&ws, &cert, fast_default())
            .fallback_url(sse.url())
            .acknowledged(AckOptions::json_envelope()),
    );
    for i in 1..=4 {
        client.send(format!("m{i}")).await.unwrap();
    }
    until_kind(&mut events, "fell_back").await;
    assert!(
        within(
            Duration::from_secs(10),
            "acknowledgements",
            client.settled()
        )
        .await
    );
    assert_eq!(client.unacknowledged(), 0);
    close_in_time(&client).await;
    let events = rest(events).await;
    let posts: Vec<String> = sse.requests().into_iter().map(|(_, body)| body).collect();
    let over_https = ledger(posts.iter().map(String::as_str));
    // Everything the WebSocket did not get acknowledged went over HTTPS, once each.
    assert_eq!(over_https.keys().copied().collect::<Vec<_>>(), [1, 2, 3, 4]);
    assert!(over_https.values().all(|v| v.1 == 1), "{over_https:?}");
    assert_eq!(handed_back(&events), []);
    assert!(!resent(&events).is_empty());
}

#[async_std::test]
async fn the_dial_hook_resumes_from_the_last_id_received_and_refreshes_a_token() {
    let upgrades = Arc::new(Mutex::new(Vec::new()));
    let log = upgrades.clone();
    let ws = WsServer::start(move |c| {
        log.lock()
            .unwrap()
            .push((c.path.clone(), c.headers.clone()));
        acts_of_resumed(c.index)
    })
    .await
    .unwrap();
    let cert = TestCert::localhost();
    let dials = Arc::new(Mutex::new(0u32));
    let seen = dials.clone();
    let b = builder(&ws, &cert, fast_default())
        .acknowledged(AckOptions::json_envelope())
        .before_dial(move |ctx| {
            let mut n = seen.lock().unwrap();
            *n += 1;
            let extras = DialExtras::default().header("Authorization", format!("Bearer t{n}"));
            match ctx.resume_from {
                Some(id) => extras.query("after", id.to_string()),
                None => extras,
            }
        });
    let (client, _events, messages) = spawn_with_messages(b);
    let _: Vec<_> = within(
        Duration::from_secs(10),
        "2 messages",
        messages.take(2).collect(),
    )
    .await;
    let upgraded = upgrades.clone();
    let second = move |_: &WsServer| upgraded.lock().unwrap().len() >= 2;
    within(
        Duration::from_secs(10),
        "the second dial",
        ws.wait_for(second),
    )
    .await;
    let infos = upgrades.lock().unwrap().clone();
    assert_eq!(infos[0].0, "/");
    assert_eq!(infos[1].0, "/?after=2");
    let auth = |i: usize| {
        infos[i]
            .1
            .iter()
            .find(|(n, _)| n == "authorization")
            .map(|(_, v)| v.clone())
    };
    assert_eq!(auth(0).as_deref(), Some("Bearer t1"));
    assert_eq!(auth(1).as_deref(), Some("Bearer t2"));
    close_in_time(&client).await;
}

/// The resumed stream's server: the first connection sends two numbered messages,
/// reads the client's acknowledgement, and resets; the next ones hold.
fn acts_of_resumed(index: usize) -> Behavior {
    match index {
        1 => Behavior::Accept(vec![
            Act::Text(json!({"seq": 1, "text": "a"}).to_string()),
            Act::Text(json!({"seq": 2, "text": "b"}).to_string()),
            Act::AwaitMessage,
            Act::Reset,
        ]),
        _ => Behavior::Accept(vec![Act::Hold]),
    }
}

#[async_std::test]
async fn the_acknowledgement_timer_starts_with_the_write_even_when_nothing_else_wakes_the_driver() {
    let ws = WsServer::start(|_| Behavior::Accept(vec![Act::Hold]))
        .await
        .unwrap();
    let cert = TestCert::localhost();
    // No heartbeat: nothing but the written message and its timer can wake the driver.
    let mut config = fast_default();
    config.heartbeat.ping_interval = None;
    let options = AckOptions::json_envelope()
        .ack_timeout(Duration::from_millis(100))
        .on_ack_timeout(AckTimeoutAction::Resend);
    let (client, mut events) = spawn(builder(&ws, &cert, config).acknowledged(options));
    client.try_send("m1").unwrap();
    // Three rounds of overdue → resend: each write arms the timer again.
    let three = async {
        let mut overdue = 0;
        while overdue < 3 {
            if let Some(ClientEvent::AckOverdue { .. }) = events.next().await {
                overdue += 1;
            }
        }
    };
    within(Duration::from_secs(3), "three late acknowledgements", three).await;
    let copies = ledger(ws_texts(&ws).iter().map(String::as_str))[&1].1;
    assert!(copies >= 3, "written {copies} times");
    close_in_time(&client).await;
}

#[async_std::test]
async fn an_in_task_connection_carries_acknowledged_delivery_too() {
    use futures_util::SinkExt;
    let ws = WsServer::start(|c| match c.index {
        1 => Behavior::Accept(vec![Act::AwaitMessage, Act::Reset]),
        _ => acknowledging(),
    })
    .await
    .unwrap();
    let cert = TestCert::localhost();
    let mut conn = builder(&ws, &cert, fast_default())
        .acknowledged(AckOptions::json_envelope())
        .connection()
        .unwrap();
    let events = conn.events();
    for i in 1..=3 {
        within(
            Duration::from_secs(10),
            "send",
            conn.send(Message::from(format!("m{i}"))),
        )
        .await
        .unwrap();
    }
    // Polling the connection (its stream) drives it until every message is acknowledged.
    let settle = async {
        while conn.unacknowledged() > 0 {
            let next = futures_lite::future::or(async { conn.next().await.map(|_| ()) }, async {
                async_io::Timer::after(Duration::from_millis(20)).await;
                Some(())
            });
            next.await;
        }
    };
    within(Duration::from_secs(10), "acknowledgements", settle).await;
    let got = ledger(ws_texts(&ws).iter().map(String::as_str));
    assert_eq!(got.keys().copied().collect::<Vec<_>>(), [1, 2, 3]);
    within(Duration::from_secs(10), "close", conn.close())
        .await
        .unwrap();
    let events = rest(events).await;
    assert_eq!(handed_back(&events), []);
    assert!(!resent(&events).is_empty());
}
