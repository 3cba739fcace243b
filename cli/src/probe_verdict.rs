//! What a probe found, what redial's default policy would do about it, and the exit code.

use std::time::Duration;

use redial::config::BudgetSpent;
use redial::config::Preset;
use redial::core::Failure;
use redial::policy::{
    classify_proxy_failure, decide, fmt_duration, Backoff, Budget, Class, Decision, DelayBasis,
    NoRetryReason, ProxyFailure, ReachFailure,
};
use serde_json::{json, Map, Value};

use crate::exit;

/// What one dial showed.
#[derive(Debug, Default)]
pub struct Observed {
    /// How long the dial took to the 101, when the upgrade succeeded.
    pub took: Option<Duration>,
    /// The failure: the dial's, or the close of the open connection within the wait.
    pub failure: Option<Failure>,
    /// How long the open connection was watched.
    pub wait: Duration,
}

/// The verdict: exit code, JSON fields and readable lines.
#[derive(Debug)]
pub struct Verdict {
    /// The exit code.
    pub code: u8,
    /// The sentence for `cause`.
    pub cause: String,
    /// Fields of the `diagnosis` line.
    pub fields: Map<String, Value>,
    /// The readable diagnosis.
    pub lines: Vec<String>,
}

/// Judges what a probe observed.
pub fn judge(url: &str, obs: &Observed) -> Verdict {
    let mut fields = Map::new();
    let mut lines = vec![format!("probe of {url}")];
    let status = match (&obs.took, &obs.failure) {
        (Some(_), _) => Some(101),
        (None, Some(f)) => f.status(),
        (None, None) => None,
    };
    if let Some(s) = status {
        fields.insert("status".into(), json!(s));
    }
    match obs.took {
        Some(took) => {
            fields.insert("took_ms".into(), json!(took.as_millis() as u64));
            lines.push(format!(
                "  upgrade    HTTP 101 after {}",
                fmt_duration(took)
            ));
        }
        None => {
            let what = obs
                .failure
                .as_ref()
                .map_or("no answer".to_string(), |f| f.to_string());
            lines.push(format!("  upgrade    failed: {what}"));
        }
    }
    let closed = obs.took.is_some() && obs.failure.is_some();
    fields.insert("closed".into(), json!(closed));
    match &obs.failure {
        Some(f) if closed => {
            if let Some(code) = f.code() {
                fields.insert("code".into(), json!(code));
            }
            if let Some(reason) = f.reason() {
                fields.insert("reason".into(), json!(reason.as_str()));
            }
            let after = after_upgrade(f);
            fields.insert("after_ms".into(), json!(after.as_millis() as u64));
            let what = match (f.code(), f.reason()) {
                (Some(code), Some(reason)) => format!("with {code}, {reason}"),
                (Some(code), None) => format!("with {code} (no close frame)"),
                _ => String::new(),
            };
            lines.push(format!(
                "  closed     by the server {} after the upgrade, {what}",
                fmt_duration(after)
            ));
        }
        None if obs.took.is_some() => lines.push(format!(
            "  closed     no: the connection stayed open for {}",
            fmt_duration(obs.wait)
        )),
        _ => {}
    }
    let code = exit_code(obs);
    let (cause, decision) = match &obs.failure {
        Some(f) => {
            fields.insert("class".into(), json!(f.class().name()));
            lines.push(format!("  class      {}", f.class()));
            (f.to_string(), words(&default_decision(f), f))
        }
        None if obs.took.is_some() => (
            format!(
                "the upgrade succeeded (101) and the server kept the connection open for {}",
                fmt_duration(obs.wait)
            ),
            "nothing to decide: the connection is usable".to_string(),
        ),
        None => (
            "no answer before the probe's time ran out".to_string(),
            "retry with backoff".to_string(),
        ),
    };
    fields.insert("decision".into(), json!(decision));
    fields.insert("usable".into(), json!(code == exit::OK));
    fields.insert("exit_code".into(), json!(code));
    lines.push(format!(
        "  decision   redial's default policy would {decision}"
    ));
    lines.push(format!("  verdict    {} (exit {code})", verdict_word(code)));
    lines.push(format!("  cause      {cause}"));
    Verdict {
        code,
        cause,
        fields,
        lines,
    }
}

fn after_upgrade(f: &Failure) -> Duration {
    match f {
        Failure::Closed { after_upgrade, .. }
        | Failure::Dropped { after_upgrade, .. }
        | Failure::PongTimeout { after_upgrade, .. } => *after_upgrade,
        Failure::Dial { after, .. } => *after,
    }
}

/// The exit code for what was observed.
pub fn exit_code(obs: &Observed) -> u8 {
    match &obs.failure {
        None if obs.took.is_some() => exit::OK,
        None => exit::PROBE_UNREACHABLE,
        Some(Failure::Dial { failure, .. }) => match failure {
            ReachFailure::Proxy { failure, .. } => match &**failure {
                ProxyFailure::Status { .. } => exit::PROBE_REJECTED,
                // A SOCKS5 refusal that a retry cannot change (credentials, ruleset,
                // command or address type); its unreachable targets are unreachable.
                ProxyFailure::Socks(_) if classify_proxy_failure(failure) != Class::Transient => {
                    exit::PROBE_REJECTED
                }
                _ => exit::PROBE_UNREACHABLE,
            },
            ReachFailure::Status { .. }
            | ReachFailure::Redirect { .. }
            | ReachFailure::Subprotocol(_) => exit::PROBE_REJECTED,
            ReachFailure::Certificate(_) | ReachFailure::Tls(_) => exit::PROBE_TLS,
            ReachFailure::Dns(_)
            | ReachFailure::Refused
            | ReachFailure::Reset
            | ReachFailure::Timeout(_)
            | ReachFailure::Io(_) => exit::PROBE_UNREACHABLE,
        },
        Some(Failure::Closed { class, .. }) => match class {
            Class::Policy | Class::Protocol | Class::Auth => exit::PROBE_REJECTED,
            _ => exit::OK,
        },
        Some(Failure::Dropped { .. } | Failure::PongTimeout { .. }) => exit::PROBE_UNREACHABLE,
    }
}

fn verdict_word(code: u8) -> &'static str {
    match code {
        exit::OK => "usable",
        exit::PROBE_REJECTED => "rejected",
        exit::PROBE_TLS => "TLS failure",
        _ => "unreachable",
    }
}

/// What the default preset decides after this failure, with a fallback available and
/// a fresh budget (this was the first dial).
pub fn default_decision(failure: &Failure) -> Decision {
    let policy = Preset::Default
        .config()
        .validate()
        .expect("the default preset is valid");
    let min_uptime = policy.config().budget.min_uptime;
    let (override_action, was_stable, retry_after) = match failure {
        Failure::Closed {
            code,
            received,
            after_upgrade,
            ..
        } => (
            policy.override_for(code.unwrap_or(1005)),
            *received || *after_upgrade >= min_uptime,
            None,
        ),
        Failure::Dropped {
            received,
            after_upgrade,
            ..
        } => (None, *received || *after_upgrade >= min_uptime, None),
        Failure::PongTimeout { after_upgrade, .. } => (None, *after_upgrade >= min_uptime, None),
        Failure::Dial { failure, .. } => (None, false, failure.retry_after()),
    };
    let budget = Budget {
        dials: 1,
        streak: Duration::ZERO,
        reauth_used: false,
        was_stable,
    };
    let mut backoff = Backoff::new(policy.config().backoff.clone(), 1);
    decide(
        failure.class(),
        override_action,
        &budget,
        retry_after,
        &policy,
        &mut backoff,
    )
}

/// A decision in words ("fall back to HTTPS at once …") after `failure`.
pub fn words(decision: &Decision, failure: &Failure) -> String {
    match decision {
        Decision::Retry { delay, basis } => {
            let basis = match basis {
                DelayBasis::Backoff => "drawn by the backoff".to_string(),
                DelayBasis::OverloadMinimum => "the overload minimum".to_string(),
                DelayBasis::RestartWindow => "drawn from the service-restart window".to_string(),
                DelayBasis::RetryAfter { capped: false, .. } => "as Retry-After asked".to_string(),
                DelayBasis::RetryAfter { asked, .. } => format!(
                    "Retry-After {} shortened to delays.max_retry_after",
                    fmt_duration(*asked)
                ),
            };
            format!(
                "retry over WebSockets after {} ({basis})",
                fmt_duration(*delay)
            )
        }
        Decision::Reauthenticate => {
            "ask the application for fresh credentials, then dial once more".to_string()
        }
        Decision::FallBack(why) => format!(
            "fall back to HTTPS at once, without retrying WebSockets ({})",
            why_words(why, failure)
        ),
        Decision::Stop { why, .. } => format!("stop ({})", why_words(why, failure)),
        Decision::WaitForDemand => {
            "stay disconnected and reconnect when a connection is next needed".to_string()
        }
    }
}

fn why_words(why: &NoRetryReason, failure: &Failure) -> String {
    match why {
        // A proxy's refusal says nothing about the server.
        NoRetryReason::Class(Class::Rejected) if failure.is_proxy_answer() => {
            "the proxy refused the tunnel, and retrying through it will not change that".into()
        }
        NoRetryReason::Class(Class::Policy) => "policy violations are not retried".into(),
        NoRetryReason::Class(Class::Protocol) => {
            "protocol errors are not retried over WebSockets".into()
        }
        NoRetryReason::Class(Class::Rejected) => {
            "the server does not offer WebSockets at this URL".into()
        }
        NoRetryReason::Class(Class::Certificate) => {
            "a rejected certificate is never retried or bypassed".into()
        }
        NoRetryReason::Class(Class::ProxyAuth) => {
            "the proxy refused its credentials, and no retry can change them".into()
        }
        NoRetryReason::Class(Class::ProxyUnsupported) => {
            "the proxy cannot carry this connection, and no retry can change that".into()
        }
        NoRetryReason::Class(Class::SubprotocolMismatch) => {
            "the next dial would offer the same subprotocols to the same server".into()
        }
        NoRetryReason::Class(c) => format!("class {c}"),
        NoRetryReason::Override(a) => format!("the config's close_codes says {a}"),
        NoRetryReason::Spent(BudgetSpent::Attempts { dials, max }) => {
            format!("{dials} of {max} dials failed without a stable connection")
        }
        NoRetryReason::Spent(BudgetSpent::Elapsed { max, .. }) => {
            format!(
                "retrying would pass budget.max_elapsed ({})",
                fmt_duration(*max)
            )
        }
        NoRetryReason::StillUnauthorized => "still unauthorized after re-authenticating".into(),
    }
}
