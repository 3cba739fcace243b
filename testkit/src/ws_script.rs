//! The vocabulary of a scripted WebSocket server: what it knows of a connection
//! ([`ConnInfo`]), how it answers one ([`Behavior`], [`Act`]), and what it records
//! ([`Received`], `Record`). The server (`ws_server`) and each connection's task
//! (`ws_conn`) both speak it.

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::lifecycle::Changes;

/// What the server knows about a connection when it asks the script what to do.
///
/// The script is asked once the upgrade request has been read (after the TLS handshake
/// for [`WsServer::start_tls`](crate::WsServer::start_tls)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnInfo {
    /// 1-based, in accept order (the same numbering as [`WsServer::received`](crate::WsServer::received)).
    pub index: usize,
    /// The upgrade request's headers, names in lower case, in request order.
    pub headers: Vec<(String, String)>,
    /// The request target, for example `/` or `/v1/responses?x=1`.
    pub path: String,
    /// The client's address (its local port tells its connections apart).
    pub peer: SocketAddr,
}

impl ConnInfo {
    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// How the server answers one connection.
#[derive(Debug, Clone)]
pub enum Behavior {
    /// Answer `101 Switching Protocols`, then play the acts in order.
    ///
    /// When the acts run out, the connection ends: after a [`Act::Close`], once the
    /// client has answered the close (or gone); otherwise at once, with a TCP FIN and
    /// no close frame (an abnormal closure, 1006, for the client).
    Accept(Vec<Act>),
    /// As [`Behavior::Accept`], with these extra headers on the `101` answer (for
    /// example `("Sec-WebSocket-Protocol", "chat.v2")`: the server's choice of
    /// subprotocol, whatever the client offered).
    AcceptWith {
        /// Extra response headers.
        headers: Vec<(String, String)>,
        /// The acts, as for [`Behavior::Accept`].
        acts: Vec<Act>,
    },
    /// Answer the upgrade with this HTTP status and headers, then close the TCP
    /// connection. A `Content-Length: 0` header is added unless one is given.
    ///
    /// Use a status of 300 or more: tungstenite refuses to send a 2xx here (the client
    /// then sees the connection closed without an answer).
    Reject {
        /// The HTTP status, for example 401, 404, 426 or 429.
        status: u16,
        /// Extra response headers, for example `("Retry-After", "1")`.
        headers: Vec<(String, String)>,
    },
    /// Read the request and never answer; keep the TCP connection open until the
    /// client goes or the server stops.
    StallHandshake,
    /// Reset the TCP connection (RST: `SO_LINGER` 0, then close) as soon as the
    /// request has been read, without answering it.
    ResetBeforeUpgrade,
}

/// One step of an accepted connection's script.
#[derive(Clone)]
pub enum Act {
    /// Do nothing for this long (nothing is read meanwhile, so pings wait).
    Wait(Duration),
    /// Keep reading for this long (pings answered, messages recorded, nothing sent),
    /// then go on with the next act. Ends the connection if the client closes first.
    HoldFor(Duration),
    /// Keep reading (pings answered) until one data message arrives, record it, then
    /// go on with the next act. Ends the connection if the client closes first.
    AwaitMessage,
    /// Send a text message.
    Text(String),
    /// Send a binary message.
    Binary(Vec<u8>),
    /// Send a close frame. `Some(code)`: with that raw code (any u16, also ones that must
    /// never be on the wire, like 1005, 1014 or 999) and `reason`; `None`: a close frame
    /// without status code (empty payload; `reason` is ignored).
    Close {
        /// The raw close code, or `None` for an empty close frame.
        code: Option<u16>,
        /// The close reason (UTF-8, at most 123 bytes to fit a control frame).
        reason: String,
    },
    /// Reset the TCP connection now (RST, no close frame). Ends the connection.
    Reset,
    /// Echo every text and binary message until the client closes; pings are answered.
    /// Ends the script.
    Echo,
    /// For each text message received, send these text messages back; until the client
    /// closes. Binary messages are recorded and not answered. Ends the script.
    #[allow(clippy::type_complexity)]
    Respond(Arc<dyn Fn(&str) -> Vec<String> + Send + Sync>),
    /// As `Respond`, for this long, then go on with the next act (an answer being
    /// written when the time is up may be cut). Ends the connection if the client
    /// closes first.
    #[allow(clippy::type_complexity)]
    RespondFor(Duration, Arc<dyn Fn(&str) -> Vec<String> + Send + Sync>),
    /// Keep reading (so pings are answered and messages recorded), send nothing, until
    /// the client closes. Ends the script.
    Hold,
    /// Never read or write again (pings go unanswered); keep the TCP connection open
    /// until the server stops. Ends the script.
    Mute,
}

impl fmt::Debug for Act {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Act::Wait(d) => f.debug_tuple("Wait").field(d).finish(),
            Act::HoldFor(d) => f.debug_tuple("HoldFor").field(d).finish(),
            Act::AwaitMessage => f.write_str("AwaitMessage"),
            Act::Text(s) => f.debug_tuple("Text").field(s).finish(),
            Act::Binary(b) => f.debug_tuple("Binary").field(b).finish(),
            Act::Close { code, reason } => f
                .debug_struct("Close")
                .field("code", code)
                .field("reason", reason)
                .finish(),
            Act::Reset => f.write_str("Reset"),
            Act::Echo => f.write_str("Echo"),
            Act::Respond(_) => f.write_str("Respond(..)"),
            Act::RespondFor(d, _) => f.debug_tuple("RespondFor").field(d).finish(),
            Act::Hold => f.write_str("Hold"),
            Act::Mute => f.write_str("Mute"),
        }
    }
}

/// A data message the server received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// A text message.
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
}

/// The script: a behavior for each connection.
pub(crate) type Script = Arc<dyn Fn(&ConnInfo) -> Behavior + Send + Sync>;

/// A received close frame: `Some((code, reason))`, or `None` without status code.
pub(crate) type CloseSeen = Option<(u16, String)>;

/// What the server records, shared with its tasks.
#[derive(Default)]
pub(crate) struct Record {
    pub(crate) connections: AtomicUsize,
    pub(crate) upgrades: AtomicUsize,
    pub(crate) ended: AtomicUsize,
    pub(crate) received: Mutex<Vec<(usize, Received)>>,
    pub(crate) closes: Mutex<Vec<(usize, CloseSeen)>>,
    /// Connections on which the server sent a close frame of its own ([`Act::Close`]).
    pub(crate) closes_sent: Mutex<Vec<usize>>,
    pub(crate) accept_times: Mutex<Vec<Instant>>,
    pub(crate) changes: Changes,
}
