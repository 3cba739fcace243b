//! Acknowledged delivery under generated faults, over real sockets (the design's
//! invariant 15): a number of messages × a sequence of server connections, each one of
//! acknowledge everything; read some (acknowledging them or not) and then reset or close
//! with a code of every class — 1008 turns the client to the HTTPS fallback, whose
//! server acknowledges or not, and a re-probe brings it back; acknowledge with lies mixed
//! in (duplicates, 0, numbers never assigned); or read and never acknowledge — × the
//! acknowledgement timeout and what it does (recycle, resend). After the scripted
//! connections, the server acknowledges everything, so every case can settle.
//!
//! The ledger oracle ([`check`]) states the invariant's rules afresh, from the design:
//! nothing lost (each message reached the server's application or was handed back);
//! nothing handed back as never written that the server has; nothing handed back twice;
//! no silent duplicate (every copy beyond the first matched by an announced resend);
//! nothing at the server that was not sent; a client that settled hands nothing back;
//! and every case ends settled or stopped. Each rule has a forged violation that the
//! oracle catches (the unit tests at the end), and what the run reached is counted.
//!
//! Cases: `REDIAL_DRIVER_CASES` if set; otherwise `PROPTEST_CASES` capped at 200, 32 when
//! neither is set (a case takes about 0.1 s). Failures are kept in `proptest-regressions/prop_acked.txt`.

mod driver_support;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use driver_support::*;
use futures_lite::StreamExt;
use proptest::prelude::*;
use proptest::test_runner::{FileFailurePersistence, TestCaseError, TestRunner};
use redial::driver::{AckOptions, AckTimeoutAction, ClientEvent, Message};
use redial_testkit::{Act, Behavior, Received, SseServer, TestCert, WsServer};
use serde_json::{json, Value};

fn cases() -> u32 {
    let var = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u32>().ok());
    match var("REDIAL_DRIVER_CASES") {
        Some(n) => n,
        None => var("PROPTEST_CASES").map_or(32, |n| n.min(200)),
    }
}

/// How one scripted server connection ends after reading.
#[derive(Debug, Clone, Copy)]
enum End {
    Reset,
    /// A close code: 1001, 1011, 1012, 4000 are retried; 1008 turns to the fallback.
    Close(u16),
}

/// One scripted server connection.
#[derive(Debug, Clone, Copy)]
enum Conn {
    /// Acknowledge every message until the client closes.
    AckAll,
    /// Read `k` messages, acknowledging each if `ack`, then end.
    ReadThen { k: u8, ack: bool, end: End },
    /// Acknowledge every message, with lies and repeats around the truth.
    Flaky,
    /// Read for a while without acknowledging anything, then close with 1012.
    Silent,
    /// Close with 1008 at once: the client turns to the fallback.
    Refuse,
}

#[derive(Debug, Clone)]
struct Case {
    messages: u8,
    conns: Vec<Conn>,
    ack_timeout_ms: u64,
    on_timeout: AckTimeoutAction,
    /// Whether the fallback's server acknowledges what it is posted.
    fallback_acks: bool,
}

fn end() -> impl Strategy<Value = End> {
    prop_oneof![
        Just(End::Reset),
        prop::sample::select(vec![1001u16, 1011, 1012, 4000, 1008]).prop_map(End::Close),
    ]
}

fn conn() -> impl Strategy<Value = Conn> {
    prop_oneof![
        1 => Just(Conn::AckAll),
        4 => (0u8..6, any::<bool>(), end()).prop_map(|(k, ack, end)| Conn::ReadThen { k, ack, end }),
        1 => Just(Conn::Flaky),
        1 => Just(Conn::Silent),
        1 => Just(Conn::Refuse),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    (
        1u8..16,
        prop::collection::vec(conn(), 0..5),
        150u64..400,
        prop_oneof![
            Just(AckTimeoutAction::Recycle),
            Just(AckTimeoutAction::Resend)
        ],
        any::<bool>(),
    )
        .prop_map(
            |(messages, conns, ack_timeout_ms, on_timeout, fallback_acks)| Case {
                messages,
                conns,
                ack_timeout_ms,
                on_timeout,
                fallback_acks,
            },
        )
}

/// The sequence number of an envelope, if it is one.
fn seq_of(text: &str) -> Option<u64> {
    serde_json::from_str::<Value>(text).ok()?["seq"].as_u64()
}

fn sack(text: &str) -> Vec<String> {
    seq_of(text)
        .map(|s| vec![json!({ "sack": [s] }).to_string()])
        .unwrap_or_default()
}

/// The truth among lies: an acknowledgement of 0, of numbers never assigned (huge),
/// repeats, and the real one.
fn flaky(text: &str) -> Vec<String> {
    let Some(s) = seq_of(text) else {
        return Vec::new();
    };
    vec![
        json!({ "ack": 0 }).to_string(),
        json!({ "sack": [u64::MAX, 1u64 << 40] }).to_string(),
        json!({ "ack": 1u64 << 40 }).to_string(),
        json!({ "sack": [s] }).to_string(),
        json!({ "sack": [s, s] }).to_string(),
    ]
}

fn behavior(c: Conn) -> Behavior {
    let respond = |f: fn(&str) -> Vec<String>| Act::Respond(Arc::new(f));
    match c {
        Conn::AckAll => Behavior::Accept(vec![respond(sack)]),
        Conn::Flaky => Behavior::Accept(vec![respond(flaky)]),
        Conn::Silent => Behavior::Accept(vec![
            Act::HoldFor(Duration::from_millis(500)),
            Act::Close {
                code: Some(1012),
                reason: String::new(),
            },
        ]),
        Conn::Refuse => Behavior::Accept(vec![Act::Close {
            code: Some(1008),
            reason: String::new(),
        }]),
        Conn::ReadThen { k, ack, end } => {
            let mut acts = Vec::new();
            for _ in 0..k {
                acts.push(match ack {
                    // Reads one message and acknowledges it, then goes on.
                    true => Act::RespondFor(Duration::from_millis(40), Arc::new(sack)),
                    false => Act::AwaitMessage,
                });
            }
            acts.push(match end {
                End::Reset => Act::Reset,
                End::Close(code) => Act::Close {
                    code: Some(code),
                    reason: String::new(),
                },
            });
            Behavior::Accept(acts)
        }
    }
}

/// What a case showed, for the oracle.
#[derive(Debug, Default, Clone)]
struct Observed {
    sent: Vec<String>,
    /// Arrivals at the server's application (WebSocket and fallback), by text.
    server: BTreeMap<String, u32>,
    undelivered: Vec<String>,
    unacknowledged: Vec<String>,
    resent_announced: usize,
    settled: bool,
    stopped: bool,
}

/// The ledger oracle: the invariant's rules, each named when broken.
fn check(o: &Observed) -> Result<(), String> {
    let mut handed: HashMap<&str, u32> = HashMap::new();
    for t in o.undelivered.iter().chain(&o.unacknowledged) {
        *handed.entry(t).or_default() += 1;
    }
    for t in &o.sent {
        let at_server = o.server.get(t).copied().unwrap_or(0);
        let back = handed.get(t.as_str()).copied().unwrap_or(0);
        if at_server == 0 && back == 0 {
            return Err(format!(
                "lost: {t:?} is neither at the server nor handed back"
            ));
        }
        if back > 1 {
            return Err(format!("handed back twice: {t:?}"));
        }
        if at_server > 0 && o.undelivered.contains(t) {
            return Err(format!(
                "handed back as never written, yet at the server: {t:?}"
            ));
        }
    }
    if let Some(t) = o.server.keys().find(|t| !o.sent.contains(t)) {
        return Err(format!("at the server but never sent: {t:?}"));
    }
    let copies: u32 = o.server.values().map(|n| n.saturating_sub(1)).sum();
    if copies as usize > o.resent_announced {
        return Err(format!(
            "silent duplicates: {copies} copies beyond the first, {} resends announced",
            o.resent_announced
        ));
    }
    if o.settled && !handed.is_empty() {
        return Err(format!("settled, yet {} handed back", handed.len()));
    }
    if !o.settled && !o.stopped {
        return Err("neither settled nor stopped".into());
    }
    Ok(())
}

fn config() -> redial::config::Config {
    let mut c = fast_default();
    let ms = Duration::from_millis;
    c.fallback.connect_timeout = ms(100);
    c.fallback.tls_timeout = ms(200);
    c.fallback.headers_timeout = ms(200);
    c.fallback.idle_timeout = ms(200);
    c
}

/// What the whole run reached.
static REACH: Mutex<BTreeMap<&'static str, u32>> = Mutex::new(BTreeMap::new());

fn reached(what: &'static str, yes: bool) {
    if yes {
        *REACH.lock().unwrap().entry(what).or_default() += 1;
    }
}

fn texts(ws: &WsServer, sse: &SseServer) -> Vec<String> {
    let over_ws = ws.received().into_iter().filter_map(|(_, r)| match r {
        Received::Text(t) => Some(t),
        _ => None,
    });
    over_ws
        .chain(sse.requests().into_iter().map(|(_, b)| b))
        .collect()
}

async fn run(case: Case) -> Result<(), TestCaseError> {
    let cert = TestCert::localhost();
    let conns = case.conns.clone();
    let ws =
        WsServer::start(move |c| behavior(conns.get(c.index - 1).copied().unwrap_or(Conn::AckAll)))
            .await
            .unwrap();
    let sse = match case.fallback_acks {
        true => SseServer::start(&cert, sack).await.unwrap(),
        false => SseServer::start(&cert, |_: &str| Vec::new()).await.unwrap(),
    };
    let options = AckOptions::json_envelope()
        .limits(8, 1 << 16)
        .ack_timeout(Duration::from_millis(case.ack_timeout_ms))
        .on_ack_timeout(case.on_timeout);
    let (client, events) = spawn(
        builder(&ws, &cert, config())
            .fallback_url(sse.url())
            .acknowledged(options),
    );
    let mut o = Observed::default();
    for i in 0..case.messages {
        let text = format!("m{i}");
        o.sent.push(text.clone());
        if let Err(e) = within(Duration::from_secs(20), "send", client.send(text)).await {
            o.undelivered
                .push(e.into_message().as_text().unwrap().to_string());
        }
    }
    o.settled = within(Duration::from_secs(30), "settled", client.settled()).await;
    o.stopped = client.state() == redial::core::StateName::Stopped;
    close_in_time(&client).await;
    let events: Vec<ClientEvent> =
        within(Duration::from_secs(10), "the events' end", events.collect()).await;
    for e in &events {
        match e {
            ClientEvent::Undelivered(Message::Text(t)) => o.undelivered.push(t.clone()),
            ClientEvent::Unacknowledged {
                message: Message::Text(t),
                ..
            } => o.unacknowledged.push(t.clone()),
            ClientEvent::Resent { messages, .. } => o.resent_announced += messages,
            _ => {}
        }
    }
    for t in texts(&ws, &sse) {
        let v: Value = serde_json::from_str(&t).expect("the client sends envelopes");
        if let Some(text) = v["text"].as_str() {
            *o.server.entry(text.to_string()).or_default() += 1;
        }
    }
    let has = |f: fn(&ClientEvent) -> bool| events.iter().any(f);
    reached("resent", o.resent_announced > 0);
    reached("fallback carried", !sse.requests().is_empty());
    reached(
        "fallback left unacknowledged",
        !case.fallback_acks && !sse.requests().is_empty(),
    );
    reached(
        "ack overdue",
        has(|e| matches!(e, ClientEvent::AckOverdue { .. })),
    );
    reached("handed back unacknowledged", !o.unacknowledged.is_empty());
    reached(
        "duplicates at the server",
        o.server.values().any(|&n| n > 1),
    );
    reached("settled", o.settled);
    reached("stopped", o.stopped);
    reached(
        "flaky acknowledgements",
        case.conns.iter().any(|c| matches!(c, Conn::Flaky)),
    );
    check(&o).map_err(|rule| TestCaseError::fail(format!("{rule}\n{o:#?}")))
}

#[test]
fn acknowledged_delivery_loses_nothing_and_duplicates_nothing_silently() {
    let config = ProptestConfig {
        cases: cases(),
        max_shrink_iters: 32,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../proptest-regressions/prop_acked.txt"
        )))),
        ..ProptestConfig::default()
    };
    let mut runner = TestRunner::new(config);
    let result = runner.run(&case(), |case| {
        async_std::task::block_on(within(Duration::from_secs(90), "the whole case", run(case)))
    });
    let reach = REACH.lock().unwrap().clone();
    println!("prop_acked reach over {} cases: {reach:?}", cases());
    if let Err(e) = result {
        panic!("{e}");
    }
    // What a run of the default size must reach, or the generator tests less than it
    // claims.
    if cases() >= 32 {
        for what in ["resent", "fallback carried", "ack overdue", "settled"] {
            assert!(
                reach.contains_key(what),
                "no case reached {what:?}: {reach:?}"
            );
        }
    }
}

/// Each rule of the oracle catches its forged violation.
#[test]
fn the_oracle_catches_a_forged_violation_of_each_rule() {
    let good = Observed {
        sent: vec!["a".into(), "b".into(), "c".into()],
        server: BTreeMap::from([("a".into(), 2), ("b".into(), 1)]),
        undelivered: vec![],
        unacknowledged: vec!["c".into()],
        resent_announced: 1,
        settled: false,
        stopped: true,
    };
    assert_eq!(check(&good), Ok(()));
    type Forge = Box<dyn Fn(&mut Observed)>;
    let forged: Vec<(&str, Forge)> = vec![
        ("lost", Box::new(|o| o.unacknowledged.clear())),
        (
            "handed back twice",
            Box::new(|o| o.undelivered.push("c".into())),
        ),
        (
            "never written, yet at the server",
            Box::new(|o| o.undelivered.push("a".into())),
        ),
        (
            "never sent",
            Box::new(|o| {
                o.server.insert("z".into(), 1);
            }),
        ),
        ("silent duplicates", Box::new(|o| o.resent_announced = 0)),
        ("settled, yet", Box::new(|o| o.settled = true)),
        (
            "neither settled nor stopped",
            Box::new(|o| o.stopped = false),
        ),
    ];
    for (rule, forge) in forged {
        let mut o = good.clone();
        forge(&mut o);
        let verdict = check(&o);
        assert!(
            verdict.as_ref().is_err_and(|e| e.contains(rule)),
            "forged {rule:?}: {verdict:?}"
        );
    }
}
