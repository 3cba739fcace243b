//! `seed_fallback`: the mission's server (101, then 1008 with an empty reason 3 ms
//! later, as in `testkit/tests/driver_mission.rs`) with an HTTPS + SSE fallback: time from the
//! client's start (build + spawn) to the first response message of one request, which
//! only the fallback can answer, under the `default` and `codex-compat` presets. The
//! presets keep their real timings (codex-compat: 6 dials, 200 ms × 2 backoff, about
//! 6.2 s; that is the point of the comparison). Runs alternate: a few `default` runs,
//! one `codex-compat` run, and again.

mod common;

use std::time::{Duration, Instant};

use async_std::task::block_on;
use futures_lite::StreamExt;
use redial::config::{Config, Preset};
use redial::driver::Client;
use redial_testkit::{echo_responder, Act, Behavior, SseServer, TestCert, WsServer};
use serde_json::json;

fn mission() -> Behavior {
    Behavior::Accept(vec![
        Act::Wait(Duration::from_millis(3)),
        Act::Close {
            code: Some(1008),
            reason: String::new(),
        },
    ])
}

/// One run: (time to the first response message, dials the WebSocket server saw).
async fn run(config: Config, ws: &WsServer, sse: &SseServer, cert: &TestCert) -> (Duration, usize) {
    let dials_before = ws.connections();
    let start = Instant::now();
    let (client, driver) = Client::builder(ws.url())
        .config(config)
        .root_certificate(cert.cert_der.clone())
        .fallback_url(sse.url())
        .build()
        .expect("a valid client");
    async_std::task::spawn(driver.run());
    let first = async {
        let mut response = client
            .request(r#"{"input":"hello"}"#)
            .await
            .expect("queued");
        response.next().await
    };
    let item = common::within(Duration::from_secs(30), first).await;
    let took = start.elapsed();
    match item {
        Some(Some(Ok(_))) => {}
        other => panic!("no response over the fallback: {other:?}"),
    }
    common::within(Duration::from_secs(5), client.close()).await;
    (took, ws.connections() - dials_before)
}

fn main() {
    if common::skipped(&["seed_fallback"]) {
        return;
    }
    let load_before = common::loadavg();
    let (codex_runs, default_per_codex) = if common::quick() { (1, 5) } else { (3, 7) };
    let cert = TestCert::localhost();
    let (ws, sse) = block_on(async {
        let ws = WsServer::start(|_| mission())
            .await
            .expect("a loopback server");
        let sse = SseServer::start(&cert, echo_responder)
            .await
            .expect("an HTTPS server");
        (ws, sse)
    });
    let deadline = common::Deadline::new("seed_fallback", Duration::from_secs(120));
    let (mut default_ms, mut codex_ms) = (Vec::new(), Vec::new());
    let (mut default_dials, mut codex_dials) = (Vec::new(), Vec::new());
    block_on(async {
        // One unmeasured run: the first TLS handshake and lazy statics.
        run(Preset::Default.config(), &ws, &sse, &cert).await;
        for _ in 0..codex_runs {
            for _ in 0..default_per_codex {
                deadline.check();
                let (t, dials) = run(Preset::Default.config(), &ws, &sse, &cert).await;
                default_ms.push(t.as_secs_f64() * 1e3);
                default_dials.push(dials);
            }
            deadline.check();
            let (t, dials) = run(Preset::CodexCompat.config(), &ws, &sse, &cert).await;
            codex_ms.push(t.as_secs_f64() * 1e3);
            codex_dials.push(dials);
        }
    });
    let (d, c) = (
        common::median(&mut default_ms.clone()),
        common::median(&mut codex_ms.clone()),
    );
    let ratio = c / d.max(1e-9);
    println!(
        "seed_fallback default:      median {d:>8.1} ms (min {:.1}, max {:.1}) over {} runs, \
         dials {:?}",
        default_ms.iter().copied().fold(f64::INFINITY, f64::min),
        default_ms.iter().copied().fold(0.0, f64::max),
        default_ms.len(),
        default_dials
    );
    println!(
        "seed_fallback codex-compat: median {c:>8.1} ms over {} runs, dials {:?}",
        codex_ms.len(),
        codex_dials
    );
    println!("seed_fallback codex-compat / default: {ratio:.0}×");
    let result = json!({
        "default": {
            "median_ms": d,
            "max_ms": default_ms.iter().copied().fold(0.0, f64::max),
            "runs_ms": default_ms,
            "dials": default_dials,
        },
        "codex_compat": {
            "median_ms": c,
            "runs_ms": codex_ms,
            "dials": codex_dials,
        },
        "ratio": ratio,
        "load_before": load_before,
        "load_after": common::loadavg(),
    });
    common::write_result("seed_fallback", &result);
}
