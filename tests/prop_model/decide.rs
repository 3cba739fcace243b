//! The model's decisions after a failure: retry with a bounded delay, re-authenticate,
//! fall back, stop, or wait for demand; each checked against the core's transition,
//! its cause (class, code, why) and its `RetryScheduled` event.

use std::rc::Rc;
use std::time::{Duration, Instant};

use redial::config::Spent;
use redial::config::{Action, Transport};
use redial::core::{Cause, Output, StateName as S, Trigger as T};
use redial::policy::{Class, Why};
use redial::Event;

use super::model::{after, Cx, Model, St};
use super::tables::{backoff_bounds, default_action, override_for, TOL};

/// What failed, as the model sees it.
pub(super) struct Fail {
    pub(super) class: Class,
    /// The code `close_codes` is looked up with (raw code, 1005, or 1006), if any.
    pub(super) code: Option<u16>,
    pub(super) retry_after: Option<Duration>,
}

#[derive(PartialEq, Eq, Debug)]
enum WhyK {
    ClassOrOverride,
    Attempts,
    Elapsed,
    StillUnauthorized,
}

impl Model {
    /// A transition caused by a failure: its cause must name the failure's class and code.
    fn go_fail<'a>(
        &mut self,
        cx: &mut Cx<'a>,
        from: S,
        trigger: T,
        to: S,
        f: &Fail,
    ) -> Result<&'a Cause, String> {
        let cause = self.go(cx, from, trigger, to)?;
        if cause.class() != Some(f.class) || cause.code() != f.code {
            return Err(format!(
                "{from} --{trigger}--> {to}: model class {:?} code {:?}, cause {cause:?}",
                f.class, f.code
            ));
        }
        Ok(cause)
    }

    fn why_kind(why: &Why) -> WhyK {
        match why {
            Why::Class(_) | Why::Override(_) => WhyK::ClassOrOverride,
            Why::Spent(Spent::Attempts { .. }) => WhyK::Attempts,
            Why::Spent(Spent::Elapsed { .. }) => WhyK::Elapsed,
            _ => WhyK::StillUnauthorized,
        }
    }

    /// Fall back when a fallback is available, else stop; `why` is the expected reason.
    fn fall_back_or_stop(
        &mut self,
        now: Instant,
        cx: &mut Cx<'_>,
        (from, trigger): (S, T),
        f: &Fail,
        why: WhyK,
    ) -> Result<(), String> {
        let available = self.cfg.fallback.enabled && self.cfg.transport != Transport::Websocket;
        let to = if available { S::FellBack } else { S::Stopped };
        let cause = self.go_fail(cx, from, trigger, to, f)?;
        let ok = match cause {
            Cause::FallBack { why: w, .. } => available && Self::why_kind(w) == why,
            Cause::Stop {
                why: w,
                fallback_unavailable: true,
                ..
            } => !available && Self::why_kind(w) == why,
            _ => false,
        };
        if !ok {
            return Err(format!(
                "expected a fall-back for {why:?} (available: {available}), got {cause:?}"
            ));
        }
        if why == WhyK::Attempts
            && !matches!(why_of(cause), Some(Why::Spent(Spent::Attempts { dials, .. })) if dials == self.dials)
        {
            return Err(format!(
                "spent-attempts cause does not say {} dials: {cause:?}",
                self.dials
            ));
        }
        if available {
            self.enter_fell_back(now, cx);
        } else {
            cx.gave_up += 1;
            self.st = St::Stopped;
        }
        Ok(())
    }

    pub(super) fn fail(
        &mut self,
        now: Instant,
        cx: &mut Cx<'_>,
        from: S,
        trigger: T,
        f: Fail,
        was_stable: bool,
    ) -> Result<(), String> {
        let action = f
            .code
            .and_then(|c| override_for(&self.cfg, c))
            .unwrap_or(default_action(f.class));
        let streak = self
            .streak_start
            .map_or(Duration::ZERO, |s| now.saturating_duration_since(s));
        let max_elapsed = self.cfg.budget.max_elapsed;
        let spent = if self.dials >= self.cfg.budget.max_attempts {
            Some(WhyK::Attempts)
        } else if max_elapsed.is_some_and(|m| streak > m) {
            Some(WhyK::Elapsed)
        } else {
            None
        };
        let edge = (from, trigger);
        match action {
            Action::Stop => {
                let cause = self.go_fail(cx, from, trigger, S::Stopped, &f)?;
                if !matches!(
                    cause,
                    Cause::Stop {
                        why: Why::Class(_) | Why::Override(_),
                        fallback_unavailable: false,
                        ..
                    }
                ) {
                    return Err(format!(
                        "expected a stop by class or override, got {cause:?}"
                    ));
                }
                cx.gave_up += 1;
                self.st = St::Stopped;
            }
            Action::FallBack => self.fall_back_or_stop(now, cx, edge, &f, WhyK::ClassOrOverride)?,
            Action::ReconnectLazily if was_stable => {
                self.go_fail(cx, from, trigger, S::Idle, &f)?;
                self.st = St::Idle;
            }
            Action::Reauthenticate if self.reauth_used => {
                let cause = self.go_fail(cx, from, trigger, S::Stopped, &f)?;
                if !matches!(
                    cause,
                    Cause::Stop {
                        why: Why::StillUnauthorized,
                        ..
                    }
                ) {
                    return Err(format!("expected 'still unauthorized', got {cause:?}"));
                }
                cx.gave_up += 1;
                self.st = St::Stopped;
            }
            _ if spent.is_some() => {
                self.fall_back_or_stop(now, cx, edge, &f, spent.unwrap_or(WhyK::Attempts))?
            }
            Action::Reauthenticate => {
                self.reauth_used = true;
                self.go_fail(cx, from, trigger, S::Reauthenticating, &f)?;
                cx.actions.push(Output::Reauthenticate);
                self.st = St::Reauth;
            }
            _ => self.retry(now, cx, edge, f, action, streak)?,
        }
        Ok(())
    }

    /// A retrying action with budget left: Backoff, unless the delay passes `max_elapsed`.
    fn retry(
        &mut self,
        now: Instant,
        cx: &mut Cx<'_>,
        edge: (S, T),
        f: Fail,
        action: Action,
        streak: Duration,
    ) -> Result<(), String> {
        let c = Rc::clone(&self.cfg);
        let (mut lo, mut hi) = match action {
            Action::RetryAfterRestart => (c.delays.restart_min, c.delays.restart_max),
            _ => {
                let (lo, hi) = backoff_bounds(&c, self.backoff_n, self.decor_prev);
                self.backoff_n += 1;
                match action {
                    Action::RetrySlow => {
                        (lo.max(c.delays.overload_min), hi.max(c.delays.overload_min))
                    }
                    _ => (lo, hi),
                }
            }
        };
        if let Some(asked) = f.retry_after {
            let wait = asked.min(c.delays.max_retry_after);
            (lo, hi) = (lo.max(wait), hi.max(wait));
        }
        let (lo, hi) = (lo.saturating_sub(TOL), hi + TOL);
        let must_retry = c.budget.max_elapsed.is_none_or(|m| streak + hi <= m);
        let must_not = c.budget.max_elapsed.is_some_and(|m| streak + lo > m);
        if cx.peek_to() != Some(S::Backoff) {
            if must_retry {
                return Err(format!(
                    "expected a retry (delay in [{lo:?}, {hi:?}]), core did {:?}",
                    cx.events.get(cx.pos)
                ));
            }
            // The backoff drew a delay that no event reports.
            if action != Action::RetryAfterRestart {
                self.decor_prev = Duration::MAX;
            }
            return self.fall_back_or_stop(now, cx, edge, &f, WhyK::Elapsed);
        }
        if must_not {
            return Err(format!(
                "streak {streak:?} + delay ≥ {lo:?} passes max_elapsed, yet the core retried"
            ));
        }
        let cause = self.go_fail(cx, edge.0, edge.1, S::Backoff, &f)?;
        let Cause::Retry {
            delay,
            next_attempt,
            max_attempts,
            ..
        } = cause
        else {
            return Err(format!("a retry with cause {cause:?}"));
        };
        let max = self.cfg.budget.max_attempts;
        let ok = match cx.next()? {
            Event::RetryScheduled {
                attempt,
                max_attempts: m,
                delay: d,
                class,
                ..
            } => (*attempt, *m, *d, *class) == (self.dials + 1, max, *delay, f.class),
            _ => false,
        };
        let in_budget = self
            .cfg
            .budget
            .max_elapsed
            .is_none_or(|m| streak + *delay <= m);
        if !ok
            || (*next_attempt, *max_attempts) != (self.dials + 1, max)
            || *delay < lo
            || *delay > hi
            || !in_budget
        {
            return Err(format!(
                "retry after {:?} {action:?}: delay {delay:?} not in [{lo:?}, {hi:?}] or within budget \
                 (streak {streak:?}), or attempt {next_attempt}/{max_attempts} ≠ {}/{max}, or RetryScheduled disagrees",
                f.class,
                self.dials + 1
            ));
        }
        if action != Action::RetryAfterRestart {
            self.decor_prev = *delay;
        }
        self.st = St::Backoff(after(now, *delay));
        Ok(())
    }
}

/// The `Why` of a fall-back or stop cause.
fn why_of(cause: &Cause) -> Option<Why> {
    match cause {
        Cause::FallBack { why, .. } | Cause::Stop { why, .. } => Some(*why),
        _ => None,
    }
}
