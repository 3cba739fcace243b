//! `redial connect --ack`: acknowledged delivery in the JSON envelope. Lines go out as
//! `{"seq": N, "text": LINE}`; a server that resets after reading half gets every line
//! (resent, with `resent` lines); one that never acknowledges brings `ack_overdue` and
//! the lines handed back as `unacknowledged`; inbound envelopes are shown as their text,
//! duplicates dropped (`duplicate_dropped`).

mod cli_support;

use std::collections::BTreeMap;
use std::sync::Arc;

use cli_support::*;
use redial_testkit::{Act, Behavior, Received, WsServer};
use serde_json::{json, Value};

/// The envelope's acknowledgement of `text` if it carries a sequence number.
fn ack_of(text: &str) -> Vec<String> {
    let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    match v["seq"].as_u64() {
        Some(seq) => vec![json!({ "ack": seq }).to_string()],
        None => Vec::new(),
    }
}

/// What the server received, by sequence number: the text and how many copies.
fn ledger(ws: &WsServer) -> BTreeMap<u64, (String, usize)> {
    let mut got: BTreeMap<u64, (String, usize)> = BTreeMap::new();
    for (_, r) in ws.received() {
        let Received::Text(t) = r else { continue };
        let v: Value = serde_json::from_str(&t).unwrap_or(Value::Null);
        if let (Some(seq), Some(text)) = (v["seq"].as_u64(), v["text"].as_str()) {
            let entry = got.entry(seq).or_insert_with(|| (text.to_string(), 0));
            assert_eq!(entry.0, text, "seq {seq} carried two texts");
            entry.1 += 1;
        }
    }
    got
}

fn sum(lines: &[&Value], field: &str) -> u64 {
    lines.iter().map(|l| l[field].as_u64().unwrap()).sum()
}

#[async_std::test]
async fn a_server_that_resets_after_reading_half_gets_every_line_with_resent_lines() {
    let ws = WsServer::start(|c| match c.index {
        // Reads two of the four lines, acknowledges none, resets.
        1 => Behavior::Accept(vec![Act::AwaitMessage, Act::AwaitMessage, Act::Reset]),
        _ => Behavior::Accept(vec![Act::Respond(Arc::new(ack_of))]),
    })
    .await
    .unwrap();
    let (_dir, config) = fast_config();
    let mut cmd = redial();
    cmd.args(["connect", "--json", "--ack", "--settle", "100ms", &ws.url()])
        .arg("--config")
        .arg(&config)
        .write_stdin("l1\nl2\nl3\nl4\n");
    let out = run(cmd).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let lines = json_lines(&out);

    // Every line reached the server's application, as envelope text, in order.
    let got = ledger(&ws);
    let texts: Vec<(u64, &str)> = got.iter().map(|(k, v)| (*k, v.0.as_str())).collect();
    assert_eq!(texts, [(1, "l1"), (2, "l2"), (3, "l3"), (4, "l4")]);
    assert_eq!(ws.connections(), 2);

    let resent = of_kind(&lines, "resent");
    assert!(!resent.is_empty(), "{lines:#?}");
    for r in &resent {
        assert!(r["messages"].as_u64().unwrap() >= 1, "{r}");
        assert!(r["cause"].as_str().is_some_and(|c| !c.is_empty()), "{r}");
        assert!(r["t_ms"].is_u64(), "{r}");
    }
    // At least what the first connection read was written again.
    assert!(sum(&resent, "messages") >= 2, "{resent:?}");
    assert_eq!(of_kind(&lines, "unacknowledged"), Vec::<&Value>::new());
    let diagnosis = of_kind(&lines, "diagnosis");
    assert_eq!(diagnosis.len(), 1, "{lines:#?}");
    let d = diagnosis[0];
    assert_eq!(d["resent"].as_u64(), Some(sum(&resent, "messages")), "{d}");
    assert_eq!(d["unacknowledged"], 0, "{d}");
    assert_eq!(d["undelivered"], 0, "{d}");
    assert_eq!(d["exit_code"], 0, "{d}");
    assert_eq!(d["dials"], 2, "{d}");
}

#[async_std::test]
async fn a_server_that_never_acknowledges_brings_ack_overdue_and_the_lines_back() {
    let ws = WsServer::start(|_| Behavior::Accept(vec![Act::Hold]))
        .await
        .unwrap();
    let (_dir, config) = fast_config();
    let args = |json: bool| {
        let mut cmd = redial();
        cmd.args(["connect", &ws.url(), "--ack"])
            .args(["--ack-timeout", "150ms", "--on-ack-timeout", "resend"])
            .args(["--ack-wait", "700ms"])
            .arg("--config")
            .arg(&config)
            .write_stdin("a\nb\n");
        if json {
            cmd.arg("--json");
        }
        cmd
    };
    let out = run(args(true)).await;
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let lines = json_lines(&out);

    let overdue = of_kind(&lines, "ack_overdue");
    assert!(!overdue.is_empty(), "{lines:#?}");
    for o in &overdue {
        assert_eq!(o["action"], "resend", "{o}");
        assert_eq!(o["waited_ms"], 150, "{o}");
        assert!(o["messages"].as_u64().unwrap() >= 1, "{o}");
    }
    // Resent on the same connection after each late acknowledgement.
    assert!(!of_kind(&lines, "resent").is_empty(), "{lines:#?}");
    assert_eq!(ws.connections(), 1);
    assert!(ledger(&ws).values().any(|v| v.1 >= 2), "{:?}", ledger(&ws));

    // Never acknowledged: handed back with their numbers, maybe delivered.
    let back: Vec<(u64, &str)> = of_kind(&lines, "unacknowledged")
        .iter()
        .map(|l| (l["seq"].as_u64().unwrap(), l["text"].as_str().unwrap()))
        .collect();
    assert_eq!(back, [(1, "a"), (2, "b")], "{lines:#?}");
    let d = of_kind(&lines, "diagnosis")[0];
    assert_eq!(d["unacknowledged"], 2, "{d}");
    assert_eq!(d["undelivered"], 2, "{d}");
    assert_eq!(d["exit_code"], 1, "{d}");

    // The readable timeline says the same on stderr.
    let out = run(args(false)).await;
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("ack_overdue"), "{err}");
    assert!(err.contains("not acknowledged within 150 ms"), "{err}");
    let handed: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("unacknowledged "))
        .collect();
    assert!(
        handed.iter().any(|l| l.contains("#1 a")) && handed.iter().any(|l| l.contains("#2 b")),
        "{err}"
    );
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[async_std::test]
async fn inbound_envelopes_are_shown_as_their_text_and_duplicates_dropped() {
    let envelope = |seq: u64, text: &str| Act::Text(json!({"seq": seq, "text": text}).to_string());
    let ws = WsServer::start(move |_| {
        Behavior::Accept(vec![
            envelope(1, "first"),
            envelope(2, "second"),
            envelope(1, "first"),
            Act::Respond(Arc::new(ack_of)),
        ])
    })
    .await
    .unwrap();
    let (_dir, config) = fast_config();
    let args = |json: bool| {
        let mut cmd = redial();
        cmd.args(["connect", &ws.url(), "--ack", "--settle", "300ms"])
            .arg("--config")
            .arg(&config)
            .write_stdin("x\n");
        if json {
            cmd.arg("--json");
        }
        cmd
    };
    let out = run(args(true)).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let lines = json_lines(&out);
    let texts: Vec<&str> = of_kind(&lines, "message")
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["first", "second"], "{lines:#?}");
    let dups = of_kind(&lines, "duplicate_dropped");
    assert_eq!(dups.len(), 1, "{lines:#?}");
    assert_eq!((&dups[0]["id"], &dups[0]["total"]), (&json!(1), &json!(1)));
    assert_eq!(of_kind(&lines, "diagnosis")[0]["duplicates_dropped"], 1);
    // The client acknowledged what it received.
    let acked = ws
        .received()
        .into_iter()
        .any(|(_, r)| matches!(r, Received::Text(t) if t == r#"{"ack":2}"#));
    assert!(acked, "{:?}", ws.received());

    // Without --json, stdout holds the texts alone.
    let out = run(args(false)).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "first\nsecond\n");
}

#[test]
fn ack_companions_need_ack_and_ack_refuses_request() {
    for args in [
        vec!["--ack-timeout", "1s"],
        vec!["--on-ack-timeout", "resend"],
        vec!["--ack", "--request"],
        vec!["--ack", "--on-ack-timeout", "later"],
        vec!["--ack", "--ack-timeout", "soon"],
    ] {
        let out = redial()
            .args(["connect", "ws://127.0.0.1:9/"])
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(code(&out), 64, "{args:?}: {}", stderr(&out));
    }
}
