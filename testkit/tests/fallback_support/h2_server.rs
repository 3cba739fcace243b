//! An HTTP/2 SSE server (TLS with ALPN `h2`) on loopback, on the `h2` crate, whose
//! connections the test can ping: it sees whether the client answers a PING, which a
//! hyper server does not show.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use async_net::TcpListener;
use bytes::Bytes;
use futures_lite::{AsyncRead, AsyncWrite};
use futures_rustls::TlsAcceptor;
use redial_testkit::TestCert;

/// A futures-io stream through tokio's I/O traits, which the `h2` crate uses.
struct TokioIo<T>(T);

impl<T: AsyncRead + Unpin> tokio::io::AsyncRead for TokioIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let n = ready!(Pin::new(&mut self.0).poll_read(cx, buf.initialize_unfilled()))?;
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> tokio::io::AsyncWrite for TokioIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_close(cx)
    }
}

/// `data: <event>\n\n`.
fn sse_event(event: &str) -> Bytes {
    Bytes::from(format!("data: {event}\n\n"))
}

/// An HTTP/2 server on `127.0.0.1`: every POST gets `200 text/event-stream` with
/// `events` at once (one SSE event each); the response then stays open until
/// [`H2Sse::finish`], and ends with `last`.
pub struct H2Sse {
    /// `https://127.0.0.1:PORT/v1/responses`.
    pub url: String,
    /// The [`h2::PingPong`] of each connection, as it is accepted.
    pub pings: async_channel::Receiver<h2::PingPong>,
    finish: async_channel::Sender<()>,
    _task: async_std::task::JoinHandle<()>,
}

impl H2Sse {
    pub async fn start(cert: &TestCert, events: Vec<String>, last: String) -> H2Sse {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "https://127.0.0.1:{}/v1/responses",
            listener.local_addr().unwrap().port()
        );
        let mut config = (*cert.server_config()).clone();
        config.alpn_protocols = vec![b"h2".to_vec()];
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let (pinging, pings) = async_channel::unbounded();
        let (finish, finished) = async_channel::bounded::<()>(1);
        let responses = Arc::new((events, last));
        let task = async_std::task::spawn(async move {
            // Bounded: a test makes few connections.
            for _ in 0..100 {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let (acceptor, pinging) = (acceptor.clone(), pinging.clone());
                let (finished, responses) = (finished.clone(), responses.clone());
                async_std::task::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let Ok(mut conn) = h2::server::handshake(TokioIo(tls)).await else {
                        return;
                    };
                    if let Some(ping_pong) = conn.ping_pong() {
                        let _ = pinging.send(ping_pong).await;
                    }
                    // Accepting runs the connection (and with it the pings).
                    while let Some(Ok((request, respond))) = conn.accept().await {
                        let (finished, responses) = (finished.clone(), responses.clone());
                        async_std::task::spawn(async move {
                            let _request = request;
                            let _ =
                                respond_sse(respond, &responses.0, &responses.1, finished).await;
                        });
                    }
                });
            }
        });
        H2Sse {
            url,
            pings,
            finish,
            _task: task,
        }
    }

    /// Let every response open end (now and later): `last`, then the end.
    pub fn finish(&self) {
        self.finish.close();
    }
}

async fn respond_sse(
    mut respond: h2::server::SendResponse<Bytes>,
    events: &[String],
    last: &str,
    finished: async_channel::Receiver<()>,
) -> Result<(), h2::Error> {
    let response = hyper::Response::builder()
        .status(200)
        .header("content-type", "text/event-stream")
        .body(())
        .expect("a valid response");
    let mut send = respond.send_response(response, false)?;
    for event in events {
        send.send_data(sse_event(event), false)?;
    }
    // Until `finish` (the channel closes).
    let _ = finished.recv().await;
    send.send_data(sse_event(last), true)
}
