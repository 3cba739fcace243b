//! The runtime seam's contract, checked on both runtimes that come with redial
//! (`AsyncIoRuntime` and `TokioRuntime`), as the driver relies on it:
//! - a timer fires once its deadline has passed, not before, and once per arming:
//!   after it fired it stays pending until moved, and a moved timer fires at its new
//!   deadline;
//! - `connect` opens a TCP connection to a loopback listener, and fails with the
//!   system's error when nothing listens;
//! - `resolve` finds loopback's addresses for `localhost`;
//! - `spawn` runs a task to its end.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use redial::driver::{AsyncIoRuntime, Runtime, Sleep, TokioRuntime};

/// Poll `sleep` once, without waiting.
fn poll_once(sleep: &mut Sleep) -> Poll<()> {
    let waker = futures_util::task::noop_waker();
    Pin::new(sleep).poll(&mut Context::from_waker(&waker))
}

/// The contract, on `rt`, inside whatever executor runs the returned future.
async fn contract(rt: Arc<dyn Runtime>) {
    let ms = Duration::from_millis;

    // Not before its deadline; at it; then pending until moved.
    let start = Instant::now();
    let mut sleep = Sleep::new(rt.timer(start + ms(30)));
    assert!(
        poll_once(&mut sleep).is_pending(),
        "fired before its deadline"
    );
    (&mut sleep).await;
    assert!(
        start.elapsed() >= ms(30),
        "fired after {:?}",
        start.elapsed()
    );
    assert!(
        poll_once(&mut sleep).is_pending(),
        "a fired timer stays pending until moved"
    );

    // Moved (later, then earlier than that): fires at the last deadline.
    let moved = Instant::now();
    sleep.set_at(moved + ms(500));
    sleep.set_at(moved + ms(20));
    (&mut sleep).await;
    let took = moved.elapsed();
    assert!(
        took >= ms(20) && took < ms(450),
        "the moved timer fired after {took:?}"
    );

    // A deadline already passed fires at the first wait.
    sleep.set_at(Instant::now() - ms(1));
    (&mut sleep).await;

    // TCP to a loopback listener, both ways.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let accepting = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut s, _) = listener.accept().unwrap();
        let mut b = [0u8; 4];
        s.read_exact(&mut b).unwrap();
        s.write_all(&b).unwrap();
    });
    let mut tcp = rt.connect(addr).await.expect("a loopback connection");
    tcp.write_all(b"ping").await.unwrap();
    let mut back = [0u8; 4];
    tcp.read_exact(&mut back).await.unwrap();
    assert_eq!(&back, b"ping");
    accepting.join().unwrap();

    // Nothing listens: the system's error.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let refused = rt.connect(closed).await.err().expect("refused");
    assert_eq!(
        refused.kind(),
        io::ErrorKind::ConnectionRefused,
        "{refused}"
    );

    // The resolver.
    let found = rt
        .resolve("localhost", 8080)
        .await
        .expect("localhost resolves");
    assert!(!found.is_empty());
    assert!(
        found
            .iter()
            .all(|a| a.ip().is_loopback() && a.port() == 8080),
        "{found:?}"
    );

    // A spawned task runs to its end.
    let (tx, rx) = async_channel::bounded(1);
    rt.spawn(Box::pin(async move {
        let _ = tx.send(7).await;
    }));
    assert_eq!(rx.recv().await, Ok(7));
}

#[test]
fn the_async_io_runtime_keeps_the_contract() {
    async_std::task::block_on(contract(Arc::new(AsyncIoRuntime)));
}

#[test]
fn the_tokio_runtime_keeps_the_contract_on_a_multi_thread_runtime() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async { contract(Arc::new(TokioRuntime::current())).await });
}

#[test]
fn the_tokio_runtime_keeps_the_contract_on_a_current_thread_runtime() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async { contract(Arc::new(TokioRuntime::current())).await });
}

/// The tokio runtime's futures and timers may be polled from a thread outside it: they
/// run on the runtime of the handle they were made with.
#[test]
fn the_tokio_runtime_works_from_a_thread_outside_it() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let rt = TokioRuntime::with_handle(runtime.handle().clone());
    futures_lite::future::block_on(contract(Arc::new(rt)));
}
