//! Issue 14, proxies: both transports through an HTTP CONNECT proxy (ws, wss with a
//! custom root, the HTTPS fallback), the target's name in the CONNECT line (never
//! resolved by the client), Basic credentials from the proxy URL, and each class of
//! proxy failure end to end: unreachable and 5xx retry, 407 stops, 403 falls back (and
//! stops the fallback), a stalled proxy times out. Issue 23: a 401 (tinyproxy's answer
//! to wrong credentials) stops like 407, a refusal never reads as the server not
//! offering WebSockets, and the proxy's reason phrase is quoted as it was sent.

mod driver_support;

use std::sync::Arc;
use std::time::Duration;

use driver_support::*;
use futures_lite::StreamExt;
use redial::config::Config;
use redial::config::Transport;
use redial::core::Event;
use redial::core::StateName;
use redial::driver::{Client, ClientBuilder, Message, ProxyRules};
use redial::policy::Class;
use redial_testkit::{
    echo_responder, Act, Behavior, ConnectProxy, ProxyAct, SseServer, TestCert, WsServer,
};

fn echo() -> Behavior {
    Behavior::Accept(vec![Act::Respond(Arc::new(echo_responder))])
}

fn policy_close() -> Behavior {
    Behavior::Accept(vec![Act::Close {
        code: Some(1008),
        reason: String::new(),
    }])
}

fn via(proxy: &str) -> ProxyRules {
    ProxyRules::explicit(proxy).expect("a usable proxy URL")
}

/// One request; the texts of its response, up to the terminal message (checked).
async fn ask(client: &Client) -> Vec<String> {
    let stream = client.request("hello proxy").await.expect("queued");
    let items: Vec<_> = within(Duration::from_secs(10), "the response", stream.collect()).await;
    let texts: Vec<String> = items
        .into_iter()
        .map(|m| match m {
            Ok(Message::Text(t)) => t,
            other => panic!("unexpected item {other:?}"),
        })
        .collect();
    assert!(
        texts
            .last()
            .is_some_and(|t| t.contains("response.completed")),
        "{texts:?}"
    );
    texts
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

#[async_std::test]
async fn ws_goes_through_the_proxy() {
    let ws = WsServer::start(|_| echo()).await.unwrap();
    let proxy = ConnectProxy::start().await.unwrap();
    let b = Client::builder(ws.url())
        .config(fast_default())
        .proxy(via(&proxy.url()));
    let (client, _events) = spawn(b);
    let answer = ask(&client).await;
    assert!(
        answer.last().unwrap().contains("response.completed"),
        "{answer:?}"
    );
    assert_eq!(proxy.tunnels(), 1);
    let requests = proxy.requests();
    assert_eq!(
        requests[0].target,
        format!("127.0.0.1:{}", ws.addr().port())
    );
    assert_eq!(requests[0].authorization, None);
    client.close().await;
}

#[async_std::test]
async fn wss_with_a_custom_root_goes_through_the_proxy_with_basic_credentials() {
    let cert = TestCert::localhost();
    let ws = WsServer::start_tls(&cert, |_| echo()).await.unwrap();
    let proxy = ConnectProxy::with_credentials("alice", "s3cr:et@!")
        .await
        .unwrap();
    let b = builder(&ws, &cert, fast_default()).proxy(via(&proxy.url_with("alice", "s3cr:et@!")));
    let (client, mut events) = spawn(b);
    let seen = until_kind(&mut events, "connected").await;
    assert_eq!(count(&seen, "handshake_failed"), 0, "{seen:#?}");
    ask(&client).await;
    let requests = proxy.requests();
    // The name, not an address: the proxy resolves it (wss://localhost:PORT/).
    assert_eq!(
        requests[0].target,
        format!("localhost:{}", ws.addr().port())
    );
    assert!(requests[0]
        .authorization
        .as_deref()
        .unwrap()
        .starts_with("Basic "));
    assert_eq!(proxy.tunnels(), 1);
    client.close().await;
}

#[async_std::test]
async fn the_fallback_goes_through_the_proxy_too() {
    let cert = TestCert::localhost();
    let ws = WsServer::start(|_| policy_close()).await.unwrap();
    let sse = SseServer::start(&cert, echo_responder).await.unwrap();
    let proxy = ConnectProxy::start().await.unwrap();
    let b = Client::builder(ws.url())
        .config(fast_fallback())
        .root_certificate(cert.cert_der.clone())
        .fallback_url(sse.url())
        .proxy(via(&proxy.url()));
    let (client, mut events) = spawn(b);
    until_kind(&mut events, "fell_back").await;
    let answer = ask(&client).await;
    assert!(
        answer.last().unwrap().contains("response.completed"),
        "{answer:?}"
    );
    assert_eq!(sse.requests().len(), 1);
    let targets: Vec<String> = proxy.requests().into_iter().map(|r| r.target).collect();
    assert_eq!(
        targets,
        [
            format!("127.0.0.1:{}", ws.addr().port()),
            format!("localhost:{}", sse.addr().port())
        ]
    );
    assert_eq!(proxy.tunnels(), 2);
    client.close().await;
}

#[async_std::test]
async fn no_proxy_sends_a_listed_host_direct() {
    let ws = WsServer::start(|_| echo()).await.unwrap();
    let proxy = ConnectProxy::start().await.unwrap();
    let vars = [
        ("http_proxy".to_string(), proxy.url()),
        (
            "NO_PROXY".to_string(),
            "example.test, 127.0.0.0/8".to_string(),
        ),
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
    assert_eq!(proxy.requests().len(), 0, "127.0.0.1 is in 127.0.0.0/8");
    client.close().await;
}

/// A builder for an echo server behind `proxy_url`, with a fallback at `sse` if given.
fn behind(ws: &WsServer, proxy_url: &str, config: Config) -> ClientBuilder {
    Client::builder(ws.url())
        .config(config)
        .proxy(via(proxy_url))
}

#[async_std::test]
async fn a_407_stops_at_once_naming_the_credentials() {
    let cert = TestCert::localhost();
    let ws = WsServer::start(|_| echo()).await.unwrap();
    let sse = SseServer::start(&cert, echo_responder).await.unwrap();
    let proxy = ConnectProxy::with_credentials("alice", "right")
        .await
        .unwrap();
    let b = behind(&ws, &proxy.url_with("alice", "wrong"), fast_fallback())
        .root_certificate(cert.cert_der.clone())
        .fallback_url(sse.url());
    let (_client, mut events) = spawn(b);
    let seen = until_kind(&mut events, "gave_up").await;
    let cause = cause_of(&seen, "gave_up");
    assert!(
        cause.contains("answered the CONNECT with HTTP 407 \"Proxy Authentication Required\"")
            && cause.contains("the proxy refused its credentials"),
        "{cause}"
    );
    assert!(
        !cause.contains("wrong") && !cause.contains("alice"),
        "{cause}"
    );
    assert_eq!(count(&seen, "dial"), 1, "no retry");
    assert_eq!(
        count(&seen, "fell_back"),
        0,
        "no fall-back through the same proxy"
    );
    assert_eq!(ws.connections(), 0);
    assert_eq!(proxy.tunnels(), 0);
}

#[async_std::test]
async fn a_403_for_websockets_falls_back_and_a_403_for_the_fallback_stops() {
    let cert = TestCert::localhost();
    let ws = WsServer::start(|_| echo()).await.unwrap();
    let sse = SseServer::start(&cert, echo_responder).await.unwrap();
    let ws_target = format!("127.0.0.1:{}", ws.addr().port());
    // The proxy forbids the WebSocket server and tunnels to the fallback's.
    let proxy = ConnectProxy::start_with(move |r| match r.target == ws_target {
        true => ProxyAct::Answer(403),
        false => ProxyAct::Tunnel,
    })
    .await
    .unwrap();
    let b = behind(&ws, &proxy.url(), fast_fallback())
        .root_certificate(cert.cert_der.clone())
        .fallback_url(sse.url());
    let (client, mut events) = spawn(b);
    let seen = until_kind(&mut events, "fell_back").await;
    let cause = cause_of(&seen, "fell_back");
    assert!(
        cause.contains("answered the CONNECT with HTTP 403 \"Forbidden\""),
        "{cause}"
    );
    assert_eq!(count(&seen, "dial"), 1);
    ask(&client).await;
    assert_eq!(sse.requests().len(), 1, "the fallback serves it");
    client.close().await;

    // Over the fallback alone, a 403 from the proxy stops.
    let proxy = ConnectProxy::start_with(|_| ProxyAct::Answer(403))
        .await
        .unwrap();
    let mut c = fast_fallback();
    c.transport = Transport::Https;
    let b = behind(&ws, &proxy.url(), c)
        .root_certificate(cert.cert_der.clone())
        .fallback_url(sse.url());
    let (client, mut events) = spawn(b);
    let _ = client.try_send("hello");
    let seen = until_kind(&mut events, "gave_up").await;
    let cause = cause_of(&seen, "gave_up");
    assert!(
        cause.contains("the HTTPS fallback went through the proxy")
            && cause.contains("HTTP 403 \"Forbidden\""),
        "{cause}"
    );
    assert_eq!(count(&seen, "fallback_failed"), 0, "not retried");
}

#[async_std::test]
async fn a_502_from_the_proxy_is_retried() {
    let ws = WsServer::start(|_| echo()).await.unwrap();
    let proxy = ConnectProxy::start_with(|r| match r.index {
        1 => ProxyAct::Answer(502),
        _ => ProxyAct::Tunnel,
    })
    .await
    .unwrap();
    let (client, mut events) = spawn(behind(&ws, &proxy.url(), fast_default()));
    let seen = until_kind(&mut events, "connected").await;
    let retry = seen
        .iter()
        .find_map(|e| match e {
            Event::RetryScheduled { class, cause, .. } => Some((*class, cause.to_string())),
            _ => None,
        })
        .expect("a retry");
    assert_eq!(retry.0, Class::Transient);
    assert!(
        retry.1.contains(&format!(
            "the proxy {} answered the CONNECT with HTTP 502 \"Bad Gateway\"",
            proxy.addr()
        )),
        "{}",
        retry.1
    );
    assert_eq!(count(&seen, "dial"), 2);
    client.close().await;
}

#[async_std::test]
async fn an_unreachable_proxy_is_retried_and_named() {
    let ws = WsServer::start(|_| echo()).await.unwrap();
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let mut c = fast_default();
    c.budget.max_attempts = 2;
    let (_client, mut events) = spawn(behind(&ws, &format!("http://{closed}"), c));
    let seen = until_state(&mut events, StateName::Stopped).await;
    let retry = cause_of(&seen, "retry");
    assert!(
        retry.contains(&format!("the proxy {closed} could not be reached")),
        "{retry}"
    );
    assert_eq!(count(&seen, "dial"), 2);
    assert_eq!(ws.connections(), 0, "never around the proxy");
}

#[async_std::test]
async fn a_stalled_proxy_times_the_dial_out() {
    let ws = WsServer::start(|_| echo()).await.unwrap();
    let proxy = ConnectProxy::start_with(|r| match r.index {
        1 => ProxyAct::Stall,
        _ => ProxyAct::Tunnel,
    })
    .await
    .unwrap();
    let (client, mut events) = spawn(behind(&ws, &proxy.url(), fast_default()));
    let seen = until_kind(&mut events, "connected").await;
    let retry = cause_of(&seen, "retry");
    assert!(retry.contains("the connect phase timed out"), "{retry}");
    client.close().await;
}

/// Issue 23: tinyproxy answers a CONNECT with wrong credentials `401 Unauthorized`, not
/// 407. The client stops at once, as after a 407, saying to check the credentials and
/// never that the server does not offer WebSockets; nothing goes around the proxy.
#[async_std::test]
async fn a_401_from_the_proxy_stops_like_a_407() {
    let cert = TestCert::localhost();
    let ws = WsServer::start(|_| echo()).await.unwrap();
    let sse = SseServer::start(&cert, echo_responder).await.unwrap();
    let proxy = ConnectProxy::start_with(|_| ProxyAct::AnswerWith {
        status: 401,
        reason: "Unauthorized".into(),
    })
    .await
    .unwrap();
    let b = behind(&ws, &proxy.url_with("alice", "wrong"), fast_fallback())
        .root_certificate(cert.cert_der.clone())
        .fallback_url(sse.url());
    let (_client, mut events) = spawn(b);
    let seen = until_kind(&mut events, "gave_up").await;
    let cause = cause_of(&seen, "gave_up");
    assert!(
        cause.contains(
            "answered the CONNECT with HTTP 401 \"Unauthorized\": check the user and password \
             in the proxy URL"
        ) && cause.contains("the proxy refused its credentials"),
        "{cause}"
    );
    assert!(!cause.contains("offer WebSockets"), "{cause}");
    assert!(!cause.contains("wrong"), "{cause}");
    let class = seen.iter().find_map(|e| match e {
        Event::GaveUp { cause } => cause.class(),
        _ => None,
    });
    assert_eq!(class, Some(Class::ProxyAuth));
    assert_eq!(count(&seen, "dial"), 1, "no retry");
    assert_eq!(
        count(&seen, "fell_back"),
        0,
        "no fall-back through the same proxy"
    );
    assert_eq!(ws.connections(), 0);
    assert_eq!(sse.requests().len(), 0);
}

/// Issue 23: a proxy that refuses the tunnel (403 "Filtered") has said nothing about the
/// server. The fall-back's cause names the proxy's refusal, not "the server does not
/// offer WebSockets at this URL"; without a fallback, neither does the stop's.
#[async_std::test]
async fn a_proxys_refusal_never_reads_as_the_server_not_offering_websockets() {
    let cert = TestCert::localhost();
    let ws = WsServer::start(|_| echo()).await.unwrap();
    let sse = SseServer::start(&cert, echo_responder).await.unwrap();
    let ws_target = format!("127.0.0.1:{}", ws.addr().port());
    let proxy = ConnectProxy::start_with(move |r| match r.target == ws_target {
        true => ProxyAct::AnswerWith {
            status: 403,
            reason: "Filtered".into(),
        },
        false => ProxyAct::Tunnel,
    })
    .await
    .unwrap();
    let b = behind(&ws, &proxy.url(), fast_fallback())
        .root_certificate(cert.cert_der.clone())
        .fallback_url(sse.url());
    let (client, mut events) = spawn(b);
    let seen = until_kind(&mut events, "fell_back").await;
    let cause = cause_of(&seen, "fell_back");
    assert!(
        cause.contains("HTTP 403 \"Filtered\": the proxy does not allow this destination")
            && cause.contains("the proxy refused the tunnel"),
        "{cause}"
    );
    assert!(!cause.contains("offer WebSockets"), "{cause}");
    client.close().await;

    let mut c = fast_default();
    c.transport = Transport::Websocket;
    let (_client, mut events) = spawn(behind(&ws, &proxy.url(), c));
    let seen = until_kind(&mut events, "gave_up").await;
    let cause = cause_of(&seen, "gave_up");
    assert!(cause.contains("the proxy refused the tunnel"), "{cause}");
    assert!(!cause.contains("offer WebSockets"), "{cause}");
    assert_eq!(ws.connections(), 0);
}

/// Issue 23: the proxy's reason phrase is what it said ("500 Unable to connect" is
/// tinyproxy's when it cannot reach the server), quoted; the status's standard phrase
/// ("Internal Server Error") would put words in its mouth.
#[async_std::test]
async fn a_proxys_reason_is_quoted_as_it_was_sent() {
    let ws = WsServer::start(|_| echo()).await.unwrap();
    let proxy = ConnectProxy::start_with(|r| match r.index {
        1 => ProxyAct::AnswerWith {
            status: 500,
            reason: "Unable to connect".into(),
        },
        _ => ProxyAct::Tunnel,
    })
    .await
    .unwrap();
    let (client, mut events) = spawn(behind(&ws, &proxy.url(), fast_default()));
    let seen = until_kind(&mut events, "connected").await;
    let retry = cause_of(&seen, "retry");
    assert!(
        retry.contains(&format!(
            "the proxy {} answered the CONNECT with HTTP 500 \"Unable to connect\"",
            proxy.addr()
        )),
        "{retry}"
    );
    assert!(!retry.contains("Internal Server Error"), "{retry}");
    client.close().await;
}
