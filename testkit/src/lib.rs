//! Loopback servers for redial's tests, the `redial demo` and the benchmarks.
//!
//! - [`WsServer`]: a scripted WebSocket server (plain or TLS). A script picks a
//!   [`Behavior`] for every connection: answer the upgrade and play [`Act`]s, reject it
//!   with an HTTP status, stall the handshake, or reset the TCP connection.
//!   [`WsServer::restart`] cuts every live connection at once (a restart behind a kept
//!   listener) and [`WsServer::take_received`] keeps long runs' memory flat.
//! - [`SseServer`]: an HTTPS server that answers every POST with a Server-Sent-Events
//!   stream, as the HTTPS fallback expects; [`echo_responder`] is the usual responder.
//! - [`ConnectProxy`]: an HTTP proxy that opens `CONNECT` tunnels; it counts them, can
//!   require Basic credentials, answer a status ([`ProxyAct::Answer`]: 403, 502, …) or
//!   never answer ([`ProxyAct::Stall`]).
//! - [`TestCert`]: a self-signed certificate for `localhost` and `127.0.0.1`, made at run
//!   time, with matching rustls server and client configurations (ring provider).
//!
//! Every server binds `127.0.0.1` on a free port, runs its tasks on the async-std
//! executor (so a test body may run under `async_std::test` or `smol::block_on`), and
//! stops by itself when its handle is dropped: the listener closes and every
//! connection task ends. [`WsServer::shutdown`] and [`SseServer::shutdown`] also wait
//! until all of that has happened.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use redial_testkit::{Act, Behavior, WsServer};
//! // First connection: 101, then close with 1008 at once. Later ones: echo.
//! let server = WsServer::start(|conn| {
//!     if conn.index == 1 {
//!         Behavior::Accept(vec![Act::Close { code: Some(1008), reason: String::new() }])
//!     } else {
//!         Behavior::Accept(vec![Act::Echo])
//!     }
//! })
//! .await?;
//! println!("dial {}", server.url());
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod cert;
mod client_frames;
mod lifecycle;
mod proxy;
mod socks_proxy;
mod sse_server;
mod ws_conn;
mod ws_script;
mod ws_server;

pub use cert::TestCert;
pub use client_frames::ClientFrames;
pub use proxy::{ConnectProxy, ConnectRequest, ProxyAct};
pub use socks_proxy::{SocksAct, SocksProxy, SocksRequest, SocksTarget};
pub use sse_server::{echo_responder, SseOptions, SseServer};
pub use ws_script::{Act, Behavior, ConnInfo, Received};
pub use ws_server::WsServer;

/// The README's code blocks, compiled as doctests here, where the crates they use are
/// (`redial` with the `driver` and `async-std` features, async-std's `main`).
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
