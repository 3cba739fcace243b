//! Config: presets, TOML/JSON parsing, unknown fields, validation rules, round trips.
//!
//! Expectations come from docs/design.md ("Default policy", "Layers") and the
//! promises of each preset, not from the output of the code under test.

use std::str::FromStr;
use std::time::Duration;

use redial::config::{Action, Config, ConfigError, Preset, Strategy, Transport};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn s(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn toml(text: &str) -> Config {
    Config::from_toml_str(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

#[test]
fn default_preset_is_the_architecture_policy() {
    let c = Preset::Default.config();
    assert_eq!(c, Config::default());
    assert_eq!(c.transport, Transport::Auto);
    assert_eq!(c.budget.max_attempts, 5);
    assert_eq!(c.budget.max_elapsed, None);
    assert_eq!(c.budget.min_uptime, s(5));
    assert_eq!(c.backoff.strategy, Strategy::Full);
    assert_eq!(c.backoff.base, ms(200));
    assert_eq!(c.backoff.factor, 2.0);
    assert_eq!(c.backoff.cap, Some(s(30)));
    assert_eq!((c.delays.restart_min, c.delays.restart_max), (s(1), s(5)));
    assert_eq!(c.delays.overload_min, s(5));
    assert_eq!(c.timeouts.connect, s(10));
    assert_eq!(c.timeouts.handshake, s(10));
    assert_eq!(c.heartbeat.ping_interval, Some(s(20)));
    assert_eq!(c.heartbeat.pong_timeout, s(10));
    assert!(c.fallback.enabled);
    assert_eq!(c.fallback.reprobe_after, Some(s(5 * 60)));
    assert_eq!(c.fallback.reprobe_max, s(60 * 60));
    assert_eq!(c.fallback.connect_timeout, s(10));
    assert_eq!(c.fallback.tls_timeout, s(10));
    assert_eq!(c.fallback.headers_timeout, s(60));
    assert_eq!(c.fallback.idle_timeout, s(120));
    assert_eq!(c.fallback.max_event_bytes, 16 << 20);
    assert_eq!(c.fallback.pool_idle_timeout, s(90));
    assert_eq!(c.fallback.pool_max_idle, 4);
    assert!(c.fallback.http2);
    assert_eq!(c.queue.max_messages, 256);
    assert_eq!(c.queue.max_bytes, 1024 * 1024);
    assert!(c.close_codes.is_empty());
    let p = c.validate().unwrap();
    assert!(p.fallback_available());
    assert!(p.overrides().is_empty());
}

#[test]
fn codex_compat_preset_keeps_every_promise() {
    let c = Preset::CodexCompat.config();
    assert_eq!(c.budget.max_attempts, 6, "5 retries after the first dial");
    assert_eq!(c.backoff.strategy, Strategy::Spread);
    assert_eq!(c.backoff.base, ms(200));
    assert_eq!(c.backoff.factor, 2.0);
    assert_eq!(c.backoff.spread, 0.1);
    assert_eq!(c.backoff.cap, None, "no cap");
    assert!(c.fallback.enabled);
    assert_eq!(c.fallback.reprobe_after, None, "fallback for good");
    assert_eq!(c.close_codes.len(), 1);
    assert_eq!(c.close_codes.get("0-65535"), Some(&Action::Retry));
    let p = c.validate().unwrap();
    assert!(p.fallback_available());
    for code in 0..=u16::MAX {
        assert_eq!(p.override_for(code), Some(Action::Retry), "close {code}");
    }
}

#[test]
fn presets_by_name() {
    assert_eq!(Preset::from_str("default").unwrap(), Preset::Default);
    assert_eq!(
        Preset::from_str("codex-compat").unwrap(),
        Preset::CodexCompat
    );
    for p in Preset::ALL {
        assert_eq!(p.name().parse::<Preset>().unwrap(), p);
        p.config().validate().unwrap();
    }
    for bad in ["", "codex", "Default", "codex_compat", "defaults"] {
        let err = Preset::from_str(bad).unwrap_err();
        assert_eq!(err, ConfigError::UnknownPreset(bad.to_string()));
        let text = err.to_string();
        assert!(text.contains(&format!("`{bad}`")), "{text}");
        assert!(
            text.contains("default") && text.contains("codex-compat"),
            "{text}"
        );
        assert_eq!(err.field(), None);
    }
}

#[test]
fn empty_files_are_the_default() {
    assert_eq!(toml(""), Config::default());
    assert_eq!(toml("# only a comment\n"), Config::default());
    assert_eq!(Config::from_json_str("{}").unwrap(), Config::default());
    assert_eq!(toml("[budget]\n[backoff]\n"), Config::default());
}

#[test]
fn human_durations_in_toml() {
    let c = toml(
        r#"
        transport = "websocket"
        seed = 42
        [budget]
        max_attempts = 3
        max_elapsed = "5m"
        min_uptime = "2s 500ms"
        [backoff]
        strategy = "decorrelated"
        base = "250ms"
        cap = "1h"
        [fallback]
        reprobe_after = "90s"
        reprobe_max = "2h"
        [close_codes]
        "4000-4099" = "stop"
        "1008" = "retry"
        "#,
    );
    assert_eq!(c.transport, Transport::Websocket);
    assert_eq!(c.seed, Some(42));
    assert_eq!(c.budget.max_attempts, 3);
    assert_eq!(c.budget.max_elapsed, Some(s(300)));
    assert_eq!(c.budget.min_uptime, ms(2_500));
    assert_eq!(c.backoff.strategy, Strategy::Decorrelated);
    assert_eq!(c.backoff.base, ms(250));
    assert_eq!(c.backoff.cap, Some(s(3600)));
    assert_eq!(c.fallback.reprobe_after, Some(s(90)));
    assert_eq!(c.fallback.reprobe_max, s(7200));
    // Unset fields keep their defaults.
    assert_eq!(c.backoff.factor, 2.0);
    assert_eq!(c.timeouts, Config::default().timeouts);
    let p = c.validate().unwrap();
    assert_eq!(p.override_for(4050), Some(Action::Stop));
    assert_eq!(p.override_for(1008), Some(Action::Retry));
}

#[test]
fn human_durations_in_json() {
    let c = Config::from_json_str(
        r#"{"transport": "https",
            "backoff": {"base": "250ms", "cap": "30s", "strategy": "equal"},
            "heartbeat": {"ping_interval": "15s", "pong_timeout": "5s"},
            "delays": {"max_retry_after": "5m"},
            "close_codes": {"4001": "reauthenticate"}}"#,
    )
    .unwrap();
    assert_eq!(c.transport, Transport::Https);
    assert_eq!(c.backoff.base, ms(250));
    assert_eq!(c.backoff.cap, Some(s(30)));
    assert_eq!(c.backoff.strategy, Strategy::Equal);
    assert_eq!(c.heartbeat.ping_interval, Some(s(15)));
    assert_eq!(c.heartbeat.pong_timeout, s(5));
    assert_eq!(c.delays.max_retry_after, s(300));
    assert_eq!(c.close_codes.get("4001"), Some(&Action::Reauthenticate));
}

#[test]
fn malformed_values_are_errors() {
    for text in [
        "[backoff]\nbase = \"5 parsecs\"",
        "[backoff]\nbase = 250",
        "transport = \"carrier-pigeon\"",
        "[close_codes]\n\"4000\" = \"explode\"",
        "[budget]\nmax_attempts = -1",
    ] {
        assert!(
            matches!(Config::from_toml_str(text), Err(ConfigError::Toml(_))),
            "{text}"
        );
    }
    for text in [
        r#"{"backoff": {"base": "soon"}}"#,
        "\"x\"",
        r#"{"seed": "x"}"#,
    ] {
        assert!(
            matches!(Config::from_json_str(text), Err(ConfigError::Json(_))),
            "{text}"
        );
    }
}

#[test]
fn unknown_fields_are_rejected_at_every_level() {
    let sections = [
        "budget",
        "backoff",
        "delays",
        "timeouts",
        "heartbeat",
        "fallback",
        "queue",
    ];
    // (unknown field, TOML, JSON): top level, an unknown section, then each section.
    let mut cases = vec![
        (
            "retries",
            "retries = 5".to_string(),
            r#"{"retries": 5}"#.to_string(),
        ),
        ("bogus", "[bogus]".into(), r#"{"bogus": {}}"#.into()),
    ];
    for section in sections {
        let toml = format!("[{section}]\nbogus_field = 1\n");
        cases.push((
            "bogus_field",
            toml,
            format!(r#"{{"{section}": {{"bogus_field": 1}}}}"#),
        ));
    }
    for (field, toml_text, json_text) in cases {
        match Config::from_toml_str(&toml_text) {
            Err(e @ ConfigError::Toml(_)) => assert!(e.to_string().contains(field), "{e}"),
            other => panic!("{toml_text:?}: {other:?}"),
        }
        match Config::from_json_str(&json_text) {
            Err(e @ ConfigError::Json(_)) => assert!(e.to_string().contains(field), "{e}"),
            other => panic!("{json_text:?}: {other:?}"),
        }
    }
}

/// A TOML document from `path = value` assignments separated by `; ` (a path is `key` or
/// `section.key`; the key may be quoted).
fn assignments_to_toml(assignments: &str) -> String {
    let mut sections = std::collections::BTreeMap::<&str, String>::new();
    for a in assignments.split("; ") {
        let (path, value) = a.split_once(" = ").expect("path = value");
        let (section, key) = path.split_once('.').unwrap_or(("", path));
        *sections.entry(section).or_default() += &format!("{key} = {value}\n");
    }
    // Top-level keys (section "") sort first, before any table header.
    let tables = sections.iter().map(|(section, lines)| match *section {
        "" => lines.clone(),
        _ => format!("[{section}]\n{lines}"),
    });
    tables.collect()
}

/// One case per validation rule: `assignments => phrase of the rule`. The error must
/// name the field of the last assignment.
const RULES: &[&str] = &[
    // Every duration is at most one day.
    r#"budget.min_uptime = "25h" => must be at most"#,
    r#"backoff.cap = "2days" => must be at most"#,
    r#"timeouts.connect = "1day 1s" => must be at most"#,
    r#"fallback.reprobe_max = "3days" => must be at most"#,
    // Timeouts and optional intervals are positive.
    r#"budget.min_uptime = "0s" => longer than 0"#,
    r#"timeouts.connect = "0s" => longer than 0"#,
    r#"timeouts.handshake = "0s" => longer than 0"#,
    r#"timeouts.close_grace = "0s" => longer than 0"#,
    r#"heartbeat.pong_timeout = "0s" => longer than 0"#,
    r#"heartbeat.ping_interval = "0s" => longer than 0"#,
    r#"budget.max_elapsed = "0s" => longer than 0"#,
    r#"fallback.reprobe_after = "0s" => longer than 0"#,
    // At least one dial.
    r#"budget.max_attempts = 0 => at least 1"#,
    // factor is finite and at least 1.
    r#"backoff.factor = 0.5 => at least 1"#,
    r#"backoff.factor = nan => finite"#,
    r#"backoff.factor = inf => finite"#,
    // cap ≥ base.
    r#"backoff.base = "1s"; backoff.cap = "999ms" => at least backoff.base"#,
    // spread in [0, 1].
    r#"backoff.spread = 1.5 => between 0 and 1"#,
    r#"backoff.spread = -0.1 => between 0 and 1"#,
    // The restart window is in order.
    r#"delays.restart_min = "5s"; delays.restart_max = "4s" => at least delays.restart_min"#,
    // The re-probe cap is at least the first re-probe wait.
    r#"fallback.reprobe_after = "2h"; fallback.reprobe_max = "1h" => at least fallback.reprobe_after"#,
    // https needs a fallback.
    r#"fallback.enabled = false; transport = "https" => fallback.enabled = true"#,
    // The queue holds something.
    r#"queue.max_messages = 0 => at least 1"#,
    r#"queue.max_bytes = 0 => at least 1"#,
    r#"fallback.connect_timeout = "0s" => longer than 0s"#,
    r#"fallback.tls_timeout = "0s" => longer than 0s"#,
    r#"fallback.headers_timeout = "0s" => longer than 0s"#,
    r#"fallback.idle_timeout = "0s" => longer than 0s"#,
    r#"fallback.idle_timeout = "2days" => must be at most"#,
    r#"fallback.connect_timeout = "25h" => must be at most"#,
    r#"fallback.tls_timeout = "25h" => must be at most"#,
    r#"fallback.headers_timeout = "25h" => must be at most"#,
    r#"fallback.max_event_bytes = 0 => at least 1"#,
    // The fallback's pool: idle connections expire within a day, and are bounded.
    r#"fallback.pool_idle_timeout = "0s" => longer than 0s"#,
    r#"fallback.pool_idle_timeout = "1day 1ms" => must be at most 1day"#,
    r#"fallback.pool_max_idle = 1025 => must be at most 1024, got 1025"#,
    // Happy Eyeballs: RFC 8305's least Connection Attempt Delay, 10 ms; a day at most.
    r#"timeouts.connection_attempt_delay = "9ms" => at least 10ms (RFC 8305), got 9ms"#,
    r#"timeouts.connection_attempt_delay = "0s" => at least 10ms"#,
    r#"timeouts.connection_attempt_delay = "25h" => must be at most 1day"#,
    // The proxy is an http://, socks5:// or socks5h:// URL with a host and a port within 1-65535.
    r#"proxy.url = "https://p:1" => socks5h:// proxy (TLS to the proxy is not supported)"#,
    r#"proxy.url = "socks4://p:1" => must be a socks5:// or socks5h:// proxy (socks4:// is not supported)"#,
    r#"proxy.url = "ftp://p:1" => got scheme `ftp`"#,
    r#"proxy.url = "http://:3128" => must name the proxy's host"#,
    r#"proxy.url = "http://u:pw@" => must name the proxy's host"#,
    r#"proxy.url = "p:0" => port between 1 and 65535"#,
    r#"proxy.url = "p:65536" => port between 1 and 65535"#,
    r#"proxy.url = "http://p:x/" => port between 1 and 65535"#,
    r#"proxy.url = "http://[::1" => unclosed"#,
    // Close-code keys are codes or inclusive ranges within u16.
    r#"close_codes."4099-4000" = "stop" => inclusive range"#,
    r#"close_codes."70000" = "stop" => within 0-65535"#,
    r#"close_codes."abc" = "stop" => a code"#,
    r#"close_codes."" = "stop" => a code"#,
];

#[test]
fn every_validation_rule_names_its_field() {
    for row in RULES {
        let (assignments, rule) = row.split_once(" => ").unwrap();
        let last = assignments.rsplit("; ").next().unwrap();
        let field = last.split_once(" = ").unwrap().0;
        let err = toml(&assignments_to_toml(assignments))
            .validate()
            .unwrap_err();
        assert!(matches!(err, ConfigError::Invalid { .. }), "{row}: {err:?}");
        assert_eq!(err.field(), Some(field), "{row}");
        let shown = err.to_string();
        assert!(shown.contains(&format!("`{field}`")), "{row}: {shown}");
        assert!(shown.contains(rule), "{row}: {shown:?} lacks {rule:?}");
    }
}

/// The boundary of each rule is allowed.
const ALLOWED: &[&str] = &[
    r#"budget.min_uptime = "1day"; timeouts.connect = "24h""#,
    r#"budget.max_attempts = 1"#,
    r#"backoff.base = "1s"; backoff.cap = "1s""#,
    r#"backoff.factor = 1.0; backoff.spread = 0.0"#,
    r#"backoff.spread = 1.0"#,
    r#"delays.restart_min = "3s"; delays.restart_max = "3s""#,
    r#"fallback.reprobe_after = "1h"; fallback.reprobe_max = "1h""#,
    r#"transport = "websocket"; fallback.enabled = false"#,
    r#"transport = "https""#,
    r#"queue.max_messages = 1; queue.max_bytes = 1"#,
    r#"fallback.connect_timeout = "1ms"; fallback.tls_timeout = "1day"; fallback.headers_timeout = "1ms"; fallback.idle_timeout = "1day"; fallback.max_event_bytes = 1"#,
    r#"close_codes."0-65535" = "retry"; close_codes." 4001 " = "stop"; close_codes."65535" = "stop""#,
    r#"timeouts.connection_attempt_delay = "10ms""#,
    r#"fallback.pool_idle_timeout = "1ms"; fallback.pool_max_idle = 0; fallback.http2 = false"#,
    r#"fallback.pool_idle_timeout = "1day"; fallback.pool_max_idle = 1024"#,
    r#"timeouts.connection_attempt_delay = "1day""#,
    r#"proxy.url = "env""#,
    r#"proxy.url = "none""#,
    r#"proxy.url = "http://u:p@proxy.corp:3128/"; proxy.no_proxy = ".corp, 10.0.0.0/8""#,
    r#"proxy.url = "proxy.corp""#,
    r#"proxy.url = "HTTP://[::1]:65535""#,
    r#"proxy.url = "http://p:1""#,
];

#[test]
fn the_proxy_defaults_to_the_environment_and_hides_its_credentials() {
    use redial::config::ProxySetting;
    let c = Config::default();
    assert_eq!(c.proxy.url, ProxySetting::Env);
    assert_eq!(c.proxy.no_proxy, "");
    assert_eq!(c.timeouts.connection_attempt_delay, ms(250));
    let c = toml("[proxy]\nurl = \"http://alice:s3cret@p:3128\"\n");
    assert_eq!(
        c.proxy.url,
        ProxySetting::Url("http://alice:s3cret@p:3128".into())
    );
    assert!(!format!("{c:?}").contains("s3cret"));
    assert!(!format!("{:?}", c.clone().validate().unwrap()).contains("s3cret"));
    assert_eq!(toml(&c.to_toml_string()), c, "it round-trips");
    assert_eq!(
        toml("[proxy]\nurl = \"none\"\n").proxy.url,
        ProxySetting::None
    );
}

#[test]
fn errors_about_a_proxy_line_never_quote_its_password() {
    let toml_errors = [
        "[proxy]\nurl = \"http://alice:s3cret@p:3128\n",
        "[proxy]\nurl = \"alice:s3cret@p:3128\" x\n",
        "[proxy]\nurl = 'socks5://alice:s3cret@p:1080' 'x'\n",
        "[proxy]\nurl = http://alice:s3cret@p:3128\n",
    ];
    for text in toml_errors {
        let e = Config::from_toml_str(text).expect_err(text).to_string();
        assert!(e.contains("line 2"), "{e}");
        assert!(e.contains("<redacted>@p:"), "{e}");
        assert!(!e.contains("s3cret"), "{e}");
    }
    // A URL in the wrong field: the JSON parser quotes the string it refused.
    let e = Config::from_json_str(r#"{"budget": {"max_attempts": "http://a:s3cret@p:1"}}"#)
        .expect_err("a string")
        .to_string();
    assert!(
        e.contains("http://<redacted>@p:1") && !e.contains("s3cret"),
        "{e}"
    );
    for url in [
        "socks4://alice:s3cret@p:1080",
        "http://alice:s3cret@p:99999",
    ] {
        let text = format!("[proxy]\nurl = \"{url}\"\n");
        let e = toml(&text).validate().expect_err(url).to_string();
        assert!(e.contains("proxy.url") && !e.contains("s3cret"), "{e}");
    }
}

#[test]
fn rule_boundaries_are_allowed() {
    for row in ALLOWED {
        if let Err(e) = toml(&assignments_to_toml(row)).validate() {
            panic!("{row}: {e}");
        }
    }
}

#[test]
fn json_validation_names_the_same_fields() {
    let err = Config::from_json_str(r#"{"backoff": {"base": "2s", "cap": "1s"}}"#)
        .unwrap()
        .validate()
        .unwrap_err();
    assert_eq!(err.field(), Some("backoff.cap"));
}

#[test]
fn default_preset_round_trips_through_toml() {
    let c = Preset::Default.config();
    assert_eq!(toml(&c.to_toml_string()), c);
}

#[test]
fn codex_compat_preset_round_trips_through_toml() {
    let c = Preset::CodexCompat.config();
    let text = c.to_toml_string();
    assert_eq!(toml(&text), c, "{text}");
}

#[test]
fn a_customised_config_round_trips_through_toml() {
    let mut c = toml(
        "seed = 7\ntransport = \"websocket\"\n[budget]\nmax_elapsed = \"90s\"\n\
         [backoff]\nstrategy = \"equal\"\nfactor = 1.5\n[close_codes]\n\"4000-4099\" = \"stop\"",
    );
    c.queue.max_bytes = 4096;
    assert_eq!(toml(&c.to_toml_string()), c);
}

#[test]
fn json_null_turns_optional_durations_off() {
    let c = Config::from_json_str(
        r#"{"backoff": {"cap": null}, "fallback": {"reprobe_after": null},
            "heartbeat": {"ping_interval": null}}"#,
    )
    .unwrap();
    assert_eq!(c.backoff.cap, None);
    assert_eq!(c.fallback.reprobe_after, None);
    assert_eq!(c.heartbeat.ping_interval, None);
    c.validate().unwrap();
}
