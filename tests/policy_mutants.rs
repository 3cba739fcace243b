//! Tests added to kill mutants of `src/policy` and `src/config/validate.rs` (the
//! validated `Policy`) that survived the rest of the suite (`scripts/mutants`; each is
//! listed in docs/mutants.md).

use std::time::Duration;

use redial::config::{Action, BackoffConfig};
use redial::config::{CodeRange, Config, ConfigError, Strategy};
use redial::policy::{
    decide, fmt_duration, status_name, Backoff, Budget, Class, Decision, DelayBasis, Phase,
    ReachFailure,
};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// `Class::fmt`, `Action::fmt`, `Action::name`: the names are the serde (config) names,
/// and `Display` writes them.
#[test]
fn names_are_the_config_names_and_display_writes_them() {
    for class in Class::ALL {
        assert_eq!(serde_json::to_value(class).unwrap(), class.name());
        assert_eq!(class.to_string(), class.name());
    }
    for action in Action::ALL {
        assert_eq!(serde_json::to_value(action).unwrap(), action.name());
        assert_eq!(action.to_string(), action.name());
    }
}

/// `fmt_duration`'s boundaries: under a second in ms, under a minute in seconds.
#[test]
fn durations_switch_units_exactly_at_one_second_and_one_minute() {
    let f = |ms| fmt_duration(Duration::from_millis(ms));
    assert_eq!(f(999), "999 ms");
    assert_eq!(f(1000), "1 s");
    assert_eq!(f(59_949), "59.9 s");
    assert_eq!(f(59_999), "60 s");
    assert_eq!(f(60_000), "1 min");
    assert_eq!(f(61_499), "1 min 1 s");
}

/// `Phase::fmt`, `ReachFailure::status`, `status_name`.
#[test]
fn dial_failures_name_their_phase_and_status() {
    assert_eq!(Phase::Connect.to_string(), "connect");
    assert_eq!(Phase::Handshake.to_string(), "handshake");
    let limited = ReachFailure::Status {
        status: 429,
        retry_after: Some(ms(1000)),
    };
    assert_eq!(limited.status(), Some(429));
    assert_eq!(ReachFailure::Refused.status(), None);
    assert_eq!(ReachFailure::Timeout(Phase::Connect).status(), None);
    assert_eq!(status_name(599), None);
    assert_eq!(status_name(101), None);
}

/// `status_name`: every reason phrase the policy names (RFC 9110, RFC 6585).
#[test]
fn status_names_are_the_standard_reason_phrases() {
    let table = [
        (200, "OK"),
        (301, "Moved Permanently"),
        (302, "Found"),
        (303, "See Other"),
        (307, "Temporary Redirect"),
        (308, "Permanent Redirect"),
        (400, "Bad Request"),
        (401, "Unauthorized"),
        (403, "Forbidden"),
        (404, "Not Found"),
        (405, "Method Not Allowed"),
        (407, "Proxy Authentication Required"),
        (408, "Request Timeout"),
        (426, "Upgrade Required"),
        (429, "Too Many Requests"),
        (500, "Internal Server Error"),
        (502, "Bad Gateway"),
        (503, "Service Unavailable"),
        (504, "Gateway Timeout"),
    ];
    for (status, name) in table {
        assert_eq!(status_name(status), Some(name), "{status}");
    }
}

fn backoff(strategy: Strategy, base: u64, factor: f64, cap: Option<u64>) -> BackoffConfig {
    BackoffConfig {
        strategy,
        base: ms(base),
        factor,
        cap: cap.map(ms),
        ..BackoffConfig::default()
    }
}

/// `Backoff::config`, `Backoff::attempt`.
#[test]
fn a_backoff_keeps_its_config_and_counts_its_draws() {
    let config = backoff(Strategy::Equal, 100, 3.0, Some(5000));
    let mut b = Backoff::new(config.clone(), 9);
    assert_eq!(b.config(), &config);
    assert_eq!(b.attempt(), 0);
    for n in 1..=3 {
        b.next_delay();
        assert_eq!(b.attempt(), n);
    }
    b.reset();
    assert_eq!(b.attempt(), 0);
}

/// `Backoff::next_delay`, decorrelated jitter: each delay is drawn from
/// `[base, 3 × previous]` (AWS "Exponential Backoff And Jitter"), so it grows past the
/// base but never more than threefold in one step.
#[test]
fn decorrelated_jitter_draws_up_to_three_times_the_previous_delay() {
    let mut b = Backoff::new(backoff(Strategy::Decorrelated, 100, 2.0, None), 3);
    let mut previous = ms(100);
    let mut most = Duration::ZERO;
    for _ in 0..50 {
        let d = b.next_delay();
        assert!(
            d >= ms(100) && d <= (previous * 3).max(ms(100)),
            "{d:?} after {previous:?}"
        );
        most = most.max(d);
        previous = d;
    }
    assert!(most > ms(300), "never grew past 3 × base: {most:?}");
}

/// `secs` (`is_nan() || <= 0`): a config that validation would refuse (a NaN or negative
/// factor) gives zero delays, never a panic.
#[test]
fn a_nonsensical_factor_gives_zero_delays_without_panicking() {
    for factor in [f64::NAN, -2.0] {
        let mut b = Backoff::new(backoff(Strategy::None, 100, factor, None), 1);
        assert_eq!(b.next_delay(), ms(100), "factor^0 is 1");
        assert_eq!(b.next_delay(), Duration::ZERO, "factor {factor}");
    }
}

/// `decide`, `RetrySlow` (`d < overload_min`): a backoff draw equal to the overload
/// minimum is the backoff's own delay, not raised.
#[test]
fn an_overload_retry_keeps_a_backoff_draw_equal_to_the_minimum() {
    let mut c = Config::default();
    c.backoff.strategy = Strategy::None;
    c.backoff.base = c.delays.overload_min;
    let policy = c.validate().unwrap();
    let mut b = Backoff::new(policy.config().backoff.clone(), 0);
    let budget = Budget {
        dials: 1,
        ..Budget::default()
    };
    let d = decide(Class::Overload, None, &budget, None, &policy, &mut b);
    let want = Decision::Retry {
        delay: policy.config().delays.overload_min,
        basis: DelayBasis::Backoff,
    };
    assert_eq!(d, want);
}

/// `validate.rs` `fmt`: errors show durations as people write them in the config.
#[test]
fn a_cap_below_the_base_is_refused_naming_both_durations() {
    let mut c = Config::default();
    c.backoff.base = ms(1500);
    c.backoff.cap = Some(ms(250));
    let e = c.validate().unwrap_err();
    let ConfigError::Invalid { field, rule } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(field, "backoff.cap");
    assert_eq!(rule, "must be at least backoff.base (1s 500ms), got 250ms");
}

/// `Policy::overrides`: the parsed `close_codes`, narrowest range first.
#[test]
fn overrides_are_parsed_narrowest_first() {
    let mut c = Config::default();
    c.close_codes.insert("4000-4999".into(), Action::Stop);
    c.close_codes.insert("4001".into(), Action::Reauthenticate);
    let policy = c.validate().unwrap();
    let range = |first, last, action| CodeRange {
        first,
        last,
        action,
    };
    let want = [
        range(4001, 4001, Action::Reauthenticate),
        range(4000, 4999, Action::Stop),
    ];
    assert_eq!(policy.overrides(), want);
    assert_eq!(policy.override_for(4001), Some(Action::Reauthenticate));
}
