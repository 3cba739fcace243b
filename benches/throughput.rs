//! `throughput`: 1 KiB text messages over loopback, redial's driver against raw
//! async-tungstenite (`client_async` over async-net) on the same testkit servers, in the
//! same run.
//!
//! - `upload`: client → server, `Act::Hold` (the server reads and records); 2,000
//!   messages a round, in batches of 200 (redial's send queue holds 256), each batch
//!   timed until the server has all of it;
//! - `download`: server → client, the streaming direction: a small request, the server
//!   answers with 1,000 messages (`Act::Respond`), twice a round;
//! - `echo`: 500 round trips a round, one at a time (`Act::Echo`).
//!
//! Three clients, side by side in one run: raw async-tungstenite polled in the bench's
//! task; redial's in-task [`Connection`] (`Stream` + `Sink`, the driver polled by the
//! same task, no channel on the message path); and redial's spawned driver (a
//! [`Client`] handle, the driver on the async-std executor as `ClientBuilder::spawn`
//! runs it). The servers run on the async-std executor. Every client uses no-delay sockets and no
//! pings. The paired phase rotates the variants' order round by round, so that the
//! machine's changing load hits all alike; the median per-round ratio is the figure. Criterion then measures `download` and `echo` per message as a cross-check
//! (not `upload`: the server keeps every message it receives, so a long criterion run
//! would grow its memory by the gigabyte).

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_std::task::block_on;
use async_tungstenite::tungstenite::Message as WsMessage;
use common::net::{quiet, raw_connect, raw_next, redial_open, RawWs};
use criterion::{BenchmarkId, SamplingMode};
use futures_lite::StreamExt;
use futures_util::SinkExt;
use redial::driver::{Client, Connection, Messages};
use redial_testkit::{Act, Behavior, WsServer};
use serde_json::json;

const BATCH: usize = 200;
/// Messages per round for upload and download, and round trips per round for echo.
const PER_ROUND: usize = 2000;
const ECHOES: usize = 500;

fn payload() -> String {
    "x".repeat(1024)
}

/// One side of the comparison.
struct Side {
    upload: Client,
    download: Client,
    download_rx: Messages,
    echo: Client,
    echo_rx: Messages,
}

struct Raw {
    upload: RawWs,
    download: RawWs,
    echo: RawWs,
}

struct Servers {
    hold: WsServer,
    burst: WsServer,
    echo: WsServer,
}

async fn servers() -> Servers {
    let burst = Act::Respond(Arc::new(|m: &str| {
        let n: usize = m
            .strip_prefix("burst:")
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        vec![payload(); n.min(10_000)]
    }));
    Servers {
        hold: WsServer::start(|_| Behavior::Accept(vec![Act::Hold]))
            .await
            .unwrap(),
        burst: WsServer::start(move |_| Behavior::Accept(vec![burst.clone()]))
            .await
            .unwrap(),
        echo: WsServer::start(|_| Behavior::Accept(vec![Act::Echo]))
            .await
            .unwrap(),
    }
}

fn side(upload: Client, download: Client, echo: Client) -> Side {
    Side {
        download_rx: download.messages(),
        echo_rx: echo.messages(),
        upload,
        download,
        echo,
    }
}

/// Clients whose drivers run on the async-std executor (`ClientBuilder::spawn`'s way).
async fn redial_side(s: &Servers) -> Side {
    let open = |server: &WsServer| redial_open(Client::builder(server.url()).config(quiet()));
    let (upload, _) = open(&s.hold).await;
    let (download, _) = open(&s.burst).await;
    let (echo, _) = open(&s.echo).await;
    side(upload, download, echo)
}

/// In-task connections: each is polled by the bench's task when it reads or writes.
struct InTask {
    upload: Connection,
    download: Connection,
    echo: Connection,
}

async fn in_task_side(s: &Servers) -> InTask {
    let open = |server: &WsServer| {
        let conn = Client::builder(server.url())
            .config(quiet())
            .connection()
            .expect("a valid client");
        common::net::connection_open(conn)
    };
    InTask {
        upload: open(&s.hold).await,
        download: open(&s.burst).await,
        echo: open(&s.echo).await,
    }
}

async fn raw_side(s: &Servers) -> Raw {
    Raw {
        upload: raw_connect(s.hold.addr()).await,
        download: raw_connect(s.burst.addr()).await,
        echo: raw_connect(s.echo.addr()).await,
    }
}

/// The Hold server and how many messages it has been sent in all (by both clients).
struct Hold<'a> {
    server: &'a WsServer,
    total: usize,
}

/// `n` messages to the Hold server in batches; the clock stops when it has them all.
async fn upload_redial(side: &Side, hold: &mut Hold<'_>, n: usize) -> Duration {
    let start = Instant::now();
    let mut sent = 0;
    while sent < n {
        let batch = BATCH.min(n - sent);
        for _ in 0..batch {
            side.upload
                .try_send(payload())
                .expect("the queue has room for a batch");
        }
        hold.total += batch;
        hold.server.wait_received(hold.total).await;
        sent += batch;
    }
    start.elapsed()
}

async fn upload_in_task(conn: &mut InTask, hold: &mut Hold<'_>, n: usize) -> Duration {
    let start = Instant::now();
    let mut sent = 0;
    while sent < n {
        let batch = BATCH.min(n - sent);
        for _ in 0..batch {
            conn.upload.send(payload().into()).await.unwrap();
        }
        hold.total += batch;
        hold.server.wait_received(hold.total).await;
        sent += batch;
    }
    start.elapsed()
}

async fn upload_raw(raw: &mut Raw, hold: &mut Hold<'_>, n: usize) -> Duration {
    let start = Instant::now();
    let mut sent = 0;
    while sent < n {
        let batch = BATCH.min(n - sent);
        for _ in 0..batch {
            raw.upload.send(WsMessage::text(payload())).await.unwrap();
        }
        hold.total += batch;
        hold.server.wait_received(hold.total).await;
        sent += batch;
    }
    start.elapsed()
}

async fn download_redial(side: &mut Side, n: usize) -> Duration {
    let start = Instant::now();
    for chunk in chunks(n) {
        side.download.try_send(format!("burst:{chunk}")).unwrap();
        for _ in 0..chunk {
            side.download_rx.next().await.expect("a message");
        }
    }
    start.elapsed()
}

async fn download_in_task(conn: &mut InTask, n: usize) -> Duration {
    let start = Instant::now();
    for chunk in chunks(n) {
        let request = format!("burst:{chunk}");
        conn.download.send(request.into()).await.unwrap();
        for _ in 0..chunk {
            conn.download.next().await.expect("a message");
        }
    }
    start.elapsed()
}

async fn download_raw(raw: &mut Raw, n: usize) -> Duration {
    let start = Instant::now();
    for chunk in chunks(n) {
        let request = WsMessage::text(format!("burst:{chunk}"));
        raw.download.send(request).await.unwrap();
        for _ in 0..chunk {
            raw_next(&mut raw.download).await;
        }
    }
    start.elapsed()
}

async fn echo_redial(side: &mut Side, n: usize) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        side.echo.try_send(payload()).unwrap();
        side.echo_rx.next().await.expect("an echo");
    }
    start.elapsed()
}

async fn echo_in_task(conn: &mut InTask, n: usize) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        conn.echo.send(payload().into()).await.unwrap();
        conn.echo.next().await.expect("an echo");
    }
    start.elapsed()
}

async fn echo_raw(raw: &mut Raw, n: usize) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        raw.echo.send(WsMessage::text(payload())).await.unwrap();
        raw_next(&mut raw.echo).await;
    }
    start.elapsed()
}

/// Bursts of at most 1,000 messages.
fn chunks(n: usize) -> impl Iterator<Item = usize> {
    (0..n.div_ceil(1000)).map(move |i| (n - i * 1000).min(1000))
}

/// Per-round paired timings of one workload: (redial, raw) in seconds.
type Pairs = Vec<(f64, f64)>;

fn summary(name: &str, pairs: &Pairs, per_round: usize) -> serde_json::Value {
    let mut ratios: Vec<f64> = pairs.iter().map(|(r, w)| w / r).collect();
    let mut redial: Vec<f64> = pairs.iter().map(|p| p.0).collect();
    let mut raw: Vec<f64> = pairs.iter().map(|p| p.1).collect();
    let ratio = common::median(&mut ratios);
    let (lo, hi) = (
        common::percentile(&mut ratios, 25.0),
        common::percentile(&mut ratios, 75.0),
    );
    let (t_redial, t_raw) = (common::median(&mut redial), common::median(&mut raw));
    let per = |t: f64| t / per_round as f64 * 1e6;
    println!(
        "throughput {name:<40}: redial {:>7.2} µs/msg, raw {:>7.2} µs/msg, \
         ratio (raw time / redial time) median {ratio:.3} [IQR {lo:.3}–{hi:.3}] over {} rounds",
        per(t_redial),
        per(t_raw),
        pairs.len()
    );
    json!({
        "messages_per_round": per_round,
        "rounds": pairs.len(),
        "redial_us_per_msg": per(t_redial),
        "raw_us_per_msg": per(t_raw),
        "redial_mib_per_s": per_round as f64 / 1024.0 / t_redial,
        "raw_mib_per_s": per_round as f64 / 1024.0 / t_raw,
        "ratio": ratio,
        "ratio_q1": lo,
        "ratio_q3": hi,
    })
}

fn main() {
    let mut c = common::criterion(1.0, 3.0, 20);
    if common::skipped(&[
        "throughput/upload",
        "throughput/download/redial",
        "throughput/download/raw",
        "throughput/download/in-task",
        "throughput/echo/redial",
        "throughput/echo/raw",
        "throughput/echo/in-task",
    ]) {
        return c.final_summary();
    }
    // `--profile-time N`: only criterion's loops, for a profiler.
    let profiling = std::env::args().any(|a| a == "--profile-time");
    let load_before = common::loadavg();
    let s = block_on(servers());
    let mut side = block_on(redial_side(&s));
    let mut raw = block_on(raw_side(&s));
    let rounds = if profiling { 0 } else { common::rounds(40, 4) };
    let deadline = common::Deadline::new("throughput", Duration::from_secs(300));
    let mut in_task = block_on(in_task_side(&s));
    let mut hold = Hold {
        server: &s.hold,
        total: 0,
    };
    // [workload][variant] → per-round seconds; variants: spawned, in-task, raw.
    let mut times = vec![vec![Vec::new(); 3]; 3];
    // [workload][variant] → CPU seconds of the whole process (servers included).
    let mut cpu = vec![vec![0f64; 3]; 3];
    let cpu_now = || common::process_cpu().map_or(0.0, |d| d.as_secs_f64());
    let rounds_run = async {
        for round in 0..rounds {
            deadline.check();
            // The order of the three variants rotates from round to round.
            for k in 0..3 {
                let variant = (round + k) % 3;
                let c0 = cpu_now();
                let t = match variant {
                    0 => upload_redial(&side, &mut hold, PER_ROUND).await,
                    1 => upload_in_task(&mut in_task, &mut hold, PER_ROUND).await,
                    _ => upload_raw(&mut raw, &mut hold, PER_ROUND).await,
                };
                let c1 = cpu_now();
                times[0][variant].push(t.as_secs_f64());
                let t = match variant {
                    0 => download_redial(&mut side, PER_ROUND).await,
                    1 => download_in_task(&mut in_task, PER_ROUND).await,
                    _ => download_raw(&mut raw, PER_ROUND).await,
                };
                let c2 = cpu_now();
                times[1][variant].push(t.as_secs_f64());
                let t = match variant {
                    0 => echo_redial(&mut side, ECHOES).await,
                    1 => echo_in_task(&mut in_task, ECHOES).await,
                    _ => echo_raw(&mut raw, ECHOES).await,
                };
                let c3 = cpu_now();
                times[2][variant].push(t.as_secs_f64());
                for (w, (a, b)) in [(c0, c1), (c1, c2), (c2, c3)].into_iter().enumerate() {
                    cpu[w][variant] += b - a;
                }
            }
        }
    };
    block_on(rounds_run);
    let pairs = |w: usize, v: usize| -> Pairs {
        times[w][v]
            .iter()
            .zip(&times[w][2])
            .map(|(a, b)| (*a, *b))
            .collect()
    };
    // CPU µs per message, servers included: [workload] → (spawned, in-task, raw).
    let per_msg = [PER_ROUND as f64, PER_ROUND as f64, ECHOES as f64];
    let cpu_us = |w: usize| -> serde_json::Value {
        let n = (rounds.max(1) as f64) * per_msg[w];
        let v: Vec<f64> = (0..3).map(|v| cpu[w][v] / n * 1e6).collect();
        println!(
            "throughput cpu {:<8}: redial spawned {:.2} µs/msg, in-task {:.2}, raw {:.2} \
             (whole process, servers included)",
            ["upload", "download", "echo"][w],
            v[0],
            v[1],
            v[2]
        );
        json!({ "redial": v[0], "in_task": v[1], "raw": v[2] })
    };
    let paired = json!({
        "cpu_us_per_msg": {
            "upload": cpu_us(0),
            "download": cpu_us(1),
            "echo": cpu_us(2),
        },
        "upload": summary("upload", &pairs(0, 0), PER_ROUND),
        "download": summary("download", &pairs(1, 0), PER_ROUND),
        "echo": summary("echo", &pairs(2, 0), ECHOES),
        "in_task": {
            "upload": summary("upload (in-task connection)", &pairs(0, 1), PER_ROUND),
            "download": summary("download (in-task connection)", &pairs(1, 1), PER_ROUND),
            "echo": summary("echo (in-task connection)", &pairs(2, 1), ECHOES),
        },
    });

    let mut group = c.benchmark_group("throughput");
    group.sampling_mode(SamplingMode::Flat);
    group.bench_function(BenchmarkId::new("download", "redial"), |b| {
        b.iter_custom(|n| block_on(download_redial(&mut side, n as usize)))
    });
    group.bench_function(BenchmarkId::new("download", "raw"), |b| {
        b.iter_custom(|n| block_on(download_raw(&mut raw, n as usize)))
    });
    group.bench_function(BenchmarkId::new("download", "in-task"), |b| {
        b.iter_custom(|n| block_on(download_in_task(&mut in_task, n as usize)))
    });
    group.bench_function(BenchmarkId::new("echo", "redial"), |b| {
        b.iter_custom(|n| block_on(echo_redial(&mut side, n as usize)))
    });
    group.bench_function(BenchmarkId::new("echo", "raw"), |b| {
        b.iter_custom(|n| block_on(echo_raw(&mut raw, n as usize)))
    });
    group.bench_function(BenchmarkId::new("echo", "in-task"), |b| {
        b.iter_custom(|n| block_on(echo_in_task(&mut in_task, n as usize)))
    });
    group.finish();
    c.final_summary();

    block_on(async {
        for client in [&side.upload, &side.download, &side.echo] {
            common::within(Duration::from_secs(5), client.close()).await;
        }
        for conn in [
            &mut in_task.upload,
            &mut in_task.download,
            &mut in_task.echo,
        ] {
            common::within(Duration::from_secs(5), conn.close()).await;
        }
    });
    if profiling {
        return;
    }
    let result = json!({
        "paired": paired,
        "criterion": {
            "download_redial": common::criterion_median("throughput/download/redial"),
            "download_raw": common::criterion_median("throughput/download/raw"),
            "echo_redial": common::criterion_median("throughput/echo/redial"),
            "echo_raw": common::criterion_median("throughput/echo/raw"),
            "download_in_task": common::criterion_median("throughput/download/in-task"),
            "echo_in_task": common::criterion_median("throughput/echo/in-task"),
        },
        "load_before": load_before,
        "load_after": common::loadavg(),
    });
    common::write_result("throughput", &result);
}
