//! `redial probe`: the mission's server exits 2 naming 1008, a healthy one 0, a closed
//! port 3, an untrusted certificate 4.

mod cli_support;

use std::time::Duration;

use cli_support::*;
use redial_testkit::{Act, Behavior, TestCert, WsServer};
use serde_json::Value;

fn diagnosis(lines: &[Value]) -> &Value {
    let found = of_kind(lines, "diagnosis");
    assert_eq!(found.len(), 1, "{lines:#?}");
    found[0]
}

#[async_std::test]
async fn the_missions_server_is_rejected_with_1008() {
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
    let mut cmd = redial();
    cmd.args(["probe", "--json", &ws.url()]);
    let out = run(cmd).await;
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let lines = json_lines(&out);
    assert_eq!(of_kind(&lines, "dial").len(), 1);
    let d = diagnosis(&lines);
    assert_eq!(d["status"], 101);
    assert_eq!(d["closed"], true);
    assert_eq!(d["code"], 1008);
    assert_eq!(d["reason"], "");
    assert_eq!(d["class"], "policy");
    let decision = d["decision"].as_str().unwrap();
    assert!(
        decision.starts_with("fall back to HTTPS at once"),
        "{decision}"
    );
    assert!(d["cause"]
        .as_str()
        .unwrap()
        .contains("1008 (policy violation)"));
    assert_eq!(ws.connections(), 1, "one dial, no retries");
}

#[async_std::test]
async fn a_healthy_server_is_usable() {
    let ws = WsServer::start(|_| Behavior::Accept(vec![Act::Hold]))
        .await
        .unwrap();
    let mut cmd = redial();
    cmd.args(["probe", &ws.url(), "--wait", "300ms"]);
    let out = run(cmd).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("HTTP 101"), "{text}");
    assert!(text.contains("stayed open for 300 ms"), "{text}");
    assert!(text.contains("usable (exit 0)"), "{text}");
}

#[async_std::test]
async fn a_closed_port_is_unreachable() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let mut cmd = redial();
    cmd.args(["probe", "--json", &format!("ws://127.0.0.1:{port}/")]);
    let out = run(cmd).await;
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    let lines = json_lines(&out);
    let d = diagnosis(&lines);
    assert_eq!(d["closed"], false);
    assert_eq!(d["class"], "transient");
    assert!(d["cause"].as_str().unwrap().contains("refused"), "{d}");
}

#[async_std::test]
async fn an_untrusted_certificate_is_a_tls_failure() {
    let cert = TestCert::localhost();
    let ws = WsServer::start_tls(&cert, |_| Behavior::Accept(vec![Act::Hold]))
        .await
        .unwrap();
    let url = format!("wss://127.0.0.1:{}/", ws.addr().port());
    let mut cmd = redial();
    cmd.args(["probe", "--json", &url]);
    let out = run(cmd).await;
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    let d = diagnosis(&json_lines(&out)).clone();
    assert_eq!(d["class"], "certificate");
    assert!(d["decision"].as_str().unwrap().starts_with("stop"), "{d}");
    assert_eq!(ws.upgrades(), 0);

    // The same server, trusted through --ca (PEM), is usable.
    let (_dir, pem) = write_file("ca.pem", &cert.cert_pem);
    let mut cmd = redial();
    cmd.args(["probe", "--wait", "100ms", &url, "--ca"])
        .arg(&pem);
    let out = run(cmd).await;
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stdout));
}
