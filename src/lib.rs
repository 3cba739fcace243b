//! # redial
//!
//! A reconnect core for WebSocket clients: it decides, from what actually happened
//! (close codes, handshake statuses, timeouts), whether to retry, back off longer,
//! re-authenticate, fall back to HTTPS, or stop — and says why in a sentence.
//!
//! The [`core`] is sans-IO: a synchronous [statig] state machine that takes inputs with
//! the time they happened and gives outputs and deadlines. The [`policy`] is pure and
//! reusable (close-code classification, decisions, [`backoff`]). The [`config`] is one
//! serde struct, validated into a [`config::Policy`].
//!
//! ## Drive loop
//!
//! One input, drain outputs, wait for `poll_timeout`, repeat: see [`core::Core`].
//!
//! [statig]: https://docs.rs/statig
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod config;
pub mod core;
pub mod diagram;
#[cfg(feature = "driver")]
pub mod driver;
pub mod event;
pub mod policy;
pub mod sim;
#[cfg(feature = "testkit")]
pub mod testkit;

/// Backoff strategies (none, full, equal, decorrelated jitter, spread), usable alone.
pub mod backoff {
    pub use crate::policy::{Backoff, BackoffConfig, Strategy, MAX_DELAY};
}

pub use crate::config::{Config, Policy, Preset, Transport};
pub use crate::core::{Cause, Core, Input, Output, StateName};
pub use crate::event::Event;
