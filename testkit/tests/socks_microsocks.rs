//! Issue 27: both transports through a SOCKS5 server nobody here wrote, Debian's
//! `microsocks` (`.ci/run` installs it with apt-get), with and without RFC 1929
//! credentials, as `socks5h://` and `socks5://`; a wrong password stops at once.
//!
//! Without `microsocks` on the PATH the tests fail under `CI=true` and are skipped with
//! a message otherwise (`apt-get install microsocks`).

mod driver_support;

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use driver_support::*;
use futures_lite::StreamExt;
use redial::driver::{Client, Message, ProxyRules};
use redial::policy::Class;
use redial_testkit::{echo_responder, Act, Behavior, SseServer, TestCert, WsServer};

/// A running `microsocks`, killed when dropped.
struct Microsocks {
    child: Child,
    port: u16,
}

impl Drop for Microsocks {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start `microsocks` on a free loopback port (with `-u user -P password` when given)
/// and wait until it accepts connections; `None` (after saying why) without it.
fn microsocks(credentials: Option<(&str, &str)>) -> Option<Microsocks> {
    if Command::new("microsocks").arg("-h").output().is_err() {
        let why = "microsocks is not installed; install it with: apt-get install microsocks";
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("microsocks is required in CI: {why}");
        }
        let _ = writeln!(std::io::stderr(), "SKIPPED: {why}");
        return None;
    }
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut cmd = Command::new("microsocks");
    cmd.args(["-i", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some((user, password)) = credentials {
        cmd.args(["-u", user, "-P", password]);
    }
    let child = cmd.spawn().expect("microsocks starts");
    let server = Microsocks { child, port };
    // Until it listens: each try is a real connect, not a sleep.
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "microsocks did not listen");
        std::thread::yield_now();
    }
    Some(server)
}

fn echo() -> Behavior {
    Behavior::Accept(vec![Act::Respond(Arc::new(echo_responder))])
}

async fn ask(client: &Client) {
    let stream = client.request("hello microsocks").await.expect("queued");
    let items: Vec<_> = within(Duration::from_secs(10), "the response", stream.collect()).await;
    assert!(
        matches!(items.last(), Some(Ok(Message::Text(t))) if t.contains("response.completed")),
        "{items:?}"
    );
}

#[async_std::test]
async fn wss_through_microsocks_with_credentials_as_socks5h_and_socks5() {
    let Some(socks) = microsocks(Some(("alice", "s3cr3t"))) else {
        return;
    };
    let cert = TestCert::localhost();
    let ws = WsServer::start_tls(&cert, |_| echo()).await.unwrap();
    for scheme in ["socks5h", "socks5"] {
        let url = format!("{scheme}://alice:s3cr3t@127.0.0.1:{}", socks.port);
        let b = builder(&ws, &cert, fast_default()).proxy(ProxyRules::explicit(&url).unwrap());
        let (client, mut events) = spawn(b);
        let seen = until_kind(&mut events, "connected").await;
        assert_eq!(count(&seen, "handshake_failed"), 0, "{scheme}: {seen:#?}");
        ask(&client).await;
        client.close().await;
    }
    assert_eq!(ws.upgrades(), 2);
}

#[async_std::test]
async fn the_fallback_goes_through_microsocks() {
    let Some(socks) = microsocks(None) else {
        return;
    };
    let cert = TestCert::localhost();
    let ws = WsServer::start(|_| {
        Behavior::Accept(vec![Act::Close {
            code: Some(1008),
            reason: String::new(),
        }])
    })
    .await
    .unwrap();
    let sse = SseServer::start(&cert, echo_responder).await.unwrap();
    let url = format!("socks5h://127.0.0.1:{}", socks.port);
    let b = Client::builder(ws.url())
        .config(fast_default())
        .root_certificate(cert.cert_der.clone())
        .fallback_url(sse.url())
        .proxy(ProxyRules::explicit(&url).unwrap());
    let (client, mut events) = spawn(b);
    until_kind(&mut events, "fell_back").await;
    ask(&client).await;
    assert_eq!(sse.requests().len(), 1);
    client.close().await;
}

#[async_std::test]
async fn a_wrong_password_for_microsocks_stops_at_once() {
    let Some(socks) = microsocks(Some(("alice", "right"))) else {
        return;
    };
    let ws = WsServer::start(|_| echo()).await.unwrap();
    let url = format!("socks5h://alice:wrong-pw@127.0.0.1:{}", socks.port);
    let b = Client::builder(ws.url())
        .config(fast_default())
        .proxy(ProxyRules::explicit(&url).unwrap());
    let (_client, mut events) = spawn(b);
    let seen = until_kind(&mut events, "gave_up").await;
    let failure = seen
        .iter()
        .find_map(|e| match e {
            redial::core::Event::HandshakeFailed { failure } => Some(failure.clone()),
            _ => None,
        })
        .expect("a failed dial");
    assert_eq!(failure.class(), Class::ProxyAuth, "{failure}");
    // microsocks answers a wrong password with RFC 1929 status 2.
    assert!(failure.to_string().contains("(status 2)"), "{failure}");
    let cause = cause_of(&seen, "gave_up");
    assert!(
        cause.contains("check the user and password in the proxy URL")
            && !cause.contains("wrong-pw"),
        "{cause}"
    );
    assert_eq!(count(&seen, "dial"), 1);
    assert_eq!(ws.connections(), 0);
}

/// microsocks answers a target that refuses the connection with reply 5: retried.
#[async_std::test]
async fn a_target_refusing_behind_microsocks_is_retried() {
    let Some(socks) = microsocks(None) else {
        return;
    };
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let mut config = fast_default();
    config.budget.max_attempts = 2;
    let url = format!("socks5h://127.0.0.1:{}", socks.port);
    let b = Client::builder(format!("ws://{closed}/"))
        .config(config)
        .proxy(ProxyRules::explicit(&url).unwrap());
    let (_client, mut events) = spawn(b);
    let seen = until_kind(&mut events, "gave_up").await;
    let retry = cause_of(&seen, "retry");
    assert!(
        retry.contains(&format!(
            "the proxy 127.0.0.1:{} answered the SOCKS5 CONNECT to {closed} with \"connection \
             refused\" (reply 5)",
            socks.port
        )),
        "{retry}"
    );
    assert_eq!(count(&seen, "dial"), 2, "retried until the budget ran out");
}
