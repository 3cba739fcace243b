//! The runtime seam: what the driver needs from an async runtime (TCP connections,
//! name resolution, timers, and spawning a task), so that the driver's logic is written
//! once and runs natively on each runtime, with that runtime's own reactor and timers.
//!
//! Two runtimes come with redial: `AsyncIoRuntime` (feature `async-io`, the default:
//! async-io's reactor, for async-std, smol and any executor) and `TokioRuntime`
//! (feature `tokio`: tokio's TCP, timers and spawner, and no second reactor). A client
//! takes its runtime from [`ClientBuilder::runtime`](super::ClientBuilder::runtime), or
//! the default ([`default_runtime`]). Another runtime plugs in by implementing
//! [`Runtime`].

#[cfg(feature = "async-io")]
mod async_io_rt;
mod sleep;
#[cfg(feature = "tokio")]
mod tokio_rt;

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use futures_lite::{AsyncRead, AsyncWrite};

#[cfg(feature = "async-io")]
pub use async_io_rt::AsyncIoRuntime;
pub use sleep::Sleep;
#[cfg(feature = "tokio")]
pub use tokio_rt::TokioRuntime;

/// A future that is `Send`, boxed.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// A byte stream the WebSocket (and the fallback's HTTP) can run over.
pub trait Duplex: AsyncRead + AsyncWrite + Send + Unpin + 'static {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Duplex for T {}

/// A timer of a runtime: fires once when its deadline has passed, and can be moved.
pub trait AsyncTimer: Send + Sync + fmt::Debug {
    /// Fire at `at` instead (whether or not it fired before).
    fn reset(self: Pin<&mut Self>, at: Instant);
    /// Ready once the deadline has passed, once per arming: after it returned ready,
    /// pending (and never woken) until [`reset`](AsyncTimer::reset), as async-io's
    /// timers are.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()>;
}

/// What the driver needs from an async runtime.
///
/// Every method is called from inside the driver's task. A runtime's futures and timers
/// must make progress while that task polls them; the two runtimes here register with
/// their own reactor (async-io's, or the tokio runtime they were made for).
pub trait Runtime: Send + Sync + fmt::Debug + 'static {
    /// Open a TCP connection to one address, with `TCP_NODELAY` set.
    fn connect(&self, addr: SocketAddr) -> BoxFuture<io::Result<Box<dyn Duplex>>>;
    /// Resolve a host name and port to addresses (the system's resolver).
    fn resolve(&self, host: &str, port: u16) -> BoxFuture<io::Result<Vec<SocketAddr>>>;
    /// A timer that fires at `at`.
    fn timer(&self, at: Instant) -> Pin<Box<dyn AsyncTimer>>;
    /// Run `future` to its end as a task of its own.
    fn spawn(&self, future: BoxFuture<()>);
}

impl dyn Runtime {
    /// A [`Sleep`] until `at`.
    pub(crate) fn sleep_until(&self, at: Instant) -> Sleep {
        Sleep::new(self.timer(at))
    }

    /// A [`Sleep`] for `d` from now.
    pub(crate) fn sleep(&self, d: std::time::Duration) -> Sleep {
        self.sleep_until(Instant::now() + d)
    }
}

/// The runtime a client uses unless its builder is given one: inside a tokio runtime
/// (feature `tokio`), that runtime; otherwise async-io (feature `async-io`). `None`
/// when neither applies: the builder then needs
/// [`runtime`](super::ClientBuilder::runtime).
pub fn default_runtime() -> Option<Arc<dyn Runtime>> {
    #[cfg(feature = "tokio")]
    if let Some(rt) = TokioRuntime::try_current() {
        return Some(Arc::new(rt));
    }
    #[cfg(feature = "async-io")]
    return Some(Arc::new(AsyncIoRuntime));
    #[allow(unreachable_code)]
    None
}
