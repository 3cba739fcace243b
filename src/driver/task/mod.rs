//! The driver: one task that owns the socket. Each wake-up (socket, timer, command,
//! dial progress, fallback, re-authentication) feeds exactly one input to the core;
//! then the outputs are drained and carried out.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use async_tungstenite::tungstenite::protocol::WebSocketConfig;
use async_tungstenite::tungstenite::Message as WsMessage;
use futures_lite::Stream;
use futures_rustls::rustls::ClientConfig;
use std::task::ready;

use super::acked::Acked;
use super::dial::{handshake, Ws};
use super::fallback::Fallback;
use super::raw_close::FrameScanner;
use super::reach::MaybeTls;
use super::request::{PendingRequest, Replay, Terminal};
use super::runtime::{BoxFuture, Runtime, Sleep};
use super::secret::Headers;
use super::secret::ReauthFn;
use super::shared::Shared;
use super::target::Target;
use super::writer::{to_ws, Data, Writer, FRAMES_BEFORE_CLOSE, FRAMES_PER_POLL};

mod acked_steps;
mod deliver;
mod dial_hook;
mod fallback_jobs;
mod finish;
mod finishing;
mod front;
mod outputs;
mod pool_timer;
mod read_wake;
mod socket;

use crate::core::{Core, Input, StateName};
use crate::policy::{FallbackError, Phase, ReachFailure};
use deliver::Delivery;
use fallback_jobs::FallbackJob;
pub(crate) use front::{Command, Front};
use read_wake::ReadWake;

/// How long the re-authentication callback may take before it counts as failed.
pub(crate) const REAUTH_TIMEOUT: Duration = Duration::from_secs(30);

/// Wake-ups handled in a row before the driver yields to the executor.
const WAKES_PER_YIELD: u32 = 128;

/// An open WebSocket with the scanner of its raw close frames.
type Conn = (Ws, Arc<Mutex<FrameScanner>>);

/// A dial in flight.
enum Dialing {
    Connect(BoxFuture<Result<MaybeTls, ReachFailure>>),
    Handshake(BoxFuture<Result<Box<Conn>, ReachFailure>>),
}

/// Live I/O owned by the driver.
#[derive(Default)]
pub(crate) struct Io {
    dialing: Option<Dialing>,
    /// The dial in flight is a quiet re-probe (the core stays in FellBack meanwhile).
    probe: bool,
    ws: Option<Box<Conn>>,
    timer: Option<(Instant, Sleep)>,
    /// The core's deadline was already reached when the timer would have been armed.
    timer_due: bool,
    /// The idle deadline of the request in flight.
    request_timer: Option<(Instant, Sleep)>,
    /// When the earliest acknowledgement is due (acknowledged delivery).
    ack_timer: Option<(Instant, Sleep)>,
    /// The URL and headers of the dial in flight, as the dial hook made them.
    dial_with: Option<(Target, Headers)>,
    reauth: Option<BoxFuture<Option<Headers>>>,
    fallback_on: bool,
    job: Option<FallbackJob>,
    /// The response of a fallback request that ended (its terminal message, or its
    /// stream dropped), read on to its end (what comes is dropped) so that its
    /// connection can serve the next request; one at most (the next one replaces it),
    /// and bounded in bytes and time (then dropped with its connection).
    finishing: Option<finishing::Finishing>,
    /// The fallback's kept connections: polled, and expired on time.
    pool: pool_timer::PoolTimer,
    /// The write side of the open socket.
    writer: Writer,
    /// Whether the open socket may have something to read.
    read: ReadWake,
    /// Every handle is gone (or closed the command channel): stop polling it.
    handles_gone: bool,
}

/// What woke the driver.
enum Wake {
    Deferred(Input),
    Command(Option<Command>),
    Queued,
    Connected(Result<MaybeTls, ReachFailure>),
    Upgraded(Result<Box<Conn>, ReachFailure>),
    Ws(Option<Result<WsMessage, async_tungstenite::tungstenite::Error>>),
    Fallback(Option<Result<String, FallbackError>>),
    Reauth(Option<Headers>),
    Timer,
    RequestIdle,
    AckDue,
}

/// The future that runs a client: spawn [`Driver::run`] on any executor.
pub struct Driver {
    pub(crate) core: Core,
    pub(crate) target: Target,
    pub(crate) headers: Headers,
    pub(crate) tls: Option<Arc<ClientConfig>>,
    pub(crate) warn_insecure: bool,
    pub(crate) ws_config: WebSocketConfig,
    pub(crate) fallback: Option<Arc<dyn Fallback>>,
    pub(crate) fallback_limits: super::fallback::FallbackLimits,
    pub(crate) connector: Option<super::reach::Connector>,
    pub(crate) network: super::network::Network,
    /// The runtime its sockets and timers run on (the network's).
    pub(crate) rt: Arc<dyn Runtime>,
    pub(crate) reauth: Option<ReauthFn>,
    pub(crate) terminal: Terminal,
    pub(crate) replay: Replay,
    pub(crate) request_idle: Duration,
    pub(crate) cancel: super::request::Cancel,
    pub(crate) shared: Arc<Shared>,
    pub(crate) front: Front,
    pub(crate) requests: VecDeque<PendingRequest>,
    pub(crate) io: Io,
    pub(crate) deferred: VecDeque<Input>,
    pub(crate) inbox: Delivery,
    /// Acknowledged delivery, when on.
    pub(crate) acked: Option<Acked>,
    /// Computes headers and query before every dial.
    pub(crate) dial_hook: Option<super::dial_hook::DialHook>,
    pub(crate) step: Step,
    /// Wake-ups handled since the start (the driver yields every `WAKES_PER_YIELD`).
    pub(crate) wakes: u32,
}

/// Where the driver is between two polls. Its only waits that are not wake-ups are the
/// two close handshakes (200 ms at most each); everything else is one poll's work.
#[derive(Default)]
pub(crate) enum Step {
    /// Not polled yet: the first poll starts the core.
    #[default]
    New,
    /// Waiting for the next wake-up.
    Running,
    /// Answering the server's close frame; then the close is the core's input.
    Closing {
        close: BoxFuture<bool>,
        code: Option<u16>,
        reason: Vec<u8>,
    },
    /// The core stopped: the last close, then the end.
    Ending(BoxFuture<bool>),
    /// Ended: what was left is handed back.
    Done,
}

impl std::fmt::Debug for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver")
            .field("target", &self.target)
            .field("core", &self.core)
            .finish_non_exhaustive()
    }
}

impl Drop for Driver {
    /// A driver dropped before its end (never spawned, or its task cancelled) still
    /// hands back what it held: queued messages as `Undelivered`, requests end with an
    /// error item.
    fn drop(&mut self) {
        if !matches!(self.step, Step::Done) {
            self.step = Step::Done;
            self.finish(false);
        }
    }
}

impl Driver {
    /// Run until the client is closed or gives up; returns the final state's cause as
    /// a sentence.
    pub async fn run(mut self) -> Option<String> {
        futures_lite::future::poll_fn(|cx| self.poll_run(cx)).await;
        self.core.last_cause().map(|c| c.to_string())
    }

    /// Make every step that can be made now; `Ready` once the driver has ended. The
    /// spawned driver and the in-task connection both run the client through this.
    pub(crate) fn poll_run(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            match &mut self.step {
                Step::New => {
                    self.step = Step::Running;
                    self.input(Input::Start);
                }
                Step::Running => {}
                Step::Closing { close, .. } => {
                    let flushed = ready!(close.as_mut().poll(cx));
                    let Step::Closing { code, reason, .. } =
                        std::mem::replace(&mut self.step, Step::Running)
                    else {
                        unreachable!("matched above")
                    };
                    self.end_connection(flushed, &format!("closed with {}", code.unwrap_or(1005)));
                    self.input(Input::PeerClosed { code, reason });
                }
                Step::Ending(close) => {
                    let flushed = ready!(close.as_mut().poll(cx));
                    self.step = Step::Done;
                    self.finish(flushed);
                    return Poll::Ready(());
                }
                Step::Done => return Poll::Ready(()),
            }
            self.carry_out();
            if self.core.state() == StateName::Stopped {
                self.step = Step::Ending(self.last_close());
                continue;
            }
            self.flush();
            self.arm_timer();
            let wake = ready!(self.poll_wake(cx));
            self.on_wake(wake);
            // A transport that is always ready must not starve the executor's other
            // tasks (on a single-threaded executor, nothing else would run).
            self.wakes = self.wakes.wrapping_add(1);
            if self.wakes.is_multiple_of(WAKES_PER_YIELD) {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
        }
    }

    /// Whether every message given to `send` has left: none queued, none half-written,
    /// none carried by a fallback request that the server has not answered yet.
    pub(crate) fn all_written(&self) -> bool {
        let carried = self
            .io
            .job
            .as_ref()
            .is_some_and(|j| j.message.is_some() || j.acked.is_some());
        let resending = self.acked.as_ref().is_some_and(Acked::waiting);
        self.shared.queued() == 0 && !self.io.writer.carrying() && !carried && !resending
    }

    fn input(&mut self, input: Input) {
        self.core.handle_input(Instant::now(), input);
    }

    /// Arm the timer for the core's next deadline. Each change of a runtime's timer is
    /// an operation on its timer wheel or reactor (async-io's: a wake-up of its thread),
    /// and deadlines move
    /// with every dial phase and every received message, so the timer is moved only
    /// when the deadline comes earlier. A timer left on an older, earlier deadline
    /// fires early; the core ignores an early timeout by contract, and the next call
    /// arms the real deadline.
    fn arm_timer(&mut self) {
        match (self.request_deadline(), &mut self.io.request_timer) {
            (Some(at), Some((armed, timer))) if at != *armed => {
                timer.set_at(at);
                *armed = at;
            }
            (Some(at), slot @ None) => *slot = Some((at, self.rt.sleep_until(at))),
            (None, slot) => *slot = None,
            _ => {}
        }
        self.arm_ack_timer();
        let Some(at) = self.core.poll_timeout() else {
            return;
        };
        // A deadline already reached (a zero backoff, say) is heard at once: arming a
        // timer for it would cost a round through the reactor.
        let due = |at| at <= Instant::now();
        match &mut self.io.timer {
            Some((armed, _)) if at < *armed && due(at) => self.io.timer_due = true,
            Some((armed, timer)) => {
                if at < *armed {
                    timer.set_at(at);
                    *armed = at;
                }
            }
            None if due(at) => self.io.timer_due = true,
            slot @ None => *slot = Some((at, self.rt.sleep_until(at))),
        }
    }

    /// Arm the timer for the earliest acknowledgement due (acknowledged delivery).
    /// Also after each write: a message written in `poll_wake` starts its wait there.
    fn arm_ack_timer(&mut self) {
        match (self.ack_deadline(), &mut self.io.ack_timer) {
            (Some(at), Some((armed, timer))) if at != *armed => {
                timer.set_at(at);
                *armed = at;
            }
            (Some(at), slot @ None) => *slot = Some((at, self.rt.sleep_until(at))),
            (None, slot) => *slot = None,
            _ => {}
        }
    }

    fn poll_wake(&mut self, cx: &mut Context<'_>) -> Poll<Wake> {
        if let Some(input) = self.deferred.pop_front() {
            return Poll::Ready(Wake::Deferred(input));
        }
        // The application read, or dropped a request's stream.
        if self.poll_application() {
            return Poll::Ready(Wake::Queued);
        }
        // Nothing more is read while a received message waits for the application.
        let reading = self.reading();
        // Commands before writes: a request goes out before what `send` queued after it.
        if !self.io.handles_gone {
            if let Poll::Ready(c) = self.front.poll_command(cx) {
                self.io.handles_gone = c.is_none();
                if matches!(c, None | Some(Command::Close)) {
                    // What was queued before the close goes out first, as far as the
                    // socket takes it now (the rest is handed back).
                    self.poll_write(cx, FRAMES_BEFORE_CLOSE);
                }
                return Poll::Ready(Wake::Command(c));
            }
        }
        // A write waiting for room returns, and holds nothing else up.
        self.poll_write(cx, FRAMES_PER_POLL);
        let io = &mut self.io;
        if let Some(conn) = io.ws.as_mut().filter(|_| reading) {
            if io.read.due(cx) {
                let ws = &mut conn.0;
                let mut reads = Context::from_waker(io.read.waker());
                if let Poll::Ready(m) = Pin::new(ws).poll_next(&mut reads) {
                    io.read.again();
                    return Poll::Ready(Wake::Ws(m));
                }
            }
        }
        match io.dialing.as_mut() {
            Some(Dialing::Connect(f)) => {
                if let Poll::Ready(r) = f.as_mut().poll(cx) {
                    return Poll::Ready(Wake::Connected(r));
                }
            }
            Some(Dialing::Handshake(f)) => {
                if let Poll::Ready(r) = f.as_mut().poll(cx) {
                    return Poll::Ready(Wake::Upgraded(r));
                }
            }
            None => {}
        }
        // The rest of a finished fallback response, and the fallback's connections:
        // whatever the application reads.
        io.poll_fallback_connections(
            &*self.rt,
            self.fallback.as_deref(),
            self.fallback_limits.idle,
            cx,
        );
        if let Some(job) = io.job.as_mut().filter(|_| reading) {
            if let Poll::Ready(item) = job.stream.as_mut().poll_next(cx) {
                return Poll::Ready(Wake::Fallback(item));
            }
        }
        if let Some(f) = io.reauth.as_mut() {
            if let Poll::Ready(h) = f.as_mut().poll(cx) {
                io.reauth = None;
                return Poll::Ready(Wake::Reauth(h));
            }
        }
        if std::mem::take(&mut io.timer_due) {
            return Poll::Ready(Wake::Timer);
        }
        if let Some((_, timer)) = io.timer.as_mut() {
            if Pin::new(timer).poll(cx).is_ready() {
                io.timer = None;
                return Poll::Ready(Wake::Timer);
            }
        }
        if let Some((_, timer)) = io.request_timer.as_mut() {
            if Pin::new(timer).poll(cx).is_ready() {
                io.request_timer = None;
                return Poll::Ready(Wake::RequestIdle);
            }
        }
        if let Some((_, timer)) = io.ack_timer.as_mut() {
            if Pin::new(timer).poll(cx).is_ready() {
                io.ack_timer = None;
                return Poll::Ready(Wake::AckDue);
            }
        }
        if self.front.poll_wake(cx) {
            return Poll::Ready(Wake::Queued);
        }
        Poll::Pending
    }

    fn poll_write(&mut self, cx: &mut Context<'_>, budget: usize) {
        if let Some(conn) = self.io.ws.as_mut() {
            // An acknowledgement owed to the peer goes before any data.
            if let Some(ack) = self.acked.as_mut().and_then(Acked::ack_frame) {
                self.io.writer.control(to_ws(ack));
            }
            // A fallback job still streaming goes first: nothing overtakes it.
            let open = self.core.state() == StateName::Open && self.io.job.is_none();
            let data = writable(
                open,
                &mut self.requests,
                &self.shared,
                self.request_idle,
                self.acked.as_mut(),
            );
            self.io.writer.poll(cx, &mut conn.0, data, budget);
        }
        if self.acked.is_some() {
            self.publish_acked();
            self.arm_ack_timer();
        }
    }

    fn on_wake(&mut self, wake: Wake) {
        match wake {
            Wake::Deferred(input) => self.input(input),
            Wake::Command(Some(Command::Request(r))) => self.requests.push_back(r),
            // Every handle dropped, or an explicit close.
            Wake::Command(None) | Wake::Command(Some(Command::Close)) => {
                self.input(Input::UserClose)
            }
            Wake::Queued => {}
            Wake::Connected(Ok(_)) | Wake::Upgraded(Ok(_)) if !self.dial_wanted() => {
                // The core moved on while this dial completed: one live socket only.
                tracing::debug!("a dial completed after the core moved on: closed");
                self.io.dialing = None;
            }
            Wake::Connected(Ok(stream)) => {
                tracing::debug!(phase = "connected", "redial dial phase");
                let (target, headers) = self
                    .io
                    .dial_with
                    .take()
                    .unwrap_or_else(|| (self.target.clone(), self.headers.clone()));
                let config = self.ws_config;
                let protocols = self.core.policy().config().protocols.clone();
                let fut = async move {
                    handshake(&target, stream, &headers, &protocols, config)
                        .await
                        .map(Box::new)
                };
                self.io.dialing = Some(Dialing::Handshake(Box::pin(fut)));
                self.input(Input::DialProgress(Phase::Handshake));
            }
            Wake::Connected(Err(f)) | Wake::Upgraded(Err(f)) => {
                self.io.dialing = None;
                self.input(Input::DialFailed(f));
            }
            Wake::Upgraded(Ok(ws)) => {
                tracing::debug!(phase = "upgraded", "redial dial phase");
                self.io.dialing = None;
                let upgraded = super::subprotocol::succeeded(&ws.1);
                // `dial_wanted` held: there is no other socket.
                self.io.ws = Some(ws);
                self.io.read.again();
                if let Some(acked) = self.acked.as_mut() {
                    // What the fallback carried and no one acknowledged goes again on
                    // the new connection, and the peer hears where the client stands.
                    acked.rewind("the carrier changed: a WebSocket opened");
                    acked.owe_ack();
                }
                self.input(upgraded);
            }
            Wake::Ws(item) => self.on_ws(item),
            Wake::Fallback(item) => self.on_fallback(item),
            Wake::Reauth(headers) => {
                let ok = headers.is_some();
                if let Some(h) = headers {
                    self.headers.merge(h);
                }
                self.input(Input::ReauthDone { ok });
            }
            Wake::Timer => self.on_timer(),
            Wake::RequestIdle => self.on_request_idle(),
            Wake::AckDue => self.on_ack_due(),
        }
    }

    /// Whether the core still waits for the dial in flight (a dial that completes after
    /// the core moved on is closed at once).
    fn dial_wanted(&self) -> bool {
        let state = self.core.state();
        let waiting = match self.io.probe {
            true => state == StateName::FellBack,
            false => state == StateName::Connecting,
        };
        waiting && self.io.ws.is_none()
    }
}

/// The write side's view of what may be written.
fn writable<'a>(
    open: bool,
    requests: &'a mut VecDeque<PendingRequest>,
    shared: &'a Shared,
    idle: Duration,
    acked: Option<&'a mut Acked>,
) -> Data<'a> {
    Data {
        open,
        request: requests.front_mut().filter(|r| !r.sent),
        queue: &shared.queue,
        idle,
        acked,
    }
}
