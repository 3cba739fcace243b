//! What the state handlers do besides matching inputs: record transitions, apply the
//! policy to a failure, and build the next state's local data.

use std::time::{Duration, Instant};

use statig::prelude::*;

use super::{Ctx, Machine, State};
use crate::config::{Action, Transport};
use crate::core::cause::Cause;
use crate::core::failure::{Ending, Failure, StableBy};
use crate::core::input::Input;
use crate::core::local::{after, Dial, Fallback, Heartbeat, Link, Trial, Wait};
use crate::core::output::Output;
use crate::core::transition::{is_documented, StateName as S, Trigger as T};
use crate::core::Event;
use crate::policy::{
    classify_close, decide, decide_fallback, Budget, Class, Decision, FallbackDecision,
    FallbackError, Phase, ReachFailure,
};

impl Machine {
    /// Go to `to` because of `cause`: [`go_with`](Machine::go_with) a cause at hand.
    pub(super) fn go(
        &mut self,
        ctx: &mut Ctx<'_>,
        from: S,
        trigger: T,
        cause: Cause,
        to: State,
    ) -> Outcome<State> {
        self.go_with(ctx, from, trigger, || cause, to)
    }

    /// The one place transitions happen: check the row, record the cause (the last cause
    /// from now on), tell observers. The cause is made by `cause` once the old one is
    /// dropped, so that it is made where it is kept (assigning it over a live one would
    /// make it aside, then copy it there).
    #[inline(always)]
    pub(super) fn go_with(
        &mut self,
        ctx: &mut Ctx<'_>,
        from: S,
        trigger: T,
        cause: impl FnOnce() -> Cause,
        to: State,
    ) -> Outcome<State> {
        let to_name = to.name();
        debug_assert!(
            is_documented(from, trigger, to_name),
            "undocumented transition {from} --{trigger}--> {to_name}"
        );
        self.last_cause = None;
        let cause = self.last_cause.insert(cause());
        ctx.event(state_changed(from, to_name, trigger, cause));
        Transition(to)
    }

    pub(super) fn stop(
        &mut self,
        ctx: &mut Ctx<'_>,
        from: S,
        trigger: T,
        cause: Cause,
    ) -> Outcome<State> {
        let stopped = State::stopped(Box::new(cause.clone()));
        self.go(ctx, from, trigger, cause, stopped)
    }

    /// Apply the policy to a failure of the dial or connection, announced to observers
    /// first (`HandshakeFailed` or `Closed`).
    pub(super) fn fail(
        &mut self,
        ctx: &mut Ctx<'_>,
        from: S,
        trigger: T,
        failure: Failure,
        was_stable: bool,
    ) -> Outcome<State> {
        let now = ctx.now;
        // Made now, queued once the decision is made (nothing is queued in between): a
        // value is copied into the queue much faster once its writes have settled.
        let announcement = announcement(&failure);
        let class = failure.class();
        let override_action = failure.code().and_then(|c| self.policy.override_for(c));
        let budget = Budget {
            dials: self.dials,
            streak: self
                .streak_start
                .map_or(Duration::ZERO, |s| now.saturating_duration_since(s)),
            reauth_used: self.reauth_used,
            was_stable,
        };
        let retry_after = match &failure {
            Failure::Dial { failure, .. } => failure.retry_after(),
            _ => None,
        };
        let decision = decide(
            class,
            override_action,
            &budget,
            retry_after,
            &self.policy,
            &mut self.backoff,
        );
        ctx.event(announcement);
        match decision {
            Decision::Retry { delay, basis } => {
                let max_attempts = self.policy.max_attempts();
                let next_attempt = self.dials + 1;
                let wait = Wait {
                    until: after(now, delay),
                };
                let cause = || Cause::Retry {
                    failure,
                    delay,
                    basis,
                    next_attempt,
                    max_attempts,
                };
                let outcome = self.go_with(ctx, from, trigger, cause, State::backoff(wait));
                if let Some(cause) = &self.last_cause {
                    let event = retry_scheduled(next_attempt, max_attempts, delay, class, cause);
                    ctx.event(event);
                }
                outcome
            }
            Decision::Reauthenticate => {
                self.reauth_used = true;
                let cause = Cause::Reauthenticate { failure };
                self.go(ctx, from, trigger, cause, State::reauthenticating())
            }
            Decision::FallBack(why) => {
                let fallback = self.new_fallback(now);
                self.go(
                    ctx,
                    from,
                    trigger,
                    Cause::FallBack { failure, why },
                    State::fell_back(fallback),
                )
            }
            Decision::Stop {
                why,
                fallback_unavailable,
            } => self.stop(
                ctx,
                from,
                trigger,
                Cause::Stop {
                    failure,
                    why,
                    fallback_unavailable,
                },
            ),
            Decision::WaitForDemand => self.go(
                ctx,
                from,
                trigger,
                Cause::WaitForDemand { failure },
                State::idle(),
            ),
        }
    }

    pub(super) fn new_dial(&mut self, now: Instant, probe: bool) -> Dial {
        let attempt = if probe {
            0
        } else {
            self.dials = self.dials.saturating_add(1);
            self.streak_start.get_or_insert(now);
            self.dials
        };
        let connect = self.policy.config().timeouts.connect;
        Dial {
            attempt,
            probe,
            started: now,
            phase: Phase::Connect,
            deadline: after(now, connect),
        }
    }

    /// A recycled connection's close is over (`trigger`): dial its replacement. The
    /// connection counted as stable, so this is the first dial of a new budget.
    pub(super) fn redial(
        &mut self,
        ctx: &mut Ctx<'_>,
        trigger: T,
        reason: String,
    ) -> Outcome<State> {
        let dial = self.new_dial(ctx.now, false);
        let cause = Cause::Recycle { reason };
        self.go(ctx, S::Closing, trigger, cause, State::connecting(dial))
    }

    pub(super) fn advance(&self, now: Instant, dial: &mut Dial) {
        dial.phase = Phase::Handshake;
        dial.deadline = after(now, self.policy.config().timeouts.handshake);
    }

    /// `dial` failed at `now`.
    pub(super) fn dial_failure(&self, now: Instant, dial: &Dial, failure: ReachFailure) -> Failure {
        let ending = Ending::DialFailed {
            failure,
            attempt: dial.attempt,
        };
        Failure::new(ending, now.saturating_duration_since(dial.started))
    }

    /// An upgrade succeeded (`input`: `DialSucceeded` or `DialSucceededWith`): emit
    /// `connected(protocol)`, then `SubprotocolChanged` when the server chose another
    /// subprotocol than on the previous upgrade, and remember this one.
    pub(super) fn note_protocol(
        &mut self,
        ctx: &mut Ctx<'_>,
        input: &Input,
        connected: impl FnOnce(Option<String>) -> Event,
    ) {
        let now = match input {
            Input::DialSucceededWith { protocol } => Some(protocol.clone()),
            _ => None,
        };
        ctx.event(connected(now.clone()));
        if let Some(before) = self.protocol.replace(now.clone()) {
            if before != now {
                ctx.event(Event::SubprotocolChanged {
                    from: before,
                    to: now,
                });
            }
        }
    }

    pub(super) fn new_link(&self, now: Instant, attempt: u32) -> Link {
        Link {
            attempt,
            since: now,
            stable: false,
            stable_at: after(now, self.policy.config().budget.min_uptime),
            received: false,
            heartbeat: self.heartbeat(now),
        }
    }

    pub(super) fn heartbeat(&self, now: Instant) -> Heartbeat {
        match self.policy.config().heartbeat.ping_interval {
            Some(interval) => Heartbeat::PingAt(after(now, interval)),
            None => Heartbeat::Off,
        }
    }

    /// A stable connection resets the budget, the backoff, the one re-authentication and
    /// the re-probe wait.
    pub(super) fn mark_stable(&mut self, ctx: &mut Ctx<'_>, link: &mut Link, by: StableBy) {
        link.stable = true;
        self.stable_since(ctx, link.since, by);
    }

    /// The budget resets for a connection upgraded at `since` (see [`Machine::mark_stable`]).
    pub(super) fn stable_since(&mut self, ctx: &mut Ctx<'_>, since: Instant, by: StableBy) {
        self.dials = 0;
        self.streak_start = None;
        self.reauth_used = false;
        self.backoff.reset();
        self.reprobe_wait = self.policy.config().fallback.reprobe_after;
        self.fell_back_since_stable = false;
        let after_upgrade = ctx.now.saturating_duration_since(since);
        ctx.event(Event::Stable { after_upgrade, by });
    }

    /// Whether a 1000 close leaves the next dial to the application (its class's
    /// `reconnect_lazily`, unless `close_codes` says otherwise). Only then can a
    /// finished exchange count as stable: were 1000 retried at once, a server that
    /// answers and closes would reset the budget for ever.
    pub(super) fn lazy_after_1000(&self) -> bool {
        self.policy
            .override_for(1000)
            .unwrap_or(classify_close(Some(1000)).default_action())
            == Action::ReconnectLazily
    }

    pub(super) fn new_fallback(&mut self, now: Instant) -> Fallback {
        let max = self.policy.config().fallback.reprobe_max;
        if self.fell_back_since_stable {
            self.reprobe_wait = self.reprobe_wait.map(|w| (w * 2).min(max));
        }
        self.fell_back_since_stable = true;
        let reprobe = self.policy.config().transport == Transport::Auto;
        self.fallback_backoff.reset();
        Fallback {
            since: now,
            reprobe_at: self.reprobe_wait.filter(|_| reprobe).map(|w| after(now, w)),
            probe: None,
            trial: None,
            failures: 0,
            ready: false,
            paused_until: None,
        }
    }

    /// A request over the fallback failed: pause the fallback for a backoff delay while
    /// the budget lasts (invariant 12), else stop with a cause that names the failure.
    /// Its class is worked out here, once, and kept in the event or the cause.
    pub(super) fn fallback_failed(
        &mut self,
        ctx: &mut Ctx<'_>,
        fallback: &mut Fallback,
        failure: &FallbackError,
    ) -> Outcome<State> {
        fallback.failures = fallback.failures.saturating_add(1);
        fallback.ready = false;
        let class = failure.class();
        let decision = decide_fallback(
            class,
            failure.retry_after(),
            fallback.failures,
            &self.policy,
            &mut self.fallback_backoff,
        );
        match decision {
            FallbackDecision::Retry { delay, basis } => {
                let until = after(ctx.now, delay);
                if fallback.paused_until.is_none() {
                    ctx.emit(Output::StopFallback);
                }
                fallback.paused_until = Some(fallback.paused_until.map_or(until, |p| p.max(until)));
                ctx.event(Event::FallbackFailed {
                    failure: failure.clone(),
                    class,
                    failures: fallback.failures,
                    max_failures: self.policy.config().fallback.max_failures,
                    retry_in: delay,
                    basis,
                });
                Handled
            }
            FallbackDecision::Stop(stop) => {
                release_probe(ctx, fallback);
                ctx.emit(Output::StopFallback);
                let cause = Cause::FallbackFailed {
                    failure: failure.clone(),
                    class,
                    stop,
                };
                self.stop(ctx, S::FellBack, T::FallbackFailed, cause)
            }
        }
    }

    /// The probe's connection ended during its trial: the probe failed.
    pub(super) fn trial_failed(
        &mut self,
        ctx: &mut Ctx<'_>,
        fallback: &mut Fallback,
        trial: Trial,
        input: &Input,
    ) {
        let Some(ending) = Ending::of(input, trial.received) else {
            return;
        };
        let after_upgrade = ctx.now.saturating_duration_since(trial.since);
        self.probe_failed(ctx, fallback, Failure::new(ending, after_upgrade));
    }

    pub(super) fn probe_failed(
        &mut self,
        ctx: &mut Ctx<'_>,
        fallback: &mut Fallback,
        failure: Failure,
    ) {
        let max = self.policy.config().fallback.reprobe_max;
        self.reprobe_wait = self.reprobe_wait.map(|w| (w * 2).min(max));
        let wait = self.reprobe_wait.unwrap_or(max);
        fallback.probe = None;
        fallback.reprobe_at = Some(after(ctx.now, wait));
        ctx.event(Event::ProbeFailed {
            failure,
            next_probe_in: wait,
        });
    }
}

// Events that carry a copy of a cause, each made by one function in one expression: the
// copy is then written straight into the event, rather than made aside and moved in
// (moving a value just written costs far more than writing it: the CPU cannot forward
// many small stores to one wide load).

/// The event that tells observers of a failure: `HandshakeFailed` for a dial's, `Closed`
/// for an open connection's.
#[inline(never)]
fn announcement(failure: &Failure) -> Event {
    match failure {
        Failure::Dial { .. } => Event::HandshakeFailed {
            failure: failure.clone(),
        },
        _ => Event::Closed {
            failure: failure.clone(),
        },
    }
}

#[inline(never)]
fn state_changed(from: S, to: S, trigger: T, cause: &Cause) -> Event {
    Event::StateChanged {
        from,
        to,
        trigger,
        cause: cause.clone(),
    }
}

#[inline(never)]
fn retry_scheduled(
    attempt: u32,
    max_attempts: u32,
    delay: Duration,
    class: Class,
    cause: &Cause,
) -> Event {
    Event::RetryScheduled {
        attempt,
        max_attempts,
        delay,
        class,
        cause: cause.clone(),
    }
}

/// The probe goes with the client: its dial is aborted, or its connection (on trial)
/// dropped.
pub(super) fn release_probe(ctx: &mut Ctx<'_>, fallback: &mut Fallback) {
    if fallback.probe.take().is_some() {
        ctx.emit(Output::AbortDial);
    }
    if fallback.trial.take().is_some() {
        ctx.emit(Output::DropConnection);
    }
}
