//! docs/design.md's invariants of the core, checked from what a run shows.
//!
//! A run of a [`Core`] is a stream of [`Record`]s: the time an input was handed in, the
//! input, the outputs drained after it, and what the getters said then (state, attempt,
//! deadline, last cause). A [`Checker`] is fed the records one by one and keeps what
//! the outputs so far imply (dials since the last stable connection, whether a dial or
//! connection is live, the state the last transition entered, …); the first record that
//! breaks an invariant gives a [`Violation`] naming the [`Invariant`] and the step.
//! [`check_determinism`] compares two runs of the same inputs (invariant 8).
//!
//! Sans-IO like the core: the checker reads no clock (times are offsets from the run's
//! origin), does no I/O and never panics. It reads the core's outputs only: the property
//! tests (`tests/prop_core_model.rs`, beside their own reference model) and the
//! `core_sequence` fuzz target (`fuzz/`) both use it, and so can anyone who drives a
//! core. The classification it expects comes from [`tables`], written again from
//! docs/design.md rather than taken from [`crate::policy`].
//!
//! What is checked, by invariant (`docs/invariants.md` lists it too):
//!
//! | | |
//! |---|---|
//! | (1) | no panic: the caller's loop running at all (not this module) |
//! | (2) to (8) | [`Invariant::RetryBudget`] … [`Invariant::Determinism`] |
//! | (9) to (11) | nothing: the send queue, requests and the application live in the driver |
//! | (12) | [`Invariant::FallbackBudget`] |
//! | — | [`Invariant::Diagnosis`], [`Invariant::Classification`], [`Invariant::Consistency`] |
//!
//! ```
//! use std::time::{Duration, Instant};
//! use redial::sim::invariants::{check_determinism, Checker, Record};
//! use redial::{Config, Core, Input, Output};
//!
//! let policy = Config::default().validate().unwrap();
//! let run = |t0: Instant| {
//!     let mut core = Core::new(policy.clone(), 7);
//!     let mut checker = Checker::new(core.policy());
//!     let mut records = Vec::new();
//!     let inputs = [
//!         (0, Input::Start),
//!         (2, Input::DialSucceeded),
//!         // The mission: 101, then 1008 with an empty reason 3 ms later.
//!         (5, Input::PeerClosed { code: Some(1008), reason: vec![] }),
//!     ];
//!     for (ms, input) in inputs {
//!         let now = t0 + Duration::from_millis(ms);
//!         core.handle_input(now, input.clone());
//!         let outputs: Vec<Output> = std::iter::from_fn(|| core.poll_output()).collect();
//!         let record = Record::observe(&core, t0, now, input, outputs);
//!         checker.check(&record).expect("the core keeps its invariants");
//!         records.push(record);
//!     }
//!     records
//! };
//! let t0 = Instant::now();
//! let first = run(t0);
//! check_determinism(&first, &run(t0 + Duration::from_secs(3600))).unwrap();
//! ```

mod checker;
pub mod tables;

pub use checker::Checker;

use std::fmt;
use std::time::{Duration, Instant};

use crate::config::Policy;
use crate::core::{Cause, Core, Input, Output, StateName};

/// One step of a run: what was handed to the core, what it gave back, and what its
/// getters said afterwards. Times are offsets from the run's origin (at or before its
/// first input), so that two runs of the same inputs from different origins compare
/// equal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// When the input was handed in (as the caller passed it: the core takes an earlier
    /// time than the last one as the last one, and so does the checker).
    pub at: Duration,
    /// The input ([`Input::Timeout`] for a [`Core::handle_timeout`] call).
    pub input: Input,
    /// Every output drained after the input, in order.
    pub outputs: Vec<Output>,
    /// [`Core::poll_timeout`] afterwards.
    pub deadline: Option<Duration>,
    /// [`Core::state`] afterwards.
    pub state: StateName,
    /// [`Core::attempt`] afterwards.
    pub attempt: u32,
    /// [`Core::last_cause`] afterwards.
    pub cause: Option<Cause>,
}

impl Record {
    /// The record of one step: `input` was handed to `core` at `now` and `outputs` were
    /// drained after it; times are taken relative to `origin`.
    pub fn observe(
        core: &Core,
        origin: Instant,
        now: Instant,
        input: Input,
        outputs: Vec<Output>,
    ) -> Record {
        Record {
            at: now.saturating_duration_since(origin),
            input,
            outputs,
            deadline: core
                .poll_timeout()
                .map(|t| t.saturating_duration_since(origin)),
            state: core.state(),
            attempt: core.attempt(),
            cause: core.last_cause().cloned(),
        }
    }
}

/// Which invariant a [`Violation`] breaks: docs/design.md's numbered invariants 2–8,
/// and three checks of what the outputs say about themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Invariant {
    /// (2) Dials between two stable connections never exceed `max_attempts`: dials are
    /// counted between `Stable` events, and a `Stable` event counts only on an open
    /// connection that stayed up for `min_uptime` or ended with a 1000 close after a
    /// server message (so that accept-then-close and message-then-close loops cannot
    /// reset the budget). In any window of length T, non-probe dials are at most
    /// `max_attempts × (1 + ⌊T / min_uptime⌋ + S)`, S the application's `Start`s from
    /// Idle inside the window; at most one re-authentication per stable connection.
    /// (Not the dial-rate bound under `budget.stable_on_first_message`, the old rule
    /// kept to measure old clients: it does not hold there.)
    RetryBudget,
    /// (3) No retry over WebSockets after a policy or protocol class close (unless a
    /// `close_codes` override says to retry): FellBack or Stopped follows directly.
    NoRetryAfterPolicyClose,
    /// (4) Every retry delay lies within `max(backoff ceiling, overload_min,
    /// restart_max, min(Retry-After, max_retry_after))`; `Retry-After`, the overload
    /// minimum and the restart window are honoured; the backoff deadline is the delay.
    BackoffBounds,
    /// (5) `poll_timeout()` is never before the last `now`, and at most one dial or
    /// connection is live at a time.
    DeadlinesAndSockets,
    /// (6) After `Stopped`, nothing but observer events, and no deadline.
    SilentAfterStopped,
    /// (7) Every `StateChanged` is a row of [`TRANSITIONS`](crate::core::TRANSITIONS).
    /// (That every row is reached is a property of many runs:
    /// [`Checker::transitions`] collects the rows one run made.)
    DocumentedTransitions,
    /// (8) The same seed and inputs give the same records ([`check_determinism`]).
    Determinism,
    /// (12) Fallback attempts are bounded like dials: at most `fallback.max_failures`
    /// failures in a row (`FallbackReady`, a response's first event, resets the count),
    /// each retried one pausing the fallback (`StopFallback`) for a delay within the
    /// backoff bounds before `StartFallback`; a failure that is not retried, or the last
    /// one, stops the client with a `FallbackFailed` cause.
    FallbackBudget,
    /// Every decision carries a cause a person can read: a transition after a failure
    /// names that failure, a retry is a `Retry` cause with its `RetryScheduled` event,
    /// decision events carry their transition's cause, `last_cause()` is the last
    /// transition's cause, no cause calls a code other than 1000 "normal", a failure's
    /// time since the upgrade and "received" flag are right, and every event renders.
    Diagnosis,
    /// Close codes and dial failures are classed as in [`tables`].
    Classification,
    /// The getters and numbering agree with the events: `state()` is the state the last
    /// transition entered, `attempt()` the dials since the last `Stable`, a transition
    /// leaves the state the core was in, dials are numbered in order (probes 0).
    Consistency,
}

impl Invariant {
    /// Every check, docs/design.md's numbered invariants first.
    pub const ALL: [Invariant; 11] = [
        Invariant::RetryBudget,
        Invariant::NoRetryAfterPolicyClose,
        Invariant::BackoffBounds,
        Invariant::DeadlinesAndSockets,
        Invariant::SilentAfterStopped,
        Invariant::DocumentedTransitions,
        Invariant::Determinism,
        Invariant::FallbackBudget,
        Invariant::Diagnosis,
        Invariant::Classification,
        Invariant::Consistency,
    ];

    /// Its number in docs/design.md's list of invariants, if it has one.
    pub fn number(self) -> Option<u8> {
        match self {
            Invariant::RetryBudget => Some(2),
            Invariant::NoRetryAfterPolicyClose => Some(3),
            Invariant::BackoffBounds => Some(4),
            Invariant::DeadlinesAndSockets => Some(5),
            Invariant::SilentAfterStopped => Some(6),
            Invariant::DocumentedTransitions => Some(7),
            Invariant::Determinism => Some(8),
            Invariant::FallbackBudget => Some(12),
            Invariant::Diagnosis | Invariant::Classification | Invariant::Consistency => None,
        }
    }

    /// A short name, as in violation messages.
    pub fn title(self) -> &'static str {
        match self {
            Invariant::RetryBudget => "retry budget",
            Invariant::NoRetryAfterPolicyClose => "no retry after a policy or protocol close",
            Invariant::BackoffBounds => "backoff bounds",
            Invariant::DeadlinesAndSockets => "deadlines and live sockets",
            Invariant::SilentAfterStopped => "silent after Stopped",
            Invariant::DocumentedTransitions => "documented transitions",
            Invariant::Determinism => "determinism",
            Invariant::FallbackBudget => "fallback budget",
            Invariant::Diagnosis => "diagnosis",
            Invariant::Classification => "classification",
            Invariant::Consistency => "consistency",
        }
    }
}

impl fmt::Display for Invariant {
    /// `(2) retry budget`, or the title alone for the unnumbered checks.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.number() {
            Some(n) => write!(f, "({n}) {}", self.title()),
            None => f.write_str(self.title()),
        }
    }
}

/// The first record that broke an invariant, with the step's context.
///
/// Its `Display` is several lines: the step, the invariant and what was wrong, and the
/// step's outputs, as in
/// `step 11 at t0+6ms, in open, input PeerClosed { .. }:` /
/// `(2) retry budget: 6 dials without a stable connection, max_attempts 5` / `outputs: …`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Violation {
    /// Which invariant.
    pub invariant: Invariant,
    /// The index of the step (record) in the run, from 0.
    pub step: usize,
    /// The step's time, from the record.
    pub at: Duration,
    /// The state the core was in before the step.
    pub state: StateName,
    /// The step's input.
    pub input: Input,
    /// The step's outputs.
    pub outputs: Vec<Output>,
    /// What was wrong, in a sentence.
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "step {} at t0+{:?}, in {}, input {:?}:\n  {}: {}\n  outputs: {:#?}",
            self.step, self.at, self.state, self.input, self.invariant, self.detail, self.outputs
        )
    }
}

impl std::error::Error for Violation {}

/// Check a whole run with a fresh [`Checker`]; the checker is returned for what it
/// collected (such as [`Checker::transitions`]).
pub fn check_run(policy: &Policy, records: &[Record]) -> Result<Checker, Violation> {
    let mut checker = Checker::new(policy);
    for record in records {
        checker.check(record)?;
    }
    Ok(checker)
}

/// (8) Two runs of the same seed and inputs (from different origins) must give the same
/// records; the violation names the first step where they differ, and what differs.
pub fn check_determinism(first: &[Record], again: &[Record]) -> Result<(), Violation> {
    let before = |i: usize| i.checked_sub(1).map_or(StateName::Idle, |p| first[p].state);
    let differs = first.iter().zip(again).position(|(a, b)| a != b);
    let (step, detail) = match differs {
        Some(i) => (i, difference(&first[i], &again[i])),
        None if first.len() == again.len() => return Ok(()),
        None => {
            let n = first.len().min(again.len());
            let lengths = format!(
                "one run has {} steps, the other {}",
                first.len(),
                again.len()
            );
            (n, lengths)
        }
    };
    let (input, outputs, at) = match first.get(step).or(again.get(step)) {
        Some(r) => (r.input.clone(), r.outputs.clone(), r.at),
        None => (Input::Timeout, Vec::new(), Duration::ZERO),
    };
    Err(Violation {
        invariant: Invariant::Determinism,
        step,
        at,
        state: before(step.min(first.len())),
        input,
        outputs,
        detail: format!("same seed and inputs, different outputs: {detail}"),
    })
}

/// The fields in which two records differ, with the second run's values.
fn difference(a: &Record, b: &Record) -> String {
    let mut parts = Vec::new();
    if a.at != b.at || a.input != b.input {
        parts.push(format!(
            "the runs were given different steps: {:?} {:?}",
            b.at, b.input
        ));
    }
    if a.outputs != b.outputs {
        parts.push(format!("run again, the outputs were {:#?}", b.outputs));
    }
    if a.deadline != b.deadline {
        parts.push(format!("deadline {:?} vs {:?}", a.deadline, b.deadline));
    }
    if (a.state, a.attempt) != (b.state, b.attempt) {
        parts.push(format!(
            "state {} attempt {} vs state {} attempt {}",
            a.state, a.attempt, b.state, b.attempt
        ));
    }
    if a.cause != b.cause {
        parts.push(format!("last cause {:?} vs {:?}", a.cause, b.cause));
    }
    parts.join("; ")
}
