//! On tokio, redial runs on tokio's reactor alone: against a tokio-tungstenite server
//! in the same process, a client on `TokioRuntime` exchanges messages, reconnects
//! after the server drops it, and closes, and no async-io reactor thread was ever
//! started. This test binary uses nothing of async-io itself (no testkit server, no
//! async-io timer), so that a thread of async-io's can only come from redial.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use redial::config::{Config, Preset};
use redial::driver::{Client, Message, TokioRuntime};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message as WsMessage;

const LIMIT: Duration = Duration::from_secs(20);

/// A tokio-tungstenite server: the first connection is dropped after its first
/// message (no close frame), every later one echoes.
async fn server() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let n = count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
                    return;
                };
                while let Some(Ok(m)) = ws.next().await {
                    match m {
                        WsMessage::Text(_) | WsMessage::Binary(_) if n == 0 => return,
                        WsMessage::Text(_) | WsMessage::Binary(_) => {
                            let echoed = ws.send(m).await;
                            if echoed.is_err() {
                                return;
                            }
                        }
                        WsMessage::Close(_) => {
                            let _ = ws.close(None).await;
                            return;
                        }
                        _ => {}
                    }
                }
            });
        }
    });
    (addr, accepted)
}

/// The names of this process's threads (Linux: `/proc/self/task/*/comm`).
fn thread_names() -> Vec<String> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|n| n.trim().to_owned())
        .collect()
}

fn text(m: Message) -> String {
    match m {
        Message::Text(t) => t,
        Message::Binary(b) => panic!("a binary message of {} bytes", b.len()),
    }
}

fn fast() -> Config {
    let mut c = Preset::Default.config();
    c.backoff.base = Duration::from_millis(10);
    c.backoff.cap = Some(Duration::from_millis(100));
    c.timeouts.close_grace = Duration::from_millis(300);
    c
}

#[test]
fn a_client_on_tokio_starts_no_async_io_reactor() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (addr, accepted) = server().await;
        let client = Client::builder(format!("ws://{addr}/"))
            .config(fast())
            .runtime(TokioRuntime::current())
            .spawn()
            .expect("a valid client");
        let mut messages = client.messages();
        // The first connection is dropped at the first message: the client redials
        // (tokio's timer for the backoff, tokio's TCP) and the next one echoes.
        client.send("dropped").await.expect("room");
        let mut echoed = Vec::new();
        let mut i = 0;
        let exchange = async {
            while echoed.is_empty() {
                client.send(format!("m{i}")).await.expect("room");
                i += 1;
                let next = tokio::time::timeout(Duration::from_millis(200), messages.next());
                if let Ok(Some(m)) = next.await {
                    echoed.push(text(m));
                }
            }
        };
        tokio::time::timeout(LIMIT, exchange)
            .await
            .expect("an echo after the reconnect");
        assert!(echoed[0].starts_with('m'), "{echoed:?}");
        assert!(accepted.load(Ordering::SeqCst) >= 2, "a reconnect happened");
        tokio::time::timeout(LIMIT, client.close())
            .await
            .expect("closed in time");
    });
    let names = thread_names();
    assert!(
        !names.is_empty(),
        "the threads of this process are readable"
    );
    assert!(
        !names.iter().any(|n| n.contains("async-io")),
        "an async-io thread runs: {names:?}"
    );

    // The check can fail: an async-io timer waited on outside `async_io::block_on` (as
    // the async-io runtime's driver does) starts async-io's reactor thread, and the same
    // reading of the threads sees it. (One test, in this order: a test running beside
    // it would start the thread too early.)
    futures_lite::future::block_on(async_io::Timer::after(Duration::from_millis(5)));
    let names = thread_names();
    assert!(
        names.iter().any(|n| n == "async-io"),
        "async-io's thread is visible once it runs: {names:?}"
    );
}
