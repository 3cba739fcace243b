//! The statig state machine. Handlers are named after the states; every transition goes
//! through [`Machine::go_with`] (or [`Machine::go`]), which checks it against the
//! transition table and records `(from, trigger, to, cause)` as a `StateChanged` event.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use statig::prelude::*;

mod steps;

use super::cause::Cause;
use super::failure::{Ending, Failure, StableBy};
use super::input::Input;
use super::local::{after, Dial, Fallback, Grace, Heartbeat, Link, Trial, Wait};
use super::output::Output;
use super::transition::{StateName as S, Trigger as T};
use crate::config::{Policy, Transport};
use crate::core::Event;
use crate::policy::{Backoff, Phase, ReachFailure};

/// The context of one dispatch: the time it happens at and where outputs go.
pub(crate) struct Ctx<'a> {
    pub now: Instant,
    pub out: &'a mut VecDeque<Output>,
}

impl Ctx<'_> {
    fn emit(&mut self, output: Output) {
        self.out.push_back(output);
    }

    fn event(&mut self, event: Event) {
        self.out.push_back(Output::Event(event));
    }
}

/// Shared storage: the policy and what outlives a single state (the budget).
pub(crate) struct Machine {
    pub policy: Policy,
    pub(super) backoff: Backoff,
    /// Dials since the last stable connection (quiet re-probes excluded).
    pub dials: u32,
    /// When the first dial since the last stable connection started.
    pub(super) streak_start: Option<Instant>,
    pub(super) reauth_used: bool,
    /// The current re-probe wait; doubles after each failed probe or relapse.
    pub(super) reprobe_wait: Option<Duration>,
    pub(super) fell_back_since_stable: bool,
    /// The backoff between fallback failures (its own, so that the fallback's faults
    /// and the WebSocket's do not stretch each other's delays).
    pub(super) fallback_backoff: Backoff,
    pub last_cause: Option<Cause>,
    /// The subprotocol of the latest upgrade (`Some(None)`: it had none); `None` before
    /// the first.
    pub protocol: Option<Option<String>>,
}

impl Machine {
    pub(super) fn new(policy: Policy, seed: u64) -> Machine {
        let backoff = Backoff::new(policy.config().backoff.clone(), seed);
        // A different stream of the same seed: deterministic, and not the dials' draws.
        let fallback_seed = seed ^ 0x9e37_79b9_7f4a_7c15;
        let fallback_backoff = Backoff::new(policy.config().backoff.clone(), fallback_seed);
        let reprobe_wait = policy.config().fallback.reprobe_after;
        Machine {
            policy,
            backoff,
            dials: 0,
            streak_start: None,
            reauth_used: false,
            reprobe_wait,
            fell_back_since_stable: false,
            fallback_backoff,
            last_cause: None,
            protocol: None,
        }
    }
}

impl State {
    /// The public name of this state.
    pub(crate) fn name(&self) -> S {
        match self {
            State::Idle {} => S::Idle,
            State::Connecting { .. } => S::Connecting,
            State::Open { .. } => S::Open,
            State::Closing { .. } => S::Closing,
            State::Backoff { .. } => S::Backoff,
            State::Reauthenticating {} => S::Reauthenticating,
            State::FellBack { .. } => S::FellBack,
            State::Stopped { .. } => S::Stopped,
        }
    }

    /// The next deadline this state waits for.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        match self {
            State::Connecting { dial } => Some(dial.deadline),
            State::Open { link } => link.deadline(),
            State::Closing { grace } => Some(grace.deadline),
            State::Backoff { wait } => Some(wait.until),
            State::FellBack { fallback } => fallback.deadline(),
            State::Idle {} | State::Reauthenticating {} | State::Stopped { .. } => None,
        }
    }
}

#[state_machine(
    initial = "State::idle()",
    state(derive(Debug, Clone)),
    context_identifier = "ctx",
    event_identifier = "input",
    visibility = "pub(crate)"
)]
impl Machine {
    #[state]
    fn idle(&mut self, ctx: &mut Ctx<'_>, input: &Input) -> Outcome<State> {
        match input {
            Input::Start if self.policy.config().transport == Transport::Https => {
                let fallback = self.new_fallback(ctx.now);
                self.go(
                    ctx,
                    S::Idle,
                    T::Start,
                    Cause::ForcedFallback,
                    State::fell_back(fallback),
                )
            }
            Input::Start => {
                let dial = self.new_dial(ctx.now, false);
                self.go(
                    ctx,
                    S::Idle,
                    T::Start,
                    Cause::Started,
                    State::connecting(dial),
                )
            }
            Input::UserClose => self.stop(ctx, S::Idle, T::UserClose, Cause::UserClose),
            _ => Handled,
        }
    }

    #[state(entry_action = "enter_connecting")]
    fn connecting(&mut self, ctx: &mut Ctx<'_>, dial: &mut Dial, input: &Input) -> Outcome<State> {
        let now = ctx.now;
        match input {
            Input::Timeout if now >= dial.deadline => {
                ctx.emit(Output::AbortDial);
                let failure = self.dial_failure(now, dial, ReachFailure::Timeout(dial.phase));
                self.fail(ctx, S::Connecting, T::DialTimeout, failure, false)
            }
            Input::DialProgress(Phase::Handshake) if dial.phase == Phase::Connect => {
                self.advance(now, dial);
                Handled
            }
            Input::DialSucceeded | Input::DialSucceededWith { .. } => {
                let took = now.saturating_duration_since(dial.started);
                self.note_protocol(ctx, input, |protocol| Event::Connected {
                    attempt: dial.attempt,
                    probe: false,
                    took,
                    protocol,
                });
                let link = self.new_link(now, dial.attempt);
                let cause = Cause::Connected {
                    attempt: dial.attempt,
                    took,
                };
                self.go(ctx, S::Connecting, T::DialOk, cause, State::open(link))
            }
            Input::DialFailed(f) => {
                let failure = self.dial_failure(now, dial, f.clone());
                self.fail(ctx, S::Connecting, T::DialFailed, failure, false)
            }
            Input::UserClose => {
                ctx.emit(Output::AbortDial);
                self.stop(ctx, S::Connecting, T::UserClose, Cause::UserClose)
            }
            _ => Handled,
        }
    }

    #[action]
    fn enter_connecting(&mut self, ctx: &mut Ctx<'_>, dial: &mut Dial) {
        ctx.emit(Output::Dial {
            attempt: dial.attempt,
            probe: false,
        });
        ctx.event(Event::Dial {
            attempt: dial.attempt,
            max_attempts: self.policy.max_attempts(),
            probe: false,
        });
    }

    #[state]
    fn open(&mut self, ctx: &mut Ctx<'_>, link: &mut Link, input: &Input) -> Outcome<State> {
        let now = ctx.now;
        // Time since the upgrade, for the failures below (not worked out for every input).
        let since = |link: &Link| now.saturating_duration_since(link.since);
        match input {
            Input::Timeout => {
                if !link.stable && now >= link.stable_at {
                    self.mark_stable(ctx, link, StableBy::Uptime);
                }
                match link.heartbeat {
                    Heartbeat::AwaitPong { deadline } if now >= deadline => {
                        ctx.emit(Output::DropConnection);
                        let waited = self.policy.config().heartbeat.pong_timeout;
                        let failure = Failure::new(Ending::PongTimeout { waited }, since(link));
                        return self.fail(ctx, S::Open, T::PongTimeout, failure, link.stable);
                    }
                    Heartbeat::PingAt(at) if now >= at => {
                        ctx.emit(Output::SendPing);
                        let pong = self.policy.config().heartbeat.pong_timeout;
                        link.heartbeat = Heartbeat::AwaitPong {
                            deadline: after(now, pong),
                        };
                    }
                    _ => {}
                }
                Handled
            }
            Input::Received => {
                if !link.received {
                    link.received = true;
                    // A message alone is not stability (a server that sends an error and
                    // closes would reset the budget for ever), except under the old rule
                    // kept to measure old clients.
                    if !link.stable && self.policy.config().budget.stable_on_first_message {
                        self.mark_stable(ctx, link, StableBy::FirstMessage);
                    }
                }
                link.heartbeat = self.heartbeat(now);
                Handled
            }
            Input::Pong => {
                link.heartbeat = self.heartbeat(now);
                Handled
            }
            Input::PeerClosed { code, reason } => {
                if *code == Some(1000) && link.received && !link.stable && self.lazy_after_1000() {
                    // A finished exchange: the server answered and closed politely, and the
                    // client waits for the application before it dials again.
                    self.mark_stable(ctx, link, StableBy::FinishedExchange);
                }
                let ending = Ending::Closed {
                    code: *code,
                    reason,
                    received: link.received,
                };
                let failure = Failure::new(ending, since(link));
                self.fail(ctx, S::Open, T::RecvClose, failure, link.stable)
            }
            Input::Dropped { detail } => {
                let ending = Ending::Dropped {
                    detail,
                    received: link.received,
                };
                let failure = Failure::new(ending, since(link));
                self.fail(ctx, S::Open, T::Dropped, failure, link.stable)
            }
            Input::UserClose => {
                ctx.emit(Output::SendClose {
                    code: 1000,
                    reason: String::new(),
                });
                let waited = self.policy.config().timeouts.close_grace;
                let grace = Grace {
                    deadline: after(now, waited),
                    waited,
                    recycle: None,
                };
                self.go(
                    ctx,
                    S::Open,
                    T::UserClose,
                    Cause::UserClose,
                    State::closing(grace),
                )
            }
            Input::Recycle { reason } => {
                if !link.stable {
                    self.mark_stable(ctx, link, StableBy::Recycled);
                }
                ctx.emit(Output::SendClose {
                    code: 1000,
                    reason: reason.clone(),
                });
                let waited = self.policy.config().timeouts.close_grace;
                let grace = Grace {
                    deadline: after(now, waited),
                    waited,
                    recycle: Some(reason.clone()),
                };
                let cause = Cause::Recycle {
                    reason: reason.clone(),
                };
                self.go(ctx, S::Open, T::Recycle, cause, State::closing(grace))
            }
            _ => Handled,
        }
    }

    #[state]
    fn closing(&mut self, ctx: &mut Ctx<'_>, grace: &mut Grace, input: &Input) -> Outcome<State> {
        match input {
            Input::PeerClosed { .. } | Input::Dropped { .. } => match grace.recycle.take() {
                Some(reason) => self.redial(ctx, T::Closed, reason),
                None => self.stop(ctx, S::Closing, T::Closed, Cause::UserClose),
            },
            Input::Timeout if ctx.now >= grace.deadline => {
                ctx.emit(Output::DropConnection);
                match grace.recycle.take() {
                    Some(reason) => self.redial(ctx, T::CloseGraceElapsed, reason),
                    None => {
                        let cause = Cause::CloseGraceElapsed {
                            waited: grace.waited,
                        };
                        self.stop(ctx, S::Closing, T::CloseGraceElapsed, cause)
                    }
                }
            }
            // A close during a recycle: the close under way ends the client instead.
            Input::UserClose => {
                grace.recycle = None;
                Handled
            }
            _ => Handled,
        }
    }

    #[state]
    fn backoff(&mut self, ctx: &mut Ctx<'_>, wait: &mut Wait, input: &Input) -> Outcome<State> {
        match input {
            Input::Timeout if ctx.now >= wait.until => {
                let dial = self.new_dial(ctx.now, false);
                let cause = Cause::BackoffElapsed {
                    attempt: dial.attempt,
                };
                self.go(
                    ctx,
                    S::Backoff,
                    T::BackoffElapsed,
                    cause,
                    State::connecting(dial),
                )
            }
            Input::UserClose => self.stop(ctx, S::Backoff, T::UserClose, Cause::UserClose),
            _ => Handled,
        }
    }

    #[state(entry_action = "enter_reauthenticating")]
    fn reauthenticating(&mut self, ctx: &mut Ctx<'_>, input: &Input) -> Outcome<State> {
        match input {
            Input::ReauthDone { ok: true } => {
                let dial = self.new_dial(ctx.now, false);
                let to = State::connecting(dial);
                self.go(
                    ctx,
                    S::Reauthenticating,
                    T::ReauthDone,
                    Cause::Reauthenticated,
                    to,
                )
            }
            Input::ReauthDone { ok: false } => self.stop(
                ctx,
                S::Reauthenticating,
                T::ReauthFailed,
                Cause::ReauthFailed,
            ),
            Input::UserClose => self.stop(ctx, S::Reauthenticating, T::UserClose, Cause::UserClose),
            _ => Handled,
        }
    }

    #[action]
    fn enter_reauthenticating(&mut self, ctx: &mut Ctx<'_>) {
        ctx.emit(Output::Reauthenticate);
    }

    #[state(entry_action = "enter_fell_back")]
    fn fell_back(
        &mut self,
        ctx: &mut Ctx<'_>,
        fallback: &mut Fallback,
        input: &Input,
    ) -> Outcome<State> {
        let now = ctx.now;
        match input {
            Input::Timeout => {
                if fallback.paused_until.is_some_and(|at| now >= at) {
                    fallback.paused_until = None;
                    ctx.emit(Output::StartFallback);
                }
                if let Some(trial) = fallback.trial.take_if(|t| now >= t.until) {
                    // The probe's connection held for its trial: WebSockets are back, and
                    // the connection is stable (it has been up for min_uptime).
                    let mut link = self.new_link(trial.since, 0);
                    link.received = trial.received;
                    link.stable = true;
                    link.heartbeat = self.heartbeat(now);
                    let cause = Cause::Recovered {
                        after: now.saturating_duration_since(fallback.since),
                        held: now.saturating_duration_since(trial.since),
                    };
                    let outcome = self.go(
                        ctx,
                        S::FellBack,
                        T::ProbeOk,
                        cause.clone(),
                        State::open(link),
                    );
                    ctx.emit(Output::StopFallback);
                    ctx.event(Event::Recovered { cause });
                    self.stable_since(ctx, trial.since, StableBy::Uptime);
                    return outcome;
                }
                match &fallback.probe {
                    Some(dial) if now >= dial.deadline => {
                        ctx.emit(Output::AbortDial);
                        let f = ReachFailure::Timeout(dial.phase);
                        let failure = self.dial_failure(now, dial, f);
                        self.probe_failed(ctx, fallback, failure);
                    }
                    None if fallback.trial.is_none()
                        && fallback.reprobe_at.is_some_and(|at| now >= at) =>
                    {
                        let dial = self.new_dial(now, true);
                        ctx.emit(Output::Dial {
                            attempt: 0,
                            probe: true,
                        });
                        ctx.event(Event::Dial {
                            attempt: 0,
                            max_attempts: self.policy.max_attempts(),
                            probe: true,
                        });
                        fallback.probe = Some(dial);
                    }
                    _ => {}
                }
                Handled
            }
            Input::DialProgress(Phase::Handshake) => {
                if let Some(dial) = fallback
                    .probe
                    .as_mut()
                    .filter(|d| d.phase == Phase::Connect)
                {
                    self.advance(now, dial);
                }
                Handled
            }
            Input::DialSucceeded | Input::DialSucceededWith { .. } => {
                if let Some(dial) = fallback.probe.take() {
                    let took = now.saturating_duration_since(dial.started);
                    self.note_protocol(ctx, input, |protocol| Event::Connected {
                        attempt: 0,
                        probe: true,
                        took,
                        protocol,
                    });
                    // On trial: the traffic stays on the fallback meanwhile.
                    fallback.trial = Some(Trial {
                        since: now,
                        until: after(now, self.policy.config().budget.min_uptime),
                        received: false,
                    });
                }
                Handled
            }
            Input::Received => {
                if let Some(trial) = fallback.trial.as_mut() {
                    trial.received = true;
                }
                Handled
            }
            Input::PeerClosed { .. } | Input::Dropped { .. } => {
                if let Some(trial) = fallback.trial.take() {
                    self.trial_failed(ctx, fallback, trial, input);
                }
                Handled
            }
            Input::DialFailed(f) => {
                if let Some(dial) = fallback.probe.take() {
                    let failure = self.dial_failure(now, &dial, f.clone());
                    self.probe_failed(ctx, fallback, failure);
                }
                Handled
            }
            Input::FallbackReady => {
                // A response after a pause is still an answer: the failures stop counting.
                fallback.failures = 0;
                self.fallback_backoff.reset();
                if !fallback.ready {
                    fallback.ready = true;
                    ctx.event(Event::FallbackReady);
                }
                Handled
            }
            Input::FallbackFailed { failure } => self.fallback_failed(ctx, fallback, failure),
            Input::UserClose => {
                steps::release_probe(ctx, fallback);
                ctx.emit(Output::StopFallback);
                self.stop(ctx, S::FellBack, T::UserClose, Cause::UserClose)
            }
            _ => Handled,
        }
    }

    #[action]
    fn enter_fell_back(&mut self, ctx: &mut Ctx<'_>) {
        ctx.emit(Output::StartFallback);
        if let Some(cause) = self.last_cause.clone() {
            ctx.event(Event::FellBack { cause });
        }
    }

    /// The end. Its cause is boxed: a stop happens once, and an unboxed cause would make
    /// every state (and every transition, which moves one) as large as a cause.
    #[state(entry_action = "enter_stopped")]
    fn stopped(cause: &mut Box<Cause>, input: &Input) -> Outcome<State> {
        let _ = (cause, input);
        Handled
    }

    #[action]
    fn enter_stopped(ctx: &mut Ctx<'_>, cause: &mut Box<Cause>) {
        if !matches!(**cause, Cause::UserClose | Cause::CloseGraceElapsed { .. }) {
            ctx.event(Event::GaveUp {
                cause: Cause::clone(cause),
            });
        }
    }
}
