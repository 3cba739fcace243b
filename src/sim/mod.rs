//! A deterministic simulation: the core against a scripted server in virtual time.
//!
//! [`Sim`] plays the driver's part without sockets or clocks: it feeds the core one input
//! at a time, drains its outputs, answers them from a script (what the server does with
//! each dial), and jumps virtual time to the next scripted event or core deadline. Tests,
//! the `simulate` example and benchmarks use it; so can applications that want to see
//! what a policy does before deploying it.
//!
//! [`invariants`] checks docs/design.md's invariants on a recorded run of a core,
//! however it was driven: the property tests and the fuzz targets use it.
//!
//! ```
//! use std::time::Duration;
//! use redial::sim::{Connect, Sim, Step};
//! use redial::{Config, StateName};
//!
//! // The mission's server: 101, then 1008 with an empty reason, 3 ms later.
//! let policy = Config::default().validate().unwrap();
//! let mut sim = Sim::new(policy, 1, |_dial| {
//!     Connect::Accept(vec![Step::Wait(Duration::from_millis(3)), Step::close(1008, "")])
//! });
//! sim.run_for(Duration::from_secs(60));
//! assert_eq!(sim.dials(), 1);
//! assert_eq!(sim.core().state(), StateName::FellBack);
//! ```

pub mod invariants;
mod scenarios;

pub use scenarios::Scenario;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::config::Policy;
use crate::core::Event;
use crate::core::{Core, Input, Output};
use crate::policy::{FallbackError, Phase, ReachFailure};

/// What the scripted server does with one dial.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connect {
    /// Answer the upgrade with 101, then play the steps.
    Accept(Vec<Step>),
    /// Answer the upgrade with an HTTP status.
    Status {
        /// The status.
        status: u16,
        /// The `Retry-After` header, if any.
        retry_after: Option<Duration>,
    },
    /// Fail the dial before the upgrade (DNS, refused, TLS, …).
    Fail(ReachFailure),
    /// Accept TCP, then never answer the upgrade.
    Stall,
}

/// One step of an accepted connection's script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Let time pass.
    Wait(Duration),
    /// Send a data message.
    Message,
    /// Send a close frame.
    Close {
        /// The code (`None`: a frame without status code).
        code: Option<u16>,
        /// The reason bytes.
        reason: Vec<u8>,
    },
    /// Drop the TCP connection without a close frame.
    Drop,
    /// Never answer pings on this connection.
    IgnorePings,
}

impl Step {
    /// A close frame with `code` and a UTF-8 `reason`.
    pub fn close(code: u16, reason: &str) -> Step {
        Step::Close {
            code: Some(code),
            reason: reason.as_bytes().to_vec(),
        }
    }
}

/// What the script is told about a dial.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DialInfo {
    /// Dials so far, this one included (probes too), from 1.
    pub index: u32,
    /// The core's attempt number (0 for a probe).
    pub attempt: u32,
    /// Whether this is a quiet re-probe from the fallback.
    pub probe: bool,
    /// Virtual time since the start.
    pub at: Duration,
}

#[derive(Debug, Clone)]
struct Pending {
    input: Input,
    /// The connection this belongs to; `None` for the application and the fallback.
    conn: Option<u64>,
}

type Script = Box<dyn FnMut(&DialInfo) -> Connect + Send>;
type FallbackScript = Box<dyn FnMut(u32) -> Option<FallbackError> + Send>;

/// The simulation. See the [module docs](self).
pub struct Sim {
    core: Core,
    t0: Instant,
    now: Instant,
    script: Script,
    queue: BTreeMap<(Instant, u64), Pending>,
    seq: u64,
    conn: u64,
    latency: Duration,
    answer_pings: bool,
    reauth_ok: bool,
    dials: u32,
    fallback: FallbackScript,
    fallback_uses: u32,
    trace: Vec<(Duration, Output)>,
}

impl Sim {
    /// A simulation that starts the core at virtual time 0; `script` decides what the
    /// server does with each dial.
    pub fn new(
        policy: Policy,
        seed: u64,
        script: impl FnMut(&DialInfo) -> Connect + Send + 'static,
    ) -> Sim {
        // The one clock read: the origin of virtual time. The core never reads a clock.
        let t0 = Instant::now();
        let mut sim = Sim {
            core: Core::new(policy, seed),
            t0,
            now: t0,
            script: Box::new(script),
            queue: BTreeMap::new(),
            seq: 0,
            conn: 0,
            latency: Duration::from_millis(1),
            answer_pings: true,
            reauth_ok: true,
            dials: 0,
            fallback: Box::new(|_| None),
            fallback_uses: 0,
            trace: Vec::new(),
        };
        sim.at(Duration::ZERO, Input::Start);
        sim
    }

    /// One-way network latency of the simulated server (default 1 ms).
    pub fn with_latency(mut self, latency: Duration) -> Sim {
        self.latency = latency;
        self
    }

    /// Whether re-authentication succeeds (default yes).
    pub fn with_reauth(mut self, ok: bool) -> Sim {
        self.reauth_ok = ok;
        self
    }

    /// What the fallback does each time the core starts (or resumes) it: `None`, it
    /// answers (`FallbackReady`); `Some(failure)`, it fails (`FallbackFailed`). The
    /// argument counts the uses from 1. By default it always answers.
    pub fn with_fallback(
        mut self,
        fallback: impl FnMut(u32) -> Option<FallbackError> + Send + 'static,
    ) -> Sim {
        self.fallback = Box::new(fallback);
        self
    }

    /// Schedule an application input at virtual time `at` (e.g. `Input::UserClose`).
    pub fn at(&mut self, at: Duration, input: Input) {
        let when = self.t0 + at;
        self.push(when, input, None);
    }

    /// Run until virtual time `limit` or until nothing is left to happen.
    pub fn run_for(&mut self, limit: Duration) {
        let end = self.t0 + limit;
        loop {
            let next_queued = self.queue.keys().next().map(|k| k.0);
            let next_timer = self.core.poll_timeout();
            let next = match (next_queued, next_timer) {
                (Some(a), Some(b)) => a.min(b),
                (a, b) => match a.or(b) {
                    Some(t) => t,
                    None => return,
                },
            };
            if next > end {
                return;
            }
            self.now = self.now.max(next);
            if next_queued == Some(next) {
                let (_, pending) = self.queue.pop_first().unwrap_or_else(|| unreachable!());
                if pending.conn.is_some_and(|c| c != self.conn) {
                    continue;
                }
                if matches!(
                    pending.input,
                    Input::PeerClosed { .. } | Input::Dropped { .. } | Input::DialFailed(_)
                ) {
                    self.conn += 1;
                }
                self.core.handle_input(self.now, pending.input);
            } else {
                self.core.handle_timeout(self.now);
            }
            self.drain();
        }
    }

    /// The core, to inspect its state.
    pub fn core(&self) -> &Core {
        &self.core
    }

    /// Dials the server saw (probes included).
    pub fn dials(&self) -> u32 {
        self.dials
    }

    /// Every output with the virtual time it was produced at.
    pub fn trace(&self) -> &[(Duration, Output)] {
        &self.trace
    }

    /// Every event with its virtual time.
    pub fn events(&self) -> impl Iterator<Item = (Duration, &Event)> {
        self.trace.iter().filter_map(|(t, o)| match o {
            Output::Event(e) => Some((*t, e)),
            _ => None,
        })
    }

    /// Virtual time elapsed.
    pub fn elapsed(&self) -> Duration {
        self.now - self.t0
    }

    fn push(&mut self, at: Instant, input: Input, conn: Option<u64>) {
        self.seq += 1;
        self.queue.insert((at, self.seq), Pending { input, conn });
    }

    fn drain(&mut self) {
        while let Some(output) = self.core.poll_output() {
            let now = self.now;
            let lat = self.latency;
            match &output {
                Output::Dial { attempt, probe } => {
                    self.dials += 1;
                    self.conn += 1;
                    self.answer_pings = true;
                    let info = DialInfo {
                        index: self.dials,
                        attempt: *attempt,
                        probe: *probe,
                        at: now - self.t0,
                    };
                    let connect = (self.script)(&info);
                    self.play(connect);
                }
                Output::AbortDial | Output::DropConnection => self.conn += 1,
                Output::SendPing if self.answer_pings => {
                    self.push(now + lat * 2, Input::Pong, Some(self.conn));
                }
                Output::SendClose { .. } => {
                    let close = Input::PeerClosed {
                        code: Some(1000),
                        reason: Vec::new(),
                    };
                    self.push(now + lat * 2, close, Some(self.conn));
                }
                Output::StartFallback => {
                    self.fallback_uses += 1;
                    let input = match (self.fallback)(self.fallback_uses) {
                        None => Input::FallbackReady,
                        Some(failure) => Input::FallbackFailed { failure },
                    };
                    self.push(now + lat * 2, input, None);
                }
                Output::Reauthenticate => {
                    let ok = self.reauth_ok;
                    self.push(now + lat, Input::ReauthDone { ok }, None);
                }
                _ => {}
            }
            self.trace.push((now - self.t0, output));
        }
    }

    fn play(&mut self, connect: Connect) {
        let conn = Some(self.conn);
        let lat = self.latency;
        let mut t = self.now + lat;
        let progress = Input::DialProgress(Phase::Handshake);
        match connect {
            Connect::Fail(failure) => self.push(t, Input::DialFailed(failure), conn),
            Connect::Stall => self.push(t, progress, conn),
            Connect::Status {
                status,
                retry_after,
            } => {
                self.push(t, progress, conn);
                let failure = ReachFailure::Status {
                    status,
                    retry_after,
                };
                self.push(t + lat, Input::DialFailed(failure), conn);
            }
            Connect::Accept(steps) => {
                self.push(t, progress, conn);
                t += lat;
                self.push(t, Input::DialSucceeded, conn);
                for step in steps {
                    match step {
                        Step::Wait(d) => t += d,
                        Step::Message => self.push(t, Input::Received, conn),
                        Step::Close { code, reason } => {
                            self.push(t, Input::PeerClosed { code, reason }, conn)
                        }
                        Step::Drop => {
                            let detail = "connection reset by peer".to_string();
                            self.push(t, Input::Dropped { detail }, conn)
                        }
                        Step::IgnorePings => self.answer_pings = false,
                    }
                }
            }
        }
    }
}
