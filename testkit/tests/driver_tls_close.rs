//! Issue 23: a server that ends the TCP connection inside a TLS session, without the
//! TLS `close_notify` alert, is a common sight (a reverse proxy timing out, a server
//! killed). rustls reports it with a text of its own that ends in a link to its manual;
//! the cause says it in redial's words instead, with no URL and nothing of rustls, on
//! the dial and on an open connection.

mod driver_support;

use std::net::SocketAddr;

use async_tungstenite::tungstenite::Message;
use driver_support::*;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use futures_util::SinkExt;
use redial::driver::Client;
use redial_testkit::TestCert;

/// What the cause says instead of rustls' text.
const SAID: &str = "the server ended the TLS session without close_notify";

/// A TLS server on loopback that, for every connection, completes the TLS handshake,
/// runs `then` on the session, and drops the TCP connection without `close_notify`.
async fn tls_server<F, Fut>(cert: &TestCert, then: F) -> SocketAddr
where
    F: Fn(futures_rustls::server::TlsStream<async_net::TcpStream>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let listener = async_net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = futures_rustls::TlsAcceptor::from(cert.server_config());
    async_std::task::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            if let Ok(tls) = acceptor.accept(tcp).await {
                // `then` takes the session and drops it: a FIN, no close_notify.
                then(tls).await;
            }
        }
    });
    addr
}

fn clean(what: &str, cause: &str) {
    for internal in ["https://", "docs.rs", "rustls", "peer closed connection"] {
        assert!(
            !cause.contains(internal),
            "{what} shows {internal:?}: {cause}"
        );
    }
}

#[async_std::test]
async fn a_dial_whose_tls_session_ends_without_close_notify_says_so_in_its_own_words() {
    let cert = TestCert::localhost();
    // The upgrade request is read, never answered.
    let addr = tls_server(&cert, |mut tls| async move {
        let mut request = [0u8; 4096];
        let _ = tls.read(&mut request).await;
    })
    .await;
    let mut c = fast_default();
    c.budget.max_attempts = 1;
    let b = Client::builder(format!("wss://localhost:{}/", addr.port()))
        .config(c)
        .root_certificate(cert.cert_der.clone());
    let (_client, mut events) = spawn(b);
    let seen = until_kind(&mut events, "gave_up").await;
    let cause = cause_of(&seen, "gave_up");
    assert!(
        cause.contains(&format!("the dial failed ({SAID})")),
        "{cause}"
    );
    clean("the dial's cause", &cause);
}

#[async_std::test]
async fn an_open_connection_whose_tls_session_ends_without_close_notify_says_so_in_its_own_words() {
    let cert = TestCert::localhost();
    // The upgrade is accepted and a message sent; then the TCP connection ends.
    let addr = tls_server(&cert, |tls| async move {
        if let Ok(mut ws) = async_tungstenite::accept_async(tls).await {
            let _ = ws.send(Message::text("hi")).await;
            let _ = ws.flush().await;
            // Into the raw session: no close frame, no close_notify.
            let mut tls = ws.into_inner();
            let _ = AsyncWriteExt::flush(&mut tls).await;
        }
    })
    .await;
    let mut c = fast_default();
    c.budget.max_attempts = 1;
    let b = Client::builder(format!("wss://localhost:{}/", addr.port()))
        .config(c)
        .root_certificate(cert.cert_der.clone());
    let (_client, mut events) = spawn(b);
    let seen = until_kind(&mut events, "closed").await;
    let cause = cause_of(&seen, "closed");
    assert!(
        cause.contains("connection dropped without a close frame (1006") && cause.contains(SAID),
        "{cause}"
    );
    clean("the drop's cause", &cause);
}
