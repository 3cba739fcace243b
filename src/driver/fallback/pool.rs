//! The fallback's connections: HTTP/1.1 connections kept alive and reused one request
//! at a time, or one HTTP/2 connection (the server chose `h2` by ALPN) shared by every
//! request.
//!
//! No executor and no thread of its own: a connection's background futures (hyper's
//! HTTP/1.1 connection; HTTP/2's connection task and stream tasks) live in its
//! [`Tasks`], which every request on that connection polls as it waits for its own
//! response, and which the driver's task polls at each of its wake-ups
//! ([`Pool::poll_connections`]) whatever the application reads: an HTTP/2 connection
//! answers the server's pings and takes its window updates even while the only
//! request on it is paused, and a connection idle in the pool sees the server close
//! it. Taking a connection polls it once more, so one the server closed meanwhile is
//! found closed before anything is written on it.
//!
//! Bounded: at most `max_idle` idle HTTP/1.1 connections, each for at most
//! `idle_timeout`; the HTTP/2 connection expires the same way once no request uses it.
//! Expiry is checked when a connection is taken or put back, and when the driver's
//! timer for the next expiry fires ([`Pool::expire`]): an idle connection is closed on
//! time even when no other request comes.

use crate::driver::lock::lock;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, TryLockError, Weak};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::stream::FuturesUnordered;
use futures_util::StreamExt as _;
use http_body_util::Full;
use hyper::client::conn::{http1, http2};

type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The waker id of whoever polls the pool's connections between requests (the
/// driver's task; the last one to poll, when several clients share a fallback).
/// Leases count from 1.
const POLLER: u64 = 0;
/// The body of a fallback request.
pub(super) type ReqBody = Full<Bytes>;

/// How the pool keeps connections (the `[fallback]` config's `pool_*` fields and
/// `http2`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FallbackPoolSettings {
    /// How long a connection may stay idle before it is closed instead of reused.
    pub idle_timeout: Duration,
    /// Idle HTTP/1.1 connections kept (`0`: none, a connection per request, HTTP/2
    /// too).
    pub max_idle: usize,
    /// Offer HTTP/2 by ALPN.
    pub http2: bool,
}

impl Default for FallbackPoolSettings {
    fn default() -> Self {
        FallbackPoolSettings::from_config(&crate::config::FallbackConfig::default())
    }
}

impl FallbackPoolSettings {
    /// The pool the `[fallback]` config section sets.
    pub fn from_config(c: &crate::config::FallbackConfig) -> FallbackPoolSettings {
        FallbackPoolSettings {
            idle_timeout: c.pool_idle_timeout,
            max_idle: c.pool_max_idle,
            http2: c.http2,
        }
    }
}

/// The wakers of every request waiting on a connection: any progress of the
/// connection's tasks wakes them all (whichever polls next runs the tasks).
#[derive(Default)]
struct Wakers {
    list: Mutex<Vec<(u64, Waker)>>,
}

impl Wake for Wakers {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let all: Vec<Waker> = lock(&self.list).iter().map(|(_, w)| w.clone()).collect();
        for w in all {
            w.wake();
        }
    }
}

struct TasksInner {
    /// Spawned, not yet polled.
    spawned: Mutex<Vec<BoxFuture>>,
    running: Mutex<FuturesUnordered<BoxFuture>>,
    wakers: Arc<Wakers>,
}

/// A connection's background futures, run by the requests that wait on it.
#[derive(Clone)]
pub(super) struct Tasks(Arc<TasksInner>);

impl Tasks {
    fn new() -> Tasks {
        Tasks(Arc::new(TasksInner {
            spawned: Mutex::new(Vec::new()),
            running: Mutex::new(FuturesUnordered::new()),
            wakers: Arc::new(Wakers::default()),
        }))
    }

    fn spawn(&self, future: BoxFuture) {
        lock(&self.0.spawned).push(future);
        self.0.wakers.wake_by_ref();
    }

    /// Register `cx`'s waker as `id`'s and run the tasks until they wait.
    pub(super) fn drive(&self, id: u64, cx: &Context<'_>) {
        {
            let mut list = lock(&self.0.wakers.list);
            match list.iter_mut().find(|(i, _)| *i == id) {
                Some((_, w)) => w.clone_from(cx.waker()),
                None => list.push((id, cx.waker().clone())),
            }
        }
        self.run();
    }

    fn forget(&self, id: u64) {
        lock(&self.0.wakers.list).retain(|(i, _)| *i != id);
    }

    /// Poll the tasks until all wait. Another thread polling them already is enough:
    /// whatever they wake, wakes every registered request.
    fn run(&self) {
        let mut running = match self.0.running.try_lock() {
            Ok(r) => r,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => return,
        };
        let waker = Waker::from(self.0.wakers.clone());
        let mut cx = Context::from_waker(&waker);
        loop {
            running.extend(lock(&self.0.spawned).drain(..));
            match running.poll_next_unpin(&mut cx) {
                Poll::Ready(Some(())) => continue,
                Poll::Ready(None) | Poll::Pending => {
                    if lock(&self.0.spawned).is_empty() {
                        return;
                    }
                }
            }
        }
    }

    /// A weak handle, for the pool's list of open connections.
    fn downgrade(&self) -> Weak<TasksInner> {
        Arc::downgrade(&self.0)
    }

    /// Whether every task ended (the connection is closed).
    fn ended(&self) -> bool {
        match self.0.running.try_lock() {
            Ok(r) => r.is_empty() && lock(&self.0.spawned).is_empty(),
            Err(_) => false,
        }
    }
}

/// hyper's executor for an HTTP/2 connection: its tasks go into the connection's
/// [`Tasks`] (a weak handle: the tasks end with the connection's last user).
#[derive(Clone)]
pub(super) struct Exec(Weak<TasksInner>);

impl<F> hyper::rt::Executor<F> for Exec
where
    F: Future<Output = ()> + Send + 'static,
{
    fn execute(&self, future: F) {
        if let Some(inner) = self.0.upgrade() {
            Tasks(inner).spawn(Box::pin(future));
        }
    }
}

/// How requests are sent on a connection.
pub(super) enum Sender {
    /// HTTP/1.1: one request at a time.
    H1(http1::SendRequest<ReqBody>),
    /// HTTP/2: any number at once.
    H2(http2::SendRequest<ReqBody>),
}

impl Sender {
    fn is_closed(&self) -> bool {
        match self {
            Sender::H1(s) => s.is_closed(),
            Sender::H2(s) => s.is_closed(),
        }
    }
}

/// One open connection.
pub(super) struct Conn {
    pub(super) sender: Sender,
    pub(super) tasks: Tasks,
}

impl Conn {
    /// A connection over `io`, HTTP/2 when `h2` (the server chose it by ALPN).
    pub(super) async fn handshake<T>(io: T, h2: bool) -> hyper::Result<Conn>
    where
        T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    {
        let tasks = Tasks::new();
        let sender = if h2 {
            let exec = Exec(Arc::downgrade(&tasks.0));
            let (sender, conn) = http2::handshake(exec, io).await?;
            tasks.spawn(Box::pin(async move {
                let _ = conn.await;
            }));
            Sender::H2(sender)
        } else {
            let (sender, conn) = http1::handshake(io).await?;
            tasks.spawn(Box::pin(async move {
                let _ = conn.await;
            }));
            Sender::H1(sender)
        };
        Ok(Conn { sender, tasks })
    }

    fn h2(&self) -> bool {
        matches!(self.sender, Sender::H2(_))
    }

    fn share(&self) -> Option<Conn> {
        match &self.sender {
            Sender::H2(s) => Some(Conn {
                sender: Sender::H2(s.clone()),
                tasks: self.tasks.clone(),
            }),
            Sender::H1(_) => None,
        }
    }

    /// Poll it once: a connection the server closed meanwhile ends here.
    fn alive(&self) -> bool {
        self.tasks.run();
        !self.sender.is_closed() && !self.tasks.ended()
    }
}

/// The shared HTTP/2 connection.
struct Shared {
    conn: Conn,
    users: usize,
    idle_since: Instant,
}

#[derive(Default)]
struct State {
    /// Idle HTTP/1.1 connections, oldest first, with when they became idle.
    idle: Vec<(Conn, Instant)>,
    h2: Option<Shared>,
    /// A connection being opened that may turn out HTTP/2: other requests wait for it
    /// (the receiver fails when it is done).
    connecting: Option<async_channel::Receiver<()>>,
    /// The server answered HTTP/1.1 to the last new connection: nothing to wait for.
    h1_only: bool,
}

/// When a connection idle since `since` expires (`None`: never, for a timeout too long
/// to add).
fn expiry(since: Instant, timeout: Duration) -> Option<Instant> {
    since.checked_add(timeout)
}

/// The connections of one fallback origin (through one proxy, if any).
pub(super) struct Pool {
    config: FallbackPoolSettings,
    state: Mutex<State>,
    next_id: AtomicU64,
    /// Every connection opened and not yet dropped (idle, shared or leased): the
    /// driver's task polls them all ([`Pool::poll_connections`]).
    open: Mutex<Vec<Weak<TasksInner>>>,
}

/// What a request does before opening a connection of its own.
pub(super) enum Gate {
    /// Open one.
    Open,
    /// Open one; others wait until it is open (dropping this lets them go).
    Lead(#[allow(dead_code)] async_channel::Sender<()>),
    /// Wait until the connection being opened is open, then look again.
    Wait(async_channel::Receiver<()>),
}

impl Pool {
    pub(super) fn new(config: FallbackPoolSettings) -> Pool {
        Pool {
            config,
            state: Mutex::new(State::default()),
            next_id: AtomicU64::new(POLLER + 1),
            open: Mutex::new(Vec::new()),
        }
    }

    pub(super) fn config(&self) -> FallbackPoolSettings {
        self.config
    }

    fn lease(self: &Arc<Self>, conn: Conn, reused: bool, shared: bool) -> Lease {
        Lease {
            pool: self.clone(),
            conn: Some(conn),
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            reused,
            shared,
            reusable: false,
        }
    }

    /// A live connection from the pool: the shared HTTP/2 one, or the idle HTTP/1.1
    /// one that was used last. Expired and closed ones are dropped on the way.
    pub(super) fn take(self: &Arc<Self>) -> Option<Lease> {
        let now = Instant::now();
        let mut state = lock(&self.state);
        if let Some(shared) = &mut state.h2 {
            let expired = shared.users == 0 && now - shared.idle_since >= self.config.idle_timeout;
            if !expired && shared.conn.alive() {
                shared.users += 1;
                let conn = shared.conn.share()?;
                return Some(self.lease(conn, true, true));
            }
            state.h2 = None;
        }
        let timeout = self.config.idle_timeout;
        state.idle.retain(|(_, since)| now - *since < timeout);
        while let Some((conn, _)) = state.idle.pop() {
            if conn.alive() {
                return Some(self.lease(conn, true, false));
            }
            tracing::debug!("a pooled fallback connection was closed by the server");
        }
        None
    }

    /// Before opening a connection: whether to wait for one being opened.
    pub(super) fn gate(&self) -> Gate {
        if !self.config.http2 || self.config.max_idle == 0 {
            return Gate::Open;
        }
        let mut state = lock(&self.state);
        if state.h1_only {
            return Gate::Open;
        }
        match &state.connecting {
            Some(rx) if !rx.is_closed() => Gate::Wait(rx.clone()),
            _ => {
                let (tx, rx) = async_channel::bounded(1);
                state.connecting = Some(rx);
                Gate::Lead(tx)
            }
        }
    }

    /// A request's lease on a connection it opened. An HTTP/2 connection is shared
    /// from now on (when the pool keeps anything).
    pub(super) fn opened(self: &Arc<Self>, conn: Conn) -> Lease {
        {
            let mut open = lock(&self.open);
            open.retain(|t| t.strong_count() > 0);
            open.push(conn.tasks.downgrade());
        }
        let mut state = lock(&self.state);
        state.h1_only = !conn.h2();
        if self.config.max_idle == 0 {
            return self.lease(conn, false, false);
        }
        if let Some(shared) = conn.share() {
            state.h2 = Some(Shared {
                conn: shared,
                users: 1,
                idle_since: Instant::now(),
            });
            return self.lease(conn, false, true);
        }
        self.lease(conn, false, false)
    }

    /// A pooled connection failed: the other idle ones are as old, drop them.
    pub(super) fn forget_idle(&self) {
        let mut state = lock(&self.state);
        state.idle.clear();
        state.h2 = None;
    }

    /// Run every open connection's background work (reading what the server sent:
    /// pings, window updates, its close) until it waits, with `cx`'s waker woken when
    /// there is more. What a paused request has not read stays in its stream's buffer,
    /// bounded by HTTP/2 flow control (HTTP/1.1 reads a body only as it is read).
    pub(super) fn poll_connections(&self, cx: &Context<'_>) {
        let open: Vec<Tasks> = {
            let mut open = lock(&self.open);
            open.retain(|t| t.strong_count() > 0);
            open.iter().filter_map(|t| t.upgrade().map(Tasks)).collect()
        };
        for tasks in open {
            tasks.drive(POLLER, cx);
        }
    }

    /// Close the idle connections expired by `now` (idle HTTP/1.1 ones, and the
    /// HTTP/2 one when no request uses it); when the next idle one expires, if any.
    pub(super) fn expire(&self, now: Instant) -> Option<Instant> {
        let timeout = self.config.idle_timeout;
        let expired = |since: Instant| expiry(since, timeout).is_some_and(|at| at <= now);
        let mut closed: Vec<Conn> = Vec::new();
        let next = {
            let mut state = lock(&self.state);
            let (gone, kept) = std::mem::take(&mut state.idle)
                .into_iter()
                .partition(|(_, since)| expired(*since));
            state.idle = kept;
            closed.extend(gone.into_iter().map(|(conn, _): (Conn, Instant)| conn));
            if state
                .h2
                .as_ref()
                .is_some_and(|s| s.users == 0 && expired(s.idle_since))
            {
                closed.extend(state.h2.take().map(|s| s.conn));
            }
            let shared = state
                .h2
                .as_ref()
                .filter(|s| s.users == 0)
                .map(|s| s.idle_since);
            let idle = state.idle.iter().map(|(_, since)| *since);
            idle.chain(shared)
                .filter_map(|since| expiry(since, timeout))
                .min()
        };
        if !closed.is_empty() {
            tracing::debug!(
                connections = closed.len(),
                "idle fallback connections expired: closed"
            );
        }
        // Dropped outside the lock: each drop ends its connection's tasks and closes
        // its socket.
        drop(closed);
        next
    }

    fn put_back(&self, conn: Conn) {
        if self.config.max_idle == 0 || conn.sender.is_closed() {
            return;
        }
        let now = Instant::now();
        let mut state = lock(&self.state);
        let timeout = self.config.idle_timeout;
        state.idle.retain(|(_, since)| now - *since < timeout);
        if state.idle.len() >= self.config.max_idle {
            // The oldest goes.
            state.idle.remove(0);
        }
        state.idle.push((conn, now));
    }

    fn release_shared(&self, tasks: &Tasks) {
        let mut state = lock(&self.state);
        if let Some(shared) = &mut state.h2 {
            if Arc::ptr_eq(&shared.conn.tasks.0, &tasks.0) {
                shared.users = shared.users.saturating_sub(1);
                if shared.users == 0 {
                    shared.idle_since = Instant::now();
                }
            }
        }
    }
}

/// One request's use of a connection. Dropped, an HTTP/1.1 connection goes back to
/// the pool only if its response was read to the end ([`Lease::finished`]); an HTTP/2
/// connection stays shared (a stream dropped early is reset, the connection is not).
pub(super) struct Lease {
    pool: Arc<Pool>,
    conn: Option<Conn>,
    /// For the connection's waker list.
    pub(super) id: u64,
    /// Taken from the pool (or the shared HTTP/2 connection), not opened for this
    /// request.
    pub(super) reused: bool,
    shared: bool,
    reusable: bool,
}

impl Lease {
    pub(super) fn conn(&mut self) -> &mut Conn {
        self.conn
            .as_mut()
            .expect("a lease holds its connection until dropped")
    }

    pub(super) fn h2(&self) -> bool {
        self.conn.as_ref().is_some_and(Conn::h2)
    }

    /// The response was read to its end: the connection may serve another request.
    pub(super) fn finished(&mut self) {
        self.reusable = true;
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else {
            return;
        };
        conn.tasks.forget(self.id);
        if self.shared {
            self.pool.release_shared(&conn.tasks);
        } else if self.reusable && !conn.h2() {
            self.pool.put_back(conn);
        }
    }
}
