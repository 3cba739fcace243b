//! `acked`: what acknowledged delivery costs. 1 KiB text messages uploaded by a spawned
//! `Client` over loopback, with acknowledgements off and on, side by side in one run:
//!
//! - off: `send` each message, then wait until the server has read all of them;
//! - on (`ClientBuilder::acknowledged` with the JSON envelope): `send` each message,
//!   then wait until the client has every acknowledgement (`Client::settled`), with a
//!   server that acknowledges cumulatively every 64 messages (`{"ack": n}`: the seam's
//!   own cost, the wire nearly as without), and with one that acknowledges each message
//!   on its own (`{"sack": [n]}`: twice the frames, the most an acknowledging server
//!   sends).
//!
//! Each round sends 2,048 messages per side, the sides' order rotating round by round;
//! the figures are the median per-round ratios (time off / time on: 1.00 means free).

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_std::task::block_on;
use common::net::{quiet, redial_open};
use redial::driver::{AckOptions, Client};
use redial_testkit::{Act, Behavior, WsServer};
use serde_json::{json, Value};

const PER_ROUND: usize = 2048;

/// The batched server acknowledges every this many messages (`PER_ROUND` is a multiple).
const ACK_EVERY: u64 = 64;

fn payload() -> String {
    "x".repeat(1024)
}

/// The envelope's number, read the cheap way: the client writes `{"seq":N,"text":…}`
/// (the bench measures the client, not a server's JSON parser).
fn seq_of(text: &str) -> Option<u64> {
    let rest = text.strip_prefix(r#"{"seq":"#)?;
    let end = rest.find(',')?;
    rest[..end].parse().ok()
}

/// The server's application's acknowledgement of one envelope.
fn sack(text: &str) -> Vec<String> {
    seq_of(text)
        .map(|seq| vec![format!(r#"{{"sack":[{seq}]}}"#)])
        .unwrap_or_default()
}

/// The cumulative acknowledgement of every `ACK_EVERY`-th envelope.
fn every_64(text: &str) -> Vec<String> {
    match seq_of(text) {
        Some(seq) if seq % ACK_EVERY == 0 => vec![format!(r#"{{"ack":{seq}}}"#)],
        _ => Vec::new(),
    }
}

async fn round_off(client: &Client, server: &WsServer) -> f64 {
    let started = Instant::now();
    for _ in 0..PER_ROUND {
        client.send(payload()).await.expect("sent");
    }
    server.wait_received(PER_ROUND).await;
    let took = started.elapsed().as_secs_f64();
    server.take_received();
    took
}

async fn round_on(client: &Client, server: &WsServer) -> f64 {
    let started = Instant::now();
    for _ in 0..PER_ROUND {
        client.send(payload()).await.expect("sent");
    }
    assert!(client.settled().await, "the client stopped");
    let took = started.elapsed().as_secs_f64();
    server.take_received();
    took
}

/// Median, quartiles of `off / on` over the rounds, and µs per message of each.
fn figures(off: &[f64], on: &[f64]) -> Value {
    let mut ratios: Vec<f64> = off.iter().zip(on).map(|(a, b)| a / b).collect();
    let ratio = common::median(&mut ratios);
    let (q1, q3) = (
        common::percentile(&mut ratios, 25.0),
        common::percentile(&mut ratios, 75.0),
    );
    let per = |xs: &[f64]| common::median(&mut xs.to_vec()) / PER_ROUND as f64 * 1e6;
    json!({
        "ratio": ratio,
        "ratio_q1": q1,
        "ratio_q3": q3,
        "off_us_per_msg": per(off),
        "on_us_per_msg": per(on),
    })
}

fn main() {
    let rounds = common::rounds(20, 3);
    let load_before = common::loadavg();
    let (mut off, mut batched, mut each) = (Vec::new(), Vec::new(), Vec::new());
    block_on(async {
        let hold = WsServer::start(|_| Behavior::Accept(vec![Act::Hold]))
            .await
            .unwrap();
        let start = |f: fn(&str) -> Vec<String>| {
            WsServer::start(move |_| Behavior::Accept(vec![Act::Respond(Arc::new(f))]))
        };
        let (every, single) = (start(every_64).await.unwrap(), start(sack).await.unwrap());
        let (plain, _) = redial_open(Client::builder(hold.url()).config(quiet())).await;
        let options = AckOptions::json_envelope()
            .limits(PER_ROUND, 4 << 20)
            .ack_timeout(Duration::from_secs(30));
        let acked = |url: String| {
            redial_open(
                Client::builder(url)
                    .config(quiet())
                    .acknowledged(options.clone()),
            )
        };
        let (a64, _) = acked(every.url()).await;
        let (a1, _) = acked(single.url()).await;
        // Warm-up.
        round_off(&plain, &hold).await;
        round_on(&a64, &every).await;
        round_on(&a1, &single).await;
        for r in 0..rounds {
            // The three sides in a rotating order.
            for k in 0..3 {
                match (r + k) % 3 {
                    0 => off.push(round_off(&plain, &hold).await),
                    1 => batched.push(round_on(&a64, &every).await),
                    _ => each.push(round_on(&a1, &single).await),
                }
            }
        }
        plain.close().await;
        a64.close().await;
        a1.close().await;
    });
    let (b, e) = (figures(&off, &batched), figures(&off, &each));
    let line = |name: &str, v: &Value| {
        println!(
            "acked upload, {name}: off {:.2} µs/msg, on {:.2} µs/msg; ratio (time off / time on) median {:.3} [IQR {:.3}–{:.3}] over {rounds} rounds",
            v["off_us_per_msg"].as_f64().unwrap_or(0.0),
            v["on_us_per_msg"].as_f64().unwrap_or(0.0),
            v["ratio"].as_f64().unwrap_or(0.0),
            v["ratio_q1"].as_f64().unwrap_or(0.0),
            v["ratio_q3"].as_f64().unwrap_or(0.0),
        )
    };
    line("acknowledged every 64", &b);
    line("each acknowledged", &e);
    println!("acked: load {load_before} -> {}", common::loadavg());
    common::write_result(
        "acked",
        &json!({
            "messages_per_round": PER_ROUND,
            "rounds": rounds,
            "every_64": b,
            "each": e,
            "load_before": load_before,
        }),
    );
}
