//! `acked`: what acknowledged delivery costs. 1 KiB text messages uploaded by a spawned
//! `Client` over loopback, with acknowledgements off and on, side by side in one run:
//!
//! - off: `send` each message, then wait until the server has read all of them;
//! - on (`ClientBuilder::acknowledged` with the JSON envelope): `send` each message,
//!   then wait until the client has every acknowledgement (`Client::settled`); the
//!   server's application acknowledges each message with its own `{"sack": [seq]}`
//!   (the most frames an acknowledging server sends).
//!
//! Each round sends 2,000 messages per side, the sides' order rotating round by round;
//! the figure is the median per-round ratio (time off / time on: 1.00 means free).

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_std::task::block_on;
use common::net::{quiet, redial_open};
use redial::driver::{AckOptions, Client};
use redial_testkit::{Act, Behavior, WsServer};
use serde_json::{json, Value};

const PER_ROUND: usize = 2000;

fn payload() -> String {
    "x".repeat(1024)
}

/// The server's application's acknowledgement of one envelope.
fn sack(text: &str) -> Vec<String> {
    let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    v["seq"]
        .as_u64()
        .map(|seq| vec![json!({ "sack": [seq] }).to_string()])
        .unwrap_or_default()
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

fn main() {
    let rounds = common::rounds(20, 3);
    let load_before = common::loadavg();
    let (mut off, mut on, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    block_on(async {
        let hold = WsServer::start(|_| Behavior::Accept(vec![Act::Hold]))
            .await
            .unwrap();
        let acking = WsServer::start(|_| Behavior::Accept(vec![Act::Respond(Arc::new(sack))]))
            .await
            .unwrap();
        let (plain, _) = redial_open(Client::builder(hold.url()).config(quiet())).await;
        let options = AckOptions::json_envelope()
            .limits(PER_ROUND, 4 << 20)
            .ack_timeout(Duration::from_secs(30));
        let builder = Client::builder(acking.url())
            .config(quiet())
            .acknowledged(options);
        let (acked, _) = redial_open(builder).await;
        // Warm-up.
        round_off(&plain, &hold).await;
        round_on(&acked, &acking).await;
        for r in 0..rounds {
            let (a, b) = match r % 2 {
                0 => {
                    let a = round_off(&plain, &hold).await;
                    (a, round_on(&acked, &acking).await)
                }
                _ => {
                    let b = round_on(&acked, &acking).await;
                    (round_off(&plain, &hold).await, b)
                }
            };
            off.push(a);
            on.push(b);
            ratios.push(a / b);
        }
        plain.close().await;
        acked.close().await;
    });
    let ratio = common::median(&mut ratios);
    let (q1, q3) = (
        common::percentile(&mut ratios, 25.0),
        common::percentile(&mut ratios, 75.0),
    );
    let per = |xs: &mut Vec<f64>| common::median(xs) / PER_ROUND as f64 * 1e6;
    let (us_off, us_on) = (per(&mut off), per(&mut on));
    println!(
        "acked upload: off {us_off:.2} µs/msg, on {us_on:.2} µs/msg; ratio (time off / time on) median {ratio:.3} [IQR {q1:.3}–{q3:.3}] over {rounds} rounds; load {load_before} -> {}",
        common::loadavg()
    );
    common::write_result(
        "acked",
        &json!({
            "messages_per_round": PER_ROUND,
            "rounds": rounds,
            "off_us_per_msg": us_off,
            "on_us_per_msg": us_on,
            "ratio": ratio,
            "ratio_q1": q1,
            "ratio_q3": q3,
            "load_before": load_before,
        }),
    );
}
