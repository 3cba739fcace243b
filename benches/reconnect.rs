//! `reconnect`: the server closes with 1001 and the backoff is zero (strategy none,
//! base 0): how long until redial is Open again, against a fresh raw async-tungstenite
//! connect (TCP connect + upgrade over async-net) to the same server, in the same run.
//!
//! Every connection gets a message (so it is stable: the budget resets), is held for
//! 20 ms, then closed with 1001. Redial's times are taken on the driver's own thread: a
//! minimal `tracing` subscriber stamps the driver's `redial state` events, so close →
//! Open runs from the core's transition out of Open (the close frame handled and
//! answered) to its transition into Open, and the dial from Connecting to Open. Between
//! two redial reconnects, while redial's connection is held, the bench makes one raw
//! connect: the two alternate, so the machine's load hits both alike.
//!
//! A second phase does the same with redial's in-task [`Connection`](redial::driver::Connection):
//! the driver polled by the bench's own task, as the raw client is (the same execution
//! mode), which tells the executor's thread hops from redial's own work.

mod common;

use std::time::{Duration, Instant};

use async_std::task::block_on;
use async_tungstenite::tungstenite::Message as WsMessage;
use common::net::{quiet, redial_open, RawWs};
use futures_lite::StreamExt;
use redial::config::Strategy;
use redial::core::Event;
use redial::core::StateName;
use redial::driver::{Client, ClientBuilder, ClientEvent, Events};
use redial_testkit::{Act, Behavior, WsServer};
use serde_json::json;

/// One reconnect as the driver's stamps tell it.
struct Reconnect {
    /// The core's transition out of Open (Backoff) → its transition into Open.
    again: Duration,
    /// Connecting → Open.
    dial: Duration,
    /// Connecting → TCP connected.
    tcp: Duration,
    /// TCP connected → upgrade done (101 read).
    upgrade: Duration,
    /// Upgrade done → Open (the core's input and the state change).
    open: Duration,
}

/// Wait for the client's next transition into Open (after draining stale events),
/// then read the driver's stamps, when complete.
async fn next_reconnect(events: &mut Events) -> Option<Reconnect> {
    drain_stale(events);
    common::stamps::take();
    let opened = async {
        while let Some(e) = events.next().await {
            match e {
                ClientEvent::Core(Event::StateChanged {
                    to: StateName::Open,
                    ..
                }) => return,
                ClientEvent::Core(e @ (Event::GaveUp { .. } | Event::FellBack { .. })) => {
                    panic!("redial stopped: {e:?}")
                }
                _ => {}
            }
        }
        panic!("the event stream ended")
    };
    assert!(
        common::within(Duration::from_secs(5), opened)
            .await
            .is_some(),
        "redial did not reconnect within 5 s"
    );
    let stamps = common::stamps::take();
    let open = stamps.iter().rposition(|(_, s)| s == "open")?;
    let at = |name: &str| {
        stamps[..open]
            .iter()
            .rev()
            .find(|(_, s)| s == name)
            .map(|p| p.0)
    };
    let (left, dialing) = (at("backoff")?, at("connecting")?);
    let (connected, upgraded) = (at("connected")?, at("upgraded")?);
    let opened_at = stamps[open].0;
    Some(Reconnect {
        again: opened_at - left,
        dial: opened_at - dialing,
        tcp: connected - dialing,
        upgrade: upgraded - connected,
        open: opened_at - upgraded,
    })
}

/// A raw async-tungstenite connect, timed by phase: (TCP connect, upgrade).
async fn raw_connect_phased(addr: std::net::SocketAddr) -> (RawWs, Duration, Duration) {
    let start = Instant::now();
    let tcp = async_net::TcpStream::connect(addr)
        .await
        .expect("loopback connect");
    let _ = tcp.set_nodelay(true);
    let connected = Instant::now();
    let (ws, _) = async_tungstenite::client_async(format!("ws://{addr}/"), tcp)
        .await
        .expect("loopback upgrade");
    (ws, connected - start, connected.elapsed())
}

fn stats(name: &str, xs: &[f64]) -> serde_json::Value {
    let mut v = xs.to_vec();
    let med = common::median(&mut v);
    json!({
        "what": name,
        "n": xs.len(),
        "median_us": med,
        "p10_us": common::percentile(&mut v, 10.0),
        "p90_us": common::percentile(&mut v, 90.0),
    })
}

/// Drop events already delivered, so that the next reconnect is timed as it happens.
fn drain_stale(events: &mut Events) {
    while let Some(Some(_)) = block_on(futures_lite::future::poll_once(events.next())) {}
}

/// The server every benchmark connection gets: a message, `hold_ms`, then 1001.
async fn server(hold_ms: u64) -> WsServer {
    WsServer::start(move |_| {
        Behavior::Accept(vec![
            Act::Text("hello".into()),
            Act::Wait(Duration::from_millis(hold_ms)),
            Act::Close {
                code: Some(1001),
                reason: "going away".into(),
            },
        ])
    })
    .await
    .expect("a loopback server")
}

fn builder(server: &WsServer) -> ClientBuilder {
    let mut config = quiet();
    config.backoff.strategy = Strategy::None;
    config.backoff.base = Duration::ZERO;
    config.budget.max_attempts = u32::MAX;
    Client::builder(server.url()).config(config)
}

#[derive(Default)]
struct Samples {
    again: Vec<f64>,
    dial: Vec<f64>,
    raw: Vec<f64>,
    /// Redial's dial by phase: TCP connect, upgrade, upgrade → Open.
    tcp: Vec<f64>,
    upgrade: Vec<f64>,
    open: Vec<f64>,
    /// The raw connect by phase: TCP connect, upgrade.
    raw_tcp: Vec<f64>,
    raw_upgrade: Vec<f64>,
    /// A raw client's close → Open: it reads the server's close, answers it and
    /// connects again at once, as redial does.
    raw_again: Vec<f64>,
    /// That reconnect's TCP connect and upgrade.
    raw_again_tcp: Vec<f64>,
    raw_again_upgrade: Vec<f64>,
    /// Cycles whose stamps were incomplete (a reconnect under way when the stamps were
    /// cleared); not counted.
    incomplete: usize,
}

impl Samples {
    /// One cycle: redial's next reconnect, then one raw connect (to `raw_server`, which
    /// closes 10 ms after the upgrade, while redial's connection is still held), then
    /// that raw client's reconnect after the close.
    async fn cycle(&mut self, events: &mut Events, raw_server: std::net::SocketAddr) {
        match next_reconnect(events).await {
            Some(r) => {
                self.again.push(common::us(r.again));
                self.dial.push(common::us(r.dial));
                self.tcp.push(common::us(r.tcp));
                self.upgrade.push(common::us(r.upgrade));
                self.open.push(common::us(r.open));
            }
            None => {
                self.incomplete += 1;
                return;
            }
        }
        // Redial's new connection is held for 20 ms: room for one raw connect.
        let start = Instant::now();
        let (mut ws, tcp, upgrade) = raw_connect_phased(raw_server).await;
        self.raw.push(common::us(start.elapsed()));
        self.raw_tcp.push(common::us(tcp));
        self.raw_upgrade.push(common::us(upgrade));
        loop {
            match ws.next().await {
                Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            }
        }
        let closed = Instant::now();
        let _ = ws.close(None).await;
        let (again, tcp, upgrade) = raw_connect_phased(raw_server).await;
        self.raw_again.push(common::us(closed.elapsed()));
        self.raw_again_tcp.push(common::us(tcp));
        self.raw_again_upgrade.push(common::us(upgrade));
        drop(again);
    }
}

fn main() {
    if common::skipped(&["reconnect"]) {
        return;
    }
    common::stamps::install();
    let load_before = common::loadavg();
    let cycles = common::rounds(200, 30);
    let (spawned_server, local_server, raw_server) =
        block_on(async { (server(20).await, server(20).await, server(10).await) });
    // Redial as usual: the driver on the async-std executor.
    let (client, mut events) = block_on(redial_open(builder(&spawned_server)));
    // An in-task connection, polled by the bench's own task (no hop between threads).
    let mut conn = builder(&local_server).connection().expect("a valid client");
    let mut local_events = conn.events();

    let deadline = common::Deadline::new("reconnect", Duration::from_secs(120));
    let (mut spawned, mut on_thread) = (Samples::default(), Samples::default());
    block_on(async {
        for _ in 0..cycles {
            deadline.check();
            spawned.cycle(&mut events, raw_server.addr()).await;
        }
        common::within(Duration::from_secs(5), client.close()).await;
    });
    let measure = async {
        common::net::until_state(&mut local_events, StateName::Open).await;
        for _ in 0..cycles {
            deadline.check();
            on_thread.cycle(&mut local_events, raw_server.addr()).await;
        }
    };
    block_on(futures_lite::future::or(measure, async {
        // Reading the connection polls it: its dials, closes and timers run here.
        while conn.next().await.is_some() {}
    }));
    block_on(common::within(Duration::from_secs(5), async {
        futures_util::SinkExt::close(&mut conn).await
    }));

    let (r, d, w) = (
        stats("redial: close → Open", &spawned.again),
        stats("redial: its dial (Connecting → Open)", &spawned.dial),
        stats("raw async-tungstenite: fresh connect", &spawned.raw),
    );
    let wa = stats("raw: close → connected again", &spawned.raw_again);
    let phases = [
        stats("redial's dial: TCP connect", &spawned.tcp),
        stats("redial's dial: upgrade", &spawned.upgrade),
        stats("redial's dial: upgrade done → Open", &spawned.open),
        stats("raw connect: TCP connect", &spawned.raw_tcp),
        stats("raw connect: upgrade", &spawned.raw_upgrade),
        stats("in-task connection: TCP connect", &on_thread.tcp),
        stats("in-task connection: upgrade", &on_thread.upgrade),
        stats("in-task connection: upgrade done → Open", &on_thread.open),
        stats("raw, during that phase: TCP connect", &on_thread.raw_tcp),
        stats("raw, during that phase: upgrade", &on_thread.raw_upgrade),
        stats("raw reconnect: TCP connect", &spawned.raw_again_tcp),
        stats("raw reconnect: upgrade", &spawned.raw_again_upgrade),
        stats(
            "raw reconnect, during that phase: TCP connect",
            &on_thread.raw_again_tcp,
        ),
        stats(
            "raw reconnect, during that phase: upgrade",
            &on_thread.raw_again_upgrade,
        ),
    ];
    let (lr, ld, lw) = (
        stats("redial in-task connection: close → Open", &on_thread.again),
        stats("redial in-task connection: its dial", &on_thread.dial),
        stats("raw, during that phase", &on_thread.raw),
    );
    let lwa = stats(
        "raw, during that phase: close → connected again",
        &on_thread.raw_again,
    );
    let median = |v: &serde_json::Value| v["median_us"].as_f64().unwrap_or(0.0);
    let raw_median = median(&w).max(1e-9);
    let local_raw_median = median(&lw).max(1e-9);
    let ratio = median(&r) / raw_median;
    // Per-cycle paired ratios (each redial reconnect against the raw connect after it).
    let mut paired: Vec<f64> = spawned
        .again
        .iter()
        .zip(&spawned.raw)
        .map(|(a, b)| a / b)
        .collect();
    let paired_median = common::median(&mut paired);
    for s in [&r, &d, &w, &wa, &lr, &ld, &lw, &lwa]
        .into_iter()
        .chain(&phases)
    {
        println!(
            "reconnect {:<50} median {:>8.1} µs (p10 {:>8.1}, p90 {:>8.1}) over {}",
            s["what"].as_str().unwrap_or(""),
            median(s),
            s["p10_us"].as_f64().unwrap_or(0.0),
            s["p90_us"].as_f64().unwrap_or(0.0),
            s["n"]
        );
    }
    println!(
        "reconnect ratio (redial close → Open / raw connect): {ratio:.2} (paired per cycle: \
         {paired_median:.2}); redial's dial alone {:.2}; in-task connection: close → Open {:.2}, \
         dial {:.2}; against a raw client's reconnect: spawned {:.2}, in-task {:.2}",
        median(&d) / raw_median,
        median(&lr) / local_raw_median,
        median(&ld) / local_raw_median,
        median(&r) / median(&wa).max(1e-9),
        median(&lr) / median(&lwa).max(1e-9),
    );
    let result = json!({
        "redial": r,
        "redial_dial": d,
        "in_task": lr,
        "in_task_dial": ld,
        "raw": w,
        "raw_local_phase": lw,
        "raw_reconnect": wa,
        "raw_reconnect_local_phase": lwa,
        "in_task_vs_raw_reconnect": median(&lr) / median(&lwa).max(1e-9),
        "phases": phases,
        "reconnect_vs_raw_reconnect": median(&r) / median(&wa).max(1e-9),
        "incomplete": spawned.incomplete + on_thread.incomplete,
        "ratio": ratio,
        "ratio_paired": paired_median,
        "dial_ratio": median(&d) / raw_median,
        "in_task_ratio": median(&lr) / local_raw_median,
        "in_task_dial_ratio": median(&ld) / local_raw_median,
        "load_before": load_before,
        "load_after": common::loadavg(),
    });
    common::write_result("reconnect", &result);
}
