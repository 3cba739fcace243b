//! `redial demo --json`: the mission under both presets ends as expected (exit 0), each
//! with its fall-back line naming 1008, and every line carries scenario and preset; the
//! `acknowledged` scenario counts what was sent, resent and lost from the server's ledger.

mod cli_support;

use cli_support::*;
use serde_json::Value;

fn demo(scenario: &str) -> Vec<Value> {
    let out = redial()
        .args(["demo", "--json", scenario])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let lines = json_lines(&out);
    for line in &lines {
        assert_eq!(line["scenario"], scenario, "{line}");
        assert!(line["preset"].is_string(), "{line}");
    }
    lines
}

fn fell_back(lines: &[Value]) -> &Value {
    let found = of_kind(lines, "fell_back");
    assert_eq!(found.len(), 1, "{lines:#?}");
    assert_eq!(found[0]["code"], 1008);
    assert_eq!(found[0]["transport"], "https");
    found[0]
}

fn diagnosis(lines: &[Value]) -> &Value {
    let found = of_kind(lines, "diagnosis");
    assert_eq!(found.len(), 1, "{lines:#?}");
    assert_eq!(found[0]["ok"], true, "{}", found[0]);
    found[0]
}

#[test]
fn the_mission_under_default_falls_back_after_one_dial() {
    let lines = demo("policy-close");
    let f = fell_back(&lines);
    assert_eq!(f["preset"], "default");
    assert!(f["cause"]
        .as_str()
        .unwrap()
        .contains("policy violations are not retried"));
    assert_eq!(of_kind(&lines, "dial").len(), 1);
    let d = diagnosis(&lines);
    assert_eq!(d["dials"], 1);
    assert_eq!(d["transport"], "https");
    let messages = of_kind(&lines, "message");
    assert!(
        messages.iter().all(|m| m["transport"] == "https"),
        "{messages:#?}"
    );
}

#[test]
fn the_mission_under_codex_compat_dials_six_times_first() {
    let lines = demo("policy-close-old-client");
    let f = fell_back(&lines);
    assert_eq!(f["preset"], "codex-compat");
    assert!(f["cause"].as_str().unwrap().contains("6 of 6 dials failed"));
    assert_eq!(of_kind(&lines, "dial").len(), 6);
    // 200 ms × 2, five waits, ±10 %: about 6.2 s before the fall-back.
    let t = f["t_ms"].as_u64().unwrap();
    assert!((5_000..20_000).contains(&t), "{t}");
    assert_eq!(diagnosis(&lines)["dials"], 6);
}

#[test]
fn restart_retry_after_and_reprobe_end_as_expected() {
    let runs: Vec<_> = ["restart", "retry-after", "reprobe"]
        .into_iter()
        .map(|s| std::thread::spawn(move || (s, demo(s))))
        .collect();
    for run in runs {
        let (scenario, lines) = run.join().expect("the demo ran");
        let d = diagnosis(&lines);
        assert_eq!(d["transport"], "websocket", "{scenario}: {d}");
        assert_eq!(d["dials"], 2, "{scenario}: {d}");
        match scenario {
            "restart" => assert_eq!(of_kind(&lines, "retry")[0]["class"], "restart"),
            "retry-after" => {
                let retry = of_kind(&lines, "retry")[0];
                assert_eq!(retry["status"], 429);
                assert!(retry["delay_ms"].as_u64().unwrap() >= 1000, "{retry}");
            }
            _ => {
                assert_eq!(of_kind(&lines, "recovered").len(), 1);
                // Two turns over the fallback, the second on the first one's connection.
                let turns = of_kind(&lines, "fallback_connection");
                let reused: Vec<_> = turns.iter().map(|t| t["reused"].clone()).collect();
                assert_eq!(reused, [false, true], "{turns:?}");
                assert!(
                    turns.iter().all(|t| t["protocol"] == "http/1.1"),
                    "{turns:?}"
                );
                assert!(turns.iter().all(|t| t["transport"] == "https"), "{turns:?}");
            }
        }
    }
}

#[test]
fn behind_a_proxy_both_transports_go_through_it() {
    let lines = demo("behind-proxy");
    let f = fell_back(&lines);
    assert_eq!(f["preset"], "default");
    let d = diagnosis(&lines);
    assert_eq!(d["dials"], 1);
    assert_eq!(d["transport"], "https");
    assert_eq!(d["proxy_tunnels"], 2, "the WebSocket's and the fallback's");
    let text: String = lines.iter().map(|l| l.to_string()).collect();
    assert!(!text.contains("demo-proxy-secret"), "{text}");
}

#[test]
fn acknowledged_delivery_across_a_reset_loses_nothing() {
    let lines = demo("acknowledged");
    let d = diagnosis(&lines);
    assert_eq!(d["sent"], 10, "{d}");
    assert_eq!(d["lost"], 0, "{d}");
    assert_eq!(d["handed_back"], 0, "{d}");
    assert_eq!(d["server_received"], 10, "{d}");
    assert_eq!(d["dials"], 2, "{d}");
    assert_eq!(d["transport"], "websocket", "{d}");
    // The resends the events announced: at least the half the first connection read.
    let resent: u64 = of_kind(&lines, "resent")
        .iter()
        .map(|r| r["messages"].as_u64().unwrap())
        .sum();
    assert!(resent >= 5, "{lines:#?}");
    assert_eq!(d["resent"], resent, "{d}");
    assert_eq!(d["cause"], format!("10 sent, {resent} resent, 0 lost"));
    assert!(d["server_duplicates"].as_u64().unwrap() >= 5, "{d}");

    // The readable summary reads the same.
    let out = redial().args(["demo", "acknowledged"]).output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let row = text
        .lines()
        .find(|l| l.trim_start().starts_with("acknowledged "))
        .unwrap_or_else(|| panic!("a summary row: {text}"));
    assert!(row.contains("✓"), "{row}");
    assert!(
        row.contains("10 sent, ") && row.ends_with(" resent, 0 lost"),
        "{row}"
    );
}
