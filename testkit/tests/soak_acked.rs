//! Soak with acknowledged delivery (issue 26): many clients against a loopback server
//! that flaps at random (seeded) as in `soak.rs` — closes with 1001, 1011, 1012, 1013,
//! 4000, resets TCP after reading a while, accepts then closes or drops at once, stalls
//! or resets handshakes, restarts every connection at once — while its application
//! acknowledges what it reads (`{"sack": [seq]}`) and keeps each message once.
//!
//! At the end, when the flapping has stopped and every client has settled or closed,
//! for every message given to `send`: the server's application has it exactly once
//! after dropping duplicates, or the client handed it back. A message handed back as
//! never written (`Undelivered`) must not be at the server; one handed back as
//! unacknowledged may be (maybe delivered). **Lost end to end: 0** is asserted, beside
//! `soak.rs`'s figure without acknowledgements (messages written in full to sockets that
//! the server then discarded, which no client can know of without them).
//!
//! `REDIAL_SOAK_ACKED_CLIENTS` (default 200), `REDIAL_SOAK_ACKED_SECS` (flapping time,
//! default 20) and `REDIAL_SOAK_SEED`; `--nocapture` prints the figures.

mod soak_support;

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_lite::{future, StreamExt};
use redial::config::{Config, Preset};
use redial::driver::{AckOptions, Client, ClientEvent, Message};
use redial_testkit::{Act, Behavior, ConnInfo, WsServer};
use serde_json::{json, Value};
use soak_support::account::Kind;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn config(seed: u64) -> Config {
    let ms = Duration::from_millis;
    let mut c = Preset::Default.config();
    c.seed = Some(seed);
    c.budget.max_attempts = 8;
    c.budget.min_uptime = ms(2000);
    c.backoff.base = ms(20);
    c.backoff.cap = Some(ms(500));
    c.delays.restart_min = ms(100);
    c.delays.restart_max = ms(500);
    c.delays.overload_min = ms(300);
    c.timeouts.connect = ms(3000);
    c.timeouts.handshake = ms(1000);
    c.timeouts.close_grace = ms(500);
    c.heartbeat.ping_interval = Some(ms(2000));
    c.heartbeat.pong_timeout = ms(5000);
    c
}

/// The server's application: each message it received ("<client> <n>", unique over a
/// logical client's `Client`s, whose sequence numbers start again at 1), and how many
/// times (above 1: a resend, dropped).
#[derive(Default)]
struct App {
    got: HashMap<String, u32>,
}

impl App {
    /// Read one envelope "<client> <n>" numbered `seq`; the acknowledgement to send.
    fn read(&mut self, text: &str) -> Vec<String> {
        let v: Value = serde_json::from_str(text).expect("the client sends envelopes");
        let (Some(seq), Some(body)) = (v["seq"].as_u64(), v["text"].as_str()) else {
            return Vec::new();
        };
        *self.got.entry(body.to_string()).or_default() += 1;
        vec![json!({ "sack": [seq] }).to_string()]
    }
}

/// The server's answer to each text message it reads.
type Responder = Arc<dyn Fn(&str) -> Vec<String> + Send + Sync>;

/// How the server treats a connection: as `soak.rs`'s kinds, its application
/// acknowledging while it reads; once `calm`, it serves and acknowledges until the
/// client closes.
fn behavior(kind: Kind, rng: &mut fastrand::Rng, app: &Arc<Mutex<App>>, calm: bool) -> Behavior {
    let app = app.clone();
    let respond: Responder = Arc::new(move |t: &str| app.lock().unwrap().read(t));
    if calm {
        return Behavior::Accept(vec![Act::Respond(respond)]);
    }
    let close = |code| Act::Close {
        code: Some(code),
        reason: String::new(),
    };
    let serve = Act::RespondFor(Duration::from_millis(rng.u64(300..3000)), respond);
    match kind {
        Kind::Serve(code) => Behavior::Accept(vec![serve, close(code)]),
        Kind::ServeThenReset => Behavior::Accept(vec![serve, Act::Reset]),
        Kind::AcceptClose => Behavior::Accept(vec![close(1001)]),
        Kind::AcceptDrop => Behavior::Accept(vec![]),
        Kind::StallHandshake => Behavior::StallHandshake,
        Kind::ResetBeforeUpgrade => Behavior::ResetBeforeUpgrade,
    }
}

/// What one logical client did, over all its `Client`s (a new one after giving up).
#[derive(Default)]
struct Log {
    sent: Vec<(u64, String)>,
    /// Handed back: never written (`Undelivered` or refused by `send`).
    undelivered: BTreeSet<String>,
    /// Handed back: written, not acknowledged.
    unacknowledged: BTreeSet<String>,
    resent: u64,
    settled: bool,
}

/// Sends "<id> <n>" every 100–400 ms while `sending`; then waits (bounded) until
/// everything is acknowledged, and closes.
async fn run_client(
    id: u32,
    addr: std::net::SocketAddr,
    seed: u64,
    sending: Arc<AtomicBool>,
) -> Log {
    let mut rng = fastrand::Rng::with_seed(seed ^ u64::from(id) << 20);
    let mut log = Log::default();
    let mut n = 0u64;
    for generation in 0..1000u64 {
        let client = Client::builder(format!("ws://127.0.0.1:{}/c/{id}", addr.port()))
            .config(config(seed ^ u64::from(id) ^ generation << 40))
            .acknowledged(AckOptions::json_envelope().ack_timeout(Duration::from_secs(3)))
            .spawn()
            .unwrap();
        let mut events = client.events();
        let events_done = async_std::task::spawn(async move {
            let mut seen = Vec::new();
            while let Some(e) = events.next().await {
                seen.push(e);
            }
            seen
        });
        while sending.load(Ordering::SeqCst) && client.state() != redial::core::StateName::Stopped {
            n += 1;
            let text = format!("{id} {n}");
            log.sent.push((n, text.clone()));
            let send = future::or(async { Some(client.send(text.clone()).await) }, async {
                async_io::Timer::after(Duration::from_secs(5)).await;
                None
            });
            match send.await {
                Some(Ok(())) => {}
                Some(Err(e)) => {
                    log.undelivered
                        .insert(e.into_message().as_text().unwrap().to_string());
                }
                // Waited 5 s for room: the flapping server acknowledges slowly; try the
                // next one later (the message was not queued: a cancelled send is).
                None => {
                    log.undelivered.insert(text);
                }
            }
            async_io::Timer::after(Duration::from_millis(rng.u64(100..400))).await;
        }
        let stopped = client.state() == redial::core::StateName::Stopped;
        if !stopped {
            log.settled = future::or(client.settled(), async {
                async_io::Timer::after(Duration::from_secs(30)).await;
                false
            })
            .await;
        }
        client.close().await;
        for e in events_done.await {
            match e {
                ClientEvent::Undelivered(m) => {
                    log.undelivered.insert(text_of(&m));
                }
                ClientEvent::Unacknowledged { message, .. } => {
                    log.unacknowledged.insert(text_of(&message));
                }
                ClientEvent::Resent { messages, .. } => log.resent += messages as u64,
                _ => {}
            }
        }
        if !stopped || !sending.load(Ordering::SeqCst) {
            return log;
        }
    }
    log
}

fn text_of(m: &Message) -> String {
    m.as_text().expect("text").to_string()
}

#[test]
fn soak_with_acknowledgements_loses_nothing_end_to_end() {
    let clients = env("REDIAL_SOAK_ACKED_CLIENTS", 200) as u32;
    let secs = env("REDIAL_SOAK_ACKED_SECS", 20);
    let seed = env("REDIAL_SOAK_SEED", 0x5eed_2024);
    let limit = Duration::from_secs(secs + 120);
    async_std::task::block_on(future::or(soak(clients, secs, seed), async move {
        async_io::Timer::after(limit).await;
        panic!("the soak did not end within {limit:?}");
    }));
}

async fn soak(clients: u32, secs: u64, seed: u64) {
    let app: Arc<Mutex<App>> = Arc::default();
    let calm = Arc::new(AtomicBool::new(false));
    let kinds: Arc<Mutex<HashMap<Kind, u64>>> = Arc::default();
    let (a, c, k) = (app.clone(), calm.clone(), kinds.clone());
    let server = WsServer::start(move |info: &ConnInfo| {
        let mut rng =
            fastrand::Rng::with_seed(seed ^ (info.index as u64).wrapping_mul(0x9e37_79b9));
        let kind = Kind::pick(&mut rng);
        let calm = c.load(Ordering::SeqCst);
        if !calm {
            *k.lock().unwrap().entry(kind).or_default() += 1;
        }
        behavior(kind, &mut rng, &a, calm)
    })
    .await
    .unwrap();
    let sending = Arc::new(AtomicBool::new(true));
    let tasks: Vec<_> = (0..clients)
        .map(|id| async_std::task::spawn(run_client(id, server.addr(), seed, sending.clone())))
        .collect();
    let mut rng = fastrand::Rng::with_seed(seed);
    let start = Instant::now();
    let mut restarts = 0;
    for tick in 1..=secs {
        async_io::Timer::at(start + Duration::from_secs(tick)).await;
        if tick % 8 == 4 + rng.u64(0..3) && tick + 2 < secs {
            restarts += 1;
            server.restart().await;
        }
    }
    // The flapping stops, then the sending: every client can settle.
    calm.store(true, Ordering::SeqCst);
    sending.store(false, Ordering::SeqCst);
    let mut logs = Vec::new();
    for t in tasks {
        logs.push(t.await);
    }
    let connections = server.connections();
    server.shutdown().await;

    let got = std::mem::take(&mut app.lock().unwrap().got);
    let (mut sent, mut delivered, mut maybe, mut lost, mut resent) = (0u64, 0u64, 0u64, 0u64, 0u64);
    let (mut undelivered, mut duplicates_at_server, mut unsettled) = (0u64, 0u64, 0u64);
    for log in &logs {
        resent += log.resent;
        unsettled += u64::from(!log.settled);
        for (_, text) in &log.sent {
            sent += 1;
            let present = got.contains_key(text);
            match (
                present,
                log.undelivered.contains(text),
                log.unacknowledged.contains(text),
            ) {
                (true, false, false) => delivered += 1,
                (true, false, true) => maybe += 1,
                (false, true, false) => undelivered += 1,
                (false, false, true) => maybe += 1,
                (true, true, _) => {
                    panic!("{text}: at the server, yet handed back as never written")
                }
                (false, false, false) => {
                    lost += 1;
                    eprintln!("lost: {text}");
                }
                (false, true, true) => panic!("{text}: handed back twice"),
            }
        }
    }
    duplicates_at_server += got.values().map(|&n| u64::from(n - 1)).sum::<u64>();
    println!(
        "soak (acknowledged): {clients} clients, {secs} s, seed {seed:#x}: {connections} TCP connections, {restarts} restarts; \
         {sent} messages sent: {delivered} received once by the server's application, {maybe} handed back as unacknowledged, \
         {undelivered} handed back never written; lost end to end: {lost}; {resent} resent, {duplicates_at_server} duplicates dropped by the server; \
         {unsettled} client(s) ended without settling (gave up, or not within 30 s); connections by kind: {:?}",
        kinds.lock().unwrap()
    );
    assert!(sent > u64::from(clients), "too few messages: {sent}");
    assert!(
        resent > 0,
        "the flapping server made no resend: the soak tests nothing"
    );
    assert_eq!(lost, 0, "messages lost end to end");
}
