//! The SOCKS5 exchange with a proxy (RFC 1928), with user and password authentication
//! (RFC 1929) when the proxy URL has user info: a greeting, the method the proxy chose,
//! the credentials if it asked for them, one CONNECT request, one reply. Then the
//! connection is a byte stream to the target.
//!
//! Written here rather than taken from a crate: the maintained SOCKS crates speak
//! tokio's I/O traits, and the driver's streams are the runtime seam's (futures
//! `AsyncRead`/`AsyncWrite`) on both runtimes. It reads exactly the bytes each step
//! announces (never past the reply), and the fuzz target `socks5_reply` feeds it
//! hostile replies.

use std::net::SocketAddr;

use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::ProxyUrl;
use crate::policy::{ProxyFailure, SocksFailure};

/// The protocol version byte.
const VERSION: u8 = 5;
/// "No authentication required".
const NO_AUTH: u8 = 0x00;
/// "Username/password" (RFC 1929).
const USER_PASSWORD: u8 = 0x02;
/// "No acceptable methods".
const NO_ACCEPTABLE: u8 = 0xff;
/// The CONNECT command.
const CONNECT: u8 = 0x01;

/// Where the proxy is asked to connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SocksTarget<'a> {
    /// A host name the proxy resolves (`socks5h://`).
    Name(&'a str, u16),
    /// An address the client resolved (`socks5://`).
    Addr(SocketAddr),
}

impl SocksTarget<'_> {
    /// `host:port`, IPv6 in brackets, as causes name it.
    pub(crate) fn shown(&self) -> String {
        match self {
            SocksTarget::Name(host, port) => format!("{host}:{port}"),
            SocksTarget::Addr(addr) => addr.to_string(),
        }
    }
}

/// Ask the SOCKS5 proxy at the other end of `stream` to connect to `target`. On
/// success the stream carries the target's bytes; nothing past the reply was read.
pub(crate) async fn connect<S>(
    stream: &mut S,
    proxy: &ProxyUrl,
    target: SocksTarget<'_>,
) -> Result<(), ProxyFailure>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let credentials = proxy.credentials();
    let request = connect_request(target)?;
    let greeting: &[u8] = match credentials {
        Some(_) => &[VERSION, 2, NO_AUTH, USER_PASSWORD],
        None => &[VERSION, 1, NO_AUTH],
    };
    send(stream, greeting).await?;
    let [version, method] = read_n::<_, 2>(stream, "the method choice").await?;
    check_version(version)?;
    match (method, credentials) {
        (NO_AUTH, _) => {}
        (USER_PASSWORD, Some((user, password))) => {
            send(stream, &password_request(user, password)?).await?;
            let [version, status] = read_n::<_, 2>(stream, "the authentication status").await?;
            if version != 1 {
                return Err(malformed(format!(
                    "an authentication status of version {version}, not 1"
                )));
            }
            if status != 0 {
                return Err(socks(SocksFailure::AuthFailed { status }));
            }
        }
        (NO_ACCEPTABLE, _) => {
            return Err(socks(SocksFailure::NoAcceptableMethod {
                offered_password: credentials.is_some(),
            }))
        }
        (other, _) => {
            return Err(malformed(format!(
                "it chose authentication method {other:#04x}, which was not offered"
            )))
        }
    }
    send(stream, &request).await?;
    let [version, reply, _reserved, address_type] = read_n::<_, 4>(stream, "the reply").await?;
    check_version(version)?;
    if reply != 0 {
        return Err(socks(SocksFailure::Reply {
            reply,
            target: target.shown(),
        }));
    }
    // The address the proxy bound, which the client does not use: read and dropped.
    let left = match address_type {
        0x01 => 4 + 2,
        0x04 => 16 + 2,
        0x03 => usize::from(read_n::<_, 1>(stream, "the bound address").await?[0]) + 2,
        other => return Err(malformed(format!("a reply with address type {other:#04x}"))),
    };
    let mut bound = [0u8; 255 + 2];
    read_exact(stream, &mut bound[..left], "the bound address").await
}

/// The CONNECT request for `target` (RFC 1928 §4).
fn connect_request(target: SocksTarget<'_>) -> Result<Vec<u8>, ProxyFailure> {
    let mut request = vec![VERSION, CONNECT, 0];
    let port = match target {
        SocksTarget::Addr(SocketAddr::V4(a)) => {
            request.push(0x01);
            request.extend_from_slice(&a.ip().octets());
            a.port()
        }
        SocksTarget::Addr(SocketAddr::V6(a)) => {
            request.push(0x04);
            request.extend_from_slice(&a.ip().octets());
            a.port()
        }
        SocksTarget::Name(host, port) => {
            let name = host.as_bytes();
            let len = u8::try_from(name.len()).map_err(|_| {
                malformed(format!(
                    "the host name is {} bytes long, more than SOCKS5's 255",
                    name.len()
                ))
            })?;
            request.push(0x03);
            request.push(len);
            request.extend_from_slice(name);
            port
        }
    };
    request.extend_from_slice(&port.to_be_bytes());
    Ok(request)
}

/// RFC 1929's request: version 1, the user and the password, each at most 255 bytes.
fn password_request(user: &str, password: &str) -> Result<Vec<u8>, ProxyFailure> {
    let too_long = || socks(SocksFailure::CredentialsTooLong);
    let (u, p) = (user.as_bytes(), password.as_bytes());
    let mut request = vec![1, u8::try_from(u.len()).map_err(|_| too_long())?];
    request.extend_from_slice(u);
    request.push(u8::try_from(p.len()).map_err(|_| too_long())?);
    request.extend_from_slice(p);
    Ok(request)
}

fn check_version(version: u8) -> Result<(), ProxyFailure> {
    match version {
        VERSION => Ok(()),
        other => Err(malformed(format!(
            "not a SOCKS5 answer (version byte {other:#04x})"
        ))),
    }
}

fn socks(failure: SocksFailure) -> ProxyFailure {
    ProxyFailure::Socks(failure)
}

fn malformed(what: String) -> ProxyFailure {
    socks(SocksFailure::Malformed(what))
}

async fn send<S: AsyncWrite + Unpin>(stream: &mut S, bytes: &[u8]) -> Result<(), ProxyFailure> {
    let broken = |e: std::io::Error| ProxyFailure::Unreachable(e.to_string());
    stream.write_all(bytes).await.map_err(broken)?;
    stream.flush().await.map_err(broken)
}

async fn read_n<S: AsyncRead + Unpin, const N: usize>(
    stream: &mut S,
    what: &str,
) -> Result<[u8; N], ProxyFailure> {
    let mut buf = [0u8; N];
    read_exact(stream, &mut buf, what).await?;
    Ok(buf)
}

async fn read_exact<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut [u8],
    what: &str,
) -> Result<(), ProxyFailure> {
    match stream.read_exact(buf).await {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(malformed(format!(
            "it closed the connection before {what} of the SOCKS5 handshake"
        ))),
        Err(e) => Err(ProxyFailure::Unreachable(e.to_string())),
    }
}

#[cfg(any(test, feature = "testing"))]
/// Run the client's side against `replies` (the proxy's bytes, however hostile), with
/// or without credentials, to a name or an address; for the fuzz target and tests.
pub(crate) fn against(replies: &[u8], credentials: bool, name: bool) -> Result<(), ProxyFailure> {
    let url = match credentials {
        true => "socks5h://user:secret@proxy.test:1080",
        false => "socks5h://proxy.test:1080",
    };
    let proxy = ProxyUrl::parse(url).expect("a valid proxy URL");
    let target = match name {
        true => SocksTarget::Name("server.test", 443),
        false => SocksTarget::Addr(SocketAddr::from(([127, 0, 0, 1], 443))),
    };
    let mut stream = Scripted {
        replies: futures_lite::io::Cursor::new(replies.to_vec()),
        written: Vec::new(),
    };
    futures_lite::future::block_on(connect(&mut stream, &proxy, target))
}

#[cfg(any(test, feature = "testing"))]
/// A stream that answers with fixed bytes and records what was written.
struct Scripted {
    replies: futures_lite::io::Cursor<Vec<u8>>,
    written: Vec<u8>,
}

#[cfg(any(test, feature = "testing"))]
impl AsyncRead for Scripted {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut [u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.replies).poll_read(cx, buf)
    }
}

#[cfg(any(test, feature = "testing"))]
impl AsyncWrite for Scripted {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.written.extend_from_slice(buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_close(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A whole successful exchange: no authentication, reply bound to 0.0.0.0:0.
    const OK_NO_AUTH: &[u8] = &[5, 0, 5, 0, 0, 1, 0, 0, 0, 0, 0, 0];

    #[test]
    fn the_requests_are_rfc_1928s_bytes() {
        let name = connect_request(SocksTarget::Name("a.test", 443)).unwrap();
        assert_eq!(
            name,
            [5, 1, 0, 3, 6, b'a', b'.', b't', b'e', b's', b't', 1, 187]
        );
        let v4 = connect_request(SocksTarget::Addr("10.0.0.1:80".parse().unwrap())).unwrap();
        assert_eq!(v4, [5, 1, 0, 1, 10, 0, 0, 1, 0, 80]);
        let v6 = connect_request(SocksTarget::Addr("[::1]:80".parse().unwrap())).unwrap();
        assert_eq!(v6.len(), 4 + 16 + 2);
        assert_eq!(v6[3], 4);
        assert!(connect_request(SocksTarget::Name(&"x".repeat(256), 1)).is_err());
        assert_eq!(
            password_request("u", "pw").unwrap(),
            [1, 1, b'u', 2, b'p', b'w']
        );
        assert_eq!(
            password_request(&"u".repeat(256), "pw"),
            Err(socks(SocksFailure::CredentialsTooLong))
        );
    }

    #[test]
    fn every_step_reads_what_it_announces() {
        assert_eq!(against(OK_NO_AUTH, false, true), Ok(()));
        // A name as the bound address, and user/password authentication.
        let mut with_auth = vec![5, 2, 1, 0, 5, 0, 0, 3, 3, b'a', b'b', b'c', 0, 1];
        assert_eq!(against(&with_auth, true, false), Ok(()));
        with_auth[3] = 1;
        assert_eq!(
            against(&with_auth, true, false),
            Err(socks(SocksFailure::AuthFailed { status: 1 }))
        );
        assert_eq!(
            against(&[5, 0xff], false, true),
            Err(socks(SocksFailure::NoAcceptableMethod {
                offered_password: false
            }))
        );
        // Password authentication asked for but not offered.
        assert!(matches!(
            against(&[5, 2], false, true),
            Err(ProxyFailure::Socks(SocksFailure::Malformed(_)))
        ));
    }

    #[test]
    fn each_reply_code_is_kept_with_the_target() {
        for code in 1..=255u8 {
            let replies = [5, 0, 5, code, 0, 1, 0, 0, 0, 0, 0, 0];
            assert_eq!(
                against(&replies, false, true),
                Err(socks(SocksFailure::Reply {
                    reply: code,
                    target: "server.test:443".into()
                }))
            );
        }
    }

    #[test]
    fn broken_and_foreign_answers_are_malformed() {
        for replies in [
            &b"HTTP/1.1 400 Bad Request\r\n\r\n"[..],
            &[4, 0][..],
            &[5][..],
            &[5, 0, 5, 0, 0][..],
            &[5, 0, 5, 0, 0, 9][..],
            &[5, 0, 5, 0, 0, 1, 0, 0][..],
            &[5, 0, 5, 0, 0, 3][..],
            &[][..],
        ] {
            assert!(
                matches!(
                    against(replies, false, true),
                    Err(ProxyFailure::Socks(SocksFailure::Malformed(_)))
                ),
                "{replies:?}: {:?}",
                against(replies, false, true)
            );
        }
    }
}
