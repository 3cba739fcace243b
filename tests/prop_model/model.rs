//! The reference model: ARCHITECTURE.md's "Default policy" (classes, budget, decisions,
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

use redial::config::{Action, Config, Strategy as Jitter, Transport};
use redial::core::{Cause, Input, Output, StateName as S, Trigger as T};
use redial::policy::{Class, DialFailure, DialPhase, Spent, Why, MAX_DELAY};
use redial::Event;

/// Slack for float rounding in envelope arithmetic.
pub const TOL: Duration = Duration::from_micros(1);

/// The close-code table of ARCHITECTURE.md. `None` is a frame without a code (1005).
pub fn close_class(code: Option<u16>) -> Class {
    match code {
        None | Some(1001 | 1005 | 1006 | 1011 | 1014) => Class::Transient,
        Some(1000) => Class::Done,
        Some(1012) => Class::Restart,
        Some(1013) => Class::Overload,
        Some(1008) => Class::Policy,
        Some(3000 | 3003) => Class::Auth,
        Some(3001..=4999) => Class::Application,
        // 1002, 1003, 1004, 1007, 1009, 1010, 1015, <1000, 1016–2999, ≥5000.
        Some(_) => Class::Protocol,
    }
}

/// The upgrade-failure table. Statuses the table does not name follow the core's
/// documented choice (`classify_status`): 429 without Retry-After is overload, other
/// non-5xx statuses mean WebSockets are not offered; TLS and I/O errors are transient.
pub fn dial_class(f: &DialFailure) -> Class {
    match f {
        DialFailure::Certificate(_) => Class::Certificate,
        DialFailure::Status { status: 401, .. } => Class::Auth,
        DialFailure::Status {
            status: 429 | 503,
            retry_after: Some(_),
        } => Class::RateLimited,
        DialFailure::Status { status: 429, .. } => Class::Overload,
        DialFailure::Status {
            status: 500..=599, ..
        } => Class::Transient,
        DialFailure::Status { .. } => Class::Rejected,
        _ => Class::Transient,
    }
}

pub fn default_action(class: Class) -> Action {
    match class {
        Class::Done => Action::ReconnectLazily,
        Class::Transient | Class::Application | Class::RateLimited => Action::Retry,
        Class::Restart => Action::RetryAfterRestart,
        Class::Overload => Action::RetrySlow,
        Class::Policy | Class::Protocol | Class::Rejected => Action::FallBack,
        Class::Auth => Action::Reauthenticate,
        _ => Action::Stop,
    }
}

/// The `close_codes` entry for `code`: the narrowest covering range, lowest first.
pub fn override_for(cfg: &Config, code: u16) -> Option<Action> {
    let parse = |k: &str| -> Option<(u16, u16)> {
        let (a, b) = k.split_once('-').unwrap_or((k, k));
        let (a, b) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
        (a <= b).then_some((a, b))
    };
    cfg.close_codes
        .iter()
        .filter_map(|(k, a)| parse(k).map(|(lo, hi)| (lo, hi, *a)))
        .filter(|(lo, hi, _)| (*lo..=*hi).contains(&code))
        .min_by_key(|(lo, hi, _)| (hi - lo, *lo))
        .map(|(_, _, a)| a)
}

fn clamp(secs: f64) -> Duration {
    if secs.is_nan() || secs <= 0.0 {
        Duration::ZERO
    } else {
        Duration::from_secs_f64(secs.min(MAX_DELAY.as_secs_f64()))
    }
}

fn capped(cfg: &Config, d: Duration) -> Duration {
    cfg.backoff.cap.map_or(d, |c| d.min(c)).min(MAX_DELAY)
}

/// `base × factor^n`, without the cap (at most a day).
pub fn uncapped_envelope(cfg: &Config, n: u32) -> Duration {
    let b = &cfg.backoff;
    clamp(b.base.as_secs_f64() * b.factor.powi(n.min(4096) as i32))
}

/// Bounds of the `n`-th (0-based) backoff delay since the last reset.
pub fn backoff_bounds(cfg: &Config, n: u32) -> (Duration, Duration) {
    let e = capped(cfg, uncapped_envelope(cfg, n));
    let b = &cfg.backoff;
    match b.strategy {
        Jitter::None => (e, e),
        Jitter::Full => (Duration::ZERO, e),
        Jitter::Equal => (e / 2, e),
        Jitter::Decorrelated => (b.base, b.cap.unwrap_or(MAX_DELAY)),
        Jitter::Spread => {
            let s = e.as_secs_f64();
            let lo = capped(cfg, clamp(s * (1.0 - b.spread)));
            (lo, capped(cfg, clamp(s * (1.0 + b.spread))))
        }
    }
}

fn after(now: Instant, d: Duration) -> Instant {
    now.checked_add(d).unwrap_or(now)
}

#[derive(Debug, Clone)]
struct Dial {
    handshake: bool,
    deadline: Instant,
}

#[derive(Debug, Clone, Copy)]
enum Hb {
    Off,
    PingAt(Instant),
    AwaitPong(Instant),
}

#[derive(Debug, Clone)]
struct Link {
    stable_at: Instant,
    stable: bool,
    received: bool,
    hb: Hb,
}

#[derive(Debug, Clone)]
enum St {
    Idle,
    Connecting(Dial),
    Open(Link),
    Closing(Instant),
    Backoff(Instant),
    Reauth,
    FellBack {
        reprobe_at: Option<Instant>,
        probe: Option<Dial>,
    },
    Stopped,
}

/// What failed, as the model sees it.
struct Fail {
    class: Class,
    /// The code `close_codes` is looked up with (raw code, 1005, or 1006), if any.
    code: Option<u16>,
    retry_after: Option<Duration>,
}

#[derive(PartialEq, Eq, Debug)]
enum WhyK {
    ClassOrOverride,
    Attempts,
    Elapsed,
    StillUnauthorized,
}

/// The core's outputs of one step, walked as the model makes its transitions.
struct Cx<'a> {
    events: Vec<&'a Event>,
    pos: usize,
    actions: Vec<Output>,
    stable: usize,
    gave_up: usize,
}

impl<'a> Cx<'a> {
    fn peek_to(&self) -> Option<S> {
        match self.events.get(self.pos) {
            Some(Event::StateChanged { to, .. }) => Some(*to),
            _ => None,
        }
    }

    fn next(&mut self) -> Result<&'a Event, String> {
        let e = self.events.get(self.pos).copied();
        self.pos += 1;
        e.ok_or_else(|| "model expected another transition or retry event; the core made none".into())
    }
}

pub struct Model {
    cfg: Rc<Config>,
    st: St,
    pub dials: u32,
    streak_start: Option<Instant>,
    reauth_used: bool,
    reprobe_wait: Option<Duration>,
    fell_back_since_stable: bool,
    /// Backoff delays drawn since the last stable connection.
    pub backoff_n: u32,
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
        }
    }

    pub fn state(&self) -> S {
        match self.st {
            St::Idle => S::Idle,
            St::Connecting(_) => S::Connecting,
            St::Open(_) => S::Open,
            St::Closing(_) => S::Closing,
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
            St::Closing(t) | St::Backoff(t) => Some(*t),
            St::FellBack { reprobe_at, probe } => probe.as_ref().map(|p| p.deadline).or(*reprobe_at),
            St::Idle | St::Reauth | St::Stopped => None,
        }
    }

    /// Apply one input at `now` and check the core's outputs `outs` for it.
    pub fn step(&mut self, now: Instant, input: &Input, outs: &[Output]) -> Result<(), String> {
        let events = outs
            .iter()
            .filter_map(|o| match o {
                Output::Event(e @ (Event::StateChanged { .. } | Event::RetryScheduled { .. })) => Some(e),
                _ => None,
            })
            .collect();
        let mut cx = Cx { events, pos: 0, actions: vec![], stable: 0, gave_up: 0 };
        // Deadlines that passed before an input are handled first.
        if *input != Input::Timeout && self.deadline().is_some_and(|d| d <= now) {
            self.dispatch(now, &Input::Timeout, &mut cx)?;
        }
        self.dispatch(now, input, &mut cx)?;
        if let Some(extra) = cx.events.get(cx.pos) {
            return Err(format!("core made a transition the model did not: {extra:?}"));
        }
        let actions: Vec<&Output> = outs.iter().filter(|o| !matches!(o, Output::Event(_))).collect();
        if actions != cx.actions.iter().collect::<Vec<_>>() {
            return Err(format!("outputs: model {:?}, core {actions:?}", cx.actions));
        }
        let count = |f: fn(&Event) -> bool| outs.iter().filter(|o| matches!(o, Output::Event(e) if f(e))).count();
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
                let phase = if d.handshake { DialPhase::Handshake } else { DialPhase::Connect };
                let f = Fail { class: dial_class(&DialFailure::Timeout(phase)), code: None, retry_after: None };
                self.fail(now, cx, S::Connecting, T::DialTimeout, f, false)?;
            }
            (St::Connecting(d), Input::DialProgress(DialPhase::Handshake)) if !d.handshake => {
                let deadline = after(now, c.timeouts.handshake);
                self.st = St::Connecting(Dial { handshake: true, deadline });
            }
            (St::Connecting(_), Input::DialSucceeded) => {
                self.go(cx, S::Connecting, T::DialOk, S::Open)?;
                self.enter_open(now);
            }
            (St::Connecting(_), Input::DialFailed(f)) => {
                let fail = Fail { class: dial_class(f), code: None, retry_after: f.retry_after() };
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
                        let f = Fail { class: Class::Transient, code: Some(1006), retry_after: None };
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
                    if !l.stable {
                        l.stable = true;
                        self.mark_stable(cx);
                    }
                }
                l.hb = self.fresh_heartbeat(now);
                self.st = St::Open(l);
            }
            (St::Open(l), Input::PeerClosed { code, .. }) => {
                let f = Fail { class: close_class(*code), code: Some(code.unwrap_or(1005)), retry_after: None };
                self.fail(now, cx, S::Open, T::RecvClose, f, l.stable)?;
            }
            (St::Open(l), Input::Dropped { .. }) => {
                let f = Fail { class: Class::Transient, code: Some(1006), retry_after: None };
                self.fail(now, cx, S::Open, T::Dropped, f, l.stable)?;
            }
            (St::Open(_), Input::UserClose) => {
                cx.actions.push(Output::SendClose { code: 1000, reason: String::new() });
                self.go(cx, S::Open, T::UserClose, S::Closing)?;
                self.st = St::Closing(after(now, c.timeouts.close_grace));
            }
            (St::Closing(_), Input::PeerClosed { .. } | Input::Dropped { .. }) => {
                self.stop(cx, S::Closing, T::Closed, false)?;
            }
            (St::Closing(t), Input::Timeout) if now >= t => {
                cx.actions.push(Output::DropConnection);
                self.stop(cx, S::Closing, T::CloseGraceElapsed, false)?;
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
            (St::Reauth, Input::UserClose) => self.stop(cx, S::Reauthenticating, T::UserClose, false)?,
            (St::FellBack { reprobe_at, probe }, _) => self.fell_back(now, cx, input, reprobe_at, probe)?,
            _ => {}
        }
        Ok(())
    }

    fn fell_back(
        &mut self,
        now: Instant,
        cx: &mut Cx<'_>,
        input: &Input,
        reprobe_at: Option<Instant>,
        probe: Option<Dial>,
    ) -> Result<(), String> {
        let c = Rc::clone(&self.cfg);
        let mut next = (reprobe_at, probe.clone());
        match (input, probe) {
            (Input::Timeout, Some(p)) if now >= p.deadline => {
                cx.actions.push(Output::AbortDial);
                next = self.probe_failed(now);
            }
            (Input::Timeout, None) if reprobe_at.is_some_and(|t| now >= t) => {
                cx.actions.push(Output::Dial { attempt: 0, probe: true });
                let probe = Dial { handshake: false, deadline: after(now, c.timeouts.connect) };
                next.1 = Some(probe);
            }
            (Input::DialProgress(DialPhase::Handshake), Some(p)) if !p.handshake => {
                next.1 = Some(Dial { handshake: true, deadline: after(now, c.timeouts.handshake) });
            }
            (Input::DialSucceeded, Some(_)) => {
                self.go(cx, S::FellBack, T::ProbeOk, S::Open)?;
                cx.actions.push(Output::StopFallback);
                self.enter_open(now);
                return Ok(());
            }
            (Input::DialFailed(_), Some(_)) => next = self.probe_failed(now),
            (Input::FallbackFailed { .. } | Input::UserClose, p) => {
                if p.is_some() {
                    cx.actions.push(Output::AbortDial);
                }
                cx.actions.push(Output::StopFallback);
                let (trigger, gave_up) = match input {
                    Input::UserClose => (T::UserClose, false),
                    _ => (T::FallbackFailed, true),
                };
                return self.stop(cx, S::FellBack, trigger, gave_up);
            }
            _ => {}
        }
        self.st = St::FellBack { reprobe_at: next.0, probe: next.1 };
        Ok(())
    }

    /// A failed probe doubles the re-probe wait, up to `reprobe_max`.
    fn probe_failed(&mut self, now: Instant) -> (Option<Instant>, Option<Dial>) {
        let max = self.cfg.fallback.reprobe_max;
        self.reprobe_wait = self.reprobe_wait.map(|w| (w * 2).min(max));
        (Some(after(now, self.reprobe_wait.unwrap_or(max))), None)
    }

    fn fresh_heartbeat(&self, now: Instant) -> Hb {
        self.cfg.heartbeat.ping_interval.map_or(Hb::Off, |i| Hb::PingAt(after(now, i)))
    }

    fn enter_open(&mut self, now: Instant) {
        let stable_at = after(now, self.cfg.budget.min_uptime);
        let hb = self.fresh_heartbeat(now);
        self.st = St::Open(Link { stable_at, stable: false, received: false, hb });
    }

    fn enter_connecting(&mut self, now: Instant, cx: &mut Cx<'_>) {
        self.dials += 1;
        self.streak_start.get_or_insert(now);
        cx.actions.push(Output::Dial { attempt: self.dials, probe: false });
        self.st = St::Connecting(Dial { handshake: false, deadline: after(now, self.cfg.timeouts.connect) });
    }

    fn enter_fell_back(&mut self, now: Instant, cx: &mut Cx<'_>) {
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
        self.st = St::FellBack { reprobe_at, probe: None };
    }

    fn mark_stable(&mut self, cx: &mut Cx<'_>) {
        cx.stable += 1;
        self.dials = 0;
        self.streak_start = None;
        self.reauth_used = false;
        self.backoff_n = 0;
        self.reprobe_wait = self.cfg.fallback.reprobe_after;
        self.fell_back_since_stable = false;
    }

    fn go<'a>(&mut self, cx: &mut Cx<'a>, from: S, trigger: T, to: S) -> Result<&'a Cause, String> {
        match cx.next()? {
            Event::StateChanged { from: f, trigger: t, to: s, cause } if (*f, *t, *s) == (from, trigger, to) => {
                Ok(cause)
            }
            other => Err(format!("model expected {from} --{trigger}--> {to}; core: {other:?}")),
        }
    }

    fn stop(&mut self, cx: &mut Cx<'_>, from: S, trigger: T, gave_up: bool) -> Result<(), String> {
        self.go(cx, from, trigger, S::Stopped)?;
        cx.gave_up += usize::from(gave_up);
        self.st = St::Stopped;
        Ok(())
    }

    /// A transition caused by a failure: its cause must name the failure's class and code.
    fn go_fail<'a>(&mut self, cx: &mut Cx<'a>, from: S, trigger: T, to: S, f: &Fail) -> Result<&'a Cause, String> {
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
            Cause::Stop { why: w, fallback_unavailable: true, .. } => !available && Self::why_kind(w) == why,
            _ => false,
        };
        if !ok {
            return Err(format!("expected a fall-back for {why:?} (available: {available}), got {cause:?}"));
        }
        if why == WhyK::Attempts && !matches!(why_of(cause), Some(Why::Spent(Spent::Attempts { dials, .. })) if dials == self.dials) {
            return Err(format!("spent-attempts cause does not say {} dials: {cause:?}", self.dials));
        }
        if available {
            self.enter_fell_back(now, cx);
        } else {
            cx.gave_up += 1;
            self.st = St::Stopped;
        }
        Ok(())
    }

    fn fail(&mut self, now: Instant, cx: &mut Cx<'_>, from: S, trigger: T, f: Fail, was_stable: bool) -> Result<(), String> {
        let action = f.code.and_then(|c| override_for(&self.cfg, c)).unwrap_or(default_action(f.class));
        let streak = self.streak_start.map_or(Duration::ZERO, |s| now.saturating_duration_since(s));
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
                if !matches!(cause, Cause::Stop { why: Why::Class(_) | Why::Override(_), fallback_unavailable: false, .. }) {
                    return Err(format!("expected a stop by class or override, got {cause:?}"));
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
                if !matches!(cause, Cause::Stop { why: Why::StillUnauthorized, .. }) {
                    return Err(format!("expected 'still unauthorized', got {cause:?}"));
                }
                cx.gave_up += 1;
                self.st = St::Stopped;
            }
            _ if spent.is_some() => self.fall_back_or_stop(now, cx, edge, &f, spent.unwrap_or(WhyK::Attempts))?,
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
    fn retry(&mut self, now: Instant, cx: &mut Cx<'_>, edge: (S, T), f: Fail, action: Action, streak: Duration) -> Result<(), String> {
        let c = Rc::clone(&self.cfg);
        let (mut lo, mut hi) = match action {
            Action::RetryAfterRestart => (c.delays.restart_min, c.delays.restart_max),
            _ => {
                let (lo, hi) = backoff_bounds(&c, self.backoff_n);
                self.backoff_n += 1;
                match action {
                    Action::RetrySlow => (lo.max(c.delays.overload_min), hi.max(c.delays.overload_min)),
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
                return Err(format!("expected a retry (delay in [{lo:?}, {hi:?}]), core did {:?}", cx.events.get(cx.pos)));
            }
            return self.fall_back_or_stop(now, cx, edge, &f, WhyK::Elapsed);
        }
        if must_not {
            return Err(format!("streak {streak:?} + delay ≥ {lo:?} passes max_elapsed, yet the core retried"));
        }
        let cause = self.go_fail(cx, edge.0, edge.1, S::Backoff, &f)?;
        let Cause::Retry { delay, next_attempt, max_attempts, .. } = cause else {
            return Err(format!("a retry with cause {cause:?}"));
        };
        let max = self.cfg.budget.max_attempts;
        let ok = match cx.next()? {
            Event::RetryScheduled { attempt, max_attempts: m, delay: d, class, .. } => {
                (*attempt, *m, *d, *class) == (self.dials + 1, max, *delay, f.class)
            }
            _ => false,
        };
        let in_budget = self.cfg.budget.max_elapsed.is_none_or(|m| streak + *delay <= m);
        if !ok || (*next_attempt, *max_attempts) != (self.dials + 1, max) || *delay < lo || *delay > hi || !in_budget {
            return Err(format!(
                "retry after {:?} {action:?}: delay {delay:?} not in [{lo:?}, {hi:?}] or within budget \
                 (streak {streak:?}), or attempt {next_attempt}/{max_attempts} ≠ {}/{max}, or RetryScheduled disagrees",
                f.class,
                self.dials + 1
            ));
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
