//! `tokio`: redial on tokio's own runtime (`TokioRuntime`: tokio's TCP and timers, no
//! async-io reactor) against raw tokio-tungstenite, in the same run, on a multi-thread
//! and on a current-thread runtime. The servers are tokio-tungstenite servers on the
//! same runtime.
//!
//! - `download`: server → client, a small request answered by 1,000 messages of 1 KiB,
//!   twice a round;
//! - `echo`: 500 round trips of 1 KiB a round, one at a time;
//! - `reconnect`: the client sends `bye`, the server closes with 1001, and the time runs
//!   until the client is open again (redial: its `Open` state, zero backoff; raw: it reads
//!   the close, answers it, and connects again at once).
//!
//! Three clients for the throughput workloads: raw tokio-tungstenite polled in the
//! bench's task; redial's in-task `Connection` (the driver polled by the same task); and
//! redial's spawned `Client` (the driver a tokio task, as `ClientBuilder::spawn` runs
//! it). The variants' order rotates round by round, so that the machine's changing load
//! hits all alike; the median of the per-round ratios (raw time / redial time) is the
//! figure, with its IQR. For reconnect, raw and redial cycles alternate.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use redial::config::Strategy;
use redial::core::{Event, StateName};
use redial::driver::{Client, ClientEvent, Connection, Events, Messages};
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::WebSocketStream;

const PER_ROUND: usize = 2000;
const ECHOES: usize = 500;
const RECONNECTS_PER_ROUND: usize = 5;

type RawWs = WebSocketStream<TcpStream>;

fn payload() -> String {
    "x".repeat(1024)
}

/// A tokio-tungstenite server: echoes, answers `burst:N` with N messages, and closes
/// with 1001 on `bye`.
async fn server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let _ = tcp.set_nodelay(true);
            tokio::spawn(serve(tcp));
        }
    });
    addr
}

async fn serve(tcp: TcpStream) {
    let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
        return;
    };
    while let Some(Ok(m)) = ws.next().await {
        let WsMessage::Text(t) = &m else {
            continue;
        };
        let sent = if let Some(n) = t.strip_prefix("burst:") {
            let n: usize = n.parse().unwrap_or(0);
            let body = payload();
            let mut all = Ok(());
            for _ in 0..n.min(10_000) {
                all = ws.feed(WsMessage::text(body.clone())).await;
                if all.is_err() {
                    break;
                }
            }
            match all {
                Ok(()) => ws.flush().await,
                e => e,
            }
        } else if t.as_str() == "bye" {
            let frame = CloseFrame {
                code: CloseCode::Away,
                reason: "going away".into(),
            };
            let _ = ws.close(Some(frame)).await;
            // Read on until the client's answer ends the connection.
            while let Some(Ok(_)) = ws.next().await {}
            return;
        } else {
            ws.send(m).await
        };
        if sent.is_err() {
            return;
        }
    }
}

async fn raw_connect(addr: SocketAddr) -> RawWs {
    let tcp = TcpStream::connect(addr).await.expect("loopback connect");
    let _ = tcp.set_nodelay(true);
    let (ws, _) = tokio_tungstenite::client_async(format!("ws://{addr}/"), tcp)
        .await
        .expect("loopback upgrade");
    ws
}

async fn raw_next(ws: &mut RawWs) -> WsMessage {
    loop {
        match ws.next().await {
            Some(Ok(m @ (WsMessage::Text(_) | WsMessage::Binary(_)))) => return m,
            Some(Ok(WsMessage::Close(_))) | None => panic!("the server closed"),
            Some(Ok(_)) => continue,
            Some(Err(e)) => panic!("raw client: {e}"),
        }
    }
}

/// `REDIAL_BENCH_READ_BUFFER=<bytes>`: the clients' read buffer (default: redial's).
fn read_buffer() -> Option<usize> {
    std::env::var("REDIAL_BENCH_READ_BUFFER").ok()?.parse().ok()
}

fn builder(addr: SocketAddr) -> redial::driver::ClientBuilder {
    let b = Client::builder(format!("ws://{addr}/")).config(config());
    match read_buffer() {
        Some(bytes) => b.read_buffer_size(bytes),
        None => b,
    }
}

/// No pings, zero backoff, no retry limit.
fn config() -> redial::config::Config {
    let mut c = redial::config::Config::default();
    c.heartbeat.ping_interval = None;
    c.backoff.strategy = Strategy::None;
    c.backoff.base = Duration::ZERO;
    c.budget.max_attempts = u32::MAX;
    c
}

async fn until_open(events: &mut Events) {
    while let Some(e) = events.next().await {
        if let ClientEvent::Core(Event::StateChanged {
            to: StateName::Open,
            ..
        }) = e
        {
            return;
        }
    }
    panic!("the client ended");
}

async fn spawned(addr: SocketAddr) -> (Client, Messages, Events) {
    let client = builder(addr).spawn().expect("a valid client");
    let messages = client.messages();
    let mut events = client.events();
    if client.state() != StateName::Open {
        until_open(&mut events).await;
    }
    (client, messages, events)
}

async fn in_task(addr: SocketAddr) -> Connection {
    let mut conn = builder(addr).connection().expect("a valid client");
    // Open it: an echo of one message.
    conn.send("hello".into()).await.unwrap();
    conn.next().await.expect("the first echo");
    conn
}

/// Bursts of at most 1,000 messages.
fn chunks(n: usize) -> impl Iterator<Item = usize> {
    (0..n.div_ceil(1000)).map(move |i| (n - i * 1000).min(1000))
}

struct Clients {
    raw: RawWs,
    conn: Connection,
    client: Client,
    messages: Messages,
}

async fn download(c: &mut Clients, variant: usize, n: usize) -> Duration {
    let start = Instant::now();
    for chunk in chunks(n) {
        let request = format!("burst:{chunk}");
        match variant {
            0 => {
                c.client.send(request).await.unwrap();
                for _ in 0..chunk {
                    c.messages.next().await.expect("a message");
                }
            }
            1 => {
                c.conn.send(request.into()).await.unwrap();
                for _ in 0..chunk {
                    c.conn.next().await.expect("a message");
                }
            }
            _ => {
                c.raw.send(WsMessage::text(request)).await.unwrap();
                for _ in 0..chunk {
                    raw_next(&mut c.raw).await;
                }
            }
        }
    }
    start.elapsed()
}

async fn echo(c: &mut Clients, variant: usize, n: usize) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        match variant {
            0 => {
                c.client.send(payload()).await.unwrap();
                c.messages.next().await.expect("an echo");
            }
            1 => {
                c.conn.send(payload().into()).await.unwrap();
                c.conn.next().await.expect("an echo");
            }
            _ => {
                c.raw.send(WsMessage::text(payload())).await.unwrap();
                raw_next(&mut c.raw).await;
            }
        }
    }
    start.elapsed()
}

/// Redial's reconnect: `bye`, then until Open again.
async fn reconnect_redial(client: &Client, events: &mut Events) -> Duration {
    while let Ok(Some(_)) = tokio::time::timeout(Duration::ZERO, events.next()).await {}
    let start = Instant::now();
    client.send("bye").await.unwrap();
    until_open(events).await;
    start.elapsed()
}

/// A raw client's reconnect: `bye`, read the close (tungstenite answers it), connect
/// again at once.
async fn reconnect_raw(addr: SocketAddr, mut ws: RawWs) -> (Duration, RawWs) {
    let start = Instant::now();
    ws.send(WsMessage::text("bye")).await.unwrap();
    while let Some(Ok(m)) = ws.next().await {
        if m.is_close() {
            break;
        }
    }
    let _ = ws.close(None).await;
    let ws = raw_connect(addr).await;
    (start.elapsed(), ws)
}

fn summary(name: &str, redial: &[f64], raw: &[f64], per_round: usize) -> serde_json::Value {
    let mut ratios: Vec<f64> = redial.iter().zip(raw).map(|(r, w)| w / r).collect();
    let ratio = common::median(&mut ratios);
    let (lo, hi) = (
        common::percentile(&mut ratios, 25.0),
        common::percentile(&mut ratios, 75.0),
    );
    let (t_redial, t_raw) = (
        common::median(&mut redial.to_vec()),
        common::median(&mut raw.to_vec()),
    );
    let per = |t: f64| t / per_round as f64 * 1e6;
    println!(
        "tokio {name:<44}: redial {:>8.2} µs, raw {:>8.2} µs, ratio (raw time / redial \
         time) median {ratio:.3} [IQR {lo:.3}–{hi:.3}] over {} rounds",
        per(t_redial),
        per(t_raw),
        ratios.len()
    );
    json!({
        "per_round": per_round,
        "rounds": ratios.len(),
        "redial_us": per(t_redial),
        "raw_us": per(t_raw),
        "ratio": ratio,
        "ratio_q1": lo,
        "ratio_q3": hi,
    })
}

/// Every workload on the runtime this runs in.
async fn run(flavour: &str, rounds: usize) -> serde_json::Value {
    let addr = server().await;
    let (client, messages, mut events) = spawned(addr).await;
    let mut c = Clients {
        raw: raw_connect(addr).await,
        conn: in_task(addr).await,
        client,
        messages,
    };
    let deadline = common::Deadline::new("tokio", Duration::from_secs(300));
    let cpu_now = || common::process_cpu().map_or(0.0, |d| d.as_secs_f64());
    // [workload][variant] → per-round seconds; variants: spawned, in-task, raw.
    let mut times = vec![vec![Vec::new(); 3]; 2];
    let mut cpu = vec![vec![0f64; 3]; 2];
    // `REDIAL_TOKIO_ONLY=download|echo|reconnect`: one workload (for profiling).
    let only = std::env::var("REDIAL_TOKIO_ONLY").unwrap_or_default();
    let wants = |w: &str| only.is_empty() || only == w;
    let throughput_rounds = if wants("download") || wants("echo") {
        rounds
    } else {
        0
    };
    for round in 0..throughput_rounds {
        deadline.check();
        for k in 0..3 {
            let variant = (round + k) % 3;
            let c0 = cpu_now();
            if wants("download") {
                let t = download(&mut c, variant, PER_ROUND).await;
                times[0][variant].push(t.as_secs_f64());
            }
            let c1 = cpu_now();
            if wants("echo") {
                let t = echo(&mut c, variant, ECHOES).await;
                times[1][variant].push(t.as_secs_f64());
            }
            let c2 = cpu_now();
            cpu[0][variant] += c1 - c0;
            cpu[1][variant] += c2 - c1;
        }
    }
    // Reconnect: redial's spawned client and a raw client, alternating.
    let (mut rc_redial, mut rc_raw) = (Vec::new(), Vec::new());
    let mut raw = raw_connect(addr).await;
    let reconnects = if wants("reconnect") {
        rounds * RECONNECTS_PER_ROUND
    } else {
        0
    };
    for _ in 0..reconnects {
        deadline.check();
        rc_redial.push(reconnect_redial(&c.client, &mut events).await.as_secs_f64());
        let (t, again) = reconnect_raw(addr, raw).await;
        raw = again;
        rc_raw.push(t.as_secs_f64());
    }
    let per_msg = [PER_ROUND as f64, ECHOES as f64];
    let cpu_us = |w: usize| -> serde_json::Value {
        let n = rounds.max(1) as f64 * per_msg[w];
        let v: Vec<f64> = (0..3).map(|v| cpu[w][v] / n * 1e6).collect();
        println!(
            "tokio {flavour} cpu {:<8}: redial spawned {:.2} µs/msg, in-task {:.2}, raw {:.2} \
             (whole process, server included)",
            ["download", "echo"][w],
            v[0],
            v[1],
            v[2]
        );
        json!({ "spawned": v[0], "in_task": v[1], "raw": v[2] })
    };
    let result = json!({
        "download": {
            "spawned": summary(&format!("{flavour} download (spawned)"), &times[0][0], &times[0][2], PER_ROUND),
            "in_task": summary(&format!("{flavour} download (in-task)"), &times[0][1], &times[0][2], PER_ROUND),
        },
        "echo": {
            "spawned": summary(&format!("{flavour} echo (spawned)"), &times[1][0], &times[1][2], ECHOES),
            "in_task": summary(&format!("{flavour} echo (in-task)"), &times[1][1], &times[1][2], ECHOES),
        },
        "reconnect": summary(&format!("{flavour} reconnect (spawned, µs per reconnect)"), &rc_redial, &rc_raw, 1),
        "cpu_us_per_msg": { "download": cpu_us(0), "echo": cpu_us(1) },
    });
    c.client.close().await;
    let _ = c.conn.close().await;
    result
}

fn main() {
    if common::skipped(&["tokio"]) {
        return;
    }
    let rounds = common::rounds(30, 3);
    let load_before = common::loadavg();
    let multi = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a multi-thread runtime")
        .block_on(run("multi-thread", rounds));
    let current = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime")
        .block_on(run("current-thread", rounds));
    let result = json!({
        "multi_thread": multi,
        "current_thread": current,
        "load_before": load_before,
        "load_after": common::loadavg(),
    });
    common::write_result("tokio", &result);
}
