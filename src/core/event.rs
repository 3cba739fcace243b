//! Observer events, and their one-line JSON form (docs/design.md, "The command-line tool's event lines").

use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::core::{Cause, Failure, StableBy, StateName, Trigger};
use crate::policy::{Class, DelayBasis, FallbackError};

/// Something observers may want to know. Every state change carries its cause.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The core changed state.
    StateChanged {
        /// The state left.
        from: StateName,
        /// The state entered.
        to: StateName,
        /// What caused it.
        trigger: Trigger,
        /// Why, as data and as a sentence.
        cause: Cause,
    },
    /// A dial starts.
    Dial {
        /// Which dial since the last stable connection; 0 for a quiet re-probe.
        attempt: u32,
        /// The budget.
        max_attempts: u32,
        /// Whether it is a quiet re-probe from the fallback.
        probe: bool,
    },
    /// The upgrade succeeded.
    Connected {
        /// Which dial.
        attempt: u32,
        /// Whether it was a quiet re-probe.
        probe: bool,
        /// How long the dial took.
        took: Duration,
        /// The subprotocol the server chose (`Sec-WebSocket-Protocol`), if any.
        protocol: Option<String>,
    },
    /// The server chose another subprotocol than on the previous upgrade (both were
    /// among those offered, or the upgrade would have failed): reported right after
    /// the upgrade's [`Event::Connected`], since the application may speak to the two
    /// differently.
    SubprotocolChanged {
        /// The previous upgrade's subprotocol (`None`: it had none).
        from: Option<String>,
        /// This upgrade's.
        to: Option<String>,
    },
    /// The connection became stable: the retry budget is reset.
    Stable {
        /// Time since the upgrade.
        after_upgrade: Duration,
        /// Which rule made it stable.
        by: StableBy,
    },
    /// An open connection ended (close frame, drop, or heartbeat timeout).
    Closed {
        /// What happened.
        failure: Failure,
    },
    /// A dial failed (DNS, TCP, TLS, timeout, HTTP status).
    HandshakeFailed {
        /// What happened.
        failure: Failure,
    },
    /// A retry is scheduled.
    RetryScheduled {
        /// The next dial's number.
        attempt: u32,
        /// The budget.
        max_attempts: u32,
        /// The wait before it.
        delay: Duration,
        /// The class of the failure.
        class: Class,
        /// Why.
        cause: Cause,
    },
    /// Traffic moves to the fallback transport.
    FellBack {
        /// Why.
        cause: Cause,
    },
    /// The fallback transport is working (a response started after the fall-back or
    /// after a fallback failure).
    FallbackReady,
    /// A request over the fallback failed; the fallback pauses and is used again after
    /// `retry_in` (a failure that stops the client is a `GaveUp` instead).
    FallbackFailed {
        /// What failed.
        failure: FallbackError,
        /// Its class.
        class: Class,
        /// Failures in a row, this one included.
        failures: u32,
        /// `fallback.max_failures`.
        max_failures: u32,
        /// The pause before the fallback is used again.
        retry_in: Duration,
        /// How the pause was chosen.
        basis: DelayBasis,
    },
    /// A quiet re-probe failed; the fallback stays.
    ProbeFailed {
        /// What failed.
        failure: Failure,
        /// When the next probe is due.
        next_probe_in: Duration,
    },
    /// A quiet re-probe succeeded: traffic is back on WebSockets.
    Recovered {
        /// Why.
        cause: Cause,
    },
    /// The client stopped for a reason other than the application's close.
    GaveUp {
        /// Why.
        cause: Cause,
    },
}

impl Event {
    /// The value of the `event` field of the JSON line.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::StateChanged { .. } => "state",
            Event::Dial { .. } => "dial",
            Event::Connected { .. } => "connected",
            Event::SubprotocolChanged { .. } => "subprotocol_changed",
            Event::Stable { .. } => "stable",
            Event::Closed { .. } => "closed",
            Event::HandshakeFailed { .. } => "handshake_failed",
            Event::RetryScheduled { .. } => "retry",
            Event::FellBack { .. } => "fell_back",
            Event::FallbackReady => "fallback_ready",
            Event::FallbackFailed { .. } => "fallback_failed",
            Event::ProbeFailed { .. } => "probe_failed",
            Event::Recovered { .. } => "recovered",
            Event::GaveUp { .. } => "gave_up",
        }
    }

    /// The event as one JSON object with docs/design.md's field names; fields that do
    /// not apply are omitted.
    pub fn to_json(&self, t: Duration) -> Value {
        let mut m = Map::new();
        m.insert("t_ms".into(), json!(t.as_millis() as u64));
        m.insert("event".into(), json!(self.kind()));
        match self {
            Event::StateChanged {
                from,
                to,
                trigger,
                cause,
            } => {
                m.insert("from".into(), json!(from.name()));
                m.insert("to".into(), json!(to.name()));
                m.insert("trigger".into(), json!(trigger.name()));
                cause_fields(&mut m, cause);
            }
            Event::Dial {
                attempt,
                max_attempts,
                probe,
            } => {
                m.insert("attempt".into(), json!(attempt));
                m.insert("max_attempts".into(), json!(max_attempts));
                m.insert("transport".into(), json!("websocket"));
                if *probe {
                    m.insert("probe".into(), json!(true));
                }
            }
            Event::Connected {
                attempt,
                probe,
                took,
                protocol,
            } => {
                m.insert("attempt".into(), json!(attempt));
                m.insert("took_ms".into(), json!(took.as_millis() as u64));
                m.insert("transport".into(), json!("websocket"));
                if let Some(p) = protocol {
                    m.insert("protocol".into(), json!(p));
                }
                if *probe {
                    m.insert("probe".into(), json!(true));
                }
            }
            Event::SubprotocolChanged { from, to } => {
                m.insert("from".into(), json!(from));
                m.insert("to".into(), json!(to));
                m.insert("transport".into(), json!("websocket"));
                m.insert("cause".into(), json!(self.to_string()));
            }
            Event::Stable { after_upgrade, by } => {
                m.insert("uptime_ms".into(), json!(after_upgrade.as_millis() as u64));
                m.insert("stable_by".into(), json!(by.name()));
                m.insert("cause".into(), json!(self.to_string()));
            }
            Event::Closed { failure } | Event::HandshakeFailed { failure } => {
                failure_fields(&mut m, failure);
                m.insert("cause".into(), json!(failure.to_string()));
            }
            Event::RetryScheduled {
                attempt,
                max_attempts,
                delay,
                cause,
                ..
            } => {
                m.insert("attempt".into(), json!(attempt));
                m.insert("max_attempts".into(), json!(max_attempts));
                m.insert("delay_ms".into(), json!(delay.as_millis() as u64));
                cause_fields(&mut m, cause);
            }
            Event::FellBack { cause } => {
                m.insert("transport".into(), json!("https"));
                cause_fields(&mut m, cause);
            }
            Event::FallbackReady => {
                m.insert("transport".into(), json!("https"));
            }
            Event::FallbackFailed {
                failure,
                class,
                failures,
                max_failures,
                retry_in,
                ..
            } => {
                m.insert("transport".into(), json!("https"));
                if let Some(status) = failure.status() {
                    m.insert("status".into(), json!(status));
                }
                m.insert("class".into(), json!(class.name()));
                m.insert("attempt".into(), json!(failures));
                m.insert("max_attempts".into(), json!(max_failures));
                m.insert("delay_ms".into(), json!(retry_in.as_millis() as u64));
                m.insert("cause".into(), json!(self.to_string()));
            }
            Event::ProbeFailed {
                failure,
                next_probe_in,
            } => {
                failure_fields(&mut m, failure);
                m.insert("delay_ms".into(), json!(next_probe_in.as_millis() as u64));
                m.insert("cause".into(), json!(failure.to_string()));
            }
            Event::Recovered { cause } => {
                m.insert("transport".into(), json!("websocket"));
                cause_fields(&mut m, cause);
            }
            Event::GaveUp { cause } => cause_fields(&mut m, cause),
        }
        Value::Object(m)
    }
}

fn failure_fields(m: &mut Map<String, Value>, failure: &Failure) {
    if let Some(code) = failure.code() {
        m.insert("code".into(), json!(code));
    }
    if let Some(reason) = failure.reason() {
        m.insert("reason".into(), json!(reason.as_str()));
    }
    if let Some(status) = failure.status() {
        m.insert("status".into(), json!(status));
    }
    m.insert("class".into(), json!(failure.class().name()));
}

fn cause_fields(m: &mut Map<String, Value>, cause: &Cause) {
    if let Some(f) = cause.failure() {
        failure_fields(m, f);
    }
    m.insert("cause".into(), json!(cause.to_string()));
}

impl std::fmt::Display for Event {
    /// A one-line summary for a readable timeline (causes are in the JSON form and in
    /// the retry, fall-back, recovery and give-up lines).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use crate::policy::fmt_duration as d;
        match self {
            Event::StateChanged {
                from, to, trigger, ..
            } => write!(f, "{from} → {to} on {trigger}"),
            Event::Dial { probe: true, .. } => f.write_str("quiet re-probe: dialing WebSockets"),
            Event::Dial {
                attempt,
                max_attempts,
                ..
            } => write!(f, "dial {attempt} of {max_attempts}"),
            Event::Connected {
                took, probe: true, ..
            } => write!(
                f,
                "quiet re-probe: upgrade answered 101 after {}; on trial (min_uptime) before \
                 traffic moves back",
                d(*took)
            ),
            Event::Connected {
                took,
                protocol: Some(p),
                ..
            } => write!(
                f,
                "upgrade answered 101 after {}, subprotocol {p:?}",
                d(*took)
            ),
            Event::Connected { took, .. } => write!(f, "upgrade answered 101 after {}", d(*took)),
            Event::SubprotocolChanged { from, to } => {
                let name = |p: &Option<String>| match p {
                    Some(p) => format!("{p:?}"),
                    None => "none".into(),
                };
                write!(
                    f,
                    "the server switched subprotocol from {} to {} since the previous connection",
                    name(from),
                    name(to)
                )
            }
            Event::Stable { after_upgrade, by } => write!(
                f,
                "connection stable after {} ({by}): retry budget, backoff and \
                 re-authentication reset",
                d(*after_upgrade)
            ),
            Event::Closed { failure } | Event::HandshakeFailed { failure } => {
                write!(f, "{failure} [class {}]", failure.class())
            }
            Event::RetryScheduled {
                attempt,
                max_attempts,
                delay,
                ..
            } => write!(f, "dial {attempt} of {max_attempts} in {}", d(*delay)),
            Event::FellBack { cause } => write!(f, "fell back to HTTPS: {cause}"),
            Event::FallbackReady => f.write_str("HTTPS fallback ready"),
            Event::FallbackFailed {
                failure,
                failures,
                max_failures,
                retry_in,
                basis,
                ..
            } => {
                write!(
                    f,
                    "{}; using the fallback again in {} (failure {failures} of \
                     {max_failures}",
                    failure.as_cause(),
                    d(*retry_in)
                )?;
                match basis {
                    DelayBasis::RetryAfter { .. } => f.write_str(", as Retry-After asked)"),
                    DelayBasis::OverloadMinimum => f.write_str(", overload minimum)"),
                    _ => f.write_str(")"),
                }
            }
            Event::ProbeFailed {
                failure,
                next_probe_in,
            } => write!(f, "{failure}; next quiet probe in {}", d(*next_probe_in)),
            Event::Recovered { cause } => write!(f, "recovered: {cause}"),
            Event::GaveUp { cause } => write!(f, "gave up: {cause}"),
        }
    }
}
