//! Every exit code of the `redial` binary, and each branch behind it (exit.rs's table):
//! 1 when `connect` gives up (the mission's 1008 with no fallback; the message-then-1011
//! loop, which redial now stops at the budget), 2 for a non-101 upgrade status and for
//! an auth close, 3 for a handshake that times out, a host name that does not resolve,
//! a reset during the dial and a connection dropped without a close frame, 4 for a TLS
//! failure that is not a certificate rejection. (0, 3 for a refused port, 4 for a
//! rejected certificate, 64 and 65 are in cli_probe.rs and cli_errors.rs.)

mod cli_support;

use cli_support::*;
use redial_testkit::{Act, Behavior, WsServer};

fn close(code: u16, reason: &str) -> Act {
    Act::Close {
        code: Some(code),
        reason: reason.into(),
    }
}

async fn probe(url: &str, extra: &[&str]) -> std::process::Output {
    let mut cmd = redial();
    cmd.args(["probe", "--json", url]).args(extra);
    run(cmd).await
}

#[async_std::test]
async fn connect_exits_1_when_it_gives_up_on_a_policy_close_without_a_fallback() {
    let ws = WsServer::start(|_| Behavior::Accept(vec![close(1008, "")]))
        .await
        .unwrap();
    let (_dir, config) = fast_config();
    let mut cmd = redial();
    cmd.args(["connect", "--json", &ws.url(), "--config"])
        .arg(&config)
        .write_stdin("hello\n");
    let out = run(cmd).await;
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let lines = json_lines(&out);
    let gave_up = of_kind(&lines, "gave_up");
    assert_eq!(gave_up.len(), 1, "{lines:#?}");
    assert_eq!(gave_up[0]["code"], 1008);
    assert_eq!(ws.connections(), 1, "no retry after 1008");
}

/// The bug of issue 13, end to end: a server that sends one error message and closes
/// with 1011 was redialed for ever (85-107 dials in 10 s with the default config).
#[async_std::test]
async fn connect_exits_1_after_max_attempts_against_the_error_loop() {
    let ws = WsServer::start(|_| {
        Behavior::Accept(vec![
            Act::Text(r#"{"type":"error"}"#.into()),
            close(1011, "internal error"),
        ])
    })
    .await
    .unwrap();
    let (_dir, config) = fast_config();
    let mut cmd = redial();
    cmd.args(["connect", "--json", &ws.url(), "--config"])
        .arg(&config)
        .write_stdin("");
    let out = run(cmd).await;
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let lines = json_lines(&out);
    assert_eq!(of_kind(&lines, "dial").len(), 5, "{lines:#?}");
    assert!(
        of_kind(&lines, "stable").is_empty(),
        "a message is not stability"
    );
    let gave_up = of_kind(&lines, "gave_up");
    assert_eq!(gave_up.len(), 1, "{lines:#?}");
    let cause = gave_up[0]["cause"].as_str().unwrap();
    assert!(cause.contains("5 of 5 dials failed"), "{cause}");
    assert_eq!(ws.connections(), 5);
}

#[async_std::test]
async fn probe_exits_2_on_a_non_101_status() {
    let ws = WsServer::start(|_| Behavior::Reject {
        status: 403,
        headers: vec![],
    })
    .await
    .unwrap();
    let out = probe(&ws.url(), &[]).await;
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let lines = json_lines(&out);
    let d = of_kind(&lines, "diagnosis");
    assert_eq!(d[0]["status"], 403, "{lines:#?}");
}

#[async_std::test]
async fn probe_exits_2_on_an_auth_close() {
    let ws = WsServer::start(|_| Behavior::Accept(vec![close(3000, "unauthorized")]))
        .await
        .unwrap();
    let out = probe(&ws.url(), &[]).await;
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let lines = json_lines(&out);
    let d = of_kind(&lines, "diagnosis");
    assert_eq!(
        (d[0]["code"].as_u64(), d[0]["class"].as_str()),
        (Some(3000), Some("auth"))
    );
}

#[async_std::test]
async fn probe_exits_3_when_the_handshake_times_out() {
    let ws = WsServer::start(|_| Behavior::StallHandshake).await.unwrap();
    let out = probe(&ws.url(), &["--timeout", "300ms"]).await;
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    let lines = json_lines(&out);
    let d = of_kind(&lines, "diagnosis");
    let cause = d[0]["cause"].as_str().unwrap();
    assert!(cause.contains("handshake phase timed out"), "{cause}");
}

/// `probe URL` exits with `code`, and its diagnosis's cause says `says`.
async fn probe_exits(url: &str, code_expected: i32, says: &str) {
    let out = probe(url, &["--timeout", "5s"]).await;
    assert_eq!(code(&out), code_expected, "{}", stderr(&out));
    let d = of_kind(&json_lines(&out), "diagnosis")[0].clone();
    let cause = d["cause"].as_str().unwrap();
    assert!(cause.contains(says), "{cause}");
}

/// `.invalid` never resolves (RFC 6761): the DNS branch of exit 3.
#[async_std::test]
async fn probe_exits_3_when_the_host_name_does_not_resolve() {
    probe_exits("ws://redial-test.invalid/", 3, "did not resolve").await;
}

#[async_std::test]
async fn probe_exits_3_when_the_dial_is_reset() {
    let ws = WsServer::start(|_| Behavior::ResetBeforeUpgrade)
        .await
        .unwrap();
    probe_exits(&ws.url(), 3, "reset").await;
}

/// Upgraded, then the TCP connection ends with no close frame.
#[async_std::test]
async fn probe_exits_3_when_the_connection_drops_without_a_close_frame() {
    let ws = WsServer::start(|_| Behavior::Accept(Vec::new()))
        .await
        .unwrap();
    probe_exits(&ws.url(), 3, "without a close frame").await;
}

/// `wss://` to a server that speaks plain HTTP: the TLS handshake fails, and not on a
/// certificate.
#[async_std::test]
async fn probe_exits_4_on_a_tls_failure_that_is_not_a_certificate() {
    let ws = WsServer::start(|_| Behavior::Accept(vec![Act::Hold]))
        .await
        .unwrap();
    let url = format!("wss://127.0.0.1:{}/", ws.addr().port());
    let out = probe(&url, &["--timeout", "2s"]).await;
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    let lines = json_lines(&out);
    let d = of_kind(&lines, "diagnosis");
    assert_ne!(d[0]["class"], "certificate", "{lines:#?}");
    let cause = d[0]["cause"].as_str().unwrap();
    assert!(cause.contains("TLS handshake failed"), "{cause}");
}

#[test]
fn the_table_names_every_code() {
    let out = redial().arg("--help").output().expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    for code in ["0 ", "1 ", "2 ", "3 ", "4 ", "64", "65"] {
        assert!(text.contains(&format!("  {code}")), "{code}: {text}");
    }
}
