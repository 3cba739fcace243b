//! The checker: what the outputs so far imply, and each new record checked against it.

use std::collections::{BTreeSet, VecDeque};
use std::time::Duration;

use super::tables::{
    close_class, dial_class, fallback_retried, override_for, uncapped_envelope, TOL,
};
use super::{Invariant, Record, Violation};
use crate::config::MAX_DELAY;
use crate::config::{Config, Policy, Strategy};
use crate::core::Event;
use crate::core::{Cause, Failure, Input, Output, StateName as S, Trigger as T, TRANSITIONS};
use crate::policy::Class;

use Invariant as I;

mod budget;
mod closes;
mod fallback;
mod probe;
mod words;

/// What went wrong in a step, before the step's context is added.
type Broken = (Invariant, String);

/// Checks a run of a [`Core`](crate::Core) record by record. See the
/// [module docs](super).
#[derive(Debug, Clone)]
pub struct Checker {
    cfg: Config,
    /// Records checked so far.
    steps: usize,
    /// The latest time handed in.
    now: Option<Duration>,
    /// The state the last `StateChanged` entered.
    state: S,
    /// Non-probe dials since the last `Stable` event.
    dials: u32,
    /// Failures (closes, dial failures) since the last `Stable` event: a bound on how
    /// many backoff delays were drawn.
    failures: u32,
    /// A dial or connection the core asked for and has not seen end.
    live: bool,
    stopped: bool,
    /// Set by a policy/protocol close that no retrying override covers.
    no_retry: Option<String>,
    /// The open connection, while in Open.
    link: Option<Link>,
    /// The quiet re-probe's connection, on trial in FellBack.
    trial: Option<Link>,
    /// The cause of the last `StateChanged`.
    cause: Option<Cause>,
    /// Every `(from, trigger, to)` seen.
    transitions: BTreeSet<(S, T, S)>,
    /// This step's latest transition's cause.
    step_cause: Option<Cause>,
    /// This step's latest failure (from `Closed` or `HandshakeFailed`).
    step_failure: Option<Failure>,
    /// This step's retry: when its backoff ends. `None` while a transition into Backoff
    /// still waits for its `RetryScheduled`.
    retry_due: Option<Option<Duration>>,
    /// When the last non-probe dials started (the latest [`DIAL_HISTORY`]), for the
    /// dial-rate bound of invariant 2.
    dial_times: VecDeque<Duration>,
    /// When the application's `Start`s took the core out of Idle, or its `Recycle`s
    /// closed an open connection (as many).
    start_times: VecDeque<Duration>,
    /// Re-authentications asked for since the last `Stable`.
    reauths: u32,
    /// The fallback's side (invariant 12).
    fallback: FallbackSide,
}

/// How many dial and start times the dial-rate check keeps: windows reach back this far.
const DIAL_HISTORY: usize = 512;

/// What the checker knows of the fallback (invariant 12).
#[derive(Debug, Clone, Default)]
struct FallbackSide {
    /// Fallback failures in a row, in this stay in FellBack.
    failures: u32,
    /// Paused after a failure: `StartFallback` is due no earlier than this.
    paused_until: Option<Duration>,
    /// This step's input was a fallback failure that must be answered.
    unanswered: Option<bool>,
}

/// What the checker knows of the open connection.
#[derive(Debug, Clone, Copy)]
struct Link {
    opened: Duration,
    stable: bool,
    received: bool,
}

impl Checker {
    /// A checker for a core that runs `policy`, before its first input.
    pub fn new(policy: &Policy) -> Checker {
        Checker {
            cfg: policy.config().clone(),
            steps: 0,
            now: None,
            state: S::Idle,
            dials: 0,
            failures: 0,
            live: false,
            stopped: false,
            no_retry: None,
            link: None,
            trial: None,
            cause: None,
            transitions: BTreeSet::new(),
            step_cause: None,
            step_failure: None,
            retry_due: None,
            dial_times: VecDeque::new(),
            start_times: VecDeque::new(),
            reauths: 0,
            fallback: FallbackSide::default(),
        }
    }

    /// Check the next record of the run (records must come in order, none left out).
    pub fn check(&mut self, record: &Record) -> Result<(), Violation> {
        let step = self.steps;
        let before = self.state;
        self.steps += 1;
        self.step(record).map_err(|(invariant, detail)| Violation {
            invariant,
            step,
            at: record.at,
            state: before,
            input: record.input.clone(),
            outputs: record.outputs.clone(),
            detail,
        })
    }

    /// Records checked so far.
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// Every `(from, trigger, to)` the run's `StateChanged` events named: all of them
    /// rows of [`TRANSITIONS`]; merge them over many runs to see which rows are reached.
    pub fn transitions(&self) -> &BTreeSet<(S, T, S)> {
        &self.transitions
    }

    fn step(&mut self, r: &Record) -> Result<(), Broken> {
        // As the core does: an earlier time than the last one is the last one.
        let now = self.now.map_or(r.at, |last| last.max(r.at));
        self.now = Some(now);
        self.step_cause = None;
        self.step_failure = None;
        self.retry_due = None;
        // A fallback failure is counted when the core answers it (a deadline that passed
        // before the input may have moved the core into FellBack first).
        self.fallback.unanswered = match &r.input {
            Input::FallbackFailed { failure } => Some(fallback_retried(failure)),
            _ => None,
        };
        for o in &r.outputs {
            self.output(now, o, &r.input)?;
        }
        if self.state == S::FellBack && r.input == Input::FallbackReady {
            self.fallback.failures = 0;
        }
        if let (Some(retried), S::FellBack) = (self.fallback.unanswered, self.state) {
            self.fallback.failures += 1;
            let max = self.cfg.fallback.max_failures;
            let expected = if retried && self.fallback.failures < max {
                "a FallbackFailed event (a pause)"
            } else {
                "a stop with a FallbackFailed cause"
            };
            let msg = format!(
                "fallback failure {} of {max} (retried: {retried}) was not answered with {expected}",
                self.fallback.failures
            );
            return Err((I::FallbackBudget, msg));
        }
        if r.input == Input::Received {
            let link = match self.state {
                S::Open => self.link.as_mut(),
                S::FellBack => self.trial.as_mut(),
                _ => None,
            };
            if let Some(link) = link {
                link.received = true;
            }
        }
        match self.retry_due {
            Some(None) => return Err((I::Diagnosis, "Backoff without a RetryScheduled".into())),
            Some(Some(due)) if self.state == S::Backoff && r.deadline != Some(due) => {
                return Err((
                    I::BackoffBounds,
                    format!(
                        "the backoff ends at {:?}, the RetryScheduled delay at {due:?}",
                        r.deadline
                    ),
                ))
            }
            _ => {}
        }
        if let Some(t) = r.deadline.filter(|t| *t < now) {
            let late = now - t;
            return Err((
                I::DeadlinesAndSockets,
                format!("poll_timeout {late:?} before the last now"),
            ));
        }
        if r.state != self.state {
            let msg = format!(
                "state() is {}, the last StateChanged entered {}",
                r.state, self.state
            );
            return Err((I::Consistency, msg));
        }
        if r.attempt != self.dials {
            let msg = format!(
                "attempt() is {}, {} dials since the last Stable",
                r.attempt, self.dials
            );
            return Err((I::Consistency, msg));
        }
        if r.cause != self.cause {
            let msg = format!(
                "last_cause() is {:?}, the last StateChanged said {:?}",
                r.cause, self.cause
            );
            return Err((I::Diagnosis, msg));
        }
        if self.stopped && r.deadline.is_some() {
            return Err((I::SilentAfterStopped, "a deadline after Stopped".into()));
        }
        Ok(())
    }

    fn output(&mut self, now: Duration, o: &Output, input: &Input) -> Result<(), Broken> {
        if self.stopped && !matches!(o, Output::Event(_)) {
            return Err((I::SilentAfterStopped, format!("{o:?} after Stopped")));
        }
        match o {
            Output::Dial { attempt, probe } => {
                self.dial(*attempt, *probe)?;
                if *probe {
                    return Ok(());
                }
                self.dial_rate(now)
            }
            Output::AbortDial | Output::DropConnection => {
                self.live = false;
                self.trial = None;
                Ok(())
            }
            Output::Event(e) => self.event(now, e, input),
            Output::StartFallback => self.start_fallback(now, input),
            Output::Reauthenticate => {
                self.reauths += 1;
                if self.reauths > 1 {
                    let msg = "a second re-authentication without a stable connection between";
                    return Err((I::RetryBudget, msg.into()));
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn dial(&mut self, attempt: u32, probe: bool) -> Result<(), Broken> {
        if self.live {
            let msg = "a second Dial while a dial or connection is live";
            return Err((I::DeadlinesAndSockets, msg.into()));
        }
        self.live = true;
        if probe {
            if attempt != 0 {
                return Err((I::Consistency, format!("a probe dial numbered {attempt}")));
            }
            return Ok(());
        }
        self.dials += 1;
        let max = self.cfg.budget.max_attempts;
        if self.dials > max {
            let msg = format!(
                "{} dials without a stable connection, max_attempts {max}",
                self.dials
            );
            return Err((I::RetryBudget, msg));
        }
        if attempt != self.dials {
            let msg = format!("Dial says attempt {attempt}, it is dial {}", self.dials);
            return Err((I::Consistency, msg));
        }
        Ok(())
    }

    fn event(&mut self, now: Duration, e: &Event, input: &Input) -> Result<(), Broken> {
        match e {
            Event::Stable { after_upgrade, by } => self.stable(now, *after_upgrade, *by, input)?,
            Event::FallbackFailed {
                failure,
                failures,
                max_failures,
                retry_in,
                ..
            } => self.fallback_paused(now, failure, *failures, *max_failures, *retry_in)?,
            Event::StateChanged {
                from,
                trigger,
                to,
                cause,
            } => self.transition(now, *from, *trigger, *to, cause)?,
            Event::Closed { failure } => self.closed(now, failure, input)?,
            Event::Connected { probe: true, .. } => self.probe_connected(now)?,
            Event::HandshakeFailed { failure } | Event::ProbeFailed { failure, .. } => {
                if matches!(e, Event::ProbeFailed { .. }) {
                    self.trial_ended(now, failure, input)?;
                }
                self.failures += 1;
                if let Failure::Dial { failure: f, .. } = failure {
                    if failure.class() != dial_class(f) {
                        let msg = format!(
                            "{f:?} classed {:?}, not {:?}",
                            failure.class(),
                            dial_class(f)
                        );
                        return Err((I::Classification, msg));
                    }
                    if matches!(input, Input::DialFailed(g) if g == f) {
                        self.live = false;
                    }
                }
                if matches!(e, Event::HandshakeFailed { .. }) {
                    self.step_failure = Some(failure.clone());
                }
            }
            Event::RetryScheduled {
                attempt,
                delay,
                cause,
                ..
            } => {
                if let Some(close) = &self.no_retry {
                    let msg = format!("{close}, then a retry in {delay:?}");
                    return Err((I::NoRetryAfterPolicyClose, msg));
                }
                self.decision_event(e, cause)?;
                let max = self.cfg.budget.max_attempts;
                if *attempt > max {
                    let msg = format!("a retry scheduled as dial {attempt}, max_attempts {max}");
                    return Err((I::RetryBudget, msg));
                }
                if *attempt != self.dials + 1 {
                    let msg = format!("a retry as attempt {attempt} after {} dials", self.dials);
                    return Err((I::Consistency, msg));
                }
                self.delay_bound(*delay, cause.failure())?;
                self.retry_due = Some(Some(now + *delay));
            }
            Event::FellBack { cause } | Event::GaveUp { cause } | Event::Recovered { cause } => {
                self.decision_event(e, cause)?
            }
            _ => {}
        }
        if e.to_string().is_empty() {
            return Err((I::Diagnosis, format!("{e:?} renders as nothing")));
        }
        let _ = e.to_json(Duration::from_millis(1));
        Ok(())
    }

    fn transition(
        &mut self,
        now: Duration,
        from: S,
        trigger: T,
        to: S,
        cause: &Cause,
    ) -> Result<(), Broken> {
        let row = TRANSITIONS
            .iter()
            .any(|r| (r.from, r.trigger, r.to) == (from, trigger, to));
        if !row {
            let msg = format!("{from} --{trigger}--> {to} is not a row of TRANSITIONS");
            return Err((I::DocumentedTransitions, msg));
        }
        if from != self.state {
            let msg = format!(
                "StateChanged from {from}, but the core was in {}",
                self.state
            );
            return Err((I::Consistency, msg));
        }
        if let Some(close) = self.no_retry.take() {
            if !matches!(to, S::FellBack | S::Stopped) {
                let msg = format!("{close}, then {from} --{trigger}--> {to}");
                return Err((I::NoRetryAfterPolicyClose, msg));
            }
        }
        let failed = matches!(
            trigger,
            T::DialFailed | T::DialTimeout | T::RecvClose | T::Dropped | T::PongTimeout
        );
        if failed && cause.failure() != self.step_failure.as_ref() {
            let msg = format!(
                "{from} --{trigger}--> {to} after {:?}, but its cause names {:?}",
                self.step_failure,
                cause.failure()
            );
            return Err((I::Diagnosis, msg));
        }
        let max = self.cfg.budget.max_attempts;
        if to == S::Reauthenticating && self.dials >= max {
            let msg = format!(
                "re-authenticating (then dialing) after {} dials, max_attempts {max}",
                self.dials
            );
            return Err((I::RetryBudget, msg));
        }
        if matches!(cause, Cause::Retry { .. }) != (to == S::Backoff) {
            let msg = format!("{from} --{trigger}--> {to} with the cause {cause:?}");
            return Err((I::Diagnosis, msg));
        }
        let sentence = words::own_words(cause);
        if words::calls_normal(&sentence, cause.code()) || sentence.is_empty() {
            let msg = format!("a cause of code {:?} reads {sentence:?}", cause.code());
            return Err((I::Diagnosis, msg));
        }
        if (from, trigger) == (S::Closing, T::Closed) {
            self.live = false;
        }
        if from == S::Open {
            self.link = None;
        }
        if to == S::Open {
            let link = match (from, trigger) {
                (S::FellBack, T::ProbeOk) => self.trial_passed(now)?,
                _ => Link {
                    opened: now,
                    stable: false,
                    received: false,
                },
            };
            self.link = Some(link);
        }
        if to == S::Stopped && self.live {
            let msg = "stopped with a dial or connection not released";
            return Err((I::DeadlinesAndSockets, msg.into()));
        }
        if to == S::Backoff {
            self.retry_due = Some(None);
        }
        // The application's Start out of Idle, or its recycle of an open connection:
        // each may begin a new streak of dials.
        if matches!((from, trigger), (S::Idle, T::Start) | (S::Open, T::Recycle)) {
            if self.start_times.len() == DIAL_HISTORY {
                self.start_times.pop_front();
            }
            self.start_times.push_back(now);
        }
        if to == S::FellBack {
            // A fresh stay; a failure handed in this step still waits for its answer.
            let unanswered = self.fallback.unanswered;
            self.fallback = FallbackSide {
                unanswered,
                ..FallbackSide::default()
            };
        }
        if (from, trigger) == (S::FellBack, T::FallbackFailed) {
            let answered = self.fallback.unanswered.take();
            if answered.is_some() {
                self.fallback.failures += 1;
            }
            let max = self.cfg.fallback.max_failures;
            let due = answered == Some(false) || self.fallback.failures >= max;
            if !due || !matches!(cause, Cause::FallbackFailed { .. }) {
                let msg = format!(
                    "stopped on fallback failure {} of {max} (retried: {answered:?}) with {cause:?}",
                    self.fallback.failures
                );
                return Err((I::FallbackBudget, msg));
            }
        }
        self.state = to;
        self.stopped |= to == S::Stopped;
        self.transitions.insert((from, trigger, to));
        self.cause = Some(cause.clone());
        self.step_cause = Some(cause.clone());
        Ok(())
    }

    /// A retry, fall-back, give-up or recovery event carries its transition's cause.
    fn decision_event(&self, e: &Event, cause: &Cause) -> Result<(), Broken> {
        if self.step_cause.as_ref() != Some(cause) {
            let msg = format!(
                "a {} event with the cause {cause:?}, its transition's was {:?}",
                e.kind(),
                self.step_cause
            );
            return Err((I::Diagnosis, msg));
        }
        Ok(())
    }

    /// (4): every delay ≤ max(backoff ceiling, overload_min, restart_max, capped
    /// Retry-After); Retry-After, the overload minimum and the restart window are honoured.
    fn delay_bound(&self, delay: Duration, failure: Option<&Failure>) -> Result<(), Broken> {
        let c = &self.cfg;
        let n = self.failures.saturating_sub(1);
        let ceiling = match (c.backoff.cap, c.backoff.strategy) {
            (Some(cap), _) => cap,
            (None, Strategy::Decorrelated) => MAX_DELAY,
            (None, Strategy::Spread) => uncapped_envelope(c, n).mul_f64(1.0 + c.backoff.spread),
            (None, _) => uncapped_envelope(c, n),
        }
        .min(MAX_DELAY);
        let (class, code, ra) = match failure {
            Some(Failure::Dial { failure: f, .. }) => (dial_class(f), None, f.retry_after()),
            Some(Failure::Closed { code, .. }) => {
                (close_class(*code), Some(code.unwrap_or(1005)), None)
            }
            Some(_) => (Class::Transient, Some(1006), None),
            None => {
                let msg = format!("a retry of {delay:?} without a failure");
                return Err((I::Diagnosis, msg));
            }
        };
        let ra = ra.map(|a| a.min(c.delays.max_retry_after));
        let bound = ceiling
            .max(c.delays.overload_min)
            .max(c.delays.restart_max)
            .max(ra.unwrap_or_default());
        let broken = |msg: String| Err((I::BackoffBounds, msg));
        if delay > bound + TOL {
            return broken(format!("delay {delay:?} above {bound:?}"));
        }
        let overridden = code.and_then(|code| override_for(c, code)).is_some();
        match class {
            Class::RateLimited if delay < ra.unwrap_or_default() => {
                broken(format!("Retry-After {ra:?} not honoured: {delay:?}"))
            }
            Class::Overload if !overridden && delay < c.delays.overload_min => {
                broken(format!("overload delay {delay:?} below overload_min"))
            }
            Class::Restart
                if !overridden
                    && !(c.delays.restart_min..=c.delays.restart_max).contains(&delay) =>
            {
                broken(format!("restart delay {delay:?} outside the window"))
            }
            _ => Ok(()),
        }
    }
}
