//! Dialing: DNS and TCP (Happy Eyeballs, through a proxy's tunnel when one applies), TLS,
//! then the WebSocket upgrade, each failure mapped to the core's [`DialFailure`].

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

use super::network::{io_failure, Network};
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
/// (a tunnel of your own, a Unix socket, an in-memory peer for tests and fuzzing). It
/// supplies the bytes only: for `wss` the client's TLS still runs on top, with its
/// roots, verifier and the URL's server name.
pub type Connector = Arc<
    dyn Fn(
            &url::Url,
        ) -> Pin<
            Box<dyn std::future::Future<Output = Result<Box<dyn Duplex>, DialFailure>> + Send>,
        > + Send
        + Sync,
>;

/// TCP, TLS over TCP, or a stream from a [`Connector`] (with TLS on top for `wss`).
pub enum MaybeTls {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP.
    Tls(Box<futures_rustls::client::TlsStream<TcpStream>>),
    /// A stream from a custom connector.
    Custom(Box<dyn Duplex>),
    /// TLS over a stream from a custom connector (`wss`).
    CustomTls(Box<futures_rustls::client::TlsStream<Box<dyn Duplex>>>),
}

/// The socket the WebSocket runs over, with the raw close-frame scanner.
pub type Io = CloseSniffer<MaybeTls>;
/// An open WebSocket.
pub type Ws = WebSocketStream<Io>;

/// Resolve, connect (directly or through the proxy's tunnel), and (for `wss`) run the
/// TLS handshake.
pub async fn connect(
    target: &Target,
    network: &Network,
    tls: Option<Arc<ClientConfig>>,
) -> Result<MaybeTls, DialFailure> {
    let tcp = network.open(target).await?;
    secure(target, tcp, tls).await
}

/// For a `wss`/`https` target, run the TLS handshake over `tcp`.
pub(crate) async fn secure(
    target: &Target,
    tcp: TcpStream,
    tls: Option<Arc<ClientConfig>>,
) -> Result<MaybeTls, DialFailure> {
    match target.tls {
        true => Ok(MaybeTls::Tls(Box::new(tls_over(target, tcp, tls).await?))),
        false => Ok(MaybeTls::Plain(tcp)),
    }
}

/// For a `wss` target, run the TLS handshake over a custom connector's stream: the
/// connector supplies the bytes, TLS applies on top as over TCP.
pub(crate) async fn secure_custom(
    target: &Target,
    stream: Box<dyn Duplex>,
    tls: Option<Arc<ClientConfig>>,
) -> Result<MaybeTls, DialFailure> {
    match target.tls {
        true => Ok(MaybeTls::CustomTls(Box::new(
            tls_over(target, stream, tls).await?,
        ))),
        false => Ok(MaybeTls::Custom(stream)),
    }
}

/// The TLS handshake with the target's name (SNI and verification) over `stream`.
async fn tls_over<S: AsyncRead + AsyncWrite + Unpin>(
    target: &Target,
    stream: S,
    tls: Option<Arc<ClientConfig>>,
) -> Result<futures_rustls::client::TlsStream<S>, DialFailure> {
    let config = tls.ok_or_else(|| DialFailure::Tls("no TLS configuration".into()))?;
    let name = ServerName::try_from(target.host.clone())
        .map_err(|e| DialFailure::Tls(format!("invalid server name {}: {e}", target.host)))?;
    match TlsConnector::from(config).connect(name, stream).await {
        Ok(s) => Ok(s),
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
        // A `Host` of the application's replaces the URL's; other names may repeat.
        if name == async_tungstenite::tungstenite::http::header::HOST {
            request.headers_mut().insert(name, value);
        } else {
            request.headers_mut().append(name, value);
        }
    }
    let (io, scanner) = CloseSniffer::new(stream);
    match async_tungstenite::client_async_with_config(request, io, Some(config)).await {
        Ok((ws, _response)) => Ok((ws, scanner)),
        Err(WsError::Http(response)) => Err(status_failure(target, &response)),
        Err(WsError::Io(e)) => Err(io_failure(&e)),
        Err(e) => Err(DialFailure::Io(e.to_string())),
    }
}

fn status_failure(target: &Target, response: &Response) -> DialFailure {
    let status = response.status().as_u16();
    if (300..400).contains(&status) {
        let location = shown_location(&target.url, response.headers());
        return DialFailure::Redirect { status, location };
    }
    DialFailure::Status {
        status,
        retry_after: retry_after_of(response.headers()),
    }
}

/// A redirect's `Location` as causes show it: resolved against the URL asked, without
/// credentials or query; `None` without the header. (The upgrade's and the fallback's.)
pub(crate) fn shown_location(base: &url::Url, headers: &http::HeaderMap) -> Option<String> {
    let location = String::from_utf8_lossy(headers.get(http::header::LOCATION)?.as_bytes());
    Some(match base.join(location.trim()) {
        Ok(u) => Redacted(&u).to_string(),
        Err(_) => "(not a URL)".to_string(),
    })
}

/// A response's `Retry-After`, parsed (see [`parse_retry_after`]).
pub(crate) fn retry_after_of(headers: &http::HeaderMap) -> Option<Duration> {
    let value = headers.get(http::header::RETRY_AFTER)?.to_str().ok()?;
    parse_retry_after(value, SystemTime::now())
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
            MaybeTls::Tls(s) => Pin::new(s.as_mut())
                .poll_read(cx, buf)
                .map_err(tls_read_error),
            MaybeTls::Custom(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            MaybeTls::CustomTls(s) => Pin::new(s.as_mut())
                .poll_read(cx, buf)
                .map_err(tls_read_error),
        }
    }
}

/// What causes say when the server ended the TCP connection inside a TLS session,
/// without the TLS `close_notify` alert first.
pub(crate) const TLS_ENDED_WITHOUT_CLOSE_NOTIFY: &str =
    "the server ended the TLS session without close_notify";

/// A read error of a TLS session, in the words causes use. rustls reports a session
/// the server ended without `close_notify` as `UnexpectedEof` with a text of its own
/// ending in a link to its manual; that text is library-internal and never reaches a
/// cause (on the dial, the open connection and the fallback alike, which all read
/// through here).
fn tls_read_error(e: io::Error) -> io::Error {
    match e.kind() {
        io::ErrorKind::UnexpectedEof => {
            io::Error::new(io::ErrorKind::UnexpectedEof, TLS_ENDED_WITHOUT_CLOSE_NOTIFY)
        }
        _ => e,
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
            MaybeTls::CustomTls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_flush(cx),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            MaybeTls::Custom(s) => Pin::new(s.as_mut()).poll_flush(cx),
            MaybeTls::CustomTls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_close(cx),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_close(cx),
            MaybeTls::Custom(s) => Pin::new(s.as_mut()).poll_close(cx),
            MaybeTls::CustomTls(s) => Pin::new(s.as_mut()).poll_close(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tls_session_ended_without_close_notify_is_said_in_our_words() {
        let rustls = io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "peer closed connection without sending TLS close_notify: \
             https://docs.rs/rustls/latest/rustls/manual/_03_howto/index.html#unexpected-eof",
        );
        let said = tls_read_error(rustls);
        assert_eq!(said.kind(), io::ErrorKind::UnexpectedEof);
        assert_eq!(said.to_string(), TLS_ENDED_WITHOUT_CLOSE_NOTIFY);
        let reset = tls_read_error(io::Error::from(io::ErrorKind::ConnectionReset));
        assert_eq!(reset.kind(), io::ErrorKind::ConnectionReset, "others pass");
    }

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
    fn locations_are_resolved_and_lose_their_secrets() {
        let base = url::Url::parse("wss://api.test:8443/v1/ws").unwrap();
        let shown = |location: &str| {
            let mut headers = http::HeaderMap::new();
            headers.insert(http::header::LOCATION, location.parse().unwrap());
            shown_location(&base, &headers).expect("a Location")
        };
        assert_eq!(
            shown("/v2/ws?token=sk-1"),
            "wss://api.test:8443/v2/ws?<redacted>"
        );
        assert_eq!(
            shown("https://u:pw@other.test/x"),
            "https://<redacted>@other.test/x"
        );
        assert_eq!(shown("http://[::1"), "(not a URL)");
        assert_eq!(shown_location(&base, &http::HeaderMap::new()), None);
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
