//! What every testkit server shares: binding, the accept loop, stopping, change
//! notifications.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_channel::{Receiver, Sender};
use async_net::{TcpListener, TcpStream};
use futures_lite::future;

/// Locks a mutex, ignoring poisoning (a panicking test must not hide other failures).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Binds `127.0.0.1` on a free port.
pub(crate) async fn bind_loopback() -> std::io::Result<(TcpListener, SocketAddr)> {
    bind(IpAddr::V4(Ipv4Addr::LOCALHOST)).await
}

/// Binds `ip` on a free port.
pub(crate) async fn bind(ip: IpAddr) -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind((ip, 0)).await?;
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}

/// Wakes tasks waiting for a server's counters to change.
#[derive(Default)]
pub(crate) struct Changes {
    waiters: Mutex<Vec<Sender<()>>>,
}

impl Changes {
    /// Wakes every waiter; call after each change.
    pub(crate) fn notify(&self) {
        for waiter in lock(&self.waiters).drain(..) {
            let _ = waiter.try_send(());
        }
    }

    /// Returns once `check()` is true; re-checks after every change.
    pub(crate) async fn wait_until(&self, mut check: impl FnMut() -> bool) {
        loop {
            // Register before checking, so a change in between is not missed.
            let (tx, rx) = async_channel::bounded(1);
            lock(&self.waiters).push(tx);
            if check() {
                return;
            }
            let _ = rx.recv().await;
        }
    }
}

/// The running part of a server: dropping it stops the server.
pub(crate) struct Running {
    /// Closed (by dropping) to stop every task.
    stop: Sender<()>,
    /// The accept loop; it ends after all connection tasks have ended.
    task: async_std::task::JoinHandle<()>,
    /// The current generation of connections (see [`Running::cut_connections`]).
    generation: Arc<Mutex<Generation>>,
}

/// The connections accepted since the last cut: each holds `signal` and a clone of
/// `alive`; dropping `cut` ends them, and `all_ended` tells when they are gone.
struct Generation {
    cut: Sender<()>,
    signal: StopSignal,
    alive: Sender<()>,
    all_ended: Receiver<()>,
}

impl Generation {
    fn new() -> Generation {
        let (cut, cut_rx) = async_channel::bounded::<()>(1);
        let (alive, all_ended) = async_channel::bounded::<()>(1);
        Generation {
            cut,
            signal: StopSignal(cut_rx),
            alive,
            all_ended,
        }
    }
}

impl Running {
    /// Ends every live connection at once, whatever it was doing (no close frame, as
    /// when the server process dies), and waits until their tasks have ended. The
    /// listener stays open: connections accepted from now on are served as usual.
    pub(crate) async fn cut_connections(&self) {
        let old = std::mem::replace(&mut *lock(&self.generation), Generation::new());
        let Generation {
            cut,
            signal,
            alive,
            all_ended,
        } = old;
        drop((cut, signal, alive));
        let _ = all_ended.recv().await;
    }

    /// Stops the server and waits until the listener is closed and every connection
    /// task has ended.
    pub(crate) async fn shutdown(self) {
        drop(self.stop);
        self.task.await;
    }
}

/// A stop signal as seen from a task: `wait()` returns once the server stops.
#[derive(Clone)]
struct StopSignal(Receiver<()>);

impl StopSignal {
    /// Returns when the server is stopping.
    async fn wait(&self) {
        // Nothing is ever sent: `recv` fails when the sender is dropped.
        let _ = self.0.recv().await;
    }
}

/// Spawns the accept loop. For each accepted connection (in accept order, before the
/// next accept) `on_accept` is called and returns the connection's future, which runs
/// in its own task until it ends or the server stops.
pub(crate) fn spawn_accept_loop<F, Fut>(listener: TcpListener, mut on_accept: F) -> Running
where
    F: FnMut(TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (stop, stop_rx) = async_channel::bounded::<()>(1);
    let signal = StopSignal(stop_rx);
    let generation = Arc::new(Mutex::new(Generation::new()));
    let current = generation.clone();
    let task = async_std::task::spawn(async move {
        // Each connection task holds a clone of `alive`; `recv` fails once all are gone.
        let (alive, all_ended) = async_channel::bounded::<()>(1);
        loop {
            let accepted = future::or(async { Some(listener.accept().await) }, async {
                signal.wait().await;
                None
            })
            .await;
            let Some(accepted) = accepted else { break };
            let tcp = match accepted {
                Ok((tcp, _)) => tcp,
                Err(_) => {
                    // Out of descriptors or similar: do not spin.
                    async_io::Timer::after(Duration::from_millis(10)).await;
                    continue;
                }
            };
            let _ = tcp.set_nodelay(true);
            let conn = on_accept(tcp);
            let signal = signal.clone();
            let alive = alive.clone();
            let (cut, alive_in_generation) = {
                let g = lock(&current);
                (g.signal.clone(), g.alive.clone())
            };
            async_std::task::spawn(async move {
                future::or(conn, future::or(signal.wait(), cut.wait())).await;
                drop(alive_in_generation);
                drop(alive);
            });
        }
        drop(listener);
        drop(alive);
        let _ = all_ended.recv().await;
    });
    Running {
        stop,
        task,
        generation,
    }
}
