//! `fallback_pool`: the HTTPS fallback's kept connections, over TLS on loopback, side
//! by side in one run.
//!
//! - Ten sequential requests on a fresh fallback (an empty pool): time to the first SSE
//!   event of requests 2–10 against request 1's (which opens the connection: TCP, TLS),
//!   and against the same requests with the pool off (`pool_max_idle = 0`: a new
//!   connection for every request, as before issue 16).
//! - Eight concurrent requests on a fresh fallback, until all eight are complete:
//!   HTTP/2 (one connection, ALPN `h2`) against HTTP/1.1 (eight connections), and the
//!   same again on the now warm pool.

mod common;

use std::time::{Duration, Instant};

use async_std::task::block_on;
use futures_lite::StreamExt;
use redial::driver::{Fallback, FallbackPoolSettings, Headers, HttpsSse, TlsOptions};
use redial_testkit::{echo_responder, SseOptions, SseServer, TestCert};
use serde_json::json;

const BODY: &str = r#"{"input":"hello from the fallback_pool benchmark"}"#;

fn fallback(server: &SseServer, cert: &TestCert, pool: FallbackPoolSettings) -> HttpsSse {
    let url = format!("https://127.0.0.1:{}/v1/responses", server.addr().port());
    let tls = TlsOptions {
        extra_roots: vec![cert.cert_der.clone()],
        ..TlsOptions::default()
    };
    HttpsSse::new(&url, &tls)
        .expect("a fallback")
        .with_pool(pool)
}

fn pool(max_idle: usize, http2: bool) -> FallbackPoolSettings {
    FallbackPoolSettings {
        max_idle,
        http2,
        ..FallbackPoolSettings::default()
    }
}

/// One request: time to its first event; the rest is read to its end.
async fn first_event(f: &HttpsSse) -> Duration {
    let start = Instant::now();
    let mut stream = f.request(BODY.into(), &Headers::default());
    let first = common::within(Duration::from_secs(10), stream.next()).await;
    let took = start.elapsed();
    assert!(matches!(first, Some(Some(Ok(_)))), "no event: {first:?}");
    while let Some(item) = stream.next().await {
        item.expect("the rest of the response");
    }
    took
}

/// Ten sequential requests on a fresh fallback: each one's time to its first event.
async fn ten(server: &SseServer, cert: &TestCert, pool: FallbackPoolSettings) -> Vec<f64> {
    let f = fallback(server, cert, pool);
    let mut times = Vec::with_capacity(10);
    for _ in 0..10 {
        times.push(common::us(first_event(&f).await));
    }
    times
}

/// Eight concurrent requests read to their ends: the time until all are done.
async fn eight(f: &HttpsSse) -> f64 {
    let start = Instant::now();
    let all: Vec<_> = (0..8)
        .map(|_| {
            let f = f.clone();
            async_std::task::spawn(async move { first_event(&f).await })
        })
        .collect();
    for t in all {
        t.await;
    }
    common::us(start.elapsed())
}

fn summary(name: &str, xs: &[f64]) -> f64 {
    let m = common::median(&mut xs.to_vec());
    println!(
        "fallback_pool {name:<34} median {:>8.0} µs over {} (min {:.0}, max {:.0})",
        m,
        xs.len(),
        xs.iter().copied().fold(f64::INFINITY, f64::min),
        xs.iter().copied().fold(0.0, f64::max)
    );
    m
}

fn main() {
    if common::skipped(&["fallback_pool"]) {
        return;
    }
    let load_before = common::loadavg();
    let rounds = common::rounds(30, 5);
    let cert = TestCert::localhost();
    let (h1, h2) = block_on(async {
        let h1 = SseServer::start(&cert, echo_responder)
            .await
            .expect("a server");
        let h2 = SseServer::start_with(&cert, SseOptions { http2: true }, echo_responder)
            .await
            .expect("a server");
        (h1, h2)
    });
    let deadline = common::Deadline::new("fallback_pool", Duration::from_secs(120));
    let (mut first, mut later, mut fresh_later) = (Vec::new(), Vec::new(), Vec::new());
    let (mut h2_cold, mut h1_cold, mut h2_warm, mut h1_warm) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    block_on(async {
        // Unmeasured: the first TLS handshakes and lazy statics.
        ten(&h1, &cert, pool(4, true)).await;
        ten(&h2, &cert, pool(4, true)).await;
        for _ in 0..rounds {
            deadline.check();
            // Alternated, so that both see the same machine.
            let pooled = ten(&h1, &cert, pool(4, true)).await;
            first.push(pooled[0]);
            later.extend_from_slice(&pooled[1..]);
            let baseline = ten(&h1, &cert, pool(0, true)).await;
            fresh_later.extend_from_slice(&baseline[1..]);

            let f2 = fallback(&h2, &cert, pool(8, true));
            h2_cold.push(eight(&f2).await);
            h2_warm.push(eight(&f2).await);
            let f1 = fallback(&h1, &cert, pool(8, false));
            h1_cold.push(eight(&f1).await);
            h1_warm.push(eight(&f1).await);
        }
    });
    let m_first = summary("request 1 (new connection)", &first);
    let m_later = summary("requests 2-10 (pooled)", &later);
    let m_fresh = summary("requests 2-10 (pool off)", &fresh_later);
    let m_h2_cold = summary("8 concurrent, HTTP/2, cold", &h2_cold);
    let m_h1_cold = summary("8 concurrent, HTTP/1.1, cold", &h1_cold);
    let m_h2_warm = summary("8 concurrent, HTTP/2, warm", &h2_warm);
    let m_h1_warm = summary("8 concurrent, HTTP/1.1, warm", &h1_warm);
    let ratios = json!({
        "later_over_first": m_later / m_first,
        "later_over_pool_off": m_later / m_fresh,
        "h2_over_h1_cold": m_h2_cold / m_h1_cold,
        "h2_over_h1_warm": m_h2_warm / m_h1_warm,
    });
    println!("fallback_pool ratios (goal: later/first ≤ 0.3, h2/h1 ≤ 1): {ratios}");
    println!(
        "fallback_pool connections: HTTP/1.1 server {}, HTTP/2 server {} ({} h2)",
        h1.connections(),
        h2.connections(),
        h2.h2_connections()
    );
    let result = json!({
        "rounds": rounds,
        "first_us": first,
        "later_us": later,
        "pool_off_later_us": fresh_later,
        "h2_cold_us": h2_cold,
        "h1_cold_us": h1_cold,
        "h2_warm_us": h2_warm,
        "h1_warm_us": h1_warm,
        "medians_us": {
            "first": m_first,
            "later": m_later,
            "pool_off_later": m_fresh,
            "h2_cold": m_h2_cold,
            "h1_cold": m_h1_cold,
            "h2_warm": m_h2_warm,
            "h1_warm": m_h1_warm,
        },
        "ratios": ratios,
        "load_before": load_before,
        "load_after": common::loadavg(),
    });
    common::write_result("fallback_pool", &result);
}
