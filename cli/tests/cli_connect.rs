//! `redial connect --json --request` on the mission's server: one dial, a fall-back
//! naming 1008, and the response over HTTPS.

mod cli_support;

use std::time::Duration;

use cli_support::*;
use redial_testkit::{echo_responder, Act, Behavior, SseServer, TestCert, WsServer};

#[async_std::test]
async fn the_missions_request_is_answered_over_https() {
    let cert = TestCert::localhost();
    let ws = WsServer::start(|_| {
        Behavior::Accept(vec![
            Act::Wait(Duration::from_millis(3)),
            Act::Close {
                code: Some(1008),
                reason: String::new(),
            },
        ])
    })
    .await
    .unwrap();
    let sse = SseServer::start(&cert, echo_responder).await.unwrap();
    let (_dir, config) = fast_config();
    let (_ca_dir, ca) = write_file("ca.der", &cert.cert_der);
    let fallback = format!("https://127.0.0.1:{}/v1/responses", sse.addr().port());
    let mut cmd = redial();
    cmd.args([
        "connect",
        "--json",
        "--request",
        &ws.url(),
        "--fallback-url",
        &fallback,
    ])
    .arg("--config")
    .arg(&config)
    .arg("--ca")
    .arg(&ca)
    .write_stdin("{\"input\":\"hello\"}\n");
    let out = run(cmd).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(out.stderr.is_empty(), "{}", stderr(&out));
    let lines = json_lines(&out);

    assert_eq!(of_kind(&lines, "dial").len(), 1, "{lines:#?}");
    let fell_back = lines
        .iter()
        .position(|l| l["event"] == "fell_back")
        .expect("a fall-back");
    assert_eq!(lines[fell_back]["code"], 1008);
    assert_eq!(lines[fell_back]["transport"], "https");
    assert_eq!(lines[fell_back]["class"], "policy");

    let messages: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i]["event"] == "message")
        .collect();
    assert!(messages.len() >= 2, "{lines:#?}");
    assert!(messages
        .iter()
        .all(|&i| i > fell_back && lines[i]["transport"] == "https"));
    let last = lines[*messages.last().unwrap()]["text"].as_str().unwrap();
    assert!(last.contains("response.completed"), "{last}");
    let echoed: String = messages
        .iter()
        .filter_map(|&i| serde_json::from_str::<serde_json::Value>(lines[i]["text"].as_str()?).ok())
        .filter_map(|v| v["delta"].as_str().map(String::from))
        .collect();
    assert_eq!(echoed, "{\"input\":\"hello\"}");

    let diagnosis = of_kind(&lines, "diagnosis");
    assert_eq!(diagnosis.len(), 1);
    assert_eq!(diagnosis[0]["exit_code"], 0);
    assert_eq!(ws.connections(), 1);
    assert_eq!(sse.requests().len(), 1);
}

#[async_std::test]
async fn plain_connect_prints_what_arrives_on_stdout_and_events_on_stderr() {
    let ws = WsServer::start(|_| Behavior::Accept(vec![Act::Echo]))
        .await
        .unwrap();
    let (_dir, config) = fast_config();
    let mut cmd = redial();
    cmd.args(["connect", &ws.url(), "--config"])
        .arg(&config)
        .write_stdin("one\ntwo\n");
    let out = run(cmd).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "one\ntwo\n");
    let err = stderr(&out);
    assert!(err.contains("dial 1 of 5"), "{err}");
    assert!(err.contains("closed by the application"), "{err}");
    assert_eq!(ws.connections(), 1);
}

/// Issue 23: a request still in line when the client gives up (every dial refused, no
/// fallback) is not lost silently: it ends with a `request_failed` line carrying the
/// request's error (the give-up's cause), after `gave_up`, and the diagnosis counts it.
#[async_std::test]
async fn a_request_pending_when_the_client_gives_up_is_reported_failed() {
    // A port nothing listens on: every dial is refused.
    let refused = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let url = format!("ws://{refused}/");
    // Three dials 50–100 ms apart: the request is read from standard input and waits in
    // line long before the client gives up.
    let (_dir, config) = write_file(
        "refused.toml",
        "[budget]\nmax_attempts = 3\n[backoff]\nbase = \"50ms\"\ncap = \"100ms\"\n",
    );
    let mut cmd = redial();
    cmd.args(["connect", "--json", "--request", &url])
        .arg("--config")
        .arg(&config)
        .write_stdin("{\"input\":\"hello\"}\n");
    let out = run(cmd).await;
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let lines = json_lines(&out);
    let gave_up = lines
        .iter()
        .position(|l| l["event"] == "gave_up")
        .unwrap_or_else(|| panic!("a gave_up line: {lines:#?}"));
    let failed: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i]["event"] == "request_failed")
        .collect();
    assert_eq!(failed.len(), 1, "{lines:#?}");
    assert!(failed[0] > gave_up, "{lines:#?}");
    let cause = lines[failed[0]]["cause"].as_str().unwrap();
    assert!(
        cause.contains("the client stopped") && cause.contains("refused"),
        "the request's error names why the client stopped: {cause}"
    );
    let diagnosis = of_kind(&lines, "diagnosis");
    assert_eq!(diagnosis.len(), 1, "{lines:#?}");
    assert_eq!(diagnosis[0]["failed"], 1, "{}", diagnosis[0]);
    assert_eq!(diagnosis[0]["exit_code"], 1);
    assert_eq!(of_kind(&lines, "dial").len(), 3, "{lines:#?}");

    // The readable form says it too, on the events' stream.
    let mut cmd = redial();
    cmd.args(["connect", "--request", &url])
        .arg("--config")
        .arg(&config)
        .write_stdin("{\"input\":\"hello\"}\n");
    let out = run(cmd).await;
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let err = stderr(&out);
    let line = err
        .lines()
        .find(|l| l.contains("request_failed"))
        .unwrap_or_else(|| panic!("a request_failed line: {err}"));
    assert!(
        line.contains("the client stopped") && line.contains("refused"),
        "{line}"
    );
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
