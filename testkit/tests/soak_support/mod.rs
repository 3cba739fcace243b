//! What the soak test needs besides the driver and the testkit: a TCP connector that
//! records, per connection, which numbered messages the driver wrote to the socket in
//! full (so a message missing at the server can be told apart from one the driver
//! dropped), and readers of `/proc/self` for memory, descriptors and threads.
#![allow(dead_code)]

pub mod account;

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};

use async_net::TcpStream;
use futures_lite::{AsyncRead, AsyncWrite};
use redial::policy::ReachFailure;
use redial_testkit::ClientFrames;

/// One client-side TCP connection as the tracker saw it.
#[derive(Debug, Default)]
pub struct ConnLog {
    /// The local port (the server sees it as the peer's port).
    pub port: u16,
    /// Whether the server answered the upgrade with 101.
    pub upgraded: bool,
    /// Sequence numbers of the text messages whose frames the kernel accepted in full,
    /// in write order.
    pub written: Vec<u32>,
}

/// The connections of one client, in dial order.
pub type ConnLogs = Arc<Mutex<Vec<Arc<Mutex<ConnLog>>>>>;

/// Opens a TCP connection to `addr` and tracks it in `logs`.
pub async fn connect(addr: SocketAddr, logs: ConnLogs) -> Result<Tracked, ReachFailure> {
    let tcp = TcpStream::connect(addr).await.map_err(|e| match e.kind() {
        io::ErrorKind::ConnectionRefused => ReachFailure::Refused,
        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => ReachFailure::Reset,
        _ => ReachFailure::Io(e.to_string()),
    })?;
    let _ = tcp.set_nodelay(true);
    let port = tcp
        .local_addr()
        .map_err(|e| ReachFailure::Io(e.to_string()))?
        .port();
    let log = Arc::new(Mutex::new(ConnLog {
        port,
        ..ConnLog::default()
    }));
    logs.lock().unwrap().push(log.clone());
    Ok(Tracked {
        tcp,
        log,
        frames: ClientFrames::default(),
        head: Vec::new(),
    })
}

/// A TCP stream that parses what the client writes (the upgrade request, then masked
/// frames) and logs every text message `"<client> <seq>"` once its last byte has been
/// accepted by the kernel.
pub struct Tracked {
    tcp: TcpStream,
    log: Arc<Mutex<ConnLog>>,
    frames: ClientFrames,
    /// The first bytes the server sent, until they tell whether it answered 101.
    head: Vec<u8>,
}

const STATUS_101: &[u8] = b"HTTP/1.1 101";

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let n = ready!(Pin::new(&mut this.tcp).poll_read(cx, buf))?;
        if this.head.len() < STATUS_101.len() {
            let take = n.min(STATUS_101.len() - this.head.len());
            this.head.extend_from_slice(&buf[..take]);
            if this.head.as_slice() == STATUS_101 {
                this.log.lock().unwrap().upgraded = true;
            }
        }
        Poll::Ready(Ok(n))
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let n = ready!(Pin::new(&mut this.tcp).poll_write(cx, buf))?;
        let log = &this.log;
        this.frames.feed(&buf[..n], |text| {
            let seq = std::str::from_utf8(text)
                .ok()
                .and_then(|t| t.split_once(' '))
                .and_then(|(_, seq)| seq.parse().ok());
            if let Some(seq) = seq {
                log.lock().unwrap().written.push(seq);
            }
        });
        Poll::Ready(Ok(n))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_close(cx)
    }
}

/// Resident memory in bytes (`/proc/self/statm`, second field, 4 KiB pages).
pub fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// Open file descriptors (`/proc/self/fd`).
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Threads of the process (`/proc/self/status`).
pub fn threads() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// In MiB, for reports.
pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

#[test]
fn the_frame_parser_finds_masked_text_in_any_chunking() {
    let mut bytes = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec();
    for (payload, opcode) in [(&b"7 41"[..], 0x81u8), (b"", 0x89), (b"7 42", 0x81)] {
        let mask = [1, 2, 3, 4];
        bytes.extend([opcode, 0x80 | payload.len() as u8]);
        bytes.extend(mask);
        bytes.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    }
    for chunk in 1..=bytes.len() {
        let mut frames = ClientFrames::default();
        let mut seen = Vec::new();
        for c in bytes.chunks(chunk) {
            frames.feed(c, |t| seen.push(t.to_vec()));
        }
        assert_eq!(seen, [b"7 41".to_vec(), b"7 42".to_vec()], "chunk {chunk}");
    }
}
