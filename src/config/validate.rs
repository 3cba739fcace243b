//! Validation: from a [`Config`] as written to a [`Policy`] that holds no nonsense.

use std::time::Duration;

use thiserror::Error;

use super::proxy::proxy_url_problem;
use super::{Action, BudgetSpent, MAX_DELAY};
use super::{Config, ProxySetting, Transport};

/// Why a config was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    /// The TOML did not parse or named an unknown field.
    #[error("invalid TOML config: {0}")]
    Toml(String),
    /// The JSON did not parse or named an unknown field.
    #[error("invalid JSON config: {0}")]
    Json(String),
    /// A field broke a rule.
    #[error("config field `{field}` {rule}")]
    Invalid {
        /// The dotted path of the field, e.g. `backoff.cap`.
        field: String,
        /// The rule broken, as a phrase ("must be at least …").
        rule: String,
    },
    /// No preset has this name.
    #[error("unknown preset `{0}` (known: default, codex-compat)")]
    UnknownPreset(String),
}

impl ConfigError {
    /// The field a validation error names.
    pub fn field(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid { field, .. } => Some(field),
            _ => None,
        }
    }
}

/// An inclusive range of close codes with the action configured for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeRange {
    /// First code.
    pub first: u16,
    /// Last code (inclusive).
    pub last: u16,
    /// The action.
    pub action: Action,
}

/// A validated config. Only [`Config::validate`] makes one, so it always satisfies
/// every rule: positive timeouts, `cap ≥ base`, `factor ≥ 1`, windows in order,
/// parseable close-code ranges, a fallback when the transport is `https`, and durations
/// no longer than a day.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    config: Config,
    overrides: Vec<CodeRange>,
}

/// RFC 8305's least Connection Attempt Delay.
const MIN_ATTEMPT_DELAY: Duration = Duration::from_millis(10);
/// The most idle connections a fallback's pool may keep (`fallback.pool_max_idle`).
const MAX_POOL_IDLE: usize = 1024;

fn invalid(field: &str, rule: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field: field.to_string(),
        rule: rule.into(),
    }
}

fn fmt(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

impl Policy {
    pub(crate) fn new(config: Config) -> Result<Policy, ConfigError> {
        let c = &config;
        durations(c)?;
        timeouts(c)?;
        proxy(c)?;
        protocols(c)?;
        budget(c)?;
        backoff(c)?;
        delays(c)?;
        transport(c)?;
        fallback(c)?;
        queue(c)?;
        let overrides = close_codes(c)?;
        Ok(Policy { config, overrides })
    }

    /// The config, as validated.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The parsed `close_codes` overrides, narrowest first.
    pub fn overrides(&self) -> &[CodeRange] {
        &self.overrides
    }

    /// The action configured for `code`, if an override covers it.
    pub fn override_for(&self, code: u16) -> Option<Action> {
        self.overrides
            .iter()
            .find(|r| (r.first..=r.last).contains(&code))
            .map(|r| r.action)
    }

    /// Whether a fallback may be used: enabled, and the transport is not `websocket`.
    pub fn fallback_available(&self) -> bool {
        self.config.fallback.enabled && self.config.transport != Transport::Websocket
    }

    /// `max_attempts` from the budget.
    pub fn max_attempts(&self) -> u32 {
        self.config.budget.max_attempts
    }

    /// Which budget limit `dials` failed dials over `elapsed` have reached, if any.
    pub fn spent(&self, dials: u32, elapsed: Duration) -> Option<BudgetSpent> {
        let b = &self.config.budget;
        if dials >= b.max_attempts {
            return Some(BudgetSpent::Attempts {
                dials,
                max: b.max_attempts,
            });
        }
        match b.max_elapsed {
            Some(max) if elapsed > max => Some(BudgetSpent::Elapsed { elapsed, max }),
            _ => None,
        }
    }
}

/// Every subprotocol a token (RFC 6455 §4.1: RFC 2616's `token`, visible ASCII without
/// separators), each once.
fn protocols(c: &Config) -> Result<(), ConfigError> {
    const SEPARATORS: &[u8] = b"()<>@,;:\\\"/[]?={}";
    for (i, p) in c.protocols.iter().enumerate() {
        let bad = p
            .bytes()
            .find(|b| !(0x21..=0x7e).contains(b) || SEPARATORS.contains(b));
        if p.is_empty() {
            return Err(invalid("protocols", "must not hold an empty name"));
        }
        if let Some(b) = bad {
            return Err(invalid(
                "protocols",
                format!(
                    "must hold tokens (visible ASCII, no separators): {p:?} has {:?}",
                    b as char
                ),
            ));
        }
        if c.protocols[..i].contains(p) {
            return Err(invalid("protocols", format!("names {p:?} twice")));
        }
    }
    Ok(())
}

/// Every duration at most a day ([`MAX_DELAY`]), and those that time something longer
/// than zero.
fn durations(c: &Config) -> Result<(), ConfigError> {
    let mut durations: Vec<(&str, Duration)> = vec![
        ("budget.min_uptime", c.budget.min_uptime),
        ("backoff.base", c.backoff.base),
        ("delays.restart_min", c.delays.restart_min),
        ("delays.restart_max", c.delays.restart_max),
        ("delays.overload_min", c.delays.overload_min),
        ("delays.max_retry_after", c.delays.max_retry_after),
        ("timeouts.connect", c.timeouts.connect),
        ("timeouts.handshake", c.timeouts.handshake),
        ("timeouts.close_grace", c.timeouts.close_grace),
        (
            "timeouts.connection_attempt_delay",
            c.timeouts.connection_attempt_delay,
        ),
        ("heartbeat.pong_timeout", c.heartbeat.pong_timeout),
        ("fallback.reprobe_max", c.fallback.reprobe_max),
        ("fallback.connect_timeout", c.fallback.connect_timeout),
        ("fallback.tls_timeout", c.fallback.tls_timeout),
        ("fallback.headers_timeout", c.fallback.headers_timeout),
        ("fallback.idle_timeout", c.fallback.idle_timeout),
        ("fallback.pool_idle_timeout", c.fallback.pool_idle_timeout),
    ];
    let optional = [
        ("budget.max_elapsed", c.budget.max_elapsed),
        ("backoff.cap", c.backoff.cap),
        ("heartbeat.ping_interval", c.heartbeat.ping_interval),
        ("fallback.reprobe_after", c.fallback.reprobe_after),
    ];
    durations.extend(optional.iter().filter_map(|(f, d)| d.map(|d| (*f, d))));
    for (field, d) in &durations {
        if *d > MAX_DELAY {
            return Err(invalid(
                field,
                format!("must be at most 1day, got {}", fmt(*d)),
            ));
        }
    }
    for (field, d) in [
        ("budget.min_uptime", c.budget.min_uptime),
        ("timeouts.connect", c.timeouts.connect),
        ("timeouts.handshake", c.timeouts.handshake),
        ("timeouts.close_grace", c.timeouts.close_grace),
        ("heartbeat.pong_timeout", c.heartbeat.pong_timeout),
        ("fallback.connect_timeout", c.fallback.connect_timeout),
        ("fallback.tls_timeout", c.fallback.tls_timeout),
        ("fallback.headers_timeout", c.fallback.headers_timeout),
        ("fallback.idle_timeout", c.fallback.idle_timeout),
        ("fallback.pool_idle_timeout", c.fallback.pool_idle_timeout),
    ]
    .into_iter()
    .chain(
        optional
            .iter()
            .filter(|(f, _)| *f != "backoff.cap")
            .filter_map(|(f, d)| d.map(|d| (*f, d))),
    ) {
        if d.is_zero() {
            return Err(invalid(field, "must be longer than 0s"));
        }
    }
    Ok(())
}

/// `[timeouts]`: RFC 8305, section 5: the attempt delay MUST NOT be less than 10 ms.
fn timeouts(c: &Config) -> Result<(), ConfigError> {
    if c.timeouts.connection_attempt_delay < MIN_ATTEMPT_DELAY {
        return Err(invalid(
            "timeouts.connection_attempt_delay",
            format!(
                "must be at least 10ms (RFC 8305), got {}",
                fmt(c.timeouts.connection_attempt_delay)
            ),
        ));
    }
    Ok(())
}

/// `[proxy]`: a URL that the driver can use.
fn proxy(c: &Config) -> Result<(), ConfigError> {
    if let ProxySetting::Url(url) = &c.proxy.url {
        if let Some(problem) = proxy_url_problem(url) {
            return Err(invalid("proxy.url", problem));
        }
    }
    Ok(())
}

/// `[budget]`: at least one dial.
fn budget(c: &Config) -> Result<(), ConfigError> {
    if c.budget.max_attempts == 0 {
        return Err(invalid(
            "budget.max_attempts",
            "must be at least 1 (to skip WebSockets, set transport = \"https\")",
        ));
    }
    Ok(())
}

/// `[backoff]`: an envelope that grows, a cap above its base, a spread in `[0, 1]`.
fn backoff(c: &Config) -> Result<(), ConfigError> {
    if !(c.backoff.factor.is_finite() && c.backoff.factor >= 1.0) {
        return Err(invalid(
            "backoff.factor",
            format!(
                "must be a finite number of at least 1, got {}",
                c.backoff.factor
            ),
        ));
    }
    if let Some(cap) = c.backoff.cap {
        if cap < c.backoff.base {
            return Err(invalid(
                "backoff.cap",
                format!(
                    "must be at least backoff.base ({}), got {}",
                    fmt(c.backoff.base),
                    fmt(cap)
                ),
            ));
        }
    }
    if !(0.0..=1.0).contains(&c.backoff.spread) {
        return Err(invalid(
            "backoff.spread",
            format!("must be between 0 and 1, got {}", c.backoff.spread),
        ));
    }
    Ok(())
}

/// `[delays]`: a restart window that is one.
fn delays(c: &Config) -> Result<(), ConfigError> {
    if c.delays.restart_max < c.delays.restart_min {
        return Err(invalid(
            "delays.restart_max",
            format!(
                "must be at least delays.restart_min ({}), got {}",
                fmt(c.delays.restart_min),
                fmt(c.delays.restart_max)
            ),
        ));
    }
    Ok(())
}

/// `transport`: HTTPS only with a fallback.
fn transport(c: &Config) -> Result<(), ConfigError> {
    if c.transport == Transport::Https && !c.fallback.enabled {
        return Err(invalid(
            "transport",
            "is \"https\", which needs fallback.enabled = true",
        ));
    }
    Ok(())
}

/// `[fallback]`: a re-probe wait that can double, a budget, an event bound, a pool bound.
fn fallback(c: &Config) -> Result<(), ConfigError> {
    if let Some(after) = c.fallback.reprobe_after {
        if c.fallback.reprobe_max < after {
            return Err(invalid(
                "fallback.reprobe_max",
                format!(
                    "must be at least fallback.reprobe_after ({}), got {}",
                    fmt(after),
                    fmt(c.fallback.reprobe_max)
                ),
            ));
        }
    }
    if c.fallback.max_failures == 0 {
        return Err(invalid(
            "fallback.max_failures",
            "must be at least 1 (the failure that stops the client counts)",
        ));
    }
    if c.fallback.max_event_bytes == 0 {
        return Err(invalid("fallback.max_event_bytes", "must be at least 1"));
    }
    if c.fallback.pool_max_idle > MAX_POOL_IDLE {
        return Err(invalid(
            "fallback.pool_max_idle",
            format!(
                "must be at most {MAX_POOL_IDLE}, got {}",
                c.fallback.pool_max_idle
            ),
        ));
    }
    Ok(())
}

/// `[queue]`: room for at least one message.
fn queue(c: &Config) -> Result<(), ConfigError> {
    if c.queue.max_messages == 0 {
        return Err(invalid("queue.max_messages", "must be at least 1"));
    }
    if c.queue.max_bytes == 0 {
        return Err(invalid("queue.max_bytes", "must be at least 1"));
    }
    Ok(())
}

/// `[close_codes]`: every key a code or a range; narrowest range first, so that lookups
/// take the most specific entry.
fn close_codes(c: &Config) -> Result<Vec<CodeRange>, ConfigError> {
    let mut overrides = Vec::with_capacity(c.close_codes.len());
    for (key, action) in &c.close_codes {
        let (first, last) = parse_range(key).ok_or_else(|| {
            invalid(
                &format!("close_codes.\"{key}\""),
                "must be a code (\"4001\") or an inclusive range (\"4000-4099\") within 0-65535",
            )
        })?;
        overrides.push(CodeRange {
            first,
            last,
            action: *action,
        });
    }
    overrides.sort_by_key(|r| (r.last - r.first, r.first));
    Ok(overrides)
}

fn parse_range(key: &str) -> Option<(u16, u16)> {
    let key = key.trim();
    let (a, b) = match key.split_once('-') {
        Some((a, b)) => (a.trim(), b.trim()),
        None => (key, key),
    };
    let (a, b) = (a.parse::<u16>().ok()?, b.parse::<u16>().ok()?);
    (a <= b).then_some((a, b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_and_reject() {
        assert_eq!(parse_range("4001"), Some((4001, 4001)));
        assert_eq!(parse_range("4000-4099"), Some((4000, 4099)));
        assert_eq!(parse_range("0-65535"), Some((0, 65535)));
        assert_eq!(parse_range("4099-4000"), None);
        assert_eq!(parse_range("70000"), None);
        assert_eq!(parse_range("abc"), None);
        assert_eq!(parse_range(""), None);
    }
}
