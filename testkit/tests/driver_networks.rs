//! Issue 14, networks as users have them: Happy Eyeballs (RFC 8305) over several
//! addresses on both transports (a black-holed first address costs one stagger, not the
//! connect timeout; every address's failure is kept for the cause), a redirect on the
//! upgrade is not followed and is named, the fallback's `Host` keeps IPv6 brackets and
//! a user-set `Host` is used once, and a custom connector gets TLS on top for `wss`.
//!
//! The black hole is a seam, not the network: a TCP connector that never completes for
//! one address (on loopback, a listener that never accepts still completes the TCP
//! handshake, so it is no black hole).

mod driver_support;

use std::net::{Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_net::TcpStream;
use driver_support::*;
use futures_lite::StreamExt;
use redial::config::Transport;
use redial::driver::{Client, ClientBuilder, ProxyRules};
use redial::Event;
use redial_testkit::{echo_responder, Act, Behavior, SseServer, TestCert, WsServer};

/// The address whose connection attempts never complete.
fn black_hole() -> SocketAddr {
    (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1), 443).into()
}

const STAGGER: Duration = Duration::from_millis(100);
/// Scheduling and a loopback connect, on a loaded 2-core machine.
const MARGIN: Duration = Duration::from_millis(400);

/// A client whose resolver gives the black hole first and then `real`, and whose TCP
/// connector records every address it is asked for.
fn eyeballs(url: &str, real: SocketAddr, tried: Arc<Mutex<Vec<SocketAddr>>>) -> ClientBuilder {
    let mut c = fast_default();
    c.timeouts.connect = Duration::from_secs(10);
    c.timeouts.connection_attempt_delay = STAGGER;
    c.fallback.connect_timeout = Duration::from_secs(10);
    Client::builder(url)
        .config(c)
        .proxy(ProxyRules::none())
        .resolver(move |_host, _port| async move { Ok(vec![black_hole(), real]) })
        .tcp_connector(move |addr| {
            tried.lock().unwrap().push(addr);
            async move {
                if addr == black_hole() {
                    std::future::pending::<()>().await;
                }
                TcpStream::connect(addr).await
            }
        })
}

#[async_std::test]
async fn a_black_holed_first_address_costs_the_websocket_one_stagger() {
    let ws = WsServer::start(|_| Behavior::Accept(vec![Act::Hold]))
        .await
        .unwrap();
    let tried = Arc::new(Mutex::new(Vec::new()));
    let b = eyeballs("ws://dual.test/", ws.addr(), tried.clone());
    let (client, mut events) = spawn(b);
    let seen = until_kind(&mut events, "connected").await;
    let took = seen
        .iter()
        .find_map(|e| match e {
            Event::Connected { took, .. } => Some(*took),
            _ => None,
        })
        .unwrap();
    eprintln!("websocket: connected {took:?} after the dial started (stagger {STAGGER:?})");
    assert!(
        took >= STAGGER,
        "{took:?}: the second address waits for the stagger"
    );
    assert!(
        took < STAGGER + MARGIN,
        "{took:?}: not the connect timeout (10 s)"
    );
    assert_eq!(*tried.lock().unwrap(), [black_hole(), ws.addr()]);
    assert_eq!(count(&seen, "handshake_failed"), 0);
    client.close().await;
}

#[async_std::test]
async fn a_black_holed_first_address_costs_the_fallback_one_stagger() {
    let cert = TestCert::localhost();
    let sse = SseServer::start(&cert, echo_responder).await.unwrap();
    let tried = Arc::new(Mutex::new(Vec::new()));
    let mut b = eyeballs("ws://dual.test/", sse.addr(), tried.clone())
        .root_certificate(cert.cert_der.clone())
        .fallback_url(sse.url());
    let mut c = fast_default();
    c.transport = Transport::Https;
    c.timeouts.connection_attempt_delay = STAGGER;
    c.fallback.connect_timeout = Duration::from_secs(10);
    b = b.config(c);
    let (client, _events) = spawn(b);
    let start = Instant::now();
    let mut stream = client.request("hello").await.unwrap();
    let first = within(Duration::from_secs(5), "the first item", stream.next()).await;
    let took = start.elapsed();
    assert!(matches!(first, Some(Ok(_))), "{first:?}");
    eprintln!("fallback: first item {took:?} after the request (stagger {STAGGER:?})");
    assert!(took >= STAGGER, "{took:?}");
    assert!(
        took < STAGGER + MARGIN,
        "{took:?}: not the connect timeout (10 s)"
    );
    assert_eq!(*tried.lock().unwrap(), [black_hole(), sse.addr()]);
    client.close().await;
}

#[async_std::test]
async fn every_address_failure_is_in_the_cause() {
    let closed: Vec<SocketAddr> = (0..2)
        .map(|_| {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        })
        .collect();
    let mut c = fast_default();
    c.budget.max_attempts = 1;
    let addrs = closed.clone();
    let b = Client::builder("ws://dual.test/")
        .config(c)
        .proxy(ProxyRules::none())
        .resolver(move |_, _| {
            let addrs = addrs.clone();
            async move { Ok(addrs) }
        });
    let (_client, mut events) = spawn(b);
    let seen = until_kind(&mut events, "gave_up").await;
    let cause = cause_of(&seen, "gave_up");
    assert!(cause.contains("every address failed"), "{cause}");
    for addr in &closed {
        assert!(cause.contains(&addr.to_string()), "{addr} in {cause}");
    }
}

#[async_std::test]
async fn a_redirect_is_not_followed_and_names_status_and_location() {
    let ws = WsServer::start(|_| Behavior::Reject {
        status: 301,
        headers: vec![(
            "Location".into(),
            "wss://elsewhere.test/v2?token=sk-secret".into(),
        )],
    })
    .await
    .unwrap();
    let b = Client::builder(ws.url())
        .config(fast_default())
        .proxy(ProxyRules::none());
    let (_client, mut events) = spawn(b);
    let seen = until_kind(&mut events, "gave_up").await;
    let cause = cause_of(&seen, "gave_up");
    assert!(
        cause.contains(
            "answered the upgrade with HTTP 301 (Moved Permanently) to Location \
             wss://elsewhere.test/v2?<redacted>, a redirect, which is not followed"
        ),
        "{cause}"
    );
    assert!(!cause.contains("sk-secret"), "{cause}");
    assert_eq!(ws.connections(), 1, "not followed, not retried");
}

/// Whether this machine has an IPv6 loopback.
fn ipv6_loopback() -> bool {
    std::net::TcpListener::bind("[::1]:0").is_ok()
}

#[async_std::test]
async fn an_ipv6_fallback_url_keeps_its_brackets_in_host_and_a_user_host_is_used_once() {
    if !ipv6_loopback() {
        eprintln!("skipped: no IPv6 loopback (::1) on this machine");
        return;
    }
    let cert = TestCert::localhost();
    let sse = SseServer::start_on(Ipv6Addr::LOCALHOST.into(), &cert, echo_responder)
        .await
        .unwrap();
    let url = sse.url();
    assert!(url.starts_with("https://[::1]:"), "{url}");
    let mut c = fast_default();
    c.transport = Transport::Https;
    let b = Client::builder("ws://unused.test/")
        .config(c.clone())
        .proxy(ProxyRules::none())
        .root_certificate(cert.cert_der.clone())
        .fallback_url(url.clone());
    let (client, _events) = spawn(b);
    let mut stream = client.request("over v6").await.unwrap();
    let first = within(Duration::from_secs(5), "the first item", stream.next()).await;
    assert!(matches!(first, Some(Ok(_))), "{first:?}");
    let hosts = |i: usize| -> Vec<String> {
        sse.requests()[i]
            .0
            .iter()
            .filter(|(n, _)| n == "host")
            .map(|(_, v)| v.clone())
            .collect()
    };
    assert_eq!(hosts(0), [format!("[::1]:{}", sse.addr().port())]);
    client.close().await;

    let b = Client::builder("ws://unused.test/")
        .config(c)
        .proxy(ProxyRules::none())
        .root_certificate(cert.cert_der.clone())
        .header("Host", "api.example.test")
        .fallback_url(url);
    let (client, _events) = spawn(b);
    let mut stream = client.request("again").await.unwrap();
    let first = within(Duration::from_secs(5), "the first item", stream.next()).await;
    assert!(matches!(first, Some(Ok(_))), "{first:?}");
    assert_eq!(hosts(1), ["api.example.test"]);
    client.close().await;
}

#[async_std::test]
async fn a_user_host_replaces_the_upgrades_own() {
    let hosts = Arc::new(Mutex::new(Vec::new()));
    let seen_hosts = hosts.clone();
    let ws = WsServer::start(move |conn| {
        let mine = conn.headers.iter().filter(|(n, _)| n == "host");
        seen_hosts
            .lock()
            .unwrap()
            .extend(mine.map(|(_, v)| v.clone()));
        Behavior::Accept(vec![Act::Hold])
    })
    .await
    .unwrap();
    let b = Client::builder(ws.url())
        .config(fast_default())
        .proxy(ProxyRules::none())
        .header("Host", "api.example.test");
    let (client, mut events) = spawn(b);
    until_kind(&mut events, "connected").await;
    assert_eq!(*hosts.lock().unwrap(), ["api.example.test"]);
    client.close().await;
}

#[async_std::test]
async fn a_custom_connector_gets_tls_on_top_for_wss() {
    let cert = TestCert::localhost();
    let ws = WsServer::start_tls(&cert, |_| Behavior::Accept(vec![Act::Hold]))
        .await
        .unwrap();
    let addr = ws.addr();
    let b = builder(&ws, &cert, fast_default()).connector(move |_| async move {
        TcpStream::connect(addr)
            .await
            .map_err(|e| redial::policy::ReachFailure::Io(e.to_string()))
    });
    let (client, mut events) = spawn(b);
    let seen = until_kind(&mut events, "connected").await;
    assert_eq!(count(&seen, "handshake_failed"), 0, "{seen:#?}");
    client.close().await;
}
