//! ARCHITECTURE.md's invariants 2–7, checked from the core's outputs after every step
//! (the idea of `tests/prop_model/invariants.rs`, written again for the fuzz crate).
//! Invariant 1 (no panic) is the target running at all; 8 (determinism) is [`run`]
//! twice from different origins.

use std::time::{Duration, Instant};

use redial::config::{Config, Strategy};
use redial::core::{
    Cause, Core, Failure, Input, Output, StateName as S, Trigger as T, TRANSITIONS,
};
use redial::policy::{Class, MAX_DELAY};
use redial::Event;

use crate::case::{advance, Case};
use crate::tables::{close_class, dial_class, override_for, retrying, uncapped_envelope, TOL};

/// Tracks what the outputs so far imply and checks each new step against it.
pub struct Invariants {
    cfg: Config,
    state: S,
    /// Non-probe dials since the last `Stable` event.
    dials: u32,
    /// Failures since the last `Stable` event: a bound on the backoff draws.
    failures: u32,
    /// A dial or connection is live (asked for and not seen to end).
    live: bool,
    stopped: bool,
    /// Set by a policy/protocol close that no retrying override covers.
    no_retry: Option<String>,
    /// The latest `now` handed to the core.
    last_now: Option<Instant>,
}

impl Invariants {
    pub fn new(cfg: &Config) -> Invariants {
        Invariants {
            cfg: cfg.clone(),
            state: S::Idle,
            dials: 0,
            failures: 0,
            live: false,
            stopped: false,
            no_retry: None,
            last_now: None,
        }
    }

    /// Check one step: `input` was handed over at `now` and produced `outs`.
    pub fn step(
        &mut self,
        now: Instant,
        input: &Input,
        outs: &[Output],
        core: &Core,
    ) -> Result<(), String> {
        let now = self.last_now.map_or(now, |l| l.max(now));
        self.last_now = Some(now);
        let max = self.cfg.budget.max_attempts;
        for o in outs {
            if self.stopped && !matches!(o, Output::Event(_)) {
                return Err(format!("(6) {o:?} after Stopped"));
            }
            match o {
                Output::Dial { attempt, probe } => {
                    if self.live {
                        return Err("(5) a second Dial while a dial or connection is live".into());
                    }
                    self.live = true;
                    if *probe {
                        if *attempt != 0 {
                            return Err(format!("a probe dial numbered {attempt}"));
                        }
                    } else {
                        self.dials += 1;
                        if self.dials > max {
                            return Err(format!(
                                "(2) {} dials without a stable connection, max_attempts {max}",
                                self.dials
                            ));
                        }
                        if *attempt != self.dials {
                            return Err(format!("Dial {attempt} is dial {}", self.dials));
                        }
                    }
                }
                Output::AbortDial | Output::DropConnection => self.live = false,
                Output::Event(e) => self.event(e, input)?,
                _ => {}
            }
        }
        if let Some(t) = core.poll_timeout() {
            if t < now {
                return Err(format!(
                    "(5) poll_timeout {:?} before the last now",
                    now - t
                ));
            }
        }
        if core.state() != self.state {
            return Err(format!(
                "state() is {}, the last StateChanged entered {}",
                core.state(),
                self.state
            ));
        }
        if core.attempt() != self.dials {
            return Err(format!(
                "attempt() is {}, {} dials since the last Stable",
                core.attempt(),
                self.dials
            ));
        }
        if self.stopped && core.poll_timeout().is_some() {
            return Err("(6) a deadline after Stopped".into());
        }
        Ok(())
    }

    fn event(&mut self, e: &Event, input: &Input) -> Result<(), String> {
        match e {
            Event::Stable { .. } => {
                self.dials = 0;
                self.failures = 0;
            }
            Event::StateChanged {
                from,
                trigger,
                to,
                cause,
            } => self.transition(*from, *trigger, *to, cause)?,
            Event::Closed { failure } => {
                self.failures += 1;
                let ends = matches!(
                    (failure, input),
                    (Failure::Closed { .. }, Input::PeerClosed { .. })
                        | (Failure::Dropped { .. }, Input::Dropped { .. })
                );
                if ends {
                    self.live = false;
                }
                if let Failure::Closed { code, class, .. } = failure {
                    let expected = close_class(*code);
                    if *class != expected {
                        return Err(format!(
                            "close {code:?} classed {class:?}, not {expected:?}"
                        ));
                    }
                    let action = override_for(&self.cfg, code.unwrap_or(1005));
                    if matches!(class, Class::Policy | Class::Protocol)
                        && !action.is_some_and(retrying)
                    {
                        self.no_retry = Some(format!("close {code:?} of class {class:?}"));
                    }
                }
            }
            Event::HandshakeFailed { failure } | Event::ProbeFailed { failure, .. } => {
                self.failures += 1;
                if let Failure::Dial { failure: f, .. } = failure {
                    if failure.class() != dial_class(f) {
                        return Err(format!("{f:?} classed {:?}", failure.class()));
                    }
                    if matches!(input, Input::DialFailed(g) if g == f) {
                        self.live = false;
                    }
                }
            }
            Event::RetryScheduled { delay, cause, .. } => {
                if let Some(close) = &self.no_retry {
                    return Err(format!("(3) {close}, then a retry in {delay:?}"));
                }
                self.delay_bound(*delay, cause.failure())?
            }
            _ => {}
        }
        if e.to_string().is_empty() {
            return Err(format!("{e:?} renders as nothing"));
        }
        let _ = e.to_json(Duration::from_millis(1));
        Ok(())
    }

    fn transition(&mut self, from: S, trigger: T, to: S, cause: &Cause) -> Result<(), String> {
        let row = TRANSITIONS
            .iter()
            .any(|r| (r.from, r.trigger, r.to) == (from, trigger, to));
        if !row {
            return Err(format!(
                "(7) {from} --{trigger}--> {to} is not a row of TRANSITIONS"
            ));
        }
        if from != self.state {
            return Err(format!(
                "StateChanged from {from}, but the core was in {}",
                self.state
            ));
        }
        if let Some(close) = self.no_retry.take() {
            if !matches!(to, S::FellBack | S::Stopped) {
                return Err(format!("(3) {close}, then {from} --{trigger}--> {to}"));
            }
        }
        let sentence = cause.to_string();
        let normal = sentence.contains("closed normally") || sentence.contains("(normal closure)");
        if normal && cause.code().is_some_and(|c| c != 1000) {
            return Err(format!(
                "a cause calls {:?} normal: {sentence}",
                cause.code()
            ));
        }
        if (from, trigger) == (S::Closing, T::Closed) {
            self.live = false;
        }
        self.state = to;
        self.stopped |= to == S::Stopped;
        Ok(())
    }

    /// (4): every delay ≤ max(backoff ceiling, overload_min, restart_max, capped
    /// Retry-After); Retry-After, the overload minimum and the restart window are honoured.
    fn delay_bound(&self, delay: Duration, failure: Option<&Failure>) -> Result<(), String> {
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
            None => return Err(format!("a retry of {delay:?} without a failure")),
        };
        let ra = ra.map(|a| a.min(c.delays.max_retry_after));
        let bound = ceiling
            .max(c.delays.overload_min)
            .max(c.delays.restart_max)
            .max(ra.unwrap_or_default());
        if delay > bound + TOL {
            return Err(format!("(4) delay {delay:?} above {bound:?}"));
        }
        let overridden = code.and_then(|code| override_for(c, code)).is_some();
        match class {
            Class::RateLimited if delay < ra.unwrap_or_default() => {
                Err(format!("(4) Retry-After {ra:?} not honoured: {delay:?}"))
            }
            Class::Overload if !overridden && delay < c.delays.overload_min => {
                Err(format!("(4) overload delay {delay:?} below overload_min"))
            }
            Class::Restart
                if !overridden
                    && !(c.delays.restart_min..=c.delays.restart_max).contains(&delay) =>
            {
                Err(format!("(4) restart delay {delay:?} outside the window"))
            }
            _ => Ok(()),
        }
    }
}

/// One step of a run, with times relative to the run's origin.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub at: Duration,
    pub input: Input,
    pub outputs: Vec<Output>,
    pub timeout: Option<Duration>,
    pub state: S,
    pub attempt: u32,
    pub cause: Option<Cause>,
}

/// Drive a core through `case` from `t0`, checking the invariants after every step when
/// `check` is set. `None` when validation refuses the config.
pub fn run(case: &Case, t0: Instant, check: bool) -> Option<Result<Vec<Record>, String>> {
    let policy = case.config.clone().validate().ok()?;
    let mut core = Core::new(policy, case.seed);
    let mut inv = Invariants::new(&case.config);
    let mut now = t0;
    let mut trace = Vec::with_capacity(case.steps.len());
    for (i, step) in case.steps.iter().enumerate() {
        now = advance(t0, now, step.dt, core.poll_timeout());
        let before = core.state();
        let (input, via_timeout) = step.input(before);
        if via_timeout {
            core.handle_timeout(now);
        } else {
            core.handle_input(now, input.clone());
        }
        let outputs: Vec<Output> = std::iter::from_fn(|| core.poll_output()).collect();
        if check {
            if let Err(e) = inv.step(now, &input, &outputs, &core) {
                return Some(Err(format!(
                    "step {i} at t0+{:?} in {before}, input {input:?}:\n  {e}\n  outputs: {outputs:#?}",
                    now.saturating_duration_since(t0)
                )));
            }
        }
        trace.push(Record {
            at: now.saturating_duration_since(t0),
            input,
            outputs,
            timeout: core.poll_timeout().map(|t| t.saturating_duration_since(t0)),
            state: core.state(),
            attempt: core.attempt(),
            cause: core.last_cause().cloned(),
        });
    }
    Some(Ok(trace))
}
