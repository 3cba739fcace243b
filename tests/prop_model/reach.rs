//! How far the generators reach: counts, over many generated cases, of the situations
//! the invariants are about (a policy close, a spent budget, a 3000 close, a message
//! then a close, a failed re-probe, a fallback failure, each stability rule, each
//! decision after each class of failure). `generator_reach_is_counted` prints them and
//! fails when a meaningful cell falls under its minimum, so that a generator change
//! that starves a case shows.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use redial::config::Spent;
use redial::core::{Cause, Failure, Output, StateName};
use redial::policy::{Class, Why};
use redial::sim::invariants::Record;
use redial::Event;

/// A counted situation.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Cell {
    /// A failure of this class, followed by this state (the decision).
    Decision(Class, StateName),
    /// A connection became stable by this rule.
    StableBy(&'static str),
    /// A close after a server message had arrived, of this class.
    MessageThenClose(Class),
    /// A close with 3000 or 3003.
    AuthClose,
    /// The retry budget ran out (dials or elapsed).
    Spent(&'static str),
    /// A quiet re-probe failed.
    ProbeFailed,
    /// A quiet re-probe's connection ended during its trial (a failed probe too).
    TrialFailed,
    /// A quiet re-probe's connection held for its trial: back on WebSockets.
    TrialPassed,
    /// A fallback failure paused the fallback.
    FallbackPaused,
    /// A fallback failure stopped the client.
    FallbackStopped,
    /// The application was asked to re-authenticate.
    Reauthenticate,
}

/// Counts of every cell over the runs added.
#[derive(Default)]
pub struct Reach {
    pub counts: BTreeMap<Cell, u64>,
    pub runs: u64,
}

impl Reach {
    fn bump(&mut self, cell: Cell) {
        *self.counts.entry(cell).or_default() += 1;
    }

    pub fn get(&self, cell: &Cell) -> u64 {
        self.counts.get(cell).copied().unwrap_or(0)
    }

    /// Count the situations of one run.
    pub fn add(&mut self, trace: &[Record]) {
        self.runs += 1;
        for r in trace {
            let mut failure: Option<Class> = None;
            for o in &r.outputs {
                match o {
                    Output::Reauthenticate => self.bump(Cell::Reauthenticate),
                    Output::Event(e) => self.event(e, &mut failure),
                    _ => {}
                }
            }
        }
    }

    fn event(&mut self, e: &Event, failure: &mut Option<Class>) {
        match e {
            Event::Closed { failure: f } | Event::HandshakeFailed { failure: f } => {
                *failure = Some(f.class());
                if let Failure::Closed {
                    code,
                    received: true,
                    ..
                } = f
                {
                    self.bump(Cell::MessageThenClose(f.class()));
                    let _ = code;
                }
                if matches!(
                    f,
                    Failure::Closed {
                        code: Some(3000 | 3003),
                        ..
                    }
                ) {
                    self.bump(Cell::AuthClose);
                }
            }
            Event::StateChanged { to, cause, .. } => {
                if let Some(class) = failure.take() {
                    self.bump(Cell::Decision(class, *to));
                }
                let why = match cause {
                    Cause::FallBack { why, .. } | Cause::Stop { why, .. } => Some(why),
                    _ => None,
                };
                match why {
                    Some(Why::Spent(Spent::Attempts { .. })) => self.bump(Cell::Spent("attempts")),
                    Some(Why::Spent(Spent::Elapsed { .. })) => self.bump(Cell::Spent("elapsed")),
                    _ => {}
                }
                if matches!(cause, Cause::FallbackFailed { .. }) {
                    self.bump(Cell::FallbackStopped);
                }
                if matches!(cause, Cause::Recovered { .. }) {
                    self.bump(Cell::TrialPassed);
                }
            }
            Event::Stable { by, .. } => self.bump(Cell::StableBy(by.name())),
            Event::ProbeFailed { failure, .. } => {
                self.bump(Cell::ProbeFailed);
                if !matches!(failure, Failure::Dial { .. }) {
                    self.bump(Cell::TrialFailed);
                }
            }
            Event::FallbackFailed { .. } => self.bump(Cell::FallbackPaused),
            _ => {}
        }
    }

    /// The counts as a table, one cell a line.
    pub fn table(&self) -> String {
        let mut out = format!("generator reach over {} cases:\n", self.runs);
        for (cell, n) in &self.counts {
            let _ = writeln!(out, "  {n:>7}  {cell:?}");
        }
        out
    }
}

/// The meaningful cells and the least count each must reach in 1,000 cases: about a
/// third of what the generators reached when this was written (the runner's RNG is
/// deterministic, so the counts only move when a generator changes).
pub fn minimums() -> Vec<(Cell, u64)> {
    use Class::*;
    use StateName as S;
    vec![
        (Cell::Decision(Policy, S::FellBack), 10),
        (Cell::Decision(Policy, S::Stopped), 3),
        (Cell::Decision(Protocol, S::FellBack), 30),
        (Cell::Decision(Protocol, S::Stopped), 4),
        (Cell::Decision(Transient, S::Backoff), 400),
        (Cell::Decision(Transient, S::FellBack), 50),
        (Cell::Decision(Transient, S::Stopped), 15),
        (Cell::Decision(Auth, S::Reauthenticating), 25),
        (Cell::Decision(Auth, S::Stopped), 3),
        (Cell::Decision(Done, S::Idle), 20),
        (Cell::Decision(Done, S::Backoff), 8),
        (Cell::Decision(Restart, S::Backoff), 10),
        (Cell::Decision(Overload, S::Backoff), 12),
        (Cell::Decision(RateLimited, S::Backoff), 3),
        (Cell::Decision(Rejected, S::FellBack), 10),
        (Cell::Decision(Rejected, S::Stopped), 6),
        (Cell::Decision(Certificate, S::Stopped), 4),
        (Cell::StableBy("uptime"), 120),
        (Cell::StableBy("finished_exchange"), 8),
        (Cell::StableBy("first_message"), 20),
        (Cell::MessageThenClose(Done), 20),
        (Cell::MessageThenClose(Transient), 20),
        (Cell::MessageThenClose(Policy), 8),
        (Cell::MessageThenClose(Auth), 15),
        (Cell::AuthClose, 25),
        (Cell::Spent("attempts"), 50),
        (Cell::Spent("elapsed"), 20),
        (Cell::ProbeFailed, 40),
        (Cell::TrialFailed, 15),
        (Cell::TrialPassed, 20),
        (Cell::FallbackPaused, 50),
        (Cell::FallbackStopped, 30),
        (Cell::Reauthenticate, 30),
    ]
}
