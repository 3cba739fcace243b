//! `memory`: N idle open connections in one process against a loopback server.
//!
//! The bench runs itself again as a child process for each kind of client, so that the
//! measured process holds the clients only (the server, `Act::Hold`, stays in the
//! parent):
//!
//! - `tcp`: async-net TCP streams, each read by a task (the floor: socket, reactor
//!   registration, task);
//! - `raw`: raw async-tungstenite clients over the same, each read by a task;
//! - `raw16k`: the same with tungstenite's read buffer at 16 KiB instead of 128 KiB
//!   (what a smaller `read_buffer_size` would save);
//! - `redial`: redial clients (default config, driver spawned on async-std, Open).
//!
//! Each child measures its RSS (`/proc/self/statm`) and its live heap (a counting
//! allocator) after one warm-up connection, opens N connections (at most 256 dialing
//! at once), waits until all are open and idle, and measures again. Per connection:
//! tungstenite's part = raw − tcp, redial's own part = redial − raw, in all = redial.
//! N is 10,000 (1,000 in quick mode), lowered when the fd limit cannot be raised to
//! fit. Every phase has a time limit; only 127.0.0.1 is dialed.

mod common;

use std::alloc::System;
use std::process::Command;
use std::time::{Duration, Instant};

use async_net::TcpStream;
use async_std::task::block_on;
use async_tungstenite::tungstenite::protocol::WebSocketConfig;
use common::net::{raw_connect, redial_open};
use futures_lite::{AsyncReadExt, StreamExt};
use redial::config::Config;
use redial::core::StateName;
use redial::driver::Client;
use redial_testkit::{Act, Behavior, WsServer};
use rlimit::Resource;
use serde_json::{json, Value};
use stats_alloc::{StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const CHILD: &str = "REDIAL_BENCH_MEMORY_CHILD";
const PHASES: [&str; 4] = ["tcp", "raw", "raw16k", "redial"];

/// Raise the open-file limit to `want` (soft and hard, as root; else soft up to the hard
/// limit). Returns the soft limit in force.
fn raise_nofile(want: u64) -> u64 {
    let (soft, hard) = Resource::NOFILE.get().unwrap_or((1024, 1024));
    if soft >= want {
        return soft;
    }
    if hard < want && Resource::NOFILE.set(want, want).is_ok() {
        return want;
    }
    rlimit::increase_nofile_limit(want).unwrap_or(soft)
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn heap_bytes() -> i64 {
    let s = GLOBAL.stats();
    s.bytes_allocated as i64 - s.bytes_deallocated as i64
}

/// Keeps a connection open and read (what an idle client does).
enum Held {
    /// A detached task reads the connection.
    Reader,
    Client(Client),
}

async fn open_one(phase: &str, addr: std::net::SocketAddr, url: &str) -> Held {
    match phase {
        "tcp" => {
            let mut tcp = TcpStream::connect(addr).await.expect("loopback connect");
            async_std::task::spawn(async move {
                let mut b = [0u8; 64];
                while tcp.read(&mut b).await.is_ok_and(|n| n > 0) {}
            });
            Held::Reader
        }
        "raw" | "raw16k" => {
            let mut ws = if phase == "raw" {
                raw_connect(addr).await
            } else {
                // tungstenite's read buffer cut from 128 KiB to 16 KiB.
                let tcp = TcpStream::connect(addr).await.expect("loopback connect");
                let config = WebSocketConfig::default().read_buffer_size(16 * 1024);
                let url = format!("ws://{addr}/");
                let upgrade = async_tungstenite::client_async_with_config(url, tcp, Some(config));
                upgrade.await.expect("loopback upgrade").0
            };
            async_std::task::spawn(async move { while let Some(Ok(_)) = ws.next().await {} });
            Held::Reader
        }
        _ => {
            let (client, driver) = Client::builder(url)
                .config(Config::default())
                .build()
                .expect("a valid client");
            async_std::task::spawn(driver.run());
            Held::Client(client)
        }
    }
}

/// The child: open `n` connections of kind `phase` to `addr`, print one JSON line.
fn child(phase: &str, n: usize, addr: std::net::SocketAddr) {
    raise_nofile(n as u64 + 512);
    let url = format!("ws://{addr}/");
    let deadline = Instant::now() + Duration::from_secs(90);
    let out = block_on(async {
        // Warm-up: the runtime's threads, the reactor, lazy statics, one connection.
        if phase == "redial" {
            let (c, _) = redial_open(Client::builder(url.as_str())).await;
            c.close().await;
        } else {
            drop(open_one(phase, addr, &url).await);
        }
        async_io::Timer::after(Duration::from_millis(200)).await;
        let (rss0, heap0) = (rss_bytes(), heap_bytes());
        let mut held = Vec::with_capacity(n);
        while held.len() < n && Instant::now() < deadline {
            let batch = (n - held.len()).min(256);
            let opening: Vec<_> = (0..batch)
                .map(|_| {
                    async_std::task::spawn({
                        let (phase, url) = (phase.to_string(), url.clone());
                        async move { open_one(&phase, addr, &url).await }
                    })
                })
                .collect();
            for o in opening {
                held.push(o.await);
            }
        }
        // Redial clients dial in their drivers: wait until all are Open.
        while Instant::now() < deadline {
            let open = held
                .iter()
                .filter(|h| !matches!(h, Held::Client(c) if c.state() != StateName::Open))
                .count();
            if open == held.len() {
                break;
            }
            async_io::Timer::after(Duration::from_millis(50)).await;
        }
        async_io::Timer::after(Duration::from_millis(500)).await;
        let (rss1, heap1) = (rss_bytes(), heap_bytes());
        let open = held
            .iter()
            .filter(|h| !matches!(h, Held::Client(c) if c.state() != StateName::Open))
            .count();
        json!({
            "phase": phase, "n": open, "rss_before": rss0, "rss_after": rss1,
            "heap_before": heap0, "heap_after": heap1,
        })
    });
    println!("{out}");
    // Exit at once: the kernel closes every socket.
    std::process::exit(0);
}

fn run_phase(phase: &str, n: usize) -> Option<Value> {
    let server = block_on(WsServer::start(|_| Behavior::Accept(vec![Act::Hold])))
        .expect("a loopback server");
    let exe = std::env::current_exe().ok()?;
    let output = Command::new(exe)
        .env(CHILD, format!("{phase} {n} {}", server.addr()))
        .output()
        .ok()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().find(|l| l.starts_with('{'));
    let parsed = line.and_then(|l| serde_json::from_str::<Value>(l).ok());
    if parsed.is_none() {
        eprintln!(
            "memory: phase {phase} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    // Let the server's connection tasks end before the next phase (bounded).
    let accepted = server.connections();
    block_on(common::within(
        Duration::from_secs(30),
        server.wait_ended(accepted),
    ));
    parsed
}

fn main() {
    if let Ok(spec) = std::env::var(CHILD) {
        let mut parts = spec.split_whitespace();
        let (phase, n, addr) = (parts.next(), parts.next(), parts.next());
        if let (Some(phase), Some(Ok(n)), Some(Ok(addr))) =
            (phase, n.map(str::parse), addr.map(str::parse))
        {
            child(phase, n, addr);
        }
        return;
    }
    if common::skipped(&["memory"]) {
        return;
    }
    let load_before = common::loadavg();
    let wanted: usize = if common::quick() { 1_000 } else { 10_000 };
    // The parent holds the server's side of every connection.
    let limit = raise_nofile(wanted as u64 + 512);
    let n = wanted.min(limit.saturating_sub(512) as usize).max(10);
    let note = if n < wanted {
        format!("the fd limit ({limit}) could not be raised to fit {wanted}: N = {n}")
    } else {
        format!("fd limit raised to {limit}")
    };
    println!("memory: {note}");
    let mut phases = serde_json::Map::new();
    let mut per = std::collections::HashMap::new();
    for phase in PHASES {
        let Some(v) = run_phase(phase, n) else {
            continue;
        };
        let opened = v["n"].as_f64().unwrap_or(0.0).max(1.0);
        let delta = |k: &str| {
            v[format!("{k}_after")].as_f64().unwrap_or(0.0)
                - v[format!("{k}_before")].as_f64().unwrap_or(0.0)
        };
        let (rss, heap) = (delta("rss") / opened, delta("heap") / opened);
        println!(
            "memory {phase:<7}: {opened} open; RSS {:>7.1} KiB/conn, heap {:>7.1} KiB/conn",
            rss / 1024.0,
            heap / 1024.0
        );
        per.insert(phase, (rss, heap));
        phases.insert(
            phase.to_string(),
            json!({ "raw": v, "rss_per_conn": rss, "heap_per_conn": heap }),
        );
    }
    let get = |p: &str| per.get(p).copied().unwrap_or((0.0, 0.0));
    let (tcp, raw, redial) = (get("tcp"), get("raw"), get("redial"));
    let raw16k = get("raw16k");
    let split = json!({
        // The driver reads in 16 KiB chunks, so its tungstenite part is `raw16k`'s.
        "tungstenite_rss": raw16k.0 - tcp.0, "tungstenite_heap": raw16k.1 - tcp.1,
        "tungstenite_128k_rss": raw.0 - tcp.0, "tungstenite_128k_heap": raw.1 - tcp.1,
        "redial_own_rss": redial.0 - raw16k.0, "redial_own_heap": redial.1 - raw16k.1,
        "total_rss": redial.0, "total_heap": redial.1,
    });
    println!("memory split (bytes per connection): {split}");
    let result = json!({
        "wanted": wanted, "n": n, "fd_note": note, "phases": phases, "split": split,
        "load_before": load_before, "load_after": common::loadavg(),
    });
    common::write_result("memory", &result);
}
