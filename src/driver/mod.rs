//! The async driver: runs the [core](crate::core) over real sockets.
//!
//! async-tungstenite's generic `client_async_with_config` over a runtime's TCP stream
//! and futures-rustls (rustls with the `ring` provider), an HTTPS + Server-Sent-Events
//! fallback on hyper. Sockets, timers and spawning come from a [`Runtime`]:
//! `AsyncIoRuntime` (feature `async-io`, the default) or `TokioRuntime` (feature
//! `tokio`), chosen per client ([`ClientBuilder::runtime`], or [`default_runtime`]).
//! Both transports reach their hosts the same way ([`Network`]): Happy Eyeballs
//! (RFC 8305) over every resolved address, and an HTTP proxy's `CONNECT` tunnel when the
//! [`ProxyRules`] (explicit, or `HTTPS_PROXY` and friends) say so. [`Driver::run`] is a
//! future for any executor; [`ClientBuilder::spawn`] runs it as a task of its runtime.
//!
//! One task owns the socket: it waits on the socket, the core's deadline, commands, a
//! dial in progress, the fallback and re-authentication, feeds exactly one input to the
//! core per wake-up, and carries out the outputs.

mod acked;
mod answer;
mod builder;
mod client;
mod connection;
mod dial;
mod dial_hook;
mod event;
mod eyeballs;
mod fallback;
mod lock;
#[cfg(feature = "testing")]
pub(crate) mod memory_peer;
mod message;
mod network;
pub(crate) mod proxy;
mod queue;
#[cfg_attr(not(feature = "testing"), allow(unreachable_pub))]
pub(crate) mod raw_close;
mod reach;
mod request;
mod runtime;
mod secret;
mod shared;
mod split;
mod streams;
mod subprotocol;
mod target;
mod task;
mod tls;
mod writer;

pub use acked::{AckOptions, AckTimeoutAction};
pub use answer::parse_retry_after;
pub use builder::{BuildError, ClientBuilder};
pub use client::Client;
pub use connection::{Connection, ConnectionError};
pub use dial_hook::{DialContext, DialExtras};
pub use event::{CancelSettled, ClientEvent, Events, Incoming, TransportKind, EVENTS_CAPACITY};
pub use fallback::{
    CarrierNote, Fallback, FallbackCarrier, FallbackLimits, FallbackPoolSettings, FallbackStream,
    HttpsSse,
};
pub use message::Message;
pub use network::{Network, Resolver, TcpConnector, DEFAULT_ATTEMPT_DELAY};
pub use proxy::{NoProxy, ProxyRules, ProxyScheme, ProxyUrl};
pub use queue::SendError;
pub use reach::Connector;
pub use request::{
    CancelFn, Replay, RequestError, RequestStream, Terminal, CANCEL_GRACE, REQUEST_IDLE_TIMEOUT,
};
#[cfg(feature = "async-io")]
pub use runtime::AsyncIoRuntime;
#[cfg(feature = "tokio")]
pub use runtime::TokioRuntime;
pub use runtime::{default_runtime, AsyncTimer, BoxFuture, Duplex, Runtime, Sleep};
pub use secret::{Headers, ReauthFn};
pub use split::{ConnectionSink, ConnectionStream};
pub use streams::{Messages, Tagged};
pub use task::Driver;
pub use tls::TlsOptions;
