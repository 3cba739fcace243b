//! What the core asks the driver to do.

use crate::core::Event;

/// One thing to do, drained with [`Core::poll_output`](super::Core::poll_output).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Open a WebSocket: DNS, TCP, TLS, upgrade. Answer with `DialProgress`, then
    /// `DialSucceeded` or `DialFailed`.
    Dial {
        /// Which dial since the last stable connection; 0 for a quiet re-probe.
        attempt: u32,
        /// A quiet re-probe from the fallback: keep using the fallback until it opens.
        probe: bool,
    },
    /// Abandon the dial in flight (its timer ran out, or the application closed).
    AbortDial,
    /// Send a ping.
    SendPing,
    /// Send a close frame and wait for the server's answer.
    SendClose {
        /// The close code.
        code: u16,
        /// The reason.
        reason: String,
    },
    /// Drop the connection without further ado (dead, or no answer to our close).
    DropConnection,
    /// Carry traffic over the fallback transport from now on.
    StartFallback,
    /// Stop using the fallback transport (WebSockets are back, or the client stopped).
    StopFallback,
    /// Ask the application for fresh credentials; answer with `ReauthDone`.
    Reauthenticate,
    /// Something for observers; no action needed.
    Event(Event),
}
