//! The tokio runtime: tokio's TCP, resolver, timers and spawner, on the tokio runtime
//! the client was built in. No async-io reactor is involved: every readiness event and
//! timer is tokio's own.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use tokio::runtime::Handle;
use tokio_util::compat::TokioAsyncReadCompatExt;

use super::{AsyncTimer, BoxFuture, Duplex, Runtime};

/// tokio's TCP, resolver, timers and spawner, on one tokio runtime (multi-thread or
/// current-thread) built with I/O and time enabled (`enable_all()`, as `#[tokio::main]`
/// does; tokio panics at the first socket or timer otherwise). The runtime must be
/// running while the driver is polled: the driver spawned on it
/// ([`ClientBuilder::spawn`](crate::driver::ClientBuilder::spawn)), or polled in one of
/// its tasks, or from any thread while it runs (a current-thread runtime runs only
/// inside its `block_on`).
#[derive(Debug, Clone)]
pub struct TokioRuntime {
    handle: Handle,
}

impl TokioRuntime {
    /// The tokio runtime this is called in; panics outside one (see
    /// [`try_current`](TokioRuntime::try_current)).
    pub fn current() -> TokioRuntime {
        TokioRuntime {
            handle: Handle::current(),
        }
    }

    /// The tokio runtime this is called in, if any.
    pub fn try_current() -> Option<TokioRuntime> {
        Handle::try_current()
            .ok()
            .map(|handle| TokioRuntime { handle })
    }

    /// The runtime of `handle`.
    pub fn with_handle(handle: Handle) -> TokioRuntime {
        TokioRuntime { handle }
    }
}

impl Runtime for TokioRuntime {
    fn connect(&self, addr: SocketAddr) -> BoxFuture<io::Result<Box<dyn Duplex>>> {
        let connect = async move {
            let tcp = tokio::net::TcpStream::connect(addr).await?;
            let _ = tcp.set_nodelay(true);
            Ok(Box::new(tcp.compat()) as Box<dyn Duplex>)
        };
        Box::pin(Entered::new(self.handle.clone(), connect))
    }

    fn resolve(&self, host: &str, port: u16) -> BoxFuture<io::Result<Vec<SocketAddr>>> {
        let host = host.to_owned();
        let lookup = async move {
            Ok(tokio::net::lookup_host((host.as_str(), port))
                .await?
                .collect())
        };
        Box::pin(Entered::new(self.handle.clone(), lookup))
    }

    fn timer(&self, at: Instant) -> Pin<Box<dyn AsyncTimer>> {
        let _entered = self.handle.enter();
        Box::pin(TokioTimer {
            sleep: Box::pin(tokio::time::sleep_until(at.into())),
            fired: false,
        })
    }

    fn spawn(&self, future: BoxFuture<()>) {
        drop(self.handle.spawn(future));
    }
}

/// A future polled inside its runtime's context, wherever the task that polls it runs
/// (tokio's sockets register with the reactor of the runtime they are made in).
struct Entered<F> {
    handle: Handle,
    future: Pin<Box<F>>,
}

impl<F> Entered<F> {
    fn new(handle: Handle, future: F) -> Entered<F> {
        Entered {
            handle,
            future: Box::pin(future),
        }
    }
}

impl<F: Future> Future for Entered<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        let _entered = this.handle.enter();
        this.future.as_mut().poll(cx)
    }
}

/// tokio's `Sleep`, ready once per arming (tokio's stays ready once elapsed).
#[derive(Debug)]
struct TokioTimer {
    sleep: Pin<Box<tokio::time::Sleep>>,
    fired: bool,
}

impl AsyncTimer for TokioTimer {
    fn reset(mut self: Pin<&mut Self>, at: Instant) {
        self.sleep.as_mut().reset(at.into());
        self.fired = false;
    }

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.fired {
            return Poll::Pending;
        }
        match self.sleep.as_mut().poll(cx) {
            Poll::Ready(()) => {
                self.fired = true;
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }
}
