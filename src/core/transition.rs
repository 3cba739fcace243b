//! The transition table: every `(from, trigger, to)` the core can make. The machine
//! checks each transition against it, the tests prove every row reachable, and the
//! state diagrams in `docs/` are drawn from it.

use std::fmt;

use serde::Serialize;

/// The name of a state of the core.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StateName {
    /// Not started yet, or waiting until the application needs a connection again
    /// (after the server closed a stable connection with 1000).
    Idle,
    /// A WebSocket dial is in flight (TCP, TLS, upgrade).
    Connecting,
    /// The WebSocket is open.
    Open,
    /// The application closed; waiting for the server's close frame.
    Closing,
    /// Waiting before the next dial.
    Backoff,
    /// Waiting for the application's fresh credentials after a 401 or a 3000/3003 close.
    Reauthenticating,
    /// Using the fallback transport; WebSockets are quietly re-probed later.
    FellBack,
    /// Ended: closed by the application or given up; the cause says which.
    Stopped,
}

impl StateName {
    /// Every state, in diagram order.
    pub const ALL: [StateName; 8] = [
        StateName::Idle,
        StateName::Connecting,
        StateName::Open,
        StateName::Closing,
        StateName::Backoff,
        StateName::Reauthenticating,
        StateName::FellBack,
        StateName::Stopped,
    ];

    /// The snake_case name used in event lines.
    pub fn name(self) -> &'static str {
        match self {
            StateName::Idle => "idle",
            StateName::Connecting => "connecting",
            StateName::Open => "open",
            StateName::Closing => "closing",
            StateName::Backoff => "backoff",
            StateName::Reauthenticating => "reauthenticating",
            StateName::FellBack => "fell_back",
            StateName::Stopped => "stopped",
        }
    }
}

impl fmt::Display for StateName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What made the core change state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// The application asked for a connection.
    Start,
    /// The application closed the client.
    UserClose,
    /// The upgrade succeeded (101).
    DialOk,
    /// The dial failed (DNS, TCP, TLS, HTTP status).
    DialFailed,
    /// The connect or handshake timer ran out.
    DialTimeout,
    /// The server sent a close frame.
    RecvClose,
    /// The connection ended without a close frame.
    Dropped,
    /// No frame arrived within the pong timeout after a ping.
    PongTimeout,
    /// The backoff delay elapsed.
    BackoffElapsed,
    /// The application supplied fresh credentials.
    ReauthDone,
    /// The application could not re-authenticate.
    ReauthFailed,
    /// The server answered our close (or the connection ended) while closing.
    Closed,
    /// The server did not answer our close in time.
    CloseGraceElapsed,
    /// The fallback transport failed too.
    FallbackFailed,
    /// A quiet re-probe's connection held for its trial (`budget.min_uptime`).
    ProbeOk,
    /// The application recycled the connection (a new one replaces it).
    Recycle,
}

impl Trigger {
    /// The snake_case name shown on diagram edges.
    pub fn name(self) -> &'static str {
        match self {
            Trigger::Start => "start",
            Trigger::UserClose => "user_close",
            Trigger::DialOk => "dial_ok",
            Trigger::DialFailed => "dial_failed",
            Trigger::DialTimeout => "dial_timeout",
            Trigger::RecvClose => "recv_close",
            Trigger::Dropped => "dropped",
            Trigger::PongTimeout => "pong_timeout",
            Trigger::BackoffElapsed => "backoff_elapsed",
            Trigger::ReauthDone => "reauth_done",
            Trigger::ReauthFailed => "reauth_failed",
            Trigger::Closed => "closed",
            Trigger::CloseGraceElapsed => "close_grace_elapsed",
            Trigger::FallbackFailed => "fallback_failed",
            Trigger::ProbeOk => "probe_ok",
            Trigger::Recycle => "recycle",
        }
    }
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One row of the transition table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Transition {
    /// The state left.
    pub from: StateName,
    /// What caused it.
    pub trigger: Trigger,
    /// The state entered.
    pub to: StateName,
    /// When the trigger leads to this state rather than another (for the docs).
    pub when: &'static str,
}

const fn row(from: StateName, trigger: Trigger, to: StateName, when: &'static str) -> Transition {
    Transition {
        from,
        trigger,
        to,
        when,
    }
}

use StateName as S;
use Trigger as T;

/// Every transition the core can make. A failure's row depends on the decision:
/// retry (Backoff), re-authenticate, fall back, stop, or wait for demand (Idle).
pub const TRANSITIONS: &[Transition] = &[
    row(
        S::Idle,
        T::Start,
        S::Connecting,
        "transport is auto or websocket",
    ),
    row(S::Idle, T::Start, S::FellBack, r#"transport = "https""#),
    row(S::Idle, T::UserClose, S::Stopped, "always"),
    row(
        S::Connecting,
        T::DialOk,
        S::Open,
        "the upgrade was answered 101",
    ),
    row(
        S::Connecting,
        T::DialFailed,
        S::Backoff,
        "retryable class, budget left",
    ),
    row(
        S::Connecting,
        T::DialFailed,
        S::Reauthenticating,
        "401, not yet re-authenticated, budget left",
    ),
    row(
        S::Connecting,
        T::DialFailed,
        S::FellBack,
        "rejected status (403, 404, 426, …) or budget spent, fallback available",
    ),
    row(
        S::Connecting,
        T::DialFailed,
        S::Stopped,
        "certificate rejected, second 401, or no fallback where it would fall back",
    ),
    row(S::Connecting, T::DialTimeout, S::Backoff, "budget left"),
    row(
        S::Connecting,
        T::DialTimeout,
        S::FellBack,
        "budget spent, fallback available",
    ),
    row(
        S::Connecting,
        T::DialTimeout,
        S::Stopped,
        "budget spent, no fallback",
    ),
    row(
        S::Connecting,
        T::UserClose,
        S::Stopped,
        "always (the dial is aborted)",
    ),
    row(
        S::Open,
        T::RecvClose,
        S::Backoff,
        "retryable class (1001, 1011, 1012, 1013, 4xxx, an unstable 1000, …), budget left",
    ),
    row(
        S::Open,
        T::RecvClose,
        S::Reauthenticating,
        "3000/3003, not yet re-authenticated, budget left",
    ),
    row(
        S::Open,
        T::RecvClose,
        S::FellBack,
        "1008, protocol class, or budget spent, fallback available",
    ),
    row(
        S::Open,
        T::RecvClose,
        S::Stopped,
        "as for FellBack but no fallback, second auth close, or a stop override",
    ),
    row(
        S::Open,
        T::RecvClose,
        S::Idle,
        "1000 on a stable connection: reconnect when next needed",
    ),
    row(
        S::Open,
        T::Dropped,
        S::Backoff,
        "budget left (treated as 1006, transient)",
    ),
    row(
        S::Open,
        T::Dropped,
        S::FellBack,
        "budget spent, fallback available",
    ),
    row(S::Open, T::Dropped, S::Stopped, "budget spent, no fallback"),
    row(
        S::Open,
        T::Dropped,
        S::Reauthenticating,
        "only with a close_codes override of 1006 to reauthenticate",
    ),
    row(
        S::Open,
        T::Dropped,
        S::Idle,
        "only with a close_codes override of 1006 to reconnect_lazily, stable connection",
    ),
    row(
        S::Open,
        T::PongTimeout,
        S::Backoff,
        "budget left (treated as 1006, transient)",
    ),
    row(
        S::Open,
        T::PongTimeout,
        S::FellBack,
        "budget spent, fallback available",
    ),
    row(
        S::Open,
        T::PongTimeout,
        S::Stopped,
        "budget spent, no fallback",
    ),
    row(
        S::Open,
        T::PongTimeout,
        S::Reauthenticating,
        "only with a close_codes override of 1006 to reauthenticate",
    ),
    row(
        S::Open,
        T::PongTimeout,
        S::Idle,
        "only with a close_codes override of 1006 to reconnect_lazily, stable connection",
    ),
    row(
        S::Open,
        T::UserClose,
        S::Closing,
        "always (a close frame 1000 is sent)",
    ),
    row(
        S::Open,
        T::Recycle,
        S::Closing,
        "always (a close frame 1000 is sent; the connection counts as stable)",
    ),
    row(
        S::Closing,
        T::Closed,
        S::Stopped,
        "the server answered the close, or the connection ended",
    ),
    row(
        S::Closing,
        T::CloseGraceElapsed,
        S::Stopped,
        "no answer within timeouts.close_grace",
    ),
    row(
        S::Closing,
        T::Closed,
        S::Connecting,
        "recycling: the server answered the close, or the connection ended",
    ),
    row(
        S::Closing,
        T::CloseGraceElapsed,
        S::Connecting,
        "recycling: no answer within timeouts.close_grace",
    ),
    row(S::Backoff, T::BackoffElapsed, S::Connecting, "always"),
    row(S::Backoff, T::UserClose, S::Stopped, "always"),
    row(
        S::Reauthenticating,
        T::ReauthDone,
        S::Connecting,
        "the application supplied fresh credentials",
    ),
    row(
        S::Reauthenticating,
        T::ReauthFailed,
        S::Stopped,
        "the application could not",
    ),
    row(S::Reauthenticating, T::UserClose, S::Stopped, "always"),
    row(
        S::FellBack,
        T::ProbeOk,
        S::Open,
        "a quiet re-probe's connection held for its trial, budget.min_uptime after its 101 \
         (transport auto, reprobe_after set)",
    ),
    row(
        S::FellBack,
        T::FallbackFailed,
        S::Stopped,
        "a fallback failure that is not retried (401, 403, other 4xx, certificate), or the \
         fallback.max_failures-th in a row (earlier ones pause the fallback, no transition)",
    ),
    row(
        S::FellBack,
        T::UserClose,
        S::Stopped,
        "always (the fallback and any probe stop)",
    ),
];

/// Whether `(from, trigger, to)` is a row of [`TRANSITIONS`].
pub fn is_documented(from: StateName, trigger: Trigger, to: StateName) -> bool {
    TRANSITIONS
        .iter()
        .any(|r| r.from == from && r.trigger == trigger && r.to == to)
}
