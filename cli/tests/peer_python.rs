//! Issue 8, part 2: the `redial` binary against an independent peer, Python's
//! `websockets` (cli/tests/peer/server.py; version pinned in cli/tests/peer/requirements.txt),
//! one fault scenario per URL path, checked through the `--json` event lines.
//!
//! Without python3 or `websockets` the tests fail under `CI=true` and are skipped with
//! a message otherwise (`pip install -r cli/tests/peer/requirements.txt`).

mod cli_support;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use cli_support::*;
use redial_testkit::{echo_responder, SseServer, TestCert};
use serde_json::Value;

/// Short timeouts; 3 dials; restart window 100–300 ms, overload at least 400 ms.
const CONFIG: &str = r#"
[budget]
max_attempts = 3
[backoff]
base = "10ms"
cap = "100ms"
[delays]
restart_min = "100ms"
restart_max = "300ms"
overload_min = "400ms"
max_retry_after = "5s"
[timeouts]
connect = "500ms"
handshake = "500ms"
close_grace = "300ms"
[heartbeat]
ping_interval = "200ms"
pong_timeout = "300ms"
"#;

/// The peer's process; its standard input stays open until this test binary exits,
/// and the server exits when it closes.
static PEER: OnceLock<Option<(u16, u16)>> = OnceLock::new();
static CHILD: Mutex<Option<Child>> = Mutex::new(None);

/// The peer's port, or `None` (after saying why) when it cannot run here.
fn peer() -> Option<u16> {
    PEER.get_or_init(start_peer).map(|(port, _)| port)
}

/// The port of the peer's second server, websockets' own subprotocol negotiation
/// (`subprotocols=["chat.v2", "chat.v1"]`).
fn negotiating_peer() -> Option<u16> {
    PEER.get_or_init(start_peer).map(|(_, port)| port)
}

fn unavailable(why: &str) -> Option<(u16, u16)> {
    let hint = "install it with: pip install -r cli/tests/peer/requirements.txt";
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("the Python peer is required in CI: {why}; {hint}");
    }
    // Straight to stderr: libtest would capture `eprintln!` of a passing test.
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED: the Python peer cannot run: {why}; {hint}"
    );
    None
}

fn start_peer() -> Option<(u16, u16)> {
    let check = Command::new("python3")
        .args(["-c", "import websockets"])
        .output();
    match check {
        Err(e) => return unavailable(&format!("python3 not found ({e})")),
        Ok(o) if !o.status.success() => {
            return unavailable("the Python package `websockets` is not installed")
        }
        Ok(_) => {}
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peer/server.py");
    let mut child = Command::new("python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 starts");
    let stdout = child.stdout.take().unwrap();
    *CHILD.lock().unwrap() = Some(child);
    // The first lines are "PORT <n>" and "SUBPROTOCOLS_PORT <m>"; read them off-thread
    // so a broken peer cannot hang us.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut stdout = BufReader::new(stdout);
        let mut line = String::new();
        let _ = stdout.read_line(&mut line);
        let _ = stdout.read_line(&mut line);
        let _ = tx.send(line);
    });
    let lines = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the peer prints its ports");
    let port = |prefix: &str| {
        lines
            .lines()
            .find_map(|l| l.strip_prefix(prefix))
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("the peer said {lines:?}, not its {prefix}"))
    };
    Some((port("PORT "), port("SUBPROTOCOLS_PORT ")))
}

/// `redial connect --json` against `path`, sending one line; runs until the client
/// gives up, or until nothing has arrived for `settle` after the end of input.
fn connect_cmd(port: u16, path: &str, settle: &str) -> (assert_cmd::Command, tempfile::TempDir) {
    let (dir, config) = write_file("peer.toml", CONFIG);
    let mut cmd = redial();
    cmd.args(["connect", "--json", "--settle", settle])
        .arg(format!("ws://127.0.0.1:{port}{path}"))
        .arg("--config")
        .arg(&config)
        .write_stdin("hello\n");
    (cmd, dir)
}

fn connect(path: &str) -> Option<Vec<Value>> {
    Some(connect_recorded(path)?.0)
}

/// As [`connect`], with the peer's record of each upgraded connection's end: whether
/// the client's close frame arrived, and its code.
fn connect_recorded(path: &str) -> Option<(Vec<Value>, Vec<Value>)> {
    static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let port = peer()?;
    let run = format!(
        "{}-{}",
        std::process::id(),
        RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let (mut cmd, _dir) = connect_cmd(port, &format!("{path}?run={run}"), "10s");
    let out = cmd.output().expect("the binary runs");
    let lines = json_lines(&out);
    let upgraded = of_kind(&lines, "connected").len();
    Some((lines, closes(port, &run, upgraded)))
}

/// The peer's records of `run`'s connections, once `n` are in (it waits 5 s at most).
fn closes(port: u16, run: &str, n: usize) -> Vec<Value> {
    use std::io::Read;
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", port)).expect("the peer listens");
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        tcp,
        "GET /closes?run={run}&n={n} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    tcp.read_to_string(&mut response).expect("the peer answers");
    let (_, body) = response
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("an HTTP response: {response:?}"));
    serde_json::from_str::<Vec<Value>>(body).unwrap_or_else(|e| panic!("{e}: {body:?}"))
}

/// Invariant 13 on the wire: the peer read a close frame from the client on every
/// upgraded connection, carrying `code` (the client echoes the server's).
fn every_close_answered(lines: &[Value], records: &[Value], code: u64) {
    let upgraded = of_kind(lines, "connected").len();
    assert!(upgraded > 0, "{lines:#?}");
    assert_eq!(records.len(), upgraded, "{records:#?}");
    for r in records {
        assert_eq!(
            (r["answered"].as_bool(), r["code"].as_u64()),
            (Some(true), Some(code)),
            "the client left a close frame unanswered: {r}"
        );
    }
}

/// When the line was printed (a little after the event, so gaps between two lines
/// may look up to a few ms shorter than the wait between the events: see [`SLACK`]).
fn t(line: &Value) -> u64 {
    line["t_ms"].as_u64().unwrap()
}

/// Printing lag allowed when comparing two lines' times.
const SLACK: u64 = 25;

fn cause(line: &Value) -> &str {
    line["cause"].as_str().unwrap_or_default()
}

/// Every line of `kind` has `class` (and `code`, when given).
fn all_closed(lines: &[Value], code: u64, class: &str) {
    let closed = of_kind(lines, "closed");
    assert!(!closed.is_empty(), "{lines:#?}");
    for c in closed {
        assert_eq!(
            (c["code"].as_u64(), c["class"].as_str()),
            (Some(code), Some(class)),
            "{c}"
        );
    }
}

/// The client gave up after `dials` dials, naming `needle` in the cause.
fn gave_up_after(lines: &[Value], dials: usize, needle: &str) {
    assert_eq!(of_kind(lines, "dial").len(), dials, "{lines:#?}");
    let gave_up = of_kind(lines, "gave_up");
    assert_eq!(gave_up.len(), 1, "{lines:#?}");
    assert!(cause(gave_up[0]).contains(needle), "{}", gave_up[0]);
    assert!(of_kind(lines, "fell_back").is_empty());
}

#[test]
fn policy_1008_after_the_upgrade_stops_without_a_retry() {
    let Some((lines, records)) = connect_recorded("/1008") else {
        return;
    };
    every_close_answered(&lines, &records, 1008);
    all_closed(&lines, 1008, "policy");
    assert_eq!(of_kind(&lines, "closed")[0]["reason"], "");
    assert!(of_kind(&lines, "retry").is_empty());
    gave_up_after(&lines, 1, "1008 (policy violation)");
}

#[async_std::test]
async fn policy_1008_falls_back_to_https_at_once() {
    let Some(port) = peer() else { return };
    let cert = TestCert::localhost();
    let sse = SseServer::start(&cert, echo_responder).await.unwrap();
    let (_ca_dir, ca) = write_file("ca.der", &cert.cert_der);
    let (mut cmd, _dir) = connect_cmd(port, "/1008", "1s");
    // A request (not a plain message): written to the WebSocket before the 1008
    // arrives, it had no answer, so it is sent again over HTTPS. A plain message
    // written there counts as delivered, and this server drops it unread.
    cmd.write_stdin("{\"input\":\"hello\"}\n")
        .arg("--request")
        .arg("--fallback-url")
        .arg(format!("https://127.0.0.1:{}/v1", sse.addr().port()))
        .arg("--ca")
        .arg(&ca);
    let lines = json_lines(&run(cmd).await);
    assert_eq!(of_kind(&lines, "dial").len(), 1, "{lines:#?}");
    let fell_back = of_kind(&lines, "fell_back");
    assert_eq!(fell_back.len(), 1, "{lines:#?}");
    assert_eq!(
        (
            fell_back[0]["code"].as_u64(),
            fell_back[0]["class"].as_str()
        ),
        (Some(1008), Some("policy"))
    );
    assert_eq!(fell_back[0]["transport"], "https");
    assert!(of_kind(&lines, "gave_up").is_empty());
    let messages = of_kind(&lines, "message");
    assert!(
        !messages.is_empty() && messages.iter().all(|m| m["transport"] == "https"),
        "{lines:#?}"
    );
    assert_eq!(sse.requests().len(), 1);
}

#[test]
fn going_away_1001_in_a_loop_spends_the_budget_then_gives_up() {
    let Some((lines, records)) = connect_recorded("/1001") else {
        return;
    };
    every_close_answered(&lines, &records, 1001);
    all_closed(&lines, 1001, "transient");
    let retries = of_kind(&lines, "retry");
    assert_eq!(retries.len(), 2, "{lines:#?}");
    for (i, r) in retries.iter().enumerate() {
        assert_eq!(r["attempt"].as_u64(), Some(i as u64 + 2));
        assert!(r["delay_ms"].as_u64().unwrap() <= 100, "{r}");
    }
    gave_up_after(&lines, 3, "3 of 3 dials failed");
}

#[test]
fn service_restart_1012_waits_within_the_restart_window() {
    let Some((lines, records)) = connect_recorded("/1012") else {
        return;
    };
    every_close_answered(&lines, &records, 1012);
    all_closed(&lines, 1012, "restart");
    for r in of_kind(&lines, "retry") {
        let delay = r["delay_ms"].as_u64().unwrap();
        assert!((100..=300).contains(&delay), "{r}");
        assert_eq!(r["class"], "restart");
    }
    gave_up_after(&lines, 3, "1012 (service restart)");
}

#[test]
fn try_again_later_1013_waits_at_least_the_overload_minimum() {
    let Some((lines, records)) = connect_recorded("/1013") else {
        return;
    };
    every_close_answered(&lines, &records, 1013);
    all_closed(&lines, 1013, "overload");
    let dials = of_kind(&lines, "dial");
    for (r, next) in of_kind(&lines, "retry").iter().zip(&dials[1..]) {
        assert!(r["delay_ms"].as_u64().unwrap() >= 400, "{r}");
        assert!(
            t(next) + SLACK >= t(r) + 400,
            "dialled {} ms after {r}",
            t(next) - t(r)
        );
    }
    gave_up_after(&lines, 3, "1013 (try again later)");
}

#[test]
fn rate_limited_429_honours_retry_after() {
    let Some(lines) = connect("/429") else { return };
    let failed = of_kind(&lines, "handshake_failed");
    assert_eq!(failed.len(), 3, "{lines:#?}");
    for f in &failed {
        assert_eq!(
            (f["status"].as_u64(), f["class"].as_str()),
            (Some(429), Some("rate_limited"))
        );
        assert!(cause(f).contains("Retry-After 1 s"), "{f}");
    }
    let dials = of_kind(&lines, "dial");
    for (r, next) in of_kind(&lines, "retry").iter().zip(&dials[1..]) {
        assert!(r["delay_ms"].as_u64().unwrap() >= 1000, "{r}");
        assert!(
            t(next) + SLACK >= t(r) + 1000,
            "dialled {} ms after {r}",
            t(next) - t(r)
        );
    }
    gave_up_after(&lines, 3, "HTTP 429");
}

#[test]
fn unauthorized_401_without_fresh_credentials_stops() {
    let Some(lines) = connect("/401") else { return };
    let failed = of_kind(&lines, "handshake_failed");
    assert_eq!(
        (failed[0]["status"].as_u64(), failed[0]["class"].as_str()),
        (Some(401), Some("auth"))
    );
    gave_up_after(&lines, 1, "could not re-authenticate");
    // Nothing was carried: "hello" is handed back if it was read before the stop.
    assert!(of_kind(&lines, "message").is_empty());
}

#[test]
fn upgrade_required_426_is_not_retried() {
    let Some(lines) = connect("/426") else { return };
    let failed = of_kind(&lines, "handshake_failed");
    assert_eq!(
        (failed[0]["status"].as_u64(), failed[0]["class"].as_str()),
        (Some(426), Some("rejected"))
    );
    assert!(of_kind(&lines, "retry").is_empty());
    gave_up_after(&lines, 1, "HTTP 426");
}

#[test]
fn a_stalled_handshake_times_out_and_is_retried() {
    let Some(lines) = connect("/stall") else {
        return;
    };
    let failed = of_kind(&lines, "handshake_failed");
    let dials = of_kind(&lines, "dial");
    assert_eq!(failed.len(), 3, "{lines:#?}");
    for (d, f) in dials.iter().zip(&failed) {
        assert!(cause(f).contains("handshake phase timed out"), "{f}");
        assert_eq!(f["class"], "transient");
        assert!(
            t(f) + SLACK >= t(d) + 500,
            "timed out {} ms after the dial",
            t(f) - t(d)
        );
    }
    gave_up_after(&lines, 3, "timed out");
}

#[test]
fn a_peer_that_stops_reading_is_dead_after_ping_and_pong_timeout() {
    let Some(lines) = connect("/no-pong") else {
        return;
    };
    all_closed(&lines, 1006, "transient");
    let connected = of_kind(&lines, "connected");
    for (c, closed) in connected.iter().zip(of_kind(&lines, "closed")) {
        assert!(cause(closed).contains("no pong"), "{closed}");
        assert!(
            t(closed) + SLACK >= t(c) + 500,
            "dead {} ms after the upgrade",
            t(closed) - t(c)
        );
    }
    gave_up_after(&lines, 3, "no pong");
}

#[test]
fn a_close_reason_of_123_bytes_arrives_whole() {
    let Some((lines, records)) = connect_recorded("/reason-123") else {
        return;
    };
    every_close_answered(&lines, &records, 4000);
    let reason = format!("{}!", "é".repeat(61));
    assert_eq!(reason.len(), 123);
    all_closed(&lines, 4000, "application");
    for c in of_kind(&lines, "closed") {
        assert_eq!(c["reason"].as_str(), Some(reason.as_str()), "{c}");
        assert!(cause(c).contains(&reason), "{c}");
    }
    gave_up_after(&lines, 3, "4000 (application-defined)");
}

#[test]
fn a_close_frame_without_status_code_reads_as_1005() {
    let Some((lines, records)) = connect_recorded("/no-status") else {
        return;
    };
    every_close_answered(&lines, &records, 1005);
    all_closed(&lines, 1005, "transient");
    for c in of_kind(&lines, "closed") {
        assert!(cause(c).contains("without a status code (1005)"), "{c}");
    }
    gave_up_after(&lines, 3, "1005");
}

#[test]
fn probe_names_1008_and_exits_2() {
    let Some(port) = peer() else { return };
    let mut cmd = redial();
    cmd.args(["probe", "--json", "--timeout", "2s"])
        .arg(format!("ws://127.0.0.1:{port}/1008"));
    let out = cmd.output().unwrap();
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let lines = json_lines(&out);
    let d = of_kind(&lines, "diagnosis")[0];
    assert_eq!(
        (d["code"].as_u64(), d["class"].as_str()),
        (Some(1008), Some("policy"))
    );
    assert_eq!(d["status"], 101);
}

#[test]
fn probe_answers_the_peers_close() {
    let Some(port) = peer() else { return };
    let mut cmd = redial();
    cmd.args(["probe", "--json", "--timeout", "2s"])
        .arg(format!(
            "ws://127.0.0.1:{port}/1008?run=probe-{}",
            std::process::id()
        ));
    let out = cmd.output().unwrap();
    let lines = json_lines(&out);
    let records = closes(port, &format!("probe-{}", std::process::id()), 1);
    assert_eq!(records.len(), 1, "{records:#?} {lines:#?}");
    assert_eq!(records[0]["answered"], true, "{records:#?}");
    assert_eq!(records[0]["code"], 1008, "{records:#?}");
}

#[test]
fn a_close_the_client_starts_reaches_the_peer() {
    let Some(port) = peer() else { return };
    let run = format!("echo-{}", std::process::id());
    let (mut cmd, _dir) = connect_cmd(port, &format!("/echo?run={run}"), "300ms");
    let out = cmd.output().expect("the binary runs");
    let lines = json_lines(&out);
    assert_eq!(of_kind(&lines, "message").len(), 1, "{lines:#?}");
    let records = closes(port, &run, 1);
    assert_eq!(records.len(), 1, "{records:#?}");
    assert_eq!(
        (
            records[0]["answered"].as_bool(),
            records[0]["code"].as_u64()
        ),
        (Some(true), Some(1000)),
        "{records:#?}"
    );
}

/// `redial connect --json` against `path` on `port`, offering `protocols`.
fn connect_offering(port: u16, path: &str, protocols: &[&str]) -> Vec<Value> {
    let (mut cmd, _dir) = connect_cmd(port, path, "300ms");
    for p in protocols {
        cmd.arg("--protocol").arg(p);
    }
    json_lines(&cmd.output().expect("the binary runs"))
}

#[test]
fn websockets_own_negotiation_answers_the_offer_and_the_choice_is_in_the_json() {
    let Some(port) = negotiating_peer() else {
        return;
    };
    for (offer, chosen) in [
        (&["chat.v1"][..], "chat.v1"),
        (&["chat.v2", "chat.v1"][..], "chat.v2"),
        (&["chat.v9", "chat.v1"][..], "chat.v1"),
    ] {
        let lines = connect_offering(port, "/", offer);
        let connected = of_kind(&lines, "connected");
        assert_eq!(connected.len(), 1, "{offer:?}: {lines:#?}");
        assert_eq!(connected[0]["protocol"], chosen, "{offer:?}");
        assert_eq!(of_kind(&lines, "message").len(), 1, "echoed: {lines:#?}");
    }
}

/// websockets answers an offer it shares nothing with (or none) with HTTP 400, not a
/// 101 without the header: the dial fails as a rejected upgrade, not a mismatch.
#[test]
fn websockets_answers_an_offer_it_does_not_share_with_400() {
    let Some(port) = negotiating_peer() else {
        return;
    };
    for offer in [&["chat.v9"][..], &[][..]] {
        let lines = connect_offering(port, "/", offer);
        let failed = of_kind(&lines, "handshake_failed");
        assert_eq!(failed.len(), 1, "{offer:?}: {lines:#?}");
        assert_eq!(
            (failed[0]["status"].as_u64(), failed[0]["class"].as_str()),
            (Some(400), Some("rejected")),
            "{offer:?}"
        );
        gave_up_after(&lines, 1, "does not offer WebSockets");
    }
}

/// One dial whose `handshake_failed` is a subprotocol mismatch naming `needles`, then
/// the client stops.
fn stops_on_mismatch(lines: &[Value], needles: &[&str]) {
    let failed = of_kind(lines, "handshake_failed");
    assert_eq!(failed.len(), 1, "{lines:#?}");
    assert_eq!(failed[0]["class"], "subprotocol_mismatch", "{}", failed[0]);
    for needle in needles {
        assert!(
            cause(failed[0]).contains(needle),
            "{needle:?}: {}",
            failed[0]
        );
    }
    gave_up_after(lines, 1, "the next dial would offer the same subprotocols");
    assert!(of_kind(lines, "retry").is_empty());
}

#[test]
fn a_peer_that_chooses_no_subprotocol_when_one_is_offered_stops_the_client() {
    let Some(port) = peer() else { return };
    let lines = connect_offering(port, "/subprotocol/none", &["chat.v2", "chat.v1"]);
    stops_on_mismatch(
        &lines,
        &[
            r#"the server chose no subprotocol, but the client requires one of "chat.v2", "chat.v1""#,
        ],
    );
}

#[test]
fn a_peer_that_chooses_a_subprotocol_not_offered_stops_the_client() {
    let Some(port) = peer() else { return };
    let lines = connect_offering(port, "/subprotocol/bogus", &["chat.v2"]);
    stops_on_mismatch(
        &lines,
        &[r#"the server chose subprotocol "chat.v3", which was not offered (offered: "chat.v2")"#],
    );
}

#[test]
fn a_peer_that_switches_subprotocol_between_connections_is_reported() {
    let Some(port) = peer() else { return };
    let lines = connect_offering(port, "/subprotocol/switch", &["chat.v2", "chat.v1"]);
    let connected = of_kind(&lines, "connected");
    assert_eq!(connected.len(), 2, "{lines:#?}");
    assert_eq!(
        (&connected[0]["protocol"], &connected[1]["protocol"]),
        (&Value::from("chat.v2"), &Value::from("chat.v1"))
    );
    let switched = of_kind(&lines, "subprotocol_changed");
    assert_eq!(switched.len(), 1, "{lines:#?}");
    assert_eq!(
        (&switched[0]["from"], &switched[0]["to"]),
        (&Value::from("chat.v2"), &Value::from("chat.v1"))
    );
    assert!(
        cause(switched[0]).contains("switched subprotocol"),
        "{}",
        switched[0]
    );
}
