//! An in-memory WebSocket server for tests, fuzzing and replays: it answers the upgrade
//! properly, then plays a fixed byte string (frames, fragments, garbage) and ends.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use async_tungstenite::tungstenite::handshake::derive_accept_key;
use futures_lite::{AsyncRead, AsyncWrite};

/// The most request bytes kept while waiting for the upgrade request to end.
const MAX_REQUEST: usize = 64 * 1024;

/// A byte stream whose far end is a scripted server: use it with
/// [`ClientBuilder::connector`](super::ClientBuilder::connector).
///
/// ```
/// use redial::testing::MemoryPeer;
/// // After the 101: a text frame "hi", then a close frame with code 1008.
/// let peer = MemoryPeer::new(vec![0x81, 0x02, b'h', b'i', 0x88, 0x02, 0x03, 0xf0]);
/// assert_eq!(peer.written(), 0);
/// ```
#[derive(Debug, Default)]
pub struct MemoryPeer {
    request: Vec<u8>,
    after_upgrade: Vec<u8>,
    response: Option<Vec<u8>>,
    read: usize,
    written: usize,
}

impl MemoryPeer {
    /// A peer that answers the upgrade with 101, then sends `after_upgrade` and EOF.
    pub fn new(after_upgrade: Vec<u8>) -> MemoryPeer {
        MemoryPeer {
            after_upgrade,
            ..MemoryPeer::default()
        }
    }

    /// Bytes the client has written (the upgrade request included).
    pub fn written(&self) -> usize {
        self.written
    }

    fn answer(&mut self) -> Vec<u8> {
        let text = String::from_utf8_lossy(&self.request);
        let key = text
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.trim()
                    .eq_ignore_ascii_case("sec-websocket-key")
                    .then(|| value.trim().to_string())
            })
            .unwrap_or_default();
        let mut out = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
            derive_accept_key(key.as_bytes())
        )
        .into_bytes();
        out.extend_from_slice(&self.after_upgrade);
        out
    }
}

impl AsyncRead for MemoryPeer {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.response.is_none() {
            if !this.request.windows(4).any(|w| w == b"\r\n\r\n") {
                // The client reads before finishing its request: nothing will come.
                return Poll::Ready(Ok(0));
            }
            this.response = Some(this.answer());
        }
        let response = this.response.as_deref().unwrap_or_default();
        let n = buf.len().min(response.len() - this.read);
        buf[..n].copy_from_slice(&response[this.read..this.read + n]);
        this.read += n;
        Poll::Ready(Ok(n))
    }
}

impl AsyncWrite for MemoryPeer {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        this.written += buf.len();
        if this.response.is_none() && this.request.len() < MAX_REQUEST {
            let room = MAX_REQUEST - this.request.len();
            this.request.extend_from_slice(&buf[..buf.len().min(room)]);
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
