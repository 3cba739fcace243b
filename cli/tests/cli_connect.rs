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
