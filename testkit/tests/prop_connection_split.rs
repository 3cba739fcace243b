//! The in-task connection split across two tasks, under generated writes and server
//! scripts (invariant 16, with the ledger of invariants 9 and 13): a writer task sends,
//! feeds, flushes and waits; a reader task reads; the server serves or closes with a
//! code of every class after a while.
//!
//! Checked, per case:
//! - liveness: when every connection serves, each message written gets its echo to the
//!   reader task within a guard, whatever the writer task is doing; the heartbeat is off
//!   and no other timer is near, so a reader that is not woken for its own work stalls
//!   and fails the guard;
//! - the ledger (`driver_random::ledger`): every message written or handed back, never
//!   lost, never both, no silent duplicate; every server close answered.
//!
//! Cases: `REDIAL_DRIVER_CASES` if set; otherwise `PROPTEST_CASES` capped at 64, 16 when
//! neither is set. Failures are kept in `proptest-regressions/prop_connection_split.txt`.

mod driver_random;
mod driver_support;

use std::sync::Mutex;
use std::time::Duration;

use driver_random::ledger::{Observed, Reach};
use driver_random::*;
use driver_support::*;
use futures_util::{SinkExt, StreamExt};
use proptest::prelude::*;
use proptest::test_runner::{FileFailurePersistence, TestCaseError, TestRunner};
use redial::driver::{ClientEvent, Message};
use redial_testkit::{TestCert, WsServer};

fn cases() -> u32 {
    let var = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u32>().ok());
    match var("REDIAL_DRIVER_CASES") {
        Some(n) => n,
        None => var("PROPTEST_CASES").map_or(16, |n| n.min(64)),
    }
}

/// One step of the writer task.
#[derive(Debug, Clone, Copy)]
enum Write {
    /// `send`: into the queue, then wait until written.
    Send,
    /// `feed`: into the queue, waiting for room only.
    Feed,
    /// `flush`: wait until everything fed is written.
    Flush,
    /// Let `ms` pass without touching the connection.
    Wait(u8),
}

#[derive(Debug, Clone)]
struct Case {
    scripts: Vec<Script>,
    writes: Vec<Write>,
}

fn case() -> impl Strategy<Value = Case> {
    let script = prop_oneof![
        3 => Just(Script::Serve),
        1 => (0u16..80, prop::sample::select(CLOSE_CODES.to_vec()))
            .prop_map(|(ms, code)| Script::CloseAfter { ms, code }),
    ];
    let write = prop_oneof![
        3 => Just(Write::Send),
        3 => Just(Write::Feed),
        1 => Just(Write::Flush),
        2 => (0u8..40).prop_map(Write::Wait),
    ];
    (
        prop::collection::vec(script, 1..4),
        prop::collection::vec(write, 1..24),
    )
        .prop_map(|(scripts, writes)| Case { scripts, writes })
}

/// No heartbeat and nothing timed within a case's reach: only the halves' own wake-ups
/// move the connection.
fn config() -> redial::Config {
    let mut c = fast_default();
    c.heartbeat.ping_interval = None;
    c.budget.min_uptime = Duration::from_secs(60);
    c.queue.max_messages = 4;
    c
}

static REACH: Mutex<Option<Reach>> = Mutex::new(None);

async fn run(case: Case) -> Result<(), TestCaseError> {
    let scripts = case.scripts.clone();
    let server = WsServer::start(move |c| behavior(&scripts, c.index))
        .await
        .unwrap();
    let cert = TestCert::localhost();
    let sockets = Sockets::default();
    let conn = builder(&server, &cert, config())
        .connector(sockets.connector())
        .connection()
        .unwrap();
    let events = conn.events();
    let (mut sink, mut stream) = conn.split();
    let (got_tx, got_rx) = async_channel::unbounded::<String>();
    let reader = async_std::task::spawn(async move {
        while let Some(incoming) = stream.next().await {
            if let Some(text) = incoming.message.as_text() {
                let _ = got_tx.send(text.to_owned()).await;
            }
        }
    });
    let mut accepted = Vec::new();
    for (n, write) in case.writes.iter().enumerate() {
        let m = format!("m{n}");
        let done = match write {
            Write::Send => within(
                Duration::from_secs(10),
                "send",
                sink.send(m.as_str().into()),
            )
            .await
            .map(|()| accepted.push(m)),
            Write::Feed => within(
                Duration::from_secs(10),
                "feed",
                sink.feed(m.as_str().into()),
            )
            .await
            .map(|()| accepted.push(m)),
            Write::Flush => within(Duration::from_secs(10), "flush", sink.flush()).await,
            Write::Wait(ms) => {
                async_io::Timer::after(Duration::from_millis((*ms).into())).await;
                Ok(())
            }
        };
        // The client stopped (a close class that is not retried, and no fallback).
        if done.is_err() {
            break;
        }
    }
    let flushed = within(Duration::from_secs(10), "the last flush", sink.flush()).await;
    // Liveness: a serving server echoes every message, and the reader task gets each
    // echo while the writer task only waits for it here.
    let serving = case.scripts.iter().all(|s| matches!(s, Script::Serve));
    if serving && flushed.is_ok() {
        let mut echoes = Vec::new();
        while echoes.len() < accepted.len() {
            let echo = within(
                Duration::from_secs(5),
                "an echo in the reader task",
                got_rx.recv(),
            )
            .await
            .expect("the reader goes on while the client runs");
            echoes.push(echo);
        }
        let expected: Vec<String> = accepted.iter().map(|m| format!("echo {m}")).collect();
        prop_assert_eq!(echoes, expected);
    }
    within(Duration::from_secs(10), "close", sink.close())
        .await
        .ok();
    within(Duration::from_secs(10), "the reader's end", reader).await;
    let events: Vec<ClientEvent> =
        within(Duration::from_secs(10), "events", events.collect()).await;
    let connections = server.connections();
    within(
        Duration::from_secs(5),
        "the server's connections to end",
        server.wait_ended(connections),
    )
    .await;
    let observed = Observed {
        sent: accepted,
        over_ws: sockets.written(),
        undelivered: events
            .iter()
            .filter_map(|e| match e {
                ClientEvent::Undelivered(Message::Text(t)) => Some(t.clone()),
                _ => None,
            })
            .collect(),
        replayed: events
            .iter()
            .filter(|e| matches!(e, ClientEvent::Replayed { .. }))
            .count(),
        closes_sent: server.closes_sent(),
        closes_answered: server
            .closes_received()
            .into_iter()
            .map(|(c, _)| c)
            .collect(),
        ..Observed::default()
    };
    let mut reach = Reach::default();
    if let Err((rule, what)) = observed.check(&mut reach) {
        prop_assert!(
            false,
            "ledger: {rule:?}: {what}\n{observed:#?}\n{events:#?}"
        );
    }
    if serving {
        *reach.0.entry("serving case").or_default() += 1;
    }
    REACH
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get_or_insert_with(Reach::default)
        .add(&reach);
    Ok(())
}

#[test]
fn a_split_connection_makes_progress_from_each_task_and_loses_nothing() {
    let mut runner = TestRunner::new(ProptestConfig {
        cases: cases(),
        max_shrink_iters: 64,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../proptest-regressions/prop_connection_split.txt"
        )))),
        ..ProptestConfig::default()
    });
    let result = runner.run(&case(), |case| {
        async_std::task::block_on(within(Duration::from_secs(60), "the whole case", run(case)))
    });
    if let Err(e) = result {
        panic!("{e}\n{runner}");
    }
    let reach = REACH.lock().unwrap().take().unwrap_or_default();
    let mut lines: Vec<_> = reach.0.iter().collect();
    lines.sort();
    println!(
        "prop_connection_split reach over {} cases: {lines:?}",
        cases()
    );
    assert!(reach.get("message") > 0, "{lines:?}");
}
