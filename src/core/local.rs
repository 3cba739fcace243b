//! State-local data: what each state owns (statig state fields), and its deadlines.

use std::time::{Duration, Instant};

use crate::policy::Phase;

/// `now + d`, saturating at `now` for the impossible overflow (durations are validated
/// to at most a day).
pub(crate) fn after(now: Instant, d: Duration) -> Instant {
    now.checked_add(d).unwrap_or(now)
}

/// A dial in flight (Connecting, or a quiet re-probe in FellBack).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Dial {
    pub attempt: u32,
    pub probe: bool,
    pub started: Instant,
    pub phase: Phase,
    pub deadline: Instant,
}

/// The heartbeat of an open connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Heartbeat {
    /// Pings are disabled.
    Off,
    /// Ping when the server has been silent until then.
    PingAt(Instant),
    /// A ping is out; the connection is dead if nothing arrives by `deadline`.
    AwaitPong { deadline: Instant },
}

impl Heartbeat {
    pub(super) fn deadline(self) -> Option<Instant> {
        match self {
            Heartbeat::Off => None,
            Heartbeat::PingAt(t) | Heartbeat::AwaitPong { deadline: t } => Some(t),
        }
    }
}

/// An open WebSocket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Link {
    pub attempt: u32,
    pub since: Instant,
    pub stable: bool,
    pub stable_at: Instant,
    pub received: bool,
    pub heartbeat: Heartbeat,
}

impl Link {
    pub(super) fn deadline(&self) -> Option<Instant> {
        let stable = (!self.stable).then_some(self.stable_at);
        match (stable, self.heartbeat.deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// The wait before the next dial.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Wait {
    pub until: Instant,
}

/// A graceful close in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Grace {
    pub deadline: Instant,
    pub waited: Duration,
    /// Recycling: once closed, dial again (the reason is the cause's).
    pub recycle: Option<String>,
}

/// A quiet re-probe that reached an open WebSocket, on trial: traffic stays on the
/// fallback until the probe's connection has been open for `budget.min_uptime`
/// (`until`), so that a server that accepts and at once closes (the mission's 101 then
/// 1008) fails the probe instead of taking the application's messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Trial {
    /// The upgrade.
    pub since: Instant,
    pub until: Instant,
    /// Whether the server sent a message meanwhile.
    pub received: bool,
}

/// Life on the fallback transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fallback {
    pub since: Instant,
    pub reprobe_at: Option<Instant>,
    pub probe: Option<Dial>,
    /// The probe's connection, once upgraded, until its trial ends.
    pub trial: Option<Trial>,
    /// Fallback failures in a row (reset by `FallbackReady`).
    pub failures: u32,
    /// Whether a response started since the fall-back or the last failure.
    pub ready: bool,
    /// The fallback is paused after a failure until then (`StartFallback` at the end).
    pub paused_until: Option<Instant>,
}

impl Fallback {
    pub(super) fn deadline(&self) -> Option<Instant> {
        let probe = match (&self.probe, &self.trial) {
            (Some(d), _) => Some(d.deadline),
            (None, Some(t)) => Some(t.until),
            (None, None) => self.reprobe_at,
        };
        match (probe, self.paused_until) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}
