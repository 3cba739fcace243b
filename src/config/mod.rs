//! The configuration: one serde struct, read from TOML or JSON, validated into a
//! [`Policy`] that cannot hold nonsense.
//!
//! Every field has a default (docs/design.md's policy), so an empty TOML file (or `{}`
//! in JSON) is the `default` preset. Durations are human ("250ms", "30s", "5m");
//! optional ones also take `"none"`. Unknown fields are
//! rejected, and every validation error names the field and the rule it broke.
//!
//! ```
//! let policy = redial::config::Config::from_toml_str(r#"
//!     [budget]
//!     max_attempts = 3
//!     [backoff]
//!     base = "100ms"
//!     cap = "5s"
//!     [close_codes]
//!     "4000-4099" = "stop"
//! "#).unwrap().validate().unwrap();
//! assert_eq!(policy.config().budget.max_attempts, 3);
//!
//! let err = redial::config::Config::from_toml_str("[backoff]\ncap = \"1ms\"")
//!     .unwrap().validate().unwrap_err();
//! assert_eq!(err.field(), Some("backoff.cap"));
//! ```

mod action;
mod backoff;
mod budget_spent;
mod commented;
pub(crate) mod optional_duration;
mod presets;
mod proxy;
mod validate;

pub use commented::to_commented_toml;
pub use presets::Preset;
pub use proxy::{ProxyConfig, ProxySetting};
pub use validate::{CodeRange, ConfigError, Policy};

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::redact::redact_urls_in;

pub use action::Action;
pub use backoff::{BackoffConfig, Strategy, MAX_DELAY};
pub use budget_spent::BudgetSpent;

/// Which transport the client may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    /// WebSockets first, the fallback when the policy says so, and back by re-probing.
    #[default]
    Auto,
    /// WebSockets only: decisions to fall back stop instead.
    Websocket,
    /// The fallback only: never dial WebSockets.
    Https,
}

/// The whole configuration, as written in a file.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `auto`, `websocket` or `https`.
    pub transport: Transport,
    /// Seed of the jitter RNG; when absent the driver draws one per client.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// The WebSocket subprotocols offered on every dial (`Sec-WebSocket-Protocol`), in
    /// order of preference. Empty: none offered, and a server that chooses one fails
    /// the dial. Not empty: the server must choose one of them; one it did not offer,
    /// or none, fails the dial (class `subprotocol_mismatch`: the client stops).
    pub protocols: Vec<String>,
    /// The retry budget.
    pub budget: BudgetConfig,
    /// The backoff between dials.
    pub backoff: BackoffConfig,
    /// Delays that some classes impose.
    pub delays: DelayConfig,
    /// Dial and close timeouts.
    pub timeouts: TimeoutConfig,
    /// Pings while idle.
    pub heartbeat: HeartbeatConfig,
    /// The fallback transport and the return to WebSockets.
    pub fallback: FallbackConfig,
    /// The HTTP proxy of both transports.
    pub proxy: ProxyConfig,
    /// The bounded queue of messages waiting for an open connection.
    pub queue: QueueConfig,
    /// Per-code or per-range overrides of the action after a close: keys are a code
    /// (`"4001"`) or an inclusive range (`"4000-4099"`); the narrowest range wins.
    pub close_codes: BTreeMap<String, Action>,
}

/// Limits on dials between two stable connections.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BudgetConfig {
    /// Dials allowed between two stable connections (the first dial included).
    pub max_attempts: u32,
    /// Give up once retrying would take longer than this since the first dial after the
    /// last stable connection; `"none"`: no time limit.
    #[serde(with = "crate::config::optional_duration")]
    pub max_elapsed: Option<Duration>,
    /// A connection is stable once open this long, or when it ends with a normal close
    /// (1000) after server data arrived (a finished exchange). Only a stable connection
    /// resets the budget, the backoff and the one re-authentication.
    #[serde(with = "humantime_serde")]
    pub min_uptime: Duration,
    /// The old rule, kept only to measure old clients (the `codex-compat` preset sets
    /// it): the first server message makes a connection stable. A server that sends one
    /// message and closes then resets the budget every time, so dials never stop; the
    /// dial-rate bound of invariant 2 does not hold with it.
    pub stable_on_first_message: bool,
}

impl Default for BudgetConfig {
    fn default() -> Self {
        BudgetConfig {
            max_attempts: 5,
            max_elapsed: None,
            min_uptime: Duration::from_secs(5),
            stable_on_first_message: false,
        }
    }
}

/// Delays imposed by classes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DelayConfig {
    /// Start of the window a 1012 (service restart) retry is drawn from.
    #[serde(with = "humantime_serde")]
    pub restart_min: Duration,
    /// End of that window.
    #[serde(with = "humantime_serde")]
    pub restart_max: Duration,
    /// The least delay after 1013 (try again later) or a 429 without `Retry-After`.
    #[serde(with = "humantime_serde")]
    pub overload_min: Duration,
    /// The longest `Retry-After` honoured; longer requests are shortened to this.
    #[serde(with = "humantime_serde")]
    pub max_retry_after: Duration,
}

impl Default for DelayConfig {
    fn default() -> Self {
        DelayConfig {
            restart_min: Duration::from_secs(1),
            restart_max: Duration::from_secs(5),
            overload_min: Duration::from_secs(5),
            max_retry_after: Duration::from_secs(120),
        }
    }
}

/// Timeouts of a dial and of a graceful close.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TimeoutConfig {
    /// DNS, TCP connect and TLS.
    #[serde(with = "humantime_serde")]
    pub connect: Duration,
    /// The HTTP upgrade.
    #[serde(with = "humantime_serde")]
    pub handshake: Duration,
    /// How long a graceful close waits for the server's close frame.
    #[serde(with = "humantime_serde")]
    pub close_grace: Duration,
    /// Happy Eyeballs (RFC 8305): when a host has several addresses, the next one's
    /// connection attempt starts this long after the previous one (or at once when it
    /// fails); the first to connect wins. Both transports, and the proxy's addresses.
    #[serde(with = "humantime_serde")]
    pub connection_attempt_delay: Duration,
}

impl Default for TimeoutConfig {
    fn default() -> Self {
        TimeoutConfig {
            connect: Duration::from_secs(10),
            handshake: Duration::from_secs(10),
            close_grace: Duration::from_secs(2),
            connection_attempt_delay: Duration::from_millis(250),
        }
    }
}

/// Pings while the connection is idle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HeartbeatConfig {
    /// Send a ping after this long without a frame from the server; `"none"`: never.
    #[serde(with = "crate::config::optional_duration")]
    pub ping_interval: Option<Duration>,
    /// No frame this long after a ping means the connection is dead (like 1006).
    #[serde(with = "humantime_serde")]
    pub pong_timeout: Duration,
}

impl Default for HeartbeatConfig {
    fn default() -> Self {
        HeartbeatConfig {
            ping_interval: Some(Duration::from_secs(20)),
            pong_timeout: Duration::from_secs(10),
        }
    }
}

/// The fallback transport and the quiet return to WebSockets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FallbackConfig {
    /// Whether falling back is allowed. The driver also needs a fallback transport:
    /// without one it behaves as if this were `false`.
    pub enabled: bool,
    /// How long the fallback is sticky before one quiet WebSocket probe;
    /// `"none"`: never probe (stay on the fallback for the rest of the session).
    #[serde(with = "crate::config::optional_duration")]
    pub reprobe_after: Option<Duration>,
    /// The cap of the re-probe wait, which doubles after each failed probe.
    #[serde(with = "humantime_serde")]
    pub reprobe_max: Duration,
    /// Fallback failures in a row (refused, timed out, 5xx, …) after which the client
    /// stops; each earlier one pauses the fallback for a backoff delay. A response's
    /// first event (or a clean end) resets the count; 2xx headers alone do not.
    pub max_failures: u32,
    /// A fallback request's DNS and TCP connect.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// A fallback request's TLS handshake.
    #[serde(with = "humantime_serde")]
    pub tls_timeout: Duration,
    /// From a fallback request written to its response's status and headers.
    #[serde(with = "humantime_serde")]
    pub headers_timeout: Duration,
    /// The longest silence in a fallback response (from its headers to the first event,
    /// and between events; SSE comments count as activity).
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// The bytes of one SSE event (the parser keeps one event at most), and of any
    /// response body without event breaks; a larger one ends the response.
    pub max_event_bytes: usize,
    /// How long a fallback connection may sit idle in the pool before it is closed
    /// rather than reused (servers close idle keep-alive connections too; a dead one
    /// found in the pool costs nothing: the request goes on a new connection).
    #[serde(with = "humantime_serde")]
    pub pool_idle_timeout: Duration,
    /// Idle HTTP/1.1 connections kept for reuse (per fallback origin; an HTTP/2
    /// connection is shared by every request and counts as one); `0`: none, every
    /// request opens a connection of its own.
    pub pool_max_idle: usize,
    /// Offer HTTP/2 by ALPN (`h2`) for the fallback: a server that chooses it carries
    /// every request on one multiplexed connection. `false`: HTTP/1.1 only.
    pub http2: bool,
}

impl Default for FallbackConfig {
    fn default() -> Self {
        FallbackConfig {
            enabled: true,
            reprobe_after: Some(Duration::from_secs(5 * 60)),
            reprobe_max: Duration::from_secs(60 * 60),
            max_failures: 5,
            connect_timeout: Duration::from_secs(10),
            tls_timeout: Duration::from_secs(10),
            headers_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(120),
            max_event_bytes: 16 << 20,
            pool_idle_timeout: Duration::from_secs(90),
            pool_max_idle: 4,
            http2: true,
        }
    }
}

/// Bounds of the queue of messages waiting for an open connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueConfig {
    /// Messages at most.
    pub max_messages: usize,
    /// Bytes at most (payload sizes added up).
    pub max_bytes: usize,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            max_messages: 256,
            max_bytes: 1 << 20,
        }
    }
}

impl Config {
    /// Parse TOML. Unknown fields and malformed values are errors naming the field.
    pub fn from_toml_str(text: &str) -> Result<Config, ConfigError> {
        // The message quotes the line, which may hold a proxy URL with its password.
        toml::from_str(text).map_err(|e| {
            let message = e.message().trim().to_string();
            ConfigError::Toml(redact_urls_in(&match e.span() {
                Some(span) => {
                    let line_no = text[..span.start.min(text.len())].matches('\n').count() + 1;
                    let line = text.lines().nth(line_no - 1).unwrap_or("").trim();
                    format!("line {line_no} (`{line}`): {message}")
                }
                None => message,
            }))
        })
    }

    /// Parse JSON. Unknown fields and malformed values are errors naming the field.
    pub fn from_json_str(text: &str) -> Result<Config, ConfigError> {
        serde_json::from_str(text).map_err(|e| ConfigError::Json(redact_urls_in(&e.to_string())))
    }

    /// Render as TOML (the format `from_toml_str` reads back).
    pub fn to_toml_string(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }

    /// Check every rule and give the validated policy.
    pub fn validate(self) -> Result<Policy, ConfigError> {
        Policy::new(self)
    }
}
