//! Issue 27, SOCKS5: both transports through a SOCKS5 proxy (the testkit's), as
//! `socks5h://` (the proxy resolves the name) and `socks5://` (the client resolves it
//! and races the addresses, one proxy connection each), with RFC 1929 credentials, and
//! each class of SOCKS refusal end to end: refused credentials and "command not
//! supported" stop, "connection refused", "host unreachable" and "TTL expired" are
//! retried. An independent server (Debian's microsocks) is in `socks_microsocks.rs`.

mod driver_support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use driver_support::*;
use futures_lite::StreamExt;
use redial::config::Config;
use redial::core::Event;
use redial::driver::{Client, ClientBuilder, Message, ProxyRules};
use redial::policy::Class;
use redial_testkit::{
    echo_responder, Act, Behavior, SocksAct, SocksProxy, SocksTarget, SseServer, TestCert, WsServer,
};

fn echo() -> Behavior {
    Behavior::Accept(vec![Act::Respond(Arc::new(echo_responder))])
}

fn via(proxy: &str) -> ProxyRules {
    ProxyRules::explicit(proxy).expect("a usable proxy URL")
}

/// One request, answered in full.
async fn ask(client: &Client) {
    let stream = client.request("hello socks").await.expect("queued");
    let items: Vec<_> = within(Duration::from_secs(10), "the response", stream.collect()).await;
    assert!(
        matches!(items.last(), Some(Ok(Message::Text(t))) if t.contains("response.completed")),
        "{items:?}"
    );
}

fn fast_fallback() -> Config {
    let mut c = fast_default();
    let ms = Duration::from_millis;
    c.fallback.connect_timeout = ms(500);
    c.fallback.tls_timeout = ms(500);
    c.fallback.headers_timeout = ms(1000);
    c.fallback.max_failures = 2;
    c
}

fn behind(ws: &WsServer, proxy_url: &str, config: Config) -> ClientBuilder {
    Client::builder(ws.url())
        .config(config)
        .proxy(via(proxy_url))
}

#[async_std::test]
async fn wss_through_socks5h_sends_the_name_and_the_credentials() {
    let cert = TestCert::localhost();
    let ws = WsServer::start_tls(&cert, |_| echo()).await.unwrap();
    let proxy = SocksProxy::with_credentials("alice", "s3cr:et@!")
        .await
        .unwrap();
    let b = builder(&ws, &cert, fast_default()).proxy(via(&proxy.url_with(
        "socks5h",
        "alice",
        "s3cr:et@!",
    )));
    let (client, mut events) = spawn(b);
    let seen = until_kind(&mut events, "connected").await;
    assert_eq!(count(&seen, "handshake_failed"), 0, "{seen:#?}");
    ask(&client).await;
    let requests = proxy.requests();
    assert_eq!(
        requests[0].target,
        SocksTarget::Name("localhost".into(), ws.addr().port()),
        "the proxy resolves the name"
    );
    assert_eq!(
        requests[0].credentials,
        Some(("alice".into(), "s3cr:et@!".into()))
    );
    client.close().await;
}

/// `socks5://`: the client resolves `localhost` itself (here to an address the proxy
/// cannot reach, then the server's) and asks the proxy for each address in turn.
#[async_std::test]
async fn socks5_resolves_in_the_client_and_races_the_addresses() {
    let cert = TestCert::localhost();
    let ws = WsServer::start_tls(&cert, |_| echo()).await.unwrap();
    let port = ws.addr().port();
    let unreachable: SocketAddr = ([192, 0, 2, 1], port).into();
    let proxy = SocksProxy::start(move |r| match r.target {
        SocksTarget::Addr(a) if a == unreachable => SocksAct::Reply(4),
        _ => SocksAct::Relay,
    })
    .await
    .unwrap();
    let b = builder(&ws, &cert, fast_default())
        .proxy(via(&proxy.url("socks5")))
        .resolver(move |host, port| {
            let found = match host.parse::<std::net::IpAddr>() {
                Ok(ip) => vec![SocketAddr::new(ip, port)],
                Err(_) => vec![unreachable, SocketAddr::from(([127, 0, 0, 1], port))],
            };
            async move { Ok(found) }
        });
    let (client, mut events) = spawn(b);
    let seen = until_kind(&mut events, "connected").await;
    assert_eq!(count(&seen, "handshake_failed"), 0, "{seen:#?}");
    ask(&client).await;
    let targets: Vec<SocksTarget> = proxy.requests().into_iter().map(|r| r.target).collect();
    assert_eq!(
        targets,
        [
            SocksTarget::Addr(unreachable),
            SocksTarget::Addr(([127, 0, 0, 1], port).into())
        ]
    );
    assert_eq!(proxy.connections(), 2, "one proxy connection per address");
    client.close().await;
}

#[async_std::test]
async fn the_fallback_goes_through_socks_too() {
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
    let proxy = SocksProxy::start(|_| SocksAct::Relay).await.unwrap();
    let b = behind(&ws, &proxy.url("socks5h"), fast_fallback())
        .root_certificate(cert.cert_der.clone())
        .fallback_url(sse.url());
    let (client, mut events) = spawn(b);
    until_kind(&mut events, "fell_back").await;
    ask(&client).await;
    assert_eq!(sse.requests().len(), 1);
    let targets: Vec<SocksTarget> = proxy.requests().into_iter().map(|r| r.target).collect();
    assert_eq!(
        targets,
        [
            // An IP literal goes as an address, a name as the name.
            SocksTarget::Addr(ws.addr()),
            SocksTarget::Name("localhost".into(), sse.addr().port()),
        ]
    );
    client.close().await;
}

#[async_std::test]
async fn no_proxy_sends_a_listed_host_around_a_socks_proxy() {
    let ws = WsServer::start(|_| echo()).await.unwrap();
    let proxy = SocksProxy::start(|_| SocksAct::Relay).await.unwrap();
    let vars = [
        ("ALL_PROXY".to_string(), proxy.url("socks5h")),
        ("NO_PROXY".to_string(), "127.0.0.1".to_string()),
    ];
    let rules =
        ProxyRules::from_vars(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
            .unwrap();
    let (client, _events) = spawn(
        Client::builder(ws.url())
            .config(fast_default())
            .proxy(rules),
    );
    ask(&client).await;
    assert_eq!(proxy.connections(), 0);
    client.close().await;
}

/// The client gives up after one dial, with a cause that contains every needle and
/// never the password; the class of the failure is `class`.
async fn stops_at_once(proxy_url: &str, class: Class, needles: &[&str]) {
    let cert = TestCert::localhost();
    let ws = WsServer::start(|_| echo()).await.unwrap();
    let sse = SseServer::start(&cert, echo_responder).await.unwrap();
    let b = behind(&ws, proxy_url, fast_fallback())
        .root_certificate(cert.cert_der.clone())
        .fallback_url(sse.url());
    let (_client, mut events) = spawn(b);
    let seen = until_kind(&mut events, "gave_up").await;
    let failed = seen
        .iter()
        .find_map(|e| match e {
            Event::HandshakeFailed { failure } => Some(failure.class()),
            _ => None,
        })
        .expect("a failed dial");
    assert_eq!(failed, class, "{seen:#?}");
    let cause = cause_of(&seen, "gave_up");
    for needle in needles {
        assert!(cause.contains(needle), "{needle:?} not in {cause:?}");
    }
    assert!(!cause.contains("wrong-pw"), "{cause}");
    assert_eq!(count(&seen, "dial"), 1, "no retry");
    assert_eq!(count(&seen, "fell_back"), 0, "no fall-back through it");
    assert_eq!(ws.connections(), 0);
    assert_eq!(sse.requests().len(), 0);
}

#[async_std::test]
async fn refused_credentials_stop_naming_the_user_and_password() {
    let proxy = SocksProxy::with_credentials("alice", "right")
        .await
        .unwrap();
    stops_at_once(
        &proxy.url_with("socks5h", "alice", "wrong-pw"),
        Class::ProxyAuth,
        &[
            &format!(
                "the proxy {} refused the SOCKS5 user and password (status 1): check the user \
                 and password in the proxy URL",
                proxy.addr()
            ),
            "the proxy refused its credentials",
        ],
    )
    .await;
    // Without credentials, a proxy that wants them accepts no method.
    stops_at_once(
        &proxy.url("socks5h"),
        Class::ProxyAuth,
        &["accepted no SOCKS5 connection without authentication"],
    )
    .await;
    let refusing = SocksProxy::refusing_every_method().await.unwrap();
    stops_at_once(
        &refusing.url_with("socks5h", "alice", "wrong-pw"),
        Class::ProxyAuth,
        &["accepted none of the SOCKS5 authentication methods offered"],
    )
    .await;
}

#[async_std::test]
async fn command_and_address_type_not_supported_stop_and_say_so() {
    let proxy = SocksProxy::start(|_| SocksAct::Reply(7)).await.unwrap();
    stops_at_once(
        &proxy.url("socks5h"),
        Class::ProxyUnsupported,
        &[
            "with \"command not supported\" (reply 7): the proxy does not carry TCP connections",
            "the proxy cannot carry this connection",
        ],
    )
    .await;
    let proxy = SocksProxy::start(|_| SocksAct::Reply(8)).await.unwrap();
    stops_at_once(
        &proxy.url("socks5h"),
        Class::ProxyUnsupported,
        &["\"address type not supported\" (reply 8)"],
    )
    .await;
}

#[async_std::test]
async fn refused_unreachable_and_expired_replies_are_retried() {
    for (code, words) in [
        (1, "\"general SOCKS server failure\" (reply 1)"),
        (3, "\"network unreachable\" (reply 3)"),
        (4, "\"host unreachable\" (reply 4)"),
        (5, "\"connection refused\" (reply 5)"),
        (6, "\"TTL expired\" (reply 6)"),
    ] {
        let ws = WsServer::start(|_| echo()).await.unwrap();
        let proxy = SocksProxy::start(move |r| match r.index {
            1 => SocksAct::Reply(code),
            _ => SocksAct::Relay,
        })
        .await
        .unwrap();
        let (client, mut events) = spawn(behind(&ws, &proxy.url("socks5h"), fast_default()));
        let seen = until_kind(&mut events, "connected").await;
        let retry = seen
            .iter()
            .find_map(|e| match e {
                Event::RetryScheduled { class, cause, .. } => Some((*class, cause.to_string())),
                _ => None,
            })
            .expect("a retry");
        assert_eq!(retry.0, Class::Transient, "{code}");
        let expected = format!(
            "the proxy {} answered the SOCKS5 CONNECT to {} with {words}",
            proxy.addr(),
            ws.addr()
        );
        assert!(
            retry.1.contains(&expected),
            "{expected:?} not in {:?}",
            retry.1
        );
        assert_eq!(count(&seen, "dial"), 2);
        client.close().await;
    }
}

#[test]
fn socks_urls_never_show_their_credentials() {
    let rules = via("socks5h://alice:hunter2@127.0.0.1:1080");
    let shown = format!("{rules:?}");
    assert!(
        !shown.contains("hunter2") && !shown.contains("alice"),
        "{shown}"
    );
    assert!(
        shown.contains("socks5h://<redacted>@127.0.0.1:1080"),
        "{shown}"
    );
}
