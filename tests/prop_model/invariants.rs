//! ARCHITECTURE.md's invariants 2–7, checked from the core's outputs alone (the model
//! is not consulted), after every step. Invariant 1 (no panic) is the harness running
//! at all; invariant 8 (determinism) is checked by running a case twice.

use std::time::{Duration, Instant};

use redial::config::{Action, Config, Strategy as Jitter};
use redial::core::{Core, Failure, Input, Output, StateName as S, Trigger as T, TRANSITIONS};
use redial::policy::{Class, MAX_DELAY};
use redial::Event;

use super::tables::{close_class, dial_class, override_for, uncapped_envelope, TOL};

pub struct Invariants {
    cfg: Config,
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
        }
    }

    pub fn check_step(
        &mut self,
        now: Instant,
        input: &Input,
        outs: &[Output],
        core: &Core,
    ) -> Result<(), String> {
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
                            return Err(format!(
                                "Dial says attempt {attempt}, it is dial {}",
                                self.dials
                            ));
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
            return Err("a deadline after Stopped".into());
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
            } => {
                let row = TRANSITIONS
                    .iter()
                    .any(|r| (r.from, r.trigger, r.to) == (*from, *trigger, *to));
                if !row {
                    return Err(format!(
                        "(7) {from} --{trigger}--> {to} is not a row of TRANSITIONS"
                    ));
                }
                if *from != self.state {
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
                let normal =
                    sentence.contains("closed normally") || sentence.contains("(normal closure)");
                if normal && cause.code().is_some_and(|c| c != 1000) {
                    return Err(format!(
                        "a cause calls code {:?} normal: {sentence}",
                        cause.code()
                    ));
                }
                if (*from, *trigger) == (S::Closing, T::Closed) {
                    self.live = false;
                }
                self.state = *to;
                self.stopped |= *to == S::Stopped;
            }
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
                if let Failure::Closed { code, .. } = failure {
                    let class = close_class(*code);
                    let action = override_for(&self.cfg, code.unwrap_or(1005));
                    let retrying =
                        action.is_some_and(|a| !matches!(a, Action::FallBack | Action::Stop));
                    if matches!(class, Class::Policy | Class::Protocol) && !retrying {
                        self.no_retry = Some(format!("close {code:?} of class {class:?}"));
                    }
                }
            }
            Event::HandshakeFailed { failure } | Event::ProbeFailed { failure, .. } => {
                self.failures += 1;
                if let (Failure::Dial { failure: f, .. }, Input::DialFailed(g)) = (failure, input) {
                    if f == g {
                        self.live = false;
                    }
                }
            }
            Event::RetryScheduled { delay, cause, .. } => {
                self.delay_bound(*delay, cause.failure())?
            }
            _ => {}
        }
        let _ = e.to_json(Duration::from_millis(1));
        Ok(())
    }

    /// (4): every delay ≤ max(backoff ceiling, overload_min, restart_max, capped
    /// Retry-After); class minimums and Retry-After are honoured.
    fn delay_bound(&self, delay: Duration, failure: Option<&Failure>) -> Result<(), String> {
        let c = &self.cfg;
        let n = self.failures.saturating_sub(1);
        let ceiling = match (c.backoff.cap, c.backoff.strategy) {
            (Some(cap), _) => cap,
            (None, Jitter::Decorrelated) => MAX_DELAY,
            (None, Jitter::Spread) => uncapped_envelope(c, n).mul_f64(1.0 + c.backoff.spread),
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
        let overridden = code.and_then(|c| override_for(&self.cfg, c)).is_some();
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
