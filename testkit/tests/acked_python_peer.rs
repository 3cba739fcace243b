//! Issue 26, the ready protocol: the driver's acknowledged delivery with the JSON
//! envelope against an independent server of it, written in Python from the envelope's
//! documented wire format (tests/peer/envelope_server.py: `websockets` for the
//! WebSocket, the standard library for the HTTP fallback side and its ledger).
//!
//! Each test keeps a ledger of its own (what it sent, what its application received)
//! and checks it against the Python application's ledger, fetched over HTTP: every
//! message reaches the other application exactly once, or is handed back.
//!
//! Without python3 or `websockets` the tests are skipped with a message when `CI` is
//! unset, and fail when it is set (`pip install -r cli/tests/peer/requirements.txt`).

mod driver_support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use driver_support::*;
use futures_lite::StreamExt;
use redial::driver::{
    AckOptions, AckTimeoutAction, Client, ClientBuilder, ClientEvent, DialExtras, Message,
};
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(15);

/// The peer's ports (WebSocket, HTTP); its standard input stays open until this test
/// binary exits, and the server exits when it closes.
static PEER: OnceLock<Option<(u16, u16)>> = OnceLock::new();
static CHILD: Mutex<Option<Child>> = Mutex::new(None);

/// The peer's ports, or `None` (after saying why) when it cannot run here.
fn peer() -> Option<(u16, u16)> {
    *PEER.get_or_init(start_peer)
}

fn unavailable(why: &str) -> Option<(u16, u16)> {
    let hint = "install it with: pip install -r cli/tests/peer/requirements.txt";
    if std::env::var_os("CI").is_some() {
        panic!("the Python envelope server is required in CI: {why}; {hint}");
    }
    // Straight to stderr: libtest would capture `eprintln!` of a passing test.
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED: the Python envelope server cannot run: {why}; {hint}"
    );
    None
}

fn start_peer() -> Option<(u16, u16)> {
    match Command::new("python3")
        .args(["-c", "import websockets"])
        .output()
    {
        Err(e) => return unavailable(&format!("python3 not found ({e})")),
        Ok(o) if !o.status.success() => {
            return unavailable("the Python package `websockets` is not installed")
        }
        Ok(_) => {}
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peer/envelope_server.py");
    let mut child = Command::new("python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 starts");
    let stdout = child.stdout.take().unwrap();
    *CHILD.lock().unwrap() = Some(child);
    // The first line is "PORT <ws> <http>"; read it off-thread so a broken peer cannot
    // hang us.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the envelope server prints its ports");
    let ports: Vec<u16> = line
        .strip_prefix("PORT ")
        .map(|p| {
            p.split_whitespace()
                .filter_map(|n| n.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    match ports[..] {
        [ws, http] => Some((ws, http)),
        _ => panic!("the envelope server said {line:?}, not its ports"),
    }
}

/// A run id of its own for each test: the server keeps one ledger per run.
fn new_run(name: &str) -> String {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{name}-{}-{}",
        std::process::id(),
        RUNS.fetch_add(1, Ordering::Relaxed)
    )
}

/// The Python application's ledger of `run`.
async fn python_ledger(http: u16, run: &str) -> Ledger {
    let path = format!("/ledger?run={run}");
    let body = within(
        LIMIT,
        "the Python ledger",
        async_std::task::spawn_blocking(move || http_get(http, &path)),
    )
    .await;
    Ledger(serde_json::from_str(&body).expect("the ledger is JSON"))
}

fn http_get(port: u16, path: &str) -> String {
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", port)).expect("the peer listens");
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        tcp,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    tcp.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    body.to_string()
}

/// What the Python server reports of one run.
struct Ledger(Value);

impl Ledger {
    /// Its application's messages: seq → (text, how they came, copies that arrived).
    fn delivered(&self) -> BTreeMap<u64, (String, String, u64)> {
        let map = self.0["delivered"].as_object().expect("delivered");
        map.iter()
            .map(|(seq, v)| {
                (
                    seq.parse().unwrap(),
                    (
                        v["text"].as_str().unwrap().to_string(),
                        v["via"].as_str().unwrap().to_string(),
                        v["copies"].as_u64().unwrap(),
                    ),
                )
            })
            .collect()
    }

    /// Just seq → text.
    fn texts(&self) -> BTreeMap<u64, String> {
        self.delivered()
            .into_iter()
            .map(|(seq, (text, ..))| (seq, text))
            .collect()
    }

    fn numbers(&self, field: &str) -> Vec<u64> {
        self.0[field]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_u64().unwrap())
            .collect()
    }
}

/// The test's own ledger of what it sent: the n-th text sent is numbered n.
fn sent(texts: &[String]) -> BTreeMap<u64, String> {
    (1..).zip(texts.iter().cloned()).collect()
}

fn client_for(url: String) -> ClientBuilder {
    Client::builder(url).config(fast_default())
}

/// As [`client_for`], falling back to `fallback` and staying there for the test (no
/// probe of the WebSocket: a probe would change the carrier and resend meanwhile).
fn falling_back(url: String, fallback: String) -> ClientBuilder {
    let mut config = fast_default();
    config.fallback.reprobe_after = None;
    Client::builder(url)
        .config(config)
        .fallback_url(fallback)
        .acknowledged(AckOptions::json_envelope())
}

async fn send_all(client: &Client, texts: &[String]) {
    for t in texts {
        within(LIMIT, "send", client.send(t.clone()))
            .await
            .expect("accepted");
    }
}

async fn settled(client: &Client) {
    assert!(
        within(LIMIT, "every message acknowledged", client.settled()).await,
        "the client stopped before everything was acknowledged"
    );
    assert_eq!(client.unacknowledged(), 0);
}

/// Every event until the driver ends (close first).
async fn rest(events: redial::driver::Events) -> Vec<ClientEvent> {
    within(LIMIT, "the events' end", events.collect()).await
}

fn handed_back(events: &[ClientEvent]) -> Vec<(Option<u64>, Message)> {
    events
        .iter()
        .filter_map(|e| match e {
            ClientEvent::Undelivered(m) => Some((None, m.clone())),
            ClientEvent::Unanswered { message, .. } => Some((None, message.clone())),
            ClientEvent::Unacknowledged { seq, message } => Some((Some(*seq), message.clone())),
            _ => None,
        })
        .collect()
}

fn resent(events: &[ClientEvent]) -> Vec<(usize, String)> {
    events
        .iter()
        .filter_map(|e| match e {
            ClientEvent::Resent { messages, cause } => Some((*messages, cause.clone())),
            _ => None,
        })
        .collect()
}

fn texts(prefix: &str, n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("{prefix}{i}")).collect()
}

#[async_std::test]
async fn a_python_server_that_resets_after_reading_half_gets_every_message_exactly_once() {
    let Some((ws, http)) = peer() else { return };
    const N: usize = 10;
    let run = new_run("reset-half");
    let url = format!("ws://127.0.0.1:{ws}/reset-half?run={run}&n={N}");
    let (client, events) = spawn(client_for(url).acknowledged(AckOptions::json_envelope()));
    let mine = texts("m", N);
    send_all(&client, &mine).await;
    settled(&client).await;
    close_in_time(&client).await;
    let events = rest(events).await;
    let theirs = python_ledger(http, &run).await;
    // The Python application has every message, under the number it was sent with.
    assert_eq!(theirs.texts(), sent(&mine), "{:#}", theirs.0);
    // Half of them arrived twice: read (and delivered) before the reset, unacknowledged,
    // written again on the second connection and dropped there as duplicates.
    let twice = theirs.delivered().values().filter(|d| d.2 > 1).count();
    assert!(twice >= N / 2, "{:#}", theirs.0);
    assert!(theirs.delivered().values().all(|d| d.1 == "ws"));
    assert_eq!(theirs.0["connections"], 2, "{:#}", theirs.0);
    let resends = resent(&events);
    assert!(!resends.is_empty(), "no Resent event: {events:#?}");
    assert!(resends[0].0 >= N / 2, "{resends:?}");
    assert!(resends[0].1.contains("connection ended"), "{resends:?}");
    assert_eq!(handed_back(&events), []);
}

#[async_std::test]
async fn the_python_servers_own_messages_reach_the_application_once_resumed_by_the_dial_hook() {
    let Some((ws, http)) = peer() else { return };
    const TOTAL: usize = 6;
    let run = new_run("stream");
    // The server sends s1..s3, waits for the client's acknowledgement of 3, resets; the
    // next connection resumes from the dial's `after=` with two messages of overlap.
    let url = format!("ws://127.0.0.1:{ws}/ws?run={run}&total={TOTAL}&cut=3&overlap=2");
    let hooked = client_for(url)
        .acknowledged(AckOptions::json_envelope())
        .before_dial(|ctx| match ctx.resume_from {
            Some(id) => DialExtras::default().query("after", id.to_string()),
            None => DialExtras::default(),
        });
    let (client, events, messages) = spawn_with_messages(hooked);
    let got: Vec<Message> = within(
        LIMIT,
        "the server's messages",
        messages.take(TOTAL).collect(),
    )
    .await;
    close_in_time(&client).await;
    let events = rest(events).await;
    // The test's ledger of what the application received: each once, in order.
    let want: Vec<Message> = texts("s", TOTAL).into_iter().map(Message::from).collect();
    assert_eq!(got, want);
    let dups: Vec<(u64, u64)> = events
        .iter()
        .filter_map(|e| match e {
            ClientEvent::DuplicateDropped { id, total } => Some((*id, *total)),
            _ => None,
        })
        .collect();
    assert_eq!(dups, [(2, 1), (3, 2)], "{events:#?}");
    let theirs = python_ledger(http, &run).await;
    let dials = theirs.0["dials"].as_array().unwrap();
    assert_eq!(dials.len(), 2, "{:#}", theirs.0);
    assert_eq!(dials[0]["after"], Value::Null);
    // Where the client said it stood, by the dial hook: 3, the highest contiguous id.
    assert_eq!(dials[1]["after"], "3", "{:#}", theirs.0);
    assert_eq!(dials[1]["source"], "after");
    assert_eq!(dials[1]["resume"], 1);
    assert!(theirs.numbers("client_acks").contains(&3), "{:#}", theirs.0);
    assert_eq!(handed_back(&events), []);
}

#[async_std::test]
async fn without_a_dial_hook_the_python_server_resumes_from_the_clients_acknowledgement() {
    let Some((ws, http)) = peer() else { return };
    const TOTAL: usize = 5;
    let run = new_run("stream-ack");
    // No `after=`: the server resumes after the highest `{"ack": n}` the client sent.
    let url = format!("ws://127.0.0.1:{ws}/ws?run={run}&total={TOTAL}&cut=2");
    let (client, events, messages) =
        spawn_with_messages(client_for(url).acknowledged(AckOptions::json_envelope()));
    let got: Vec<Message> = within(
        LIMIT,
        "the server's messages",
        messages.take(TOTAL).collect(),
    )
    .await;
    close_in_time(&client).await;
    let events = rest(events).await;
    let want: Vec<Message> = texts("s", TOTAL).into_iter().map(Message::from).collect();
    assert_eq!(got, want);
    let dups = events
        .iter()
        .filter(|e| matches!(e, ClientEvent::DuplicateDropped { .. }))
        .count();
    assert_eq!(dups, 0, "{events:#?}");
    let theirs = python_ledger(http, &run).await;
    let dials = theirs.0["dials"].as_array().unwrap();
    assert_eq!(dials.len(), 2, "{:#}", theirs.0);
    assert_eq!(dials[1]["after"], Value::Null);
    assert_eq!(dials[1]["source"], "ack");
    assert_eq!(dials[1]["resume"], 2, "{:#}", theirs.0);
    assert_eq!(handed_back(&events), []);
}

#[async_std::test]
async fn over_the_fallback_the_sse_response_acknowledges_and_last_event_id_resumes() {
    let Some((ws, http)) = peer() else { return };
    const N: usize = 4;
    const EMIT: usize = 3;
    let run = new_run("fallback");
    // The WebSocket closes with 1008 at once: the client falls back to the HTTP side.
    let url = format!("ws://127.0.0.1:{ws}/refuse?run={run}");
    let fallback = format!("http://127.0.0.1:{http}/sse?run={run}&emit={EMIT}");
    let (client, mut events, messages) = spawn_with_messages(falling_back(url, fallback));
    let mine = texts("m", N);
    send_all(&client, &mine).await;
    until_kind(&mut events, "fell_back").await;
    settled(&client).await;
    let got: Vec<Message> = within(
        LIMIT,
        "the server's messages",
        messages.take(EMIT).collect(),
    )
    .await;
    close_in_time(&client).await;
    let events = rest(events).await;
    assert_eq!(handed_back(&events), []);
    let theirs = python_ledger(http, &run).await;
    // Every message reached the Python application once, over HTTP, acknowledged in
    // the SSE responses (settled above).
    assert_eq!(theirs.texts(), sent(&mine), "{:#}", theirs.0);
    assert!(theirs.delivered().values().all(|d| d.1 == "http"));
    // The server's numbered events reached the application once each.
    let want: Vec<Message> = texts("s", EMIT).into_iter().map(Message::from).collect();
    assert_eq!(got, want);
    // Each POST carried the last `id:` the server had sent before it.
    let posts = theirs.0["posts"].as_array().unwrap();
    assert!(posts.len() >= N, "{:#}", theirs.0);
    let mut last: Option<u64> = None;
    for (i, post) in posts.iter().enumerate() {
        let expected = last.map(|id| id.to_string());
        assert_eq!(
            post["last_event_id"].as_str().map(String::from),
            expected,
            "POST {i}: {:#}",
            theirs.0
        );
        let ids = post["sent"].as_array().unwrap();
        if let Some(id) = ids.iter().filter_map(Value::as_u64).max() {
            last = Some(id);
        }
    }
    assert_eq!(last, Some(EMIT as u64));
    assert!(
        posts
            .iter()
            .any(|p| p["last_event_id"].as_str() == Some(EMIT.to_string().as_str())),
        "{:#}",
        theirs.0
    );
}

/// `/flaky-ack`: the Python application loses the first copy of each odd message and
/// acknowledges the rest truthfully, amid duplicate acknowledgements, acknowledgements
/// of ids never assigned (u64::MAX among them) and malformed ones.
fn flaky(ws: u16, run: &str, fence: usize) -> String {
    format!("ws://127.0.0.1:{ws}/flaky-ack?run={run}&fence={fence}")
}

#[async_std::test]
async fn flaky_acknowledgements_free_only_what_the_python_ledger_holds() {
    let Some((ws, http)) = peer() else { return };
    const N: usize = 6;
    let run = new_run("flaky-fence");
    // The default timeout (10 s): nothing is resent while the test looks.
    let (client, events, mut messages) = spawn_with_messages(
        client_for(flaky(ws, &run, N)).acknowledged(AckOptions::json_envelope()),
    );
    let mine = texts("m", N);
    send_all(&client, &mine).await;
    // The fence comes after every acknowledgement of the first copies, on one socket.
    let fence = within(LIMIT, "the fence", messages.next()).await;
    assert_eq!(fence, Some(Message::from("fence")));
    let theirs = python_ledger(http, &run).await;
    let held = theirs.texts();
    let lost: BTreeMap<u64, String> = sent(&mine)
        .into_iter()
        .filter(|(seq, _)| !held.contains_key(seq))
        .collect();
    assert_eq!(theirs.numbers("lost_once"), [1, 3, 5], "{:#}", theirs.0);
    assert_eq!(lost.keys().copied().collect::<Vec<_>>(), [1, 3, 5]);
    // Held for acknowledgement: exactly what the Python ledger lacks.
    assert_eq!(client.unacknowledged(), lost.len());
    close_in_time(&client).await;
    let events = rest(events).await;
    let back: BTreeMap<u64, String> = handed_back(&events)
        .into_iter()
        .map(|(seq, m)| {
            let seq = seq.expect("handed back as written, not acknowledged");
            (seq, m.as_text().unwrap().to_string())
        })
        .collect();
    assert_eq!(back, lost, "{events:#?}");
}

#[async_std::test]
async fn flaky_acknowledgements_with_resends_end_with_every_message_in_the_python_ledger_once() {
    let Some((ws, http)) = peer() else { return };
    const N: usize = 6;
    let run = new_run("flaky-resend");
    let options = AckOptions::json_envelope()
        .ack_timeout(Duration::from_millis(300))
        .on_ack_timeout(AckTimeoutAction::Resend);
    let (client, events) = spawn(client_for(flaky(ws, &run, 0)).acknowledged(options));
    let mine = texts("m", N);
    send_all(&client, &mine).await;
    settled(&client).await;
    // Settled means acknowledged: the Python ledger has every message, once.
    let theirs = python_ledger(http, &run).await;
    close_in_time(&client).await;
    let events = rest(events).await;
    assert_eq!(theirs.texts(), sent(&mine), "{:#}", theirs.0);
    assert_eq!(theirs.numbers("lost_once"), [1, 3, 5], "{:#}", theirs.0);
    let overdue = events
        .iter()
        .filter(|e| matches!(e, ClientEvent::AckOverdue { .. }))
        .count();
    assert!(overdue >= 1, "{events:#?}");
    let resends = resent(&events);
    assert!(
        resends
            .iter()
            .any(|r| r.1.contains("no acknowledgement within")),
        "{resends:?}"
    );
    assert_eq!(handed_back(&events), []);
}

#[async_std::test]
async fn what_the_websocket_read_unacknowledged_is_resent_over_the_fallback_or_freed_by_a_cumulative_ack(
) {
    let Some((ws, http)) = peer() else { return };
    const N: usize = 4;
    let run = new_run("fallback-resend");
    // The WebSocket reads two messages (they reach the application), acknowledges
    // neither, and closes with 1008: the client falls back.
    let url = format!("ws://127.0.0.1:{ws}/refuse?run={run}&read=2");
    let fallback = format!("http://127.0.0.1:{http}/sse?run={run}");
    let (client, mut events) = spawn(falling_back(url, fallback));
    let mine = texts("m", N);
    send_all(&client, &mine).await;
    until_kind(&mut events, "fell_back").await;
    settled(&client).await;
    close_in_time(&client).await;
    let events = rest(events).await;
    let theirs = python_ledger(http, &run).await;
    assert_eq!(theirs.texts(), sent(&mine), "{:#}", theirs.0);
    let delivered = theirs.delivered();
    // The two read on the WebSocket reached the application there, once.
    assert_eq!(delivered[&1].1, "ws", "{:#}", theirs.0);
    assert_eq!(delivered[&2].1, "ws", "{:#}", theirs.0);
    // The first was resent over HTTP (a second copy, dropped by the server), and the
    // SSE response's cumulative acknowledgement ({"ack": 2}: the server's application
    // has 1 and 2) freed the second before its turn (one POST at a time): not resent.
    assert_eq!(delivered[&1].2, 2, "{:#}", theirs.0);
    assert_eq!(delivered[&2].2, 1, "{:#}", theirs.0);
    let bodies: Vec<&str> = theirs.0["posts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["body"].as_str().unwrap())
        .collect();
    assert_eq!(
        bodies,
        [
            r#"{"seq":1,"text":"m1"}"#,
            r#"{"seq":3,"text":"m3"}"#,
            r#"{"seq":4,"text":"m4"}"#
        ],
        "{:#}",
        theirs.0
    );
    assert!(!resent(&events).is_empty(), "{events:#?}");
    assert_eq!(handed_back(&events), []);
}

#[async_std::test]
async fn acknowledgements_riding_on_the_servers_numbered_messages_free_and_deliver() {
    let Some((ws, http)) = peer() else { return };
    const N: usize = 5;
    let run = new_run("ride");
    let url = format!("ws://127.0.0.1:{ws}/ws?run={run}&ride=1");
    let (client, events, messages) =
        spawn_with_messages(client_for(url).acknowledged(AckOptions::json_envelope()));
    let mine = texts("m", N);
    send_all(&client, &mine).await;
    settled(&client).await;
    let got: Vec<Message> = within(LIMIT, "the replies", messages.take(N).collect()).await;
    close_in_time(&client).await;
    let events = rest(events).await;
    let theirs = python_ledger(http, &run).await;
    assert_eq!(theirs.texts(), sent(&mine), "{:#}", theirs.0);
    let want: Vec<Message> = texts("r", N).into_iter().map(Message::from).collect();
    assert_eq!(got, want);
    assert_eq!(handed_back(&events), []);
}

/// The envelope numbers from 1 on both sides (0 means "none", as in `{"ack": 0}`): a
/// server that numbers from 0 has its message 0 dropped, and the drop is reported, not
/// silent (found by this peer, which followed an earlier text that did not say so).
#[async_std::test]
async fn a_server_that_numbers_from_zero_has_its_zero_dropped_and_reported() {
    let Some((ws, _http)) = peer() else { return };
    const TOTAL: usize = 3;
    let run = new_run("from-zero");
    // Numbered 0, 1, 2 (texts s1, s2, s3), on one connection.
    let url = format!("ws://127.0.0.1:{ws}/ws?run={run}&total={TOTAL}&first=0");
    let (client, events, mut messages) =
        spawn_with_messages(client_for(url).acknowledged(AckOptions::json_envelope()));
    let last = Message::from(format!("s{TOTAL}"));
    let mut got = Vec::new();
    while got.last() != Some(&last) {
        match within(LIMIT, "the server's last message", messages.next()).await {
            Some(m) => got.push(m),
            None => break,
        }
    }
    close_in_time(&client).await;
    let events = rest(events).await;
    let want: Vec<Message> = texts("s", TOTAL)
        .into_iter()
        .skip(1)
        .map(Message::from)
        .collect();
    assert_eq!(got, want, "{events:#?}");
    let dropped: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            ClientEvent::DuplicateDropped { id, total } => Some((*id, *total)),
            _ => None,
        })
        .collect();
    assert_eq!(dropped, [(0, 1)]);
}

#[async_std::test]
async fn across_websocket_fallback_and_websocket_again_both_ways_arrive_once() {
    let Some((ws, http)) = peer() else { return };
    let run = new_run("flip");
    // The first connection reads two messages unacknowledged and closes with 1008; the
    // fallback releases the server's s1..s3 (one per POST, with `id:`); the quiet
    // probe comes back to a WebSocket that resumes the server's stream (s4, s5) after
    // the dial hook's `after=`.
    let url = format!("ws://127.0.0.1:{ws}/flip?run={run}&read=2&total=5");
    let fallback = format!("http://127.0.0.1:{http}/sse?run={run}&emit=3");
    let config = fast_default();
    assert!(config.fallback.reprobe_after.is_some());
    let hooked = Client::builder(url)
        .config(config)
        .fallback_url(fallback)
        .acknowledged(AckOptions::json_envelope())
        .before_dial(|ctx| match ctx.resume_from {
            Some(id) => DialExtras::default().query("after", id.to_string()),
            None => DialExtras::default(),
        });
    let (client, mut events, mut messages) = spawn_with_messages(hooked);
    let mine = texts("m", 8);
    send_all(&client, &mine[..4]).await;
    until_kind(&mut events, "fell_back").await;
    settled(&client).await;
    let mut got: Vec<Message> = Vec::new();
    for _ in 0..3 {
        got.extend(within(LIMIT, "s1..s3", messages.next()).await);
    }
    until_kind(&mut events, "recovered").await;
    send_all(&client, &mine[4..]).await;
    settled(&client).await;
    for _ in 0..2 {
        got.extend(within(LIMIT, "s4, s5", messages.next()).await);
    }
    close_in_time(&client).await;
    let events = rest(events).await;
    assert_eq!(handed_back(&events), []);
    let want: Vec<Message> = texts("s", 5).into_iter().map(Message::from).collect();
    assert_eq!(got, want);
    let theirs = python_ledger(http, &run).await;
    assert_eq!(theirs.texts(), sent(&mine), "{:#}", theirs.0);
    let via: Vec<String> = theirs.delivered().values().map(|d| d.1.clone()).collect();
    assert_eq!(
        via,
        ["ws", "ws", "http", "http", "ws", "ws", "ws", "ws"],
        "{:#}",
        theirs.0
    );
    let dials = theirs.0["dials"].as_array().unwrap();
    assert_eq!(dials.len(), 2, "{:#}", theirs.0);
    assert_eq!(dials[1]["after"], "3", "{:#}", theirs.0);
}
