//! A hostile WebSocket server on an in-memory stream, for testkit/tests/hostile_server.rs:
//! it answers the upgrade properly, then sends scripted bytes, floods, and stalls or
//! ends; it counts what the client reads.
#![allow(dead_code)]

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use async_tungstenite::tungstenite::handshake::derive_accept_key;
use futures_lite::{AsyncRead, AsyncWrite};

/// How the peer goes on once its bytes (or its flood budget) run out.
#[derive(Clone, Copy, PartialEq)]
pub enum Then {
    /// End the stream (EOF).
    Eof,
    /// Send nothing more and keep the stream open.
    Stall,
}

/// A server on an in-memory stream: answers the upgrade with 101, sends `head`, then
/// `repeat` over and over until `budget` bytes of it have been read, then `then`.
/// Discards what the client writes; counts what the client reads.
#[derive(Clone)]
pub struct Hostile {
    pub head: Vec<u8>,
    pub repeat: Vec<u8>,
    pub budget: usize,
    pub then: Then,
    /// The most bytes one connection read after the 101 (shared by every dial).
    pub most_read: Arc<AtomicUsize>,
    /// Told once this many flood bytes have been read (or the flood has ended).
    pub flooded: Option<(usize, async_channel::Sender<()>)>,
}

impl Hostile {
    pub fn new(head: Vec<u8>, then: Then) -> Hostile {
        Hostile {
            head,
            repeat: Vec::new(),
            budget: 0,
            then,
            most_read: Arc::default(),
            flooded: None,
        }
    }

    pub fn flood(mut self, repeat: Vec<u8>, budget: usize) -> Hostile {
        self.repeat = repeat;
        self.budget = budget;
        self
    }

    pub fn stream(&self) -> Stream {
        Stream {
            peer: self.clone(),
            request: Vec::new(),
            response: None,
            at: 0,
            flood: 0,
        }
    }
}

pub struct Stream {
    peer: Hostile,
    request: Vec<u8>,
    /// The 101 answer and `head`, once the request has ended; and how much was read.
    response: Option<(Vec<u8>, usize)>,
    at: usize,
    /// Bytes of the flood read.
    flood: usize,
}

impl Stream {
    fn answer(&mut self) -> Option<(Vec<u8>, usize)> {
        let text = String::from_utf8_lossy(&self.request);
        let key = text
            .lines()
            .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))?;
        let mut r = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
            derive_accept_key(key.trim().as_bytes())
        )
        .into_bytes();
        let upgrade = r.len();
        r.extend_from_slice(&self.peer.head);
        Some((r, upgrade))
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let s = &mut *self;
        if s.response.is_none() {
            match s.answer() {
                Some(r) => s.response = Some(r),
                // The client reads before its request has ended: nothing will come.
                None => return Poll::Ready(Ok(0)),
            }
        }
        let (response, upgrade) = s.response.as_ref().unwrap();
        let n = if s.at < response.len() {
            let n = (response.len() - s.at).min(buf.len());
            buf[..n].copy_from_slice(&response[s.at..s.at + n]);
            s.at += n;
            n
        } else {
            let left = s.peer.budget - s.flood;
            if left == 0 || s.peer.repeat.is_empty() {
                if let Some((_, tx)) = s.peer.flooded.take() {
                    let _ = tx.try_send(());
                }
                return match s.peer.then {
                    Then::Eof => Poll::Ready(Ok(0)),
                    Then::Stall => Poll::Pending,
                };
            }
            let n = left.min(buf.len());
            let r = &s.peer.repeat;
            for (i, b) in buf[..n].iter_mut().enumerate() {
                *b = r[(s.flood + i) % r.len()];
            }
            s.flood += n;
            if let Some((at, tx)) = &s.peer.flooded {
                if s.flood >= *at {
                    let _ = tx.try_send(());
                }
            }
            n
        };
        let after_upgrade = s.at.saturating_sub(*upgrade) + s.flood;
        s.peer.most_read.fetch_max(after_upgrade, Ordering::SeqCst);
        Poll::Ready(Ok(n))
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.response.is_none() && self.request.len() < 64 << 10 {
            self.request.extend_from_slice(buf);
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// A frame from the server (unmasked): `first` byte (FIN, opcode), then the payload.
pub fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![first];
    match payload.len() {
        n @ 0..=125 => f.push(n as u8),
        n @ 126..=65535 => {
            f.push(126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(payload);
    f
}
