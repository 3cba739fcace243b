//! Reaching a host: TCP (every address, Happy Eyeballs, through a proxy's tunnel when
//! one applies: [`Network`]), or a stream from a connector of the application's, then
//! TLS for `wss` and `https`. The WebSocket dial and the fallback both reach their
//! servers through here.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use async_net::TcpStream;
use futures_lite::{AsyncRead, AsyncWrite};
use futures_rustls::rustls::pki_types::ServerName;
use futures_rustls::rustls::ClientConfig;
use futures_rustls::TlsConnector;

use super::network::Network;
use super::target::Target;
use super::tls::is_certificate_error;
use crate::policy::ReachFailure;

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
            Box<dyn std::future::Future<Output = Result<Box<dyn Duplex>, ReachFailure>> + Send>,
        > + Send
        + Sync,
>;

/// TCP, TLS over TCP, or a stream from a [`Connector`] (with TLS on top for `wss`).
pub(super) enum MaybeTls {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP.
    Tls(Box<futures_rustls::client::TlsStream<TcpStream>>),
    /// A stream from a custom connector.
    Custom(Box<dyn Duplex>),
    /// TLS over a stream from a custom connector (`wss`).
    CustomTls(Box<futures_rustls::client::TlsStream<Box<dyn Duplex>>>),
}

/// Resolve, connect (directly or through the proxy's tunnel), and (for `wss`) run the
/// TLS handshake.
pub(super) async fn connect(
    target: &Target,
    network: &Network,
    tls: Option<Arc<ClientConfig>>,
) -> Result<MaybeTls, ReachFailure> {
    let tcp = network.open(target).await?;
    secure(target, tcp, tls).await
}

/// For a `wss`/`https` target, run the TLS handshake over `tcp`.
pub(crate) async fn secure(
    target: &Target,
    tcp: TcpStream,
    tls: Option<Arc<ClientConfig>>,
) -> Result<MaybeTls, ReachFailure> {
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
) -> Result<MaybeTls, ReachFailure> {
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
) -> Result<futures_rustls::client::TlsStream<S>, ReachFailure> {
    let config = tls.ok_or_else(|| ReachFailure::Tls("no TLS configuration".into()))?;
    let name = ServerName::try_from(target.host.clone())
        .map_err(|e| ReachFailure::Tls(format!("invalid server name {}: {e}", target.host)))?;
    match TlsConnector::from(config).connect(name, stream).await {
        Ok(s) => Ok(s),
        Err(e) if is_certificate_error(&e) => Err(ReachFailure::Certificate(e.to_string())),
        Err(e) => Err(ReachFailure::Tls(e.to_string())),
    }
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
}
