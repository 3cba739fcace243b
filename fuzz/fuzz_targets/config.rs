//! `config`: arbitrary text parsed as TOML and as JSON, then validated. Asserts: no
//! panic; an error renders as a non-empty sentence and a validation error names a
//! field (one the config has); an accepted config keeps every documented rule, survives
//! a round trip through `to_toml_string` (and JSON) unchanged, and starts a core
//! whose first deadline is not in the past; the same text twice gives the same result.

#![no_main]

use std::collections::BTreeSet;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use redial::config::MAX_DELAY;
use redial::config::{Config, ConfigError, Policy, Transport};
use redial::core::{Core, Input};

/// Every field the config has, as a validation error names it (`section.key`, or a
/// top-level key): read from the default config's own shape, so that a field added
/// later is known without a list to keep.
fn fields() -> &'static BTreeSet<String> {
    static FIELDS: OnceLock<BTreeSet<String>> = OnceLock::new();
    FIELDS.get_or_init(|| {
        let value = serde_json::to_value(Config::default()).expect("the config serializes");
        let mut fields = BTreeSet::new();
        for (key, v) in value.as_object().expect("an object") {
            match v.as_object() {
                Some(section) if key != "close_codes" => {
                    fields.extend(section.keys().map(|k| format!("{key}.{k}")));
                }
                _ => {
                    fields.insert(key.clone());
                }
            }
        }
        fields
    })
}

fn check_error(e: &ConfigError) {
    let shown = e.to_string();
    assert!(!shown.trim().is_empty(), "{e:?} renders as nothing");
    match e {
        ConfigError::Invalid { field, rule } => {
            assert_eq!(e.field(), Some(field.as_str()));
            let known = fields().contains(field.as_str())
                || (field.starts_with("close_codes.\"") && field.ends_with('"'));
            assert!(known, "unknown field {field:?} in {shown}");
            assert!(!rule.trim().is_empty(), "{shown}");
            assert!(
                shown.contains(field.as_str()),
                "{shown} does not name {field}"
            );
        }
        _ => assert_eq!(e.field(), None, "{e:?}"),
    }
}

fn check_policy(policy: &Policy) {
    let c = policy.config();
    let b = &c.backoff;
    assert!(c.budget.max_attempts >= 1);
    assert!(
        b.factor.is_finite() && b.factor >= 1.0,
        "factor {}",
        b.factor
    );
    assert!((0.0..=1.0).contains(&b.spread), "spread {}", b.spread);
    assert!(b.cap.is_none_or(|cap| cap >= b.base));
    assert!(c.delays.restart_min <= c.delays.restart_max);
    assert!(c
        .fallback
        .reprobe_after
        .is_none_or(|a| a <= c.fallback.reprobe_max));
    assert!(c.transport != Transport::Https || c.fallback.enabled);
    assert!(c.queue.max_messages >= 1 && c.queue.max_bytes >= 1);
    for d in [
        c.budget.min_uptime,
        c.timeouts.connect,
        c.timeouts.handshake,
        c.timeouts.close_grace,
        c.heartbeat.pong_timeout,
    ] {
        assert!(!d.is_zero() && d <= MAX_DELAY, "{d:?}");
    }
    for r in policy.overrides() {
        assert!(r.first <= r.last);
    }

    // Round trips: TOML, and JSON, give the same config back.
    let toml = c.to_toml_string();
    let back = Config::from_toml_str(&toml).unwrap_or_else(|e| panic!("{e}\n{toml}"));
    assert_eq!(&back, c, "TOML round trip changed the config:\n{toml}");
    let json = serde_json::to_string(c).expect("serializable");
    let back = Config::from_json_str(&json).unwrap_or_else(|e| panic!("{e}\n{json}"));
    assert_eq!(&back, c, "JSON round trip changed the config:\n{json}");
    let again = back
        .validate()
        .expect("a round-tripped valid config stays valid");
    assert_eq!(&again, policy);

    // A core on it starts, and its first deadline is not in the past.
    let t0 = Instant::now();
    let mut core = Core::new(policy.clone(), 0);
    core.handle_input(t0, Input::Start);
    while core.poll_output().is_some() {}
    assert!(core.poll_timeout().is_none_or(|t| t >= t0));
    core.handle_input(t0 + Duration::from_secs(1), Input::Timeout);
    while core.poll_output().is_some() {}
}

type Verdict = Result<Policy, ConfigError>;

fn verdict(parsed: Result<Config, ConfigError>) -> Verdict {
    let v = parsed.and_then(Config::validate);
    match &v {
        Ok(policy) => check_policy(policy),
        Err(e) => check_error(e),
    }
    v
}

fn both(text: &str) -> (Verdict, Verdict) {
    (
        verdict(Config::from_toml_str(text)),
        verdict(Config::from_json_str(text)),
    )
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let first = both(&text);
    if redial_fuzz::debug() {
        eprintln!("{first:#?}");
    }
    assert_eq!(first, both(&text), "same text, different verdict");
});
