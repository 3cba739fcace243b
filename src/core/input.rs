//! What the driver tells the core.

use crate::policy::{FallbackError, Phase, ReachFailure};

/// One thing that happened, handed to [`Core::handle_input`](super::Core::handle_input)
/// together with the time it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// The application wants a connection (at start, or again after an idle period).
    Start,
    /// The dial reached a new phase: [`Phase::Handshake`] once TCP and TLS are up and
    /// the upgrade starts (the other phases are not a dial's, and change nothing).
    DialProgress(Phase),
    /// The upgrade was answered with 101: the WebSocket is open, without a subprotocol.
    DialSucceeded,
    /// The upgrade was answered with 101 and the server chose `protocol` among the
    /// subprotocols offered (`Sec-WebSocket-Protocol`): as [`Input::DialSucceeded`]
    /// otherwise. The core reports the choice ([`Event::Connected`](super::Event::Connected),
    /// [`Core::protocol`](super::Core::protocol)) and a server that chooses differently
    /// than on the previous connection ([`Event::SubprotocolChanged`](super::Event::SubprotocolChanged)).
    DialSucceededWith {
        /// The subprotocol the server chose.
        protocol: String,
    },
    /// The dial failed.
    DialFailed(ReachFailure),
    /// The server sent a close frame.
    PeerClosed {
        /// The raw status code from the wire; `None` when the frame had none.
        code: Option<u16>,
        /// The raw reason bytes (may be empty, long, or not UTF-8).
        reason: Vec<u8>,
    },
    /// The connection ended without a close frame (reset, EOF, I/O error).
    Dropped {
        /// What the driver saw, for the diagnosis.
        detail: String,
    },
    /// A data message (text or binary) arrived from the server.
    Received,
    /// A pong or another control frame arrived from the server.
    Pong,
    /// The application closes the client.
    UserClose,
    /// The application wants a fresh connection: an abandoned request's response did
    /// not end within `cancel_grace`, and its rest must not reach the next request. In
    /// Open, the connection is closed (a close frame 1000 with `reason`, answered or
    /// not within `timeouts.close_grace`) and a new one dialed. Not a failure: the
    /// connection counts as stable, so the dial spends no retry budget. Ignored in
    /// every other state.
    Recycle {
        /// The close frame's reason, as the server reads it (at most 123 bytes).
        reason: String,
    },
    /// A request over the fallback transport was answered: its first response item
    /// arrived, or its response ended cleanly without one. A 2xx status and headers
    /// alone do not count (a server that answers 200 and then stalls has carried
    /// nothing, as an upgrade alone does not make a connection stable). The fallback
    /// works, and its failure count starts again.
    FallbackReady,
    /// A request over the fallback transport failed before its response ended.
    FallbackFailed {
        /// What failed.
        failure: FallbackError,
    },
    /// The application answered [`Output::Reauthenticate`](super::Output::Reauthenticate).
    ReauthDone {
        /// Whether fresh credentials were obtained.
        ok: bool,
    },
    /// A deadline from `poll_timeout` may have passed. This is the one way to hand in the
    /// passing of time; an early or spurious `Timeout` does nothing.
    Timeout,
}
