//! Recover the raw close code from the wire.
//!
//! tungstenite rewrites a received close code that must not be on the wire or is
//! reserved (1004, 1005, 1006, 1014, 1015, <1000, 1016–2999, ≥5000) into 1002 with the
//! reason "Protocol violation". The policy classifies raw codes — 1014 (bad gateway) is
//! transient, not a protocol error — so the driver reads the close frame itself:
//! [`CloseSniffer`] passes the server's bytes through unchanged and a [`FrameScanner`]
//! follows the HTTP response and the frame headers after it, keeping the payload of the
//! first close frame (the one tungstenite reports). It keeps a bounded amount of state
//! whatever the peer sends.

use crate::driver::lock::lock;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use futures_lite::{AsyncRead, AsyncWrite};

/// A close frame as it was on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawClose {
    /// The status code, or `None` when the payload was empty.
    pub code: Option<u16>,
    /// The reason bytes (at most 123).
    pub reason: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Inside the HTTP response; `matched` bytes of "\r\n\r\n" seen.
    Http { matched: u8 },
    /// Reading a frame header of `need` bytes (2, then 4/10/14 once the length is known).
    Header { need: usize },
    /// Skipping or capturing `left` payload bytes.
    Payload {
        left: u64,
        close: bool,
        mask: Option<[u8; 4]>,
        offset: usize,
    },
}

/// Follows server-to-client bytes: the HTTP response, then frame after frame.
#[derive(Debug, Clone)]
pub struct FrameScanner {
    phase: Phase,
    header: [u8; 14],
    have: usize,
    close: Vec<u8>,
    first_close: Option<RawClose>,
    /// The HTTP response's head, kept (at most [`MAX_HEAD`] bytes) until the upgrade's
    /// outcome is known: the dial reads the server's `Sec-WebSocket-Protocol` from it
    /// even when tungstenite refused the answer.
    head: Vec<u8>,
}

/// The most of an HTTP response head a [`FrameScanner`] keeps.
pub(crate) const MAX_HEAD: usize = 16 * 1024;

impl Default for FrameScanner {
    fn default() -> Self {
        FrameScanner {
            phase: Phase::Http { matched: 0 },
            header: [0; 14],
            have: 0,
            close: Vec::new(),
            first_close: None,
            head: Vec::new(),
        }
    }
}

impl FrameScanner {
    /// A scanner at the start of the HTTP response.
    pub fn new() -> FrameScanner {
        FrameScanner::default()
    }

    /// The close frame of the connection: the first complete one seen. The WebSocket
    /// library reports the first close frame and reads nothing after it (RFC 6455 §5.5.1:
    /// nothing follows a close), so a later one must not replace its code.
    pub fn close_frame(&self) -> Option<&RawClose> {
        self.first_close.as_ref()
    }

    /// The HTTP response head read so far (at most 16 KiB, its blank line
    /// included once complete), until [`forget_head`](FrameScanner::forget_head).
    pub fn response_head(&self) -> &[u8] {
        &self.head
    }

    /// Drop the kept response head (the upgrade's outcome is known).
    pub fn forget_head(&mut self) {
        self.head = Vec::new();
    }

    /// Feed bytes as they arrived.
    pub fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            match self.phase {
                Phase::Http { matched } => {
                    const END: &[u8; 4] = b"\r\n\r\n";
                    let mut m = matched as usize;
                    let mut used = 0;
                    for &b in bytes {
                        used += 1;
                        m = if b == END[m] {
                            m + 1
                        } else {
                            usize::from(b == END[0])
                        };
                        if m == 4 {
                            break;
                        }
                    }
                    let keep = used.min(MAX_HEAD - self.head.len().min(MAX_HEAD));
                    self.head.extend_from_slice(&bytes[..keep]);
                    bytes = &bytes[used..];
                    self.phase = if m == 4 {
                        self.have = 0;
                        Phase::Header { need: 2 }
                    } else {
                        Phase::Http { matched: m as u8 }
                    };
                }
                Phase::Header { need } => {
                    let take = (need - self.have).min(bytes.len());
                    self.header[self.have..self.have + take].copy_from_slice(&bytes[..take]);
                    self.have += take;
                    bytes = &bytes[take..];
                    if self.have == need {
                        self.header_complete(need);
                    }
                }
                Phase::Payload {
                    left,
                    close,
                    mask,
                    offset,
                } => {
                    let take = (left.min(bytes.len() as u64)) as usize;
                    if close {
                        for (i, &b) in bytes[..take].iter().enumerate() {
                            if self.close.len() < 125 {
                                let k = mask.map_or(0, |m| m[(offset + i) % 4]);
                                self.close.push(b ^ k);
                            }
                        }
                    }
                    bytes = &bytes[take..];
                    let left = left - take as u64;
                    self.phase = Phase::Payload {
                        left,
                        close,
                        mask,
                        offset: offset + take,
                    };
                    if left == 0 {
                        self.payload_complete(close);
                    }
                }
            }
        }
    }

    fn header_complete(&mut self, need: usize) {
        let h = &self.header;
        let masked = h[1] & 0x80 != 0;
        let len7 = h[1] & 0x7f;
        let ext = match len7 {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let full = 2 + ext + if masked { 4 } else { 0 };
        if need < full {
            self.phase = Phase::Header { need: full };
            return;
        }
        let len = match ext {
            2 => u64::from(u16::from_be_bytes([h[2], h[3]])),
            8 => u64::from_be_bytes([h[2], h[3], h[4], h[5], h[6], h[7], h[8], h[9]]),
            _ => u64::from(len7),
        };
        let mask = masked.then(|| {
            let k = 2 + ext;
            [h[k], h[k + 1], h[k + 2], h[k + 3]]
        });
        let close = h[0] & 0x0f == 0x8;
        self.close.clear();
        self.have = 0;
        self.phase = Phase::Payload {
            left: len,
            close,
            mask,
            offset: 0,
        };
        if len == 0 {
            self.payload_complete(close);
        }
    }

    fn payload_complete(&mut self, close: bool) {
        if close && self.first_close.is_none() {
            let p = std::mem::take(&mut self.close);
            self.first_close = Some(match p.len() {
                0 | 1 => RawClose {
                    code: None,
                    reason: Vec::new(),
                },
                _ => RawClose {
                    code: Some(u16::from_be_bytes([p[0], p[1]])),
                    reason: p[2..].to_vec(),
                },
            });
        }
        self.have = 0;
        self.phase = Phase::Header { need: 2 };
    }
}

/// A stream wrapper that lets every byte through and scans what the server sends.
#[derive(Debug)]
pub(crate) struct CloseSniffer<S> {
    inner: S,
    scanner: Arc<Mutex<FrameScanner>>,
}

impl<S> CloseSniffer<S> {
    /// Wrap `inner`; read the last close frame through the returned handle.
    pub(crate) fn new(inner: S) -> (CloseSniffer<S>, Arc<Mutex<FrameScanner>>) {
        let scanner = Arc::new(Mutex::new(FrameScanner::new()));
        (
            CloseSniffer {
                inner,
                scanner: scanner.clone(),
            },
            scanner,
        )
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for CloseSniffer<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let n = futures_lite::ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        lock(&this.scanner).feed(&buf[..n]);
        Poll::Ready(Ok(n))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for CloseSniffer<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close_frame(code: Option<u16>, reason: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
        let mut payload = Vec::new();
        if let Some(c) = code {
            payload.extend_from_slice(&c.to_be_bytes());
        }
        payload.extend_from_slice(reason);
        let mut f = vec![
            0x88,
            payload.len() as u8 | if mask.is_some() { 0x80 } else { 0 },
        ];
        if let Some(m) = mask {
            f.extend_from_slice(&m);
            for (i, b) in payload.iter_mut().enumerate() {
                *b ^= m[i % 4];
            }
        }
        f.extend_from_slice(&payload);
        f
    }

    fn stream(frames: &[Vec<u8>]) -> Vec<u8> {
        let mut s = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n".to_vec();
        for f in frames {
            s.extend_from_slice(f);
        }
        s
    }

    #[test]
    fn finds_the_raw_code_after_text_and_long_frames_in_any_chunking() {
        let mut long = vec![0x82, 126, 0x01, 0x00];
        long.extend(std::iter::repeat_n(0xAB, 256));
        let bytes = stream(&[
            vec![0x81, 0x02, b'h', b'i'],
            long,
            vec![0x89, 0x00],
            close_frame(Some(1014), b"bad gateway", None),
        ]);
        for chunk in 1..=bytes.len() {
            let mut s = FrameScanner::new();
            for c in bytes.chunks(chunk) {
                s.feed(c);
            }
            let close = s.close_frame().expect("close seen");
            assert_eq!(close.code, Some(1014), "chunk {chunk}");
            assert_eq!(close.reason, b"bad gateway");
        }
    }

    #[test]
    fn empty_close_has_no_code_and_masks_are_undone() {
        let mut s = FrameScanner::new();
        s.feed(&stream(&[close_frame(None, b"", None)]));
        assert_eq!(s.close_frame().unwrap().code, None);
        let mut s = FrameScanner::new();
        s.feed(&stream(&[close_frame(
            Some(4999),
            b"x",
            Some([1, 2, 3, 4]),
        )]));
        assert_eq!(s.close_frame().unwrap().code, Some(4999));
        assert_eq!(s.close_frame().unwrap().reason, b"x");
    }

    #[test]
    fn garbage_never_panics_and_stays_bounded() {
        let mut s = FrameScanner::new();
        let mut x: u32 = 12345;
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            s.feed(&x.to_le_bytes());
        }
        assert!(s.close.len() <= 125);
    }
}
