//! The `CONNECT` exchange with an HTTP proxy: one request, one response parsed with
//! `httparse`, then the connection is a byte stream to the target.

use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::ProxyUrl;
use crate::policy::ProxyFailure;

/// The longest answer head read from a proxy.
const MAX_HEAD: usize = 16 * 1024;
/// The most headers an answer may have.
const MAX_HEADERS: usize = 64;
/// The longest reason phrase a cause quotes, in characters.
const MAX_REASON: usize = 80;

/// Ask `proxy` (at the other end of `stream`) for a tunnel to `host:port`. The name
/// goes into the CONNECT line as it is, for the proxy to resolve. On success the
/// stream carries the target's bytes; nothing past the answer's head has been read.
pub(crate) async fn tunnel<S>(
    stream: &mut S,
    proxy: &ProxyUrl,
    host: &str,
    port: u16,
) -> Result<(), ProxyFailure>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let authority = match host.contains(':') {
        true => format!("[{host}]:{port}"),
        false => format!("{host}:{port}"),
    };
    let mut request = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
    if let Some(auth) = proxy.authorization() {
        request.push_str("Proxy-Authorization: ");
        request.push_str(&auth);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    let broken = |e: std::io::Error| ProxyFailure::Unreachable(e.to_string());
    stream.write_all(request.as_bytes()).await.map_err(broken)?;
    stream.flush().await.map_err(broken)?;
    let head = read_head(stream).await?;
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    match response.parse(&head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => {
            return Err(ProxyFailure::Malformed("an incomplete answer".into()))
        }
        Err(e) => return Err(ProxyFailure::Malformed(e.to_string())),
    }
    match response.code {
        Some(200..=299) => Ok(()),
        Some(status) => Err(ProxyFailure::Status {
            status,
            reason: response.reason.and_then(shown_reason),
        }),
        None => Err(ProxyFailure::Malformed("no status".into())),
    }
}

/// A status line's reason phrase as causes quote it: trimmed, without control
/// characters, at most [`MAX_REASON`] characters; `None` when nothing is left.
fn shown_reason(reason: &str) -> Option<String> {
    let mut shown: String = reason
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_REASON + 1)
        .collect();
    if shown.chars().count() > MAX_REASON {
        shown = shown.chars().take(MAX_REASON).collect::<String>() + "…";
    }
    (!shown.is_empty()).then_some(shown)
}

/// Read up to the blank line that ends the answer's head, a byte at a time: the bytes
/// after it belong to the target.
async fn read_head<S: AsyncRead + Unpin>(stream: &mut S) -> Result<Vec<u8>, ProxyFailure> {
    let mut head = Vec::with_capacity(128);
    let mut byte = [0u8; 1];
    loop {
        let n = stream
            .read(&mut byte)
            .await
            .map_err(|e| ProxyFailure::Unreachable(e.to_string()))?;
        if n == 0 {
            return Err(match head.is_empty() {
                true => ProxyFailure::Unreachable(
                    "it closed the connection without answering the CONNECT".into(),
                ),
                false => ProxyFailure::Malformed("the answer broke off".into()),
            });
        }
        head.push(byte[0]);
        if head.ends_with(b"\r\n\r\n") || head.ends_with(b"\n\n") {
            return Ok(head);
        }
        if head.len() >= MAX_HEAD {
            return Err(ProxyFailure::Malformed(format!(
                "an answer head longer than {MAX_HEAD} bytes"
            )));
        }
    }
}

#[cfg(test)]
mod tests {
    use futures_lite::future::block_on;
    use futures_lite::io::Cursor;

    use super::*;

    /// A stream that answers with `reply` and records what was written.
    struct Scripted {
        reply: Cursor<Vec<u8>>,
        written: Vec<u8>,
    }

    impl AsyncRead for Scripted {
        fn poll_read(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
            buf: &mut [u8],
        ) -> std::task::Poll<std::io::Result<usize>> {
            std::pin::Pin::new(&mut self.reply).poll_read(cx, buf)
        }
    }

    impl AsyncWrite for Scripted {
        fn poll_write(
            mut self: std::pin::Pin<&mut Self>,
            _cx: &mut std::task::Context<'_>,
            buf: &[u8],
        ) -> std::task::Poll<std::io::Result<usize>> {
            self.written.extend_from_slice(buf);
            std::task::Poll::Ready(Ok(buf.len()))
        }
        fn poll_flush(
            self: std::pin::Pin<&mut Self>,
            _cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
        fn poll_close(
            self: std::pin::Pin<&mut Self>,
            _cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
    }

    fn run(proxy: &str, host: &str, reply: &[u8]) -> (Result<(), ProxyFailure>, String, Vec<u8>) {
        let mut s = Scripted {
            reply: Cursor::new(reply.to_vec()),
            written: Vec::new(),
        };
        let proxy = ProxyUrl::parse(proxy).unwrap();
        let r = block_on(tunnel(&mut s, &proxy, host, 443));
        let pos = s.reply.position() as usize;
        let rest = s.reply.get_ref()[pos..].to_vec();
        (r, String::from_utf8(s.written).unwrap(), rest)
    }

    #[test]
    fn the_request_names_the_target_and_the_answer_is_read_to_its_end_only() {
        let (r, sent, rest) = run(
            "http://alice:s3cret@p:1",
            "api.example.com",
            b"HTTP/1.1 200 Connection established\r\nVia: p\r\n\r\n\x16\x03",
        );
        assert_eq!(r, Ok(()));
        let auth = data_encoding::BASE64.encode(b"alice:s3cret");
        assert_eq!(
            sent,
            format!(
                "CONNECT api.example.com:443 HTTP/1.1\r\nHost: api.example.com:443\r\n\
                 Proxy-Authorization: Basic {auth}\r\n\r\n"
            )
        );
        assert_eq!(rest, b"\x16\x03", "the target's bytes are left unread");
        let (_, sent, _) = run("p:1", "::1", b"HTTP/1.0 200 OK\r\n\r\n");
        assert!(sent.starts_with("CONNECT [::1]:443 HTTP/1.1\r\nHost: [::1]:443\r\n\r\n"));
    }

    fn answered(status: u16, reason: &str) -> Result<(), ProxyFailure> {
        Err(ProxyFailure::Status {
            status,
            reason: Some(reason.into()),
        })
    }

    #[test]
    fn statuses_and_broken_answers_are_named() {
        let status = |reply: &[u8]| run("p:1", "t", reply).0;
        assert_eq!(
            status(
                b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n"
            ),
            answered(407, "Proxy Authentication Required")
        );
        assert_eq!(
            status(b"HTTP/1.1 403 Forbidden\n\n"),
            answered(403, "Forbidden")
        );
        assert_eq!(
            status(b"HTTP/1.1 502 Bad Gateway\r\n\r\n"),
            answered(502, "Bad Gateway")
        );
        // The reason as the proxy sent it (tinyproxy's), not the status's standard one.
        assert_eq!(
            status(b"HTTP/1.0 500 Unable to connect\r\n\r\n"),
            answered(500, "Unable to connect")
        );
        assert_eq!(
            status(b"HTTP/1.1 401 \r\n\r\n"),
            Err(ProxyFailure::status(401)),
            "an empty reason is none"
        );
        let long = format!("HTTP/1.1 500 {}\r\n\r\n", "x".repeat(200));
        match status(long.as_bytes()) {
            Err(ProxyFailure::Status {
                reason: Some(r), ..
            }) => assert_eq!(r, format!("{}…", "x".repeat(MAX_REASON))),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            status(b"SSH-2.0-OpenSSH\r\n\r\n"),
            Err(ProxyFailure::Malformed(_))
        ));
        assert!(matches!(
            status(b"HTTP/1.1 200 OK\r\n"),
            Err(ProxyFailure::Malformed(_))
        ));
        assert!(matches!(status(b""), Err(ProxyFailure::Unreachable(_))));
        let long = [b"HTTP/1.1 200 OK\r\nX: ".as_slice(), &[b'a'; MAX_HEAD]].concat();
        assert!(matches!(status(&long), Err(ProxyFailure::Malformed(m)) if m.contains("longer")));
    }
}
