//! The fallback transport: the same request carried without WebSockets.
//!
//! [`HttpsSse`] POSTs the request body over HTTPS (hyper 1 over the same
//! futures-rustls stack) and reads the response as Server-Sent Events, yielding each
//! event's data — the same item type a WebSocket request yields.

use std::fmt;
use std::future::Future as _;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use eventsource_stream::Eventsource;
use futures_lite::{Stream, StreamExt};
use futures_rustls::rustls::ClientConfig;
use futures_util::{stream, TryStreamExt};
use http_body_util::{BodyExt, BodyStream, Full};

use super::dial::{connect, Target};
use super::secret::{Headers, Redacted};
use super::tls::{client_config, TlsOptions};
use crate::policy::DialFailure;

/// Why a fallback request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FallbackError {
    /// The connection (DNS, TCP, TLS) failed.
    #[error("the fallback connection failed: {0}")]
    Connect(String),
    /// The server answered with a non-2xx status.
    #[error("the fallback answered HTTP {0}")]
    Status(u16),
    /// The response stream broke off.
    #[error("the fallback response broke off: {0}")]
    Stream(String),
}

/// The items of one fallback response.
pub type FallbackStream = Pin<Box<dyn Stream<Item = Result<String, FallbackError>> + Send>>;

/// A transport that carries one request when WebSockets can't.
pub trait Fallback: Send + Sync + 'static {
    /// Send `body` with `headers`; the stream yields the response's messages in order
    /// and ends with the response.
    fn request(&self, body: String, headers: &Headers) -> FallbackStream;

    /// A description without secrets, for diagnostics.
    fn describe(&self) -> String;
}

/// HTTPS POST with a Server-Sent-Events response.
#[derive(Clone)]
pub struct HttpsSse {
    target: Target,
    tls: Arc<ClientConfig>,
}

impl fmt::Debug for HttpsSse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HttpsSse({})", Redacted(&self.target.url))
    }
}

impl HttpsSse {
    /// A fallback that POSTs to `url` (`https://` or, for tests, `http://`).
    pub fn new(url: &str, tls: &TlsOptions) -> Result<HttpsSse, String> {
        let target = Target::parse(url)?;
        let tls = client_config(tls).map_err(|e| format!("TLS configuration: {e}"))?;
        Ok(HttpsSse { target, tls })
    }

    async fn post(self, body: String, headers: Headers) -> Result<FallbackStream, FallbackError> {
        let tls = self.target.tls.then(|| self.tls.clone());
        let io = connect(&self.target, tls)
            .await
            .map_err(|e: DialFailure| FallbackError::Connect(e.to_string()))?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(smol_hyper::rt::FuturesIo::new(io))
                .await
                .map_err(|e| FallbackError::Connect(e.to_string()))?;
        let url = &self.target.url;
        let path = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        };
        let authority = match url.port() {
            Some(p) => format!("{}:{p}", self.target.host),
            None => self.target.host.clone(),
        };
        let mut request = hyper::Request::post(path)
            .header(hyper::header::HOST, authority)
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header(hyper::header::ACCEPT, "text/event-stream")
            .header(hyper::header::CONNECTION, "close");
        for (name, value) in headers.iter() {
            request = request.header(name, value);
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| FallbackError::Connect(format!("invalid request: {e}")))?;
        // The connection task runs beside the response stream and ends with it.
        let driving = stream::once(async move {
            let _ = conn.await;
            None
        });
        let mut driving = Box::pin(driving);
        let response = {
            let send = sender.send_request(request);
            futures_lite::pin!(send);
            let mut conn_done = false;
            futures_lite::future::poll_fn(|cx| {
                if !conn_done && driving.as_mut().poll_next(cx).is_ready() {
                    conn_done = true;
                }
                send.as_mut().poll(cx)
            })
            .await
            .map_err(|e| FallbackError::Connect(e.to_string()))?
        };
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(FallbackError::Status(status));
        }
        let events = BodyStream::new(response.into_body().map_err(|e| e.to_string()))
            .try_filter_map(|frame| async move { Ok(frame.into_data().ok()) })
            .eventsource()
            .map(|r| {
                r.map(|e| e.data)
                    .map_err(|e| FallbackError::Stream(e.to_string()))
            });
        let merged = futures_util::stream::select(events.map(Some), driving).filter_map(|x| x);
        Ok(Box::pin(merged))
    }
}

impl Fallback for HttpsSse {
    fn request(&self, body: String, headers: &Headers) -> FallbackStream {
        let this = self.clone();
        let headers = headers.clone();
        Box::pin(stream::once(this.post(body, headers)).try_flatten())
    }

    fn describe(&self) -> String {
        format!("HTTPS+SSE at {}", Redacted(&self.target.url))
    }
}
