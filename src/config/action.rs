//! What to do about a class of ending ([`Action`]): each class's default, and the value
//! of a `close_codes` override.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What to do about a class of ending; the value of a `close_codes` override.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Retry with the backoff.
    Retry,
    /// Retry with at least the overload minimum delay.
    RetrySlow,
    /// Retry after a delay drawn from the restart window.
    RetryAfterRestart,
    /// Ask the application for fresh credentials, then retry once.
    Reauthenticate,
    /// Switch to the fallback transport at once (stop when there is none).
    FallBack,
    /// Stop.
    Stop,
    /// Reconnect when the application next needs a connection (counts as a failed attempt,
    /// and is retried with backoff, when the connection was not yet stable).
    ReconnectLazily,
}

impl Action {
    /// Every action.
    pub const ALL: [Action; 7] = [
        Action::Retry,
        Action::RetrySlow,
        Action::RetryAfterRestart,
        Action::Reauthenticate,
        Action::FallBack,
        Action::Stop,
        Action::ReconnectLazily,
    ];

    /// The snake_case name used in configs.
    pub fn name(self) -> &'static str {
        match self {
            Action::Retry => "retry",
            Action::RetrySlow => "retry_slow",
            Action::RetryAfterRestart => "retry_after_restart",
            Action::Reauthenticate => "reauthenticate",
            Action::FallBack => "fall_back",
            Action::Stop => "stop",
            Action::ReconnectLazily => "reconnect_lazily",
        }
    }

    /// Whether this action dials again over WebSockets.
    pub fn retries(self) -> bool {
        matches!(
            self,
            Action::Retry | Action::RetrySlow | Action::RetryAfterRestart
        )
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
