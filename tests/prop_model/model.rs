//! The reference model: docs/design.md's "Default policy" (classes, budget, decisions,
//! stability, re-probing) written again, independently of `src/`, as a small machine
//! with its own deadlines. It is stepped beside the real core; after each step the
//! state, the attempt counter, the deadline, every transition (row, failure class, code,
//! reason for not retrying) and every non-event output must agree.
//!
//! Jitter is the one thing it cannot predict: for a retry it computes the delay's
//! bounds from the backoff strategy and checks the delay the core reports; with
//! `max_elapsed` it accepts either decision only where the bounds straddle the limit.

use std::rc::Rc;
use std::time::{Duration, Instant};

use redial::config::{Config, Transport};
use redial::core::{Cause, Input, Output, StateName as S, Trigger as T};
use redial::policy::{Class, Phase, ReachFailure};
use redial::Event;

use super::decide::Fail;
use super::tables::{close_class, default_action, dial_class, override_for};

pub(super) fn after(now: Instant, d: Duration) -> Instant {
    now.checked_add(d).unwrap_or(now)
}

#[derive(Debug, Clone)]
pub(super) struct Dial {
    pub(super) handshake: bool,
    pub(super) deadline: Instant,
}

#[derive(Debug, Clone, Copy)]
pub(super) enum Hb {
    Off,
    PingAt(Instant),
    AwaitPong(Instant),
}

#[derive(Debug, Clone)]
pub(super) struct Link {
    stable_at: Instant,
    pub(super) stable: bool,
    received: bool,
    hb: Hb,
}

#[derive(Debug, Clone)]
pub(super) enum St {
    Idle,
    Connecting(Dial),
    Open(Link),
    /// Until the close grace ends; recycling (a new dial follows) when `Some`, with the
    /// reason the close frame carried.
    Closing(Instant, Option<String>),
    Backoff(Instant),
    Reauth,
    FellBack {
        reprobe_at: Option<Instant>,
        probe: Option<Dial>,
        trial: Option<Trial>,
        fb: FbSide,
    },
    Stopped,
}

/// A probe that reached an open WebSocket: it must stay open until `until`
/// (`budget.min_uptime` after its upgrade) before the client goes back to it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Trial {
    pub(super) until: Instant,
    pub(super) received: bool,
}

/// The fallback's own side while in FellBack (invariant 12).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct FbSide {
    /// Fallback failures in a row.
    pub(super) failures: u32,
    /// Paused after a failure until then.
    pub(super) paused_until: Option<Instant>,
    /// Fallback backoff delays drawn since the fall-back or the last response.
    pub(super) n: u32,
    /// An upper bound of the fallback backoff's last draw (see `Model::decor_prev`);
    /// `None`: its base.
    pub(super) prev: Option<Duration>,
}

/// The core's outputs of one step, walked as the model makes its transitions.
pub(super) struct Cx<'a> {
    pub(super) events: Vec<&'a Event>,
    pub(super) pos: usize,
    pub(super) actions: Vec<Output>,
    stable: usize,
    pub(super) gave_up: usize,
}

impl<'a> Cx<'a> {
    pub(super) fn peek_to(&self) -> Option<S> {
        match self.events.get(self.pos) {
            Some(Event::StateChanged { to, .. }) => Some(*to),
            _ => None,
        }
    }

    pub(super) fn next(&mut self) -> Result<&'a Event, String> {
        let e = self.events.get(self.pos).copied();
        self.pos += 1;
        e.ok_or_else(|| {
            "model expected another transition or retry event; the core made none".into()
        })
    }
}

pub struct Model {
    pub(super) cfg: Rc<Config>,
    pub(super) st: St,
    pub dials: u32,
    pub(super) streak_start: Option<Instant>,
    pub(super) reauth_used: bool,
    pub(super) reprobe_wait: Option<Duration>,
    pub(super) fell_back_since_stable: bool,
    /// Backoff delays drawn since the last stable connection.
    pub backoff_n: u32,
    /// An upper bound of the last delay the backoff drew (decorrelated jitter's
    /// `sleep`): the delay the core reported, which a floor may only have raised;
    /// `Duration::MAX` when a draw went unreported.
    pub decor_prev: Duration,
}

impl Model {
    pub fn new(cfg: &Config) -> Model {
        Model {
            cfg: Rc::new(cfg.clone()),
            st: St::Idle,
            dials: 0,
            streak_start: None,
            reauth_used: false,
            reprobe_wait: cfg.fallback.reprobe_after,
            fell_back_since_stable: false,
            backoff_n: 0,
            decor_prev: cfg.backoff.base,
        }
    }

    pub fn state(&self) -> S {
        match self.st {
            St::Idle => S::Idle,
            St::Connecting(_) => S::Connecting,
            St::Open(_) => S::Open,
            St::Closing(..) => S::Closing,
            St::Backoff(_) => S::Backoff,
            St::Reauth => S::Reauthenticating,
            St::FellBack { .. } => S::FellBack,
            St::Stopped => S::Stopped,
        }
    }

    pub fn deadline(&self) -> Option<Instant> {
        match &self.st {
            St::Connecting(d) => Some(d.deadline),
            St::Open(l) => {
                let hb = match l.hb {
                    Hb::Off => None,
                    Hb::PingAt(t) | Hb::AwaitPong(t) => Some(t),
                };
                let stable = (!l.stable).then_some(l.stable_at);
                stable.into_iter().chain(hb).min()
            }
            St::Closing(t, _) | St::Backoff(t) => Some(*t),
            St::FellBack {
                reprobe_at,
                probe,
                trial,
                fb,
            } => {
                let probe = probe
                    .as_ref()
                    .map(|p| p.deadline)
                    .or(trial.map(|t| t.until))
                    .or(*reprobe_at);
                probe.into_iter().chain(fb.paused_until).min()
            }
            St::Idle | St::Reauth | St::Stopped => None,
        }
    }

    /// Apply one input at `now` and check the core's outputs `outs` for it.
    pub fn step(&mut self, now: Instant, input: &Input, outs: &[Output]) -> Result<(), String> {
        let events = outs
            .iter()
            .filter_map(|o| match o {
                Output::Event(
                    e @ (Event::StateChanged { .. }
                    | Event::RetryScheduled { .. }
                    | Event::FallbackFailed { .. }),
                ) => Some(e),
                _ => None,
            })
            .collect();
        let mut cx = Cx {
            events,
            pos: 0,
            actions: vec![],
            stable: 0,
            gave_up: 0,
        };
        // Deadlines that passed before an input are handled first.
        if *input != Input::Timeout && self.deadline().is_some_and(|d| d <= now) {
            self.dispatch(now, &Input::Timeout, &mut cx)?;
        }
        self.dispatch(now, input, &mut cx)?;
        if let Some(extra) = cx.events.get(cx.pos) {
            return Err(format!(
                "core made a transition the model did not: {extra:?}"
            ));
        }
        let actions: Vec<&Output> = outs
            .iter()
            .filter(|o| !matches!(o, Output::Event(_)))
            .collect();
        if actions != cx.actions.iter().collect::<Vec<_>>() {
            return Err(format!("outputs: model {:?}, core {actions:?}", cx.actions));
        }
        let count = |f: fn(&Event) -> bool| {
            outs.iter()
                .filter(|o| matches!(o, Output::Event(e) if f(e)))
                .count()
        };
        let stable = count(|e| matches!(e, Event::Stable { .. }));
        let gave_up = count(|e| matches!(e, Event::GaveUp { .. }));
        if (stable, gave_up) != (cx.stable, cx.gave_up) {
            return Err(format!(
                "Stable/GaveUp events: model {}/{}, core {stable}/{gave_up}",
                cx.stable, cx.gave_up
            ));
        }
        Ok(())
    }

    fn dispatch(&mut self, now: Instant, input: &Input, cx: &mut Cx<'_>) -> Result<(), String> {
        let c = Rc::clone(&self.cfg);
        match (self.st.clone(), input) {
            (St::Idle, Input::Start) if c.transport == Transport::Https => {
                self.go(cx, S::Idle, T::Start, S::FellBack)?;
                self.enter_fell_back(now, cx);
            }
            (St::Idle, Input::Start) => {
                self.go(cx, S::Idle, T::Start, S::Connecting)?;
                self.enter_connecting(now, cx);
            }
            (St::Connecting(d), Input::Timeout) if now >= d.deadline => {
                cx.actions.push(Output::AbortDial);
                let phase = if d.handshake {
                    Phase::Handshake
                } else {
                    Phase::Connect
                };
                let f = Fail {
                    class: dial_class(&ReachFailure::Timeout(phase)),
                    code: None,
                    retry_after: None,
                };
                self.fail(now, cx, S::Connecting, T::DialTimeout, f, false)?;
            }
            (St::Connecting(d), Input::DialProgress(Phase::Handshake)) if !d.handshake => {
                let deadline = after(now, c.timeouts.handshake);
                self.st = St::Connecting(Dial {
                    handshake: true,
                    deadline,
                });
            }
            (St::Connecting(_), Input::DialSucceeded) => {
                self.go(cx, S::Connecting, T::DialOk, S::Open)?;
                self.enter_open(now);
            }
            (St::Connecting(_), Input::DialFailed(f)) => {
                let fail = Fail {
                    class: dial_class(f),
                    code: None,
                    retry_after: f.retry_after(),
                };
                self.fail(now, cx, S::Connecting, T::DialFailed, fail, false)?;
            }
            (St::Connecting(_), Input::UserClose) => {
                cx.actions.push(Output::AbortDial);
                self.stop(cx, S::Connecting, T::UserClose, false)?;
            }
            (St::Open(mut l), Input::Timeout) => {
                if !l.stable && now >= l.stable_at {
                    l.stable = true;
                    self.mark_stable(cx);
                }
                match l.hb {
                    Hb::AwaitPong(t) if now >= t => {
                        cx.actions.push(Output::DropConnection);
                        let f = Fail {
                            class: Class::Transient,
                            code: Some(1006),
                            retry_after: None,
                        };
                        return self.fail(now, cx, S::Open, T::PongTimeout, f, l.stable);
                    }
                    Hb::PingAt(t) if now >= t => {
                        cx.actions.push(Output::SendPing);
                        l.hb = Hb::AwaitPong(after(now, c.heartbeat.pong_timeout));
                    }
                    _ => {}
                }
                self.st = St::Open(l);
            }
            (St::Open(mut l), Input::Received | Input::Pong) => {
                if *input == Input::Received && !l.received {
                    l.received = true;
                    // docs/design.md: a server message alone does not make a connection
                    // stable; only the old rule (kept to measure old clients) says so.
                    if !l.stable && c.budget.stable_on_first_message {
                        l.stable = true;
                        self.mark_stable(cx);
                    }
                }
                l.hb = self.fresh_heartbeat(now);
                self.st = St::Open(l);
            }
            (St::Open(mut l), Input::PeerClosed { code, .. }) => {
                // A normal close after server data is a finished exchange: stable, when
                // the client then waits for the application (1000's class default,
                // unless close_codes changes it).
                let lazy = override_for(&c, 1000).is_none_or(|a| a == default_action(Class::Done));
                if *code == Some(1000) && l.received && !l.stable && lazy {
                    l.stable = true;
                    self.mark_stable(cx);
                }
                let f = Fail {
                    class: close_class(*code),
                    code: Some(code.unwrap_or(1005)),
                    retry_after: None,
                };
                self.fail(now, cx, S::Open, T::RecvClose, f, l.stable)?;
            }
            (St::Open(l), Input::Dropped { .. }) => {
                let f = Fail {
                    class: Class::Transient,
                    code: Some(1006),
                    retry_after: None,
                };
                self.fail(now, cx, S::Open, T::Dropped, f, l.stable)?;
            }
            (St::Open(_), Input::UserClose) => {
                cx.actions.push(Output::SendClose {
                    code: 1000,
                    reason: String::new(),
                });
                self.go(cx, S::Open, T::UserClose, S::Closing)?;
                self.st = St::Closing(after(now, c.timeouts.close_grace), None);
            }
            // The design's invariant 14: the application recycles an open connection
            // (a cancelled request's response did not end in time). A close 1000 with
            // its reason, then a new dial; the connection counts as stable, so that dial
            // is the first of a fresh budget.
            (St::Open(l), Input::Recycle { reason }) => {
                if !l.stable {
                    self.mark_stable(cx);
                }
                cx.actions.push(Output::SendClose {
                    code: 1000,
                    reason: reason.clone(),
                });
                self.go(cx, S::Open, T::Recycle, S::Closing)?;
                self.st = St::Closing(after(now, c.timeouts.close_grace), Some(reason.clone()));
            }
            (St::Closing(t, Some(_)), Input::UserClose) => self.st = St::Closing(t, None),
            (St::Closing(_, None), Input::PeerClosed { .. } | Input::Dropped { .. }) => {
                self.stop(cx, S::Closing, T::Closed, false)?;
            }
            (St::Closing(t, None), Input::Timeout) if now >= t => {
                cx.actions.push(Output::DropConnection);
                self.stop(cx, S::Closing, T::CloseGraceElapsed, false)?;
            }
            (St::Closing(_, Some(_)), Input::PeerClosed { .. } | Input::Dropped { .. }) => {
                self.go(cx, S::Closing, T::Closed, S::Connecting)?;
                self.enter_connecting(now, cx);
            }
            (St::Closing(t, Some(_)), Input::Timeout) if now >= t => {
                cx.actions.push(Output::DropConnection);
                self.go(cx, S::Closing, T::CloseGraceElapsed, S::Connecting)?;
                self.enter_connecting(now, cx);
            }
            (St::Backoff(t), Input::Timeout) if now >= t => {
                self.go(cx, S::Backoff, T::BackoffElapsed, S::Connecting)?;
                self.enter_connecting(now, cx);
            }
            (St::Reauth, Input::ReauthDone { ok: true }) => {
                self.go(cx, S::Reauthenticating, T::ReauthDone, S::Connecting)?;
                self.enter_connecting(now, cx);
            }
            (St::Reauth, Input::ReauthDone { ok: false }) => {
                self.stop(cx, S::Reauthenticating, T::ReauthFailed, true)?;
            }
            (St::Idle, Input::UserClose) => self.stop(cx, S::Idle, T::UserClose, false)?,
            (St::Backoff(_), Input::UserClose) => self.stop(cx, S::Backoff, T::UserClose, false)?,
            (St::Reauth, Input::UserClose) => {
                self.stop(cx, S::Reauthenticating, T::UserClose, false)?
            }
            (
                St::FellBack {
                    reprobe_at,
                    probe,
                    trial,
                    fb,
                },
                _,
            ) => self.fell_back(now, cx, input, (reprobe_at, probe, trial), fb)?,
            _ => {}
        }
        Ok(())
    }

    /// A failed probe doubles the re-probe wait, up to `reprobe_max`.
    pub(super) fn probe_failed(&mut self, now: Instant) -> (Option<Instant>, Option<Dial>) {
        let max = self.cfg.fallback.reprobe_max;
        self.reprobe_wait = self.reprobe_wait.map(|w| (w * 2).min(max));
        (Some(after(now, self.reprobe_wait.unwrap_or(max))), None)
    }

    fn fresh_heartbeat(&self, now: Instant) -> Hb {
        self.cfg
            .heartbeat
            .ping_interval
            .map_or(Hb::Off, |i| Hb::PingAt(after(now, i)))
    }

    pub(super) fn enter_open(&mut self, now: Instant) {
        let stable_at = after(now, self.cfg.budget.min_uptime);
        let hb = self.fresh_heartbeat(now);
        self.st = St::Open(Link {
            stable_at,
            stable: false,
            received: false,
            hb,
        });
    }

    /// Open on a probe's connection that held for its trial: stable already.
    pub(super) fn enter_open_after_trial(&mut self, now: Instant, cx: &mut Cx<'_>, t: Trial) {
        let hb = self.fresh_heartbeat(now);
        self.st = St::Open(Link {
            stable_at: t.until,
            stable: true,
            received: t.received,
            hb,
        });
        self.mark_stable(cx);
    }

    fn enter_connecting(&mut self, now: Instant, cx: &mut Cx<'_>) {
        self.dials += 1;
        self.streak_start.get_or_insert(now);
        cx.actions.push(Output::Dial {
            attempt: self.dials,
            probe: false,
        });
        self.st = St::Connecting(Dial {
            handshake: false,
            deadline: after(now, self.cfg.timeouts.connect),
        });
    }

    pub(super) fn enter_fell_back(&mut self, now: Instant, cx: &mut Cx<'_>) {
        // A relapse (a second fall-back without a stable connection) doubles the wait.
        if self.fell_back_since_stable {
            let max = self.cfg.fallback.reprobe_max;
            self.reprobe_wait = self.reprobe_wait.map(|w| (w * 2).min(max));
        }
        self.fell_back_since_stable = true;
        let reprobe_at = match self.cfg.transport {
            Transport::Auto => self.reprobe_wait.map(|w| after(now, w)),
            _ => None,
        };
        cx.actions.push(Output::StartFallback);
        self.st = St::FellBack {
            reprobe_at,
            probe: None,
            trial: None,
            fb: FbSide::default(),
        };
    }

    fn mark_stable(&mut self, cx: &mut Cx<'_>) {
        cx.stable += 1;
        self.dials = 0;
        self.streak_start = None;
        self.reauth_used = false;
        self.backoff_n = 0;
        self.decor_prev = self.cfg.backoff.base;
        self.reprobe_wait = self.cfg.fallback.reprobe_after;
        self.fell_back_since_stable = false;
    }

    pub(super) fn go<'a>(
        &mut self,
        cx: &mut Cx<'a>,
        from: S,
        trigger: T,
        to: S,
    ) -> Result<&'a Cause, String> {
        match cx.next()? {
            Event::StateChanged {
                from: f,
                trigger: t,
                to: s,
                cause,
            } if (*f, *t, *s) == (from, trigger, to) => Ok(cause),
            other => Err(format!(
                "model expected {from} --{trigger}--> {to}; core: {other:?}"
            )),
        }
    }

    pub(super) fn stop(
        &mut self,
        cx: &mut Cx<'_>,
        from: S,
        trigger: T,
        gave_up: bool,
    ) -> Result<(), String> {
        self.go(cx, from, trigger, S::Stopped)?;
        cx.gave_up += usize::from(gave_up);
        self.st = St::Stopped;
        Ok(())
    }
}
