//! The async-io runtime: async-net's TCP and resolver, async-io's timers. It runs under
//! any executor (async-std's, smol's, `futures::executor`), since async-io drives its
//! reactor from a thread of its own.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use async_io::Timer;
use futures_lite::FutureExt;

use super::{AsyncTimer, BoxFuture, Duplex, Runtime};

/// async-io's reactor and timers, async-net's TCP and resolver. Its
/// [`spawn`](Runtime::spawn) runs the task on async-std's executor with feature
/// `async-std`, and otherwise on a thread of its own (`async_io::block_on`).
#[derive(Debug, Clone, Copy, Default)]
pub struct AsyncIoRuntime;

impl Runtime for AsyncIoRuntime {
    fn connect(&self, addr: SocketAddr) -> BoxFuture<io::Result<Box<dyn Duplex>>> {
        Box::pin(async move {
            let tcp = async_net::TcpStream::connect(addr).await?;
            let _ = tcp.set_nodelay(true);
            Ok(Box::new(tcp) as Box<dyn Duplex>)
        })
    }

    fn resolve(&self, host: &str, port: u16) -> BoxFuture<io::Result<Vec<SocketAddr>>> {
        let host = host.to_owned();
        Box::pin(async move { async_net::resolve((host.as_str(), port)).await })
    }

    fn timer(&self, at: Instant) -> Pin<Box<dyn AsyncTimer>> {
        Box::pin(IoTimer(Timer::at(at)))
    }

    fn spawn(&self, future: BoxFuture<()>) {
        #[cfg(feature = "async-std")]
        {
            async_std::task::spawn(future);
        }
        #[cfg(not(feature = "async-std"))]
        {
            let _ = std::thread::Builder::new()
                .name("redial-driver".into())
                .spawn(move || async_io::block_on(future));
        }
    }
}

#[derive(Debug)]
struct IoTimer(Timer);

impl AsyncTimer for IoTimer {
    fn reset(mut self: Pin<&mut Self>, at: Instant) {
        self.0.set_at(at);
    }

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // async-io's one-shot timer is ready once, then pending until moved: the
        // contract of `AsyncTimer`.
        self.0.poll(cx).map(|_| ())
    }
}
