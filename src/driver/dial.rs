//! Dialing: DNS and TCP, TLS, then the WebSocket upgrade, each failure mapped to the
//! core's [`DialFailure`].

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use async_net::TcpStream;
use async_tungstenite::tungstenite::client::IntoClientRequest;
use async_tungstenite::tungstenite::handshake::client::Response;
use async_tungstenite::tungstenite::http::HeaderValue;
use async_tungstenite::tungstenite::protocol::WebSocketConfig;
use async_tungstenite::tungstenite::Error as WsError;
use async_tungstenite::WebSocketStream;
use futures_lite::{AsyncRead, AsyncWrite};
use futures_rustls::rustls::pki_types::ServerName;
use futures_rustls::rustls::ClientConfig;
use futures_rustls::TlsConnector;

use super::raw_close::{CloseSniffer, FrameScanner};
use super::secret::{Headers, Redacted};
use super::tls::is_certificate_error;
use crate::policy::DialFailure;

/// Where to dial, parsed once from the URL.
#[derive(Clone)]
pub struct Target {
    pub url: url::Url,
    pub host: String,
    pub port: u16,
    pub tls: bool,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", Redacted(&self.url))
    }
}

impl Target {
    /// Parse a `ws://`, `wss://`, `http://` or `https://` URL.
    pub fn parse(url: &str) -> Result<Target, String> {
        let url = url::Url::parse(url).map_err(|e| format!("invalid URL: {e}"))?;
        let tls = match url.scheme() {
            "wss" | "https" => true,
            "ws" | "http" => false,
            other => {
                return Err(format!(
                    "unsupported URL scheme `{other}` (use ws, wss, http or https)"
                ))
            }
        };
        let host = url
            .host_str()
            .ok_or_else(|| "the URL has no host".to_string())?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = url
            .port_or_known_default()
            .unwrap_or(if tls { 443 } else { 80 });
        Ok(Target {
            url,
            host,
            port,
            tls,
        })
    }

    /// The same URL with a WebSocket scheme.
    fn ws_url(&self) -> String {
        let mut u = self.url.clone();
        let scheme = if self.tls { "wss" } else { "ws" };
        if u.set_scheme(scheme).is_err() {
            return self.url.to_string();
        }
        u.to_string()
    }
}

/// A byte stream the WebSocket can run over.
pub trait Duplex: AsyncRead + AsyncWrite + Send + Unpin + 'static {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Duplex for T {}

/// A connector of your own: given the URL, open the byte stream the upgrade runs over
/// (a proxy tunnel, a Unix socket, an in-memory peer for tests and fuzzing).
pub type Connector = Arc<
    dyn Fn(
            &url::Url,
        ) -> Pin<
            Box<dyn std::future::Future<Output = Result<Box<dyn Duplex>, DialFailure>> + Send>,
        > + Send
        + Sync,
>;

/// TCP, TLS over TCP, or a stream from a [`Connector`].
pub enum MaybeTls {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP.
    Tls(Box<futures_rustls::client::TlsStream<TcpStream>>),
    /// A stream from a custom connector.
    Custom(Box<dyn Duplex>),
}

/// The socket the WebSocket runs over, with the raw close-frame scanner.
pub type Io = CloseSniffer<MaybeTls>;
/// An open WebSocket.
pub type Ws = WebSocketStream<Io>;

fn io_failure(e: &io::Error) -> DialFailure {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => DialFailure::Refused,
        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => DialFailure::Reset,
        _ => DialFailure::Io(e.to_string()),
    }
}

/// Resolve, connect, and (for `wss`) run the TLS handshake.
pub async fn connect(
    target: &Target,
    tls: Option<Arc<ClientConfig>>,
) -> Result<MaybeTls, DialFailure> {
    let tcp = connect_tcp(target).await?;
    secure(target, tcp, tls).await
}

/// Resolve and connect over TCP (the addresses in turn).
pub(crate) async fn connect_tcp(target: &Target) -> Result<TcpStream, DialFailure> {
    let addrs = async_net::resolve((target.host.as_str(), target.port))
        .await
        .map_err(|e| DialFailure::Dns(format!("{}: {e}", target.host)))?;
    if addrs.is_empty() {
        return Err(DialFailure::Dns(format!("{}: no addresses", target.host)));
    }
    let mut last = DialFailure::Refused;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Err(e) => last = io_failure(&e),
        }
    }
    Err(last)
}

/// For a `wss`/`https` target, run the TLS handshake over `tcp`.
pub(crate) async fn secure(
    target: &Target,
    tcp: TcpStream,
    tls: Option<Arc<ClientConfig>>,
) -> Result<MaybeTls, DialFailure> {
    if !target.tls {
        return Ok(MaybeTls::Plain(tcp));
    }
    let config = tls.ok_or_else(|| DialFailure::Tls("no TLS configuration".into()))?;
    let name = ServerName::try_from(target.host.clone())
        .map_err(|e| DialFailure::Tls(format!("invalid server name {}: {e}", target.host)))?;
    match TlsConnector::from(config).connect(name, tcp).await {
        Ok(s) => Ok(MaybeTls::Tls(Box::new(s))),
        Err(e) if is_certificate_error(&e) => Err(DialFailure::Certificate(e.to_string())),
        Err(e) => Err(DialFailure::Tls(e.to_string())),
    }
}

/// Run the WebSocket upgrade over a connected stream.
pub async fn handshake(
    target: &Target,
    stream: MaybeTls,
    headers: &Headers,
    config: WebSocketConfig,
) -> Result<(Ws, Arc<Mutex<FrameScanner>>), DialFailure> {
    let mut request = target
        .ws_url()
        .into_client_request()
        .map_err(|e| DialFailure::Io(format!("invalid upgrade request: {e}")))?;
    for (name, value) in headers.iter() {
        let name = async_tungstenite::tungstenite::http::HeaderName::from_bytes(name.as_bytes())
            .map_err(|e| DialFailure::Io(format!("invalid header name {name:?}: {e}")))?;
        let value = HeaderValue::from_str(value)
            .map_err(|_| DialFailure::Io(format!("invalid value for header {name}")))?;
        request.headers_mut().append(name, value);
    }
    let (io, scanner) = CloseSniffer::new(stream);
    match async_tungstenite::client_async_with_config(request, io, Some(config)).await {
        Ok((ws, _response)) => Ok((ws, scanner)),
        Err(WsError::Http(response)) => Err(status_failure(&response)),
        Err(WsError::Io(e)) => Err(io_failure(&e)),
        Err(e) => Err(DialFailure::Io(e.to_string())),
    }
}

fn status_failure(response: &Response) -> DialFailure {
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, SystemTime::now()));
    DialFailure::Status {
        status: response.status().as_u16(),
        retry_after,
    }
}

/// Parse a `Retry-After` value: delay-seconds or an HTTP-date (relative to `now`).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

impl AsyncRead for MaybeTls {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_read(cx, buf),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            MaybeTls::Custom(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for MaybeTls {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_write(cx, buf),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            MaybeTls::Custom(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_flush(cx),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            MaybeTls::Custom(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_close(cx),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_close(cx),
            MaybeTls::Custom(s) => Pin::new(s.as_mut()).poll_close(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after("2", now), Some(Duration::from_secs(2)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(90));
        assert_eq!(
            parse_retry_after(&later, now),
            Some(Duration::from_secs(90))
        );
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(90));
        assert_eq!(parse_retry_after(&earlier, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn targets_parse_and_refuse() {
        let t = Target::parse("wss://user:pw@example.test/v1?key=k").unwrap();
        assert!(t.tls);
        assert_eq!((t.host.as_str(), t.port), ("example.test", 443));
        assert!(!format!("{t:?}").contains("pw"));
        assert_eq!(Target::parse("ws://[::1]:9000/").unwrap().host, "::1");
        assert!(Target::parse("ftp://x/").unwrap_err().contains("scheme"));
        assert!(Target::parse("not a url").is_err());
    }
}
