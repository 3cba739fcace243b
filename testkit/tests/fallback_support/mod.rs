//! Fallback servers with faults, for the fallback tests: a raw loopback HTTP server
//! whose connections stall, answer with fixed bytes or stream without end, an HTTP/2
//! server that the test can ping ([`h2_server`]), and an in-memory [`Fallback`] whose
//! responses the test drives item by item.
#![allow(dead_code)]

pub mod h2_server;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_net::{TcpListener, TcpStream};
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use redial::driver::{Fallback, FallbackStream, Headers};
use redial::policy::FallbackError;

/// What one connection to a [`RawHttp`] server does.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Accept, read nothing, answer nothing; keep the connection open.
    Stall,
    /// Read the request's first bytes, write these bytes, keep the connection open.
    Bytes(Vec<u8>),
    /// Read the request's first bytes, then close the connection without answering.
    ReadAndClose,
    /// Read the request's first bytes, write `head`, then `chunk` again and again (one
    /// every `every`, or as fast as the client reads) until a write fails: the client
    /// closed the connection ([`RawHttp::wait_closed`]). At most `ENDLESS_CHUNKS`.
    Endless {
        head: Vec<u8>,
        chunk: Vec<u8>,
        every: Option<Duration>,
    },
}

/// The most chunks a [`Reply::Endless`] connection writes (a bound on the loop, far
/// beyond any test).
const ENDLESS_CHUNKS: usize = 1_000_000;

/// `200 text/event-stream` headers followed by `body` (no length: the stream stays open).
pub fn sse(body: &str) -> Reply {
    Reply::Bytes(
        format!("HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n{body}").into_bytes(),
    )
}

/// A raw HTTP server on loopback: connection `i` (from 1) gets `replies(i)`.
pub struct RawHttp {
    pub url: String,
    pub connections: Arc<Mutex<usize>>,
    /// One `()` for each [`Reply::Endless`] connection that the client closed.
    closed: async_channel::Receiver<()>,
    _task: async_std::task::JoinHandle<()>,
}

impl RawHttp {
    pub async fn start(replies: impl Fn(usize) -> Reply + Send + Sync + 'static) -> RawHttp {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v1/responses", listener.local_addr().unwrap());
        let connections = Arc::new(Mutex::new(0));
        let count = connections.clone();
        let (closing, closed) = async_channel::unbounded();
        let task = async_std::task::spawn(async move {
            let mut held: Vec<TcpStream> = Vec::new();
            // Bounded: a test makes few connections.
            for _ in 0..1000 {
                let Ok((mut tcp, _)) = listener.accept().await else {
                    return;
                };
                let index = {
                    let mut c = count.lock().unwrap();
                    *c += 1;
                    *c
                };
                match replies(index) {
                    Reply::Bytes(bytes) => {
                        let mut buf = [0u8; 4096];
                        let _ = tcp.read(&mut buf).await;
                        let _ = tcp.write_all(&bytes).await;
                        let _ = tcp.flush().await;
                    }
                    Reply::ReadAndClose => {
                        let mut buf = [0u8; 4096];
                        let _ = tcp.read(&mut buf).await;
                        continue;
                    }
                    Reply::Stall => {}
                    Reply::Endless { head, chunk, every } => {
                        let closing = closing.clone();
                        async_std::task::spawn(async move {
                            let mut buf = [0u8; 4096];
                            let _ = tcp.read(&mut buf).await;
                            let mut next = head;
                            for _ in 0..ENDLESS_CHUNKS {
                                if tcp.write_all(&next).await.is_err() || tcp.flush().await.is_err()
                                {
                                    let _ = closing.send(()).await;
                                    return;
                                }
                                next.clone_from(&chunk);
                                if let Some(every) = every {
                                    async_io::Timer::after(every).await;
                                }
                            }
                        });
                        continue;
                    }
                }
                held.push(tcp);
            }
        });
        RawHttp {
            url,
            connections,
            closed,
            _task: task,
        }
    }

    pub fn connections(&self) -> usize {
        *self.connections.lock().unwrap()
    }

    /// Waits until the client has closed one more [`Reply::Endless`] connection (the
    /// server's write failed). No timeout: wrap it in one.
    pub async fn wait_closed(&self) {
        self.closed.recv().await.expect("the server runs");
    }
}

/// A URL on loopback where nothing listens.
pub async fn closed_port_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}/v1/responses")
}

type Item = Result<String, FallbackError>;

/// An in-memory fallback: each request's body is recorded, and its response is a
/// channel the test feeds ([`Scripted::respond`]).
#[derive(Clone, Default)]
pub struct Scripted {
    pub bodies: Arc<Mutex<Vec<String>>>,
    pending: Arc<Mutex<VecDeque<async_channel::Sender<Item>>>>,
    notify: Arc<Mutex<Option<async_channel::Sender<()>>>>,
}

impl Scripted {
    /// A fallback and a receiver that gets `()` for each request made.
    pub fn new() -> (Scripted, async_channel::Receiver<()>) {
        let (tx, rx) = async_channel::unbounded();
        let s = Scripted::default();
        *s.notify.lock().unwrap() = Some(tx);
        (s, rx)
    }

    /// The response channel of the oldest request not yet taken: send items, drop to
    /// end the response.
    pub fn respond(&self) -> async_channel::Sender<Item> {
        self.pending
            .lock()
            .unwrap()
            .pop_front()
            .expect("a request was made")
    }
}

impl Fallback for Scripted {
    fn request(&self, body: String, _headers: &Headers) -> FallbackStream {
        let (tx, rx) = async_channel::unbounded();
        self.bodies.lock().unwrap().push(body);
        self.pending.lock().unwrap().push_back(tx);
        if let Some(n) = self.notify.lock().unwrap().as_ref() {
            let _ = n.try_send(());
        }
        Box::pin(rx)
    }

    fn describe(&self) -> String {
        "scripted".into()
    }
}
