//! The `acknowledged` demo scenario: acknowledged delivery through the real driver
//! against a loopback server that resets the connection after reading half of what was
//! sent. The client sends [`ACKED_DEMO_MESSAGES`] messages, waits until every one is
//! acknowledged (`Client::settled`), and the summary counts what was lost end to end
//! from the server's ledger: a message is lost when the server's application never
//! received its sequence number and the client did not hand it back.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use futures_lite::{FutureExt, StreamExt};
use redial::driver::{AckOptions, Client, ClientEvent, Message, ProxyRules};
use redial_testkit::{Received, WsServer};
use serde_json::Value;

use crate::demo_run::Report;
use crate::demo_scenarios::{Outcome, Scenario, ACKED_DEMO_MESSAGES};
use crate::exit::CliError;
use crate::output::Printer;
use crate::session::{drain, Tracker};
use crate::setup;
use crate::term::Stream;

/// Waiting for the acknowledgements longer than this has failed.
const LIMIT: Duration = Duration::from_secs(20);

/// What became of the messages sent with acknowledgements on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// Messages given to `send`.
    pub sent: usize,
    /// Messages written again (the sum of `resent` events).
    pub resent: usize,
    /// Distinct sequence numbers the server's application received.
    pub received: usize,
    /// Copies the server received beyond the first of each (dropped by their number).
    pub duplicates: usize,
    /// Messages handed back to the application (unacknowledged or undelivered).
    pub handed_back: usize,
    /// Messages neither received by the server nor handed back.
    pub lost: usize,
}

impl Delivery {
    /// "10 sent, 10 resent, 0 lost".
    pub fn told(&self) -> String {
        format!(
            "{} sent, {} resent, {} lost",
            self.sent, self.resent, self.lost
        )
    }
}

enum Wake {
    Event(Option<ClientEvent>),
    Settled(bool),
    TimedOut,
}

/// Plays the `acknowledged` scenario; its timeline lines start with `label`.
pub async fn play(scenario: Scenario, json: bool, label: String) -> Result<Report, CliError> {
    let server_error = |e: std::io::Error| CliError::runtime(format!("demo server: {e}"));
    let ws = WsServer::start(scenario.script())
        .await
        .map_err(server_error)?;
    let printer =
        Printer::new(json, Stream::Stdout).tagged(scenario.name(), scenario.preset().name(), label);
    let builder = Client::builder(ws.url())
        .config(scenario.config())
        // The demo's server is on loopback: the machine's proxy is not for it.
        .proxy(ProxyRules::none())
        .acknowledged(AckOptions::json_envelope());
    let (client, mut events) = setup::start(builder)?;
    let mut tracker = Tracker::default();
    let mut problems = Vec::new();
    let sent: Vec<String> = (1..=ACKED_DEMO_MESSAGES)
        .map(|i| format!("message {i} of {ACKED_DEMO_MESSAGES}"))
        .collect();
    for text in &sent {
        if let Err(e) = client.try_send(text.as_str()) {
            printer.failed("send_failed", &e.to_string());
            problems.push(format!("a send failed: {e}"));
        }
    }
    let deadline = Instant::now() + LIMIT;
    let mut outcome = None;
    loop {
        let wake = async { Wake::Event(events.next().await) }
            .or(async { Wake::Settled(client.settled().await) })
            .or(async {
                async_io::Timer::at(deadline).await;
                Wake::TimedOut
            })
            .await;
        match wake {
            Wake::Event(Some(e)) => tracker.take(&printer, &e),
            Wake::Event(None) | Wake::Settled(false) => {
                problems.push("the client stopped before every message was acknowledged".into());
                break;
            }
            Wake::Settled(true) => {
                outcome = Some(printer.elapsed());
                break;
            }
            Wake::TimedOut => {
                problems.push(format!(
                    "not every message acknowledged after {}s ({} waiting)",
                    LIMIT.as_secs(),
                    client.unacknowledged()
                ));
                break;
            }
        }
    }
    client.close().await;
    drain(&mut events, &printer, &mut tracker).await;
    let delivery = tally(&sent, &ws, &tracker);
    problems.extend(scenario.check(&tracker.log, tracker.dials, Some(tracker.transport), &[]));
    if delivery.lost > 0 {
        problems.push(format!("{} message(s) lost end to end", delivery.lost));
    }
    if delivery.resent == 0 {
        problems.push("expected messages sent again after the reset".into());
    }
    if delivery.handed_back > 0 {
        problems.push(format!(
            "{} message(s) handed back: the server acknowledges every one",
            delivery.handed_back
        ));
    }
    printer.note(&format!(
        "  the server's application received {} distinct message(s) and dropped {} copy(ies) by sequence number; {} handed back",
        delivery.received, delivery.duplicates, delivery.handed_back
    ));
    let report = Report {
        scenario,
        dials: tracker.dials,
        outcome: outcome.map(|at| Outcome {
            at,
            what: "all acknowledged",
            told: delivery.told(),
        }),
        response: outcome.map(|_| tracker.transport),
        problems,
        tunnels: None,
        delivery: Some(delivery),
    };
    crate::demo_run::diagnosis(&printer, &report);
    Ok(report)
}

/// The ledger: what the server's application received (distinct sequence numbers of
/// `sent`'s texts) against what was sent and what the client handed back.
fn tally(sent: &[String], ws: &WsServer, tracker: &Tracker) -> Delivery {
    let mut by_seq: BTreeMap<u64, String> = BTreeMap::new();
    let mut copies = 0;
    for (_, r) in ws.received() {
        let Received::Text(t) = r else { continue };
        let v: Value = serde_json::from_str(&t).unwrap_or(Value::Null);
        if let (Some(seq), Some(text)) = (v["seq"].as_u64(), v["text"].as_str()) {
            copies += 1;
            by_seq.entry(seq).or_insert_with(|| text.to_string());
        }
    }
    let received: BTreeSet<&str> = by_seq.values().map(String::as_str).collect();
    let handed_back: BTreeSet<&str> = tracker
        .handed_back
        .iter()
        .filter_map(|m| match m {
            Message::Text(t) => Some(t.as_str()),
            Message::Binary(_) => None,
        })
        .collect();
    let lost = sent
        .iter()
        .filter(|t| !received.contains(t.as_str()) && !handed_back.contains(t.as_str()))
        .count();
    Delivery {
        sent: sent.len(),
        resent: tracker.resent,
        received: by_seq.len(),
        duplicates: copies - by_seq.len(),
        handed_back: tracker.handed_back.len(),
        lost,
    }
}
