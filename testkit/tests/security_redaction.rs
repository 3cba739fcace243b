//! Secrets — header values, cookies, URL credentials and query tokens — never appear in
//! `Debug`, `Display`, events or logs; certificate checks are off only through the
//! explicitly named option, which warns at every connection.

mod driver_support;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use driver_support::*;
use futures_lite::StreamExt;
use redial::driver::{Client, ClientEvent, TlsOptions};
use redial_testkit::{Act, Behavior, TestCert, WsServer};

const SECRETS: [&str; 4] = ["sk-live-SECRET", "session=COOKIE", "hunter2", "tok-QUERY"];

fn assert_clean(what: &str, text: &str) {
    for s in SECRETS {
        assert!(!text.contains(s), "{what} shows a secret ({s}): {text}");
    }
}

/// A `tracing` writer that keeps everything written.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Capture {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

fn secret_url(ws: &WsServer) -> String {
    let addr = ws.addr();
    format!("ws://user:hunter2@{addr}/v1?token=tok-QUERY")
}

#[test]
fn secrets_stay_out_of_debug_display_events_and_logs() {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    async_io::block_on(async {
        let ws = WsServer::start(|c| {
            if c.index == 1 {
                Behavior::Reject {
                    status: 401,
                    headers: vec![],
                }
            } else {
                Behavior::Accept(vec![
                    Act::Text("hi".into()),
                    Act::Close {
                        code: Some(1008),
                        reason: String::new(),
                    },
                ])
            }
        })
        .await
        .unwrap();
        let builder = Client::builder(secret_url(&ws))
            .config(fast_default())
            .header("Authorization", "Bearer sk-live-SECRET")
            .header("Cookie", "session=COOKIE")
            .on_reauth(|| async {
                Some(
                    [("Authorization", "Bearer sk-live-SECRET-2")]
                        .into_iter()
                        .collect(),
                )
            });
        assert_clean("ClientBuilder Debug", &format!("{builder:?}"));
        let (client, driver) = builder.build().unwrap();
        let mut events = client.events();
        let run = driver.run();
        let cause = within(Duration::from_secs(10), "the run", run)
            .await
            .unwrap_or_default();
        assert_clean("the final cause", &cause);
        assert_clean("Client Debug", &format!("{client:?}"));
        let mut n = 0;
        while let Some(ClientEvent::Core(e)) = events.next().await {
            n += 1;
            assert_clean("an event's Debug", &format!("{e:?}"));
            assert_clean("an event's Display", &e.to_string());
            assert_clean("an event line", &e.to_json(Duration::ZERO).to_string());
        }
        assert!(n > 5, "{n} events");
        // The upgrade really carried the secrets (the server saw them).
        assert_eq!(ws.connections(), 2);
    });
    let logs = capture.text();
    assert!(logs.contains("redial"), "no logs captured: {logs}");
    assert_clean("the logs", &logs);
}

#[test]
fn turning_certificate_checks_off_warns_at_every_connection() {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    async_io::block_on(async {
        let cert = TestCert::localhost();
        let ws = WsServer::start_tls(&cert, |c| {
            if c.index == 1 {
                Behavior::Accept(vec![Act::Close {
                    code: Some(1001),
                    reason: String::new(),
                }])
            } else {
                Behavior::Accept(vec![
                    Act::Text("ok".into()),
                    Act::Close {
                        code: Some(1008),
                        reason: String::new(),
                    },
                ])
            }
        })
        .await
        .unwrap();
        let url = format!("wss://localhost:{}/", ws.addr().port());
        let tls = TlsOptions {
            danger_accept_invalid_certs: true,
            ..TlsOptions::default()
        };
        let (_client, driver) = Client::builder(url)
            .config(fast_default())
            .tls(tls)
            .build()
            .unwrap();
        within(Duration::from_secs(10), "the run", driver.run()).await;
        assert_eq!(ws.connections(), 2);
    });
    let warnings = capture.text().matches("verification is OFF").count();
    assert_eq!(warnings, 2, "{}", capture.text());
}

#[test]
fn without_the_option_an_untrusted_certificate_is_refused() {
    async_io::block_on(async {
        let cert = TestCert::localhost();
        let ws = WsServer::start_tls(&cert, |_| Behavior::Accept(vec![Act::Hold]))
            .await
            .unwrap();
        let url = format!("wss://localhost:{}/", ws.addr().port());
        let (_client, driver) = Client::builder(url).config(fast_default()).build().unwrap();
        let cause = within(Duration::from_secs(10), "the run", driver.run())
            .await
            .unwrap();
        assert!(cause.contains("certificate"), "{cause}");
    });
}

/// The proxy's password, and the `Proxy-Authorization` value made from it.
fn proxy_secrets() -> [String; 2] {
    let pair = "alice:pr0xy-PASS";
    // Base64 of the pair, as a Basic header carries it (the value the proxy sees).
    ["pr0xy-PASS".to_string(), base64(pair.as_bytes())]
}

/// Standard base64 (RFC 4648), written out so that the test does not trust the code's.
fn base64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn proxy_credentials_stay_out_of_debug_events_and_logs() {
    use redial::config::Config;
    use redial::driver::ProxyRules;
    use redial_testkit::{echo_responder, ConnectProxy, SseServer};

    let secrets = proxy_secrets();
    let clean = |what: &str, text: &str| {
        for s in &secrets {
            assert!(!text.contains(s.as_str()), "{what} shows {s}: {text}");
        }
    };
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    async_io::block_on(async {
        let cert = TestCert::localhost();
        let proxy = ConnectProxy::with_credentials("alice", "pr0xy-PASS")
            .await
            .unwrap();
        let ws = WsServer::start(|_| {
            Behavior::Accept(vec![Act::Close {
                code: Some(1008),
                reason: String::new(),
            }])
        })
        .await
        .unwrap();
        let sse = SseServer::start(&cert, echo_responder).await.unwrap();
        let proxy_url = proxy.url_with("alice", "pr0xy-PASS");
        // The config's proxy, as a file would set it.
        let mut config = fast_default();
        config.proxy.url = redial::config::ProxySetting::Url(proxy_url.clone());
        clean("Config Debug", &format!("{config:?}"));
        clean(
            "Policy Debug",
            &format!("{:?}", Config::clone(&config).validate().unwrap()),
        );
        let rules = ProxyRules::explicit(&proxy_url).unwrap();
        clean("ProxyRules Debug", &format!("{rules:?}"));
        let builder = Client::builder(ws.url())
            .config(config)
            .root_certificate(cert.cert_der.clone())
            .fallback_url(sse.url());
        clean("ClientBuilder Debug", &format!("{builder:?}"));
        let (client, driver) = builder.build().unwrap();
        let mut events = client.events();
        async_std::task::spawn(driver.run());
        let stream = client.request("through the proxy").await.unwrap();
        let items: Vec<_> = within(Duration::from_secs(10), "the answer", stream.collect()).await;
        assert!(items.iter().all(|i| i.is_ok()), "{items:?}");
        // The proxy saw the credentials: the tunnels were authorized.
        assert_eq!(proxy.tunnels(), 2);
        assert_eq!(
            proxy.requests()[0].authorization.as_deref(),
            Some(format!("Basic {}", secrets[1]).as_str())
        );
        client.close().await;
        let mut n = 0;
        while let Some(ClientEvent::Core(e)) = events.next().await {
            n += 1;
            clean("an event's Debug", &format!("{e:?}"));
            clean("an event line", &e.to_json(Duration::ZERO).to_string());
        }
        assert!(n > 3, "{n} events");

        // A wrong password: the 407's cause names the proxy, not the credentials.
        let wrong = proxy.url_with("alice", "pr0xy-PASS-wrong");
        let (_client, driver) = Client::builder(ws.url())
            .config(fast_default())
            .proxy(ProxyRules::explicit(&wrong).unwrap())
            .build()
            .unwrap();
        let cause = within(Duration::from_secs(10), "the run", driver.run())
            .await
            .unwrap();
        assert!(cause.contains("407"), "{cause}");
        clean("the 407's cause", &cause);
    });
    let logs = capture.text();
    assert!(logs.contains("through a proxy"), "no proxy log: {logs}");
    clean("the logs", &logs);
}

/// Issue 27: a SOCKS5 proxy's user and password (RFC 1929) stay out of `Debug`, events,
/// event lines, causes and TRACE logs, on both transports and after a refusal.
#[test]
fn socks_credentials_stay_out_of_debug_events_and_logs() {
    use redial::driver::ProxyRules;
    use redial_testkit::{echo_responder, SocksProxy, SseServer};

    let secret = "s0cks-PASS";
    let clean = |what: &str, text: &str| {
        assert!(!text.contains(secret), "{what} shows the password: {text}");
    };
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    async_io::block_on(async {
        let cert = TestCert::localhost();
        let proxy = SocksProxy::with_credentials("alice", secret).await.unwrap();
        let ws = WsServer::start(|_| {
            Behavior::Accept(vec![Act::Close {
                code: Some(1008),
                reason: String::new(),
            }])
        })
        .await
        .unwrap();
        let sse = SseServer::start(&cert, echo_responder).await.unwrap();
        let mut config = fast_default();
        config.proxy.url =
            redial::config::ProxySetting::Url(proxy.url_with("socks5h", "alice", secret));
        clean("Config Debug", &format!("{config:?}"));
        let builder = Client::builder(ws.url())
            .config(config)
            .root_certificate(cert.cert_der.clone())
            .fallback_url(sse.url());
        clean("ClientBuilder Debug", &format!("{builder:?}"));
        let (client, driver) = builder.build().unwrap();
        let mut events = client.events();
        async_std::task::spawn(driver.run());
        let stream = client.request("through socks").await.unwrap();
        let items: Vec<_> = within(Duration::from_secs(10), "the answer", stream.collect()).await;
        assert!(items.iter().all(|i| i.is_ok()), "{items:?}");
        assert_eq!(proxy.requests().len(), 2, "the dial and the fallback");
        client.close().await;
        while let Some(ClientEvent::Core(e)) = events.next().await {
            clean("an event's Debug", &format!("{e:?}"));
            clean("an event line", &e.to_json(Duration::ZERO).to_string());
        }
        let wrong = proxy.url_with("socks5h", "alice", "s0cks-PASS-wrong");
        let (_client, driver) = Client::builder(ws.url())
            .config(fast_default())
            .proxy(ProxyRules::explicit(&wrong).unwrap())
            .build()
            .unwrap();
        let cause = within(Duration::from_secs(10), "the run", driver.run())
            .await
            .unwrap();
        assert!(cause.contains("check the user and password"), "{cause}");
        clean("the refusal's cause", &cause);
    });
    let logs = capture.text();
    assert!(
        logs.contains("socks5h://<redacted>@"),
        "no proxy log: {logs}"
    );
    clean("the logs", &logs);
}
