//! The async driver: runs the [core](crate::core) over real sockets.
//!
//! async-tungstenite's generic `client_async_with_config` over an async-net TCP stream
//! and futures-rustls (rustls with the `ring` provider), timers from async-io, an
//! HTTPS + Server-Sent-Events fallback on hyper. Both transports reach their hosts the
//! same way ([`Network`]): Happy Eyeballs (RFC 8305) over every resolved address, and an
//! HTTP proxy's `CONNECT` tunnel when the [proxy] rules (explicit, or `HTTPS_PROXY` and
//! friends) say so. Runtime-agnostic: [`Driver::run`] is a
//! future for any executor; [`ClientBuilder::spawn`] runs it on async-std.
//!
//! One task owns the socket: it waits on the socket, the core's deadline, commands, a
//! dial in progress, the fallback and re-authentication, feeds exactly one input to the
//! core per wake-up, and carries out the outputs.

mod builder;
mod client;
mod connection;
mod dial;
mod eyeballs;
mod fallback;
mod memory_peer;
mod message;
mod network;
pub mod proxy;
mod queue;
mod raw_close;
mod request;
mod secret;
mod streams;
mod task;
mod tls;
mod writer;

pub use builder::ClientBuilder;
pub use client::{
    BuildError, Client, ClientEvent, Events, Incoming, Messages, ReauthFn, Tagged, TransportKind,
    EVENTS_CAPACITY, REQUEST_IDLE_TIMEOUT,
};
pub use connection::{Connection, ConnectionError};
pub use dial::{parse_retry_after, Connector, Duplex, MaybeTls};
pub use fallback::{
    ConnectionNote, Fallback, FallbackConnection, FallbackError, FallbackLimits, FallbackPhase,
    FallbackPool, FallbackStream, HttpsSse,
};
pub use memory_peer::MemoryPeer;
pub use message::Message;
pub use network::{Network, Resolver, TcpConnector, DEFAULT_ATTEMPT_DELAY};
pub use proxy::{NoProxy, ProxyRules, ProxyUrl};
pub use queue::SendError;
pub use raw_close::{CloseSniffer, FrameScanner, RawClose};
pub use request::{
    CancelFn, CancelSettled, Replay, RequestError, RequestStream, Terminal, CANCEL_GRACE,
};
pub use secret::Headers;
pub use task::Driver;
pub use tls::TlsOptions;
