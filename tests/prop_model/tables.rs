//! The tables of ARCHITECTURE.md's "Default policy", written again from the page:
//! the class of every close code and dial failure, each class's default action, the
//! `close_codes` lookup, and the bounds of each backoff strategy.

use std::time::Duration;

use redial::config::{Action, Config, Strategy as Jitter};
use redial::policy::{Class, DialFailure, MAX_DELAY};

/// Slack for float rounding in envelope arithmetic.
pub const TOL: Duration = Duration::from_micros(1);

/// The close-code table of ARCHITECTURE.md. `None` is a frame without a code (1005).
pub fn close_class(code: Option<u16>) -> Class {
    match code {
        None | Some(1001 | 1005 | 1006 | 1011 | 1014) => Class::Transient,
        Some(1000) => Class::Done,
        Some(1012) => Class::Restart,
        Some(1013) => Class::Overload,
        Some(1008) => Class::Policy,
        Some(3000 | 3003) => Class::Auth,
        Some(3001..=4999) => Class::Application,
        // 1002, 1003, 1004, 1007, 1009, 1010, 1015, <1000, 1016–2999, ≥5000.
        Some(_) => Class::Protocol,
    }
}

/// The upgrade-failure table. Statuses the table does not name follow the core's
/// documented choice (`classify_status`): 429 without Retry-After is overload, 408
/// (request timeout) is transient like 5xx, other statuses mean WebSockets are not
/// offered; TLS and I/O errors are transient.
pub fn dial_class(f: &DialFailure) -> Class {
    match f {
        DialFailure::Certificate(_) => Class::Certificate,
        DialFailure::Status { status: 401, .. } => Class::Auth,
        DialFailure::Status {
            status: 429 | 503,
            retry_after: Some(_),
        } => Class::RateLimited,
        DialFailure::Status { status: 429, .. } => Class::Overload,
        DialFailure::Status {
            status: 408 | 500..=599,
            ..
        } => Class::Transient,
        DialFailure::Status { .. } => Class::Rejected,
        _ => Class::Transient,
    }
}

pub fn default_action(class: Class) -> Action {
    match class {
        Class::Done => Action::ReconnectLazily,
        Class::Transient | Class::Application | Class::RateLimited => Action::Retry,
        Class::Restart => Action::RetryAfterRestart,
        Class::Overload => Action::RetrySlow,
        Class::Policy | Class::Protocol | Class::Rejected => Action::FallBack,
        Class::Auth => Action::Reauthenticate,
        _ => Action::Stop,
    }
}

/// The `close_codes` entry for `code`: the narrowest covering range, lowest first.
pub fn override_for(cfg: &Config, code: u16) -> Option<Action> {
    let parse = |k: &str| -> Option<(u16, u16)> {
        let (a, b) = k.split_once('-').unwrap_or((k, k));
        let (a, b) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
        (a <= b).then_some((a, b))
    };
    cfg.close_codes
        .iter()
        .filter_map(|(k, a)| parse(k).map(|(lo, hi)| (lo, hi, *a)))
        .filter(|(lo, hi, _)| (*lo..=*hi).contains(&code))
        .min_by_key(|(lo, hi, _)| (hi - lo, *lo))
        .map(|(_, _, a)| a)
}

fn clamp(secs: f64) -> Duration {
    if secs.is_nan() || secs <= 0.0 {
        Duration::ZERO
    } else {
        Duration::from_secs_f64(secs.min(MAX_DELAY.as_secs_f64()))
    }
}

fn capped(cfg: &Config, d: Duration) -> Duration {
    cfg.backoff.cap.map_or(d, |c| d.min(c)).min(MAX_DELAY)
}

/// `base × factor^n`, without the cap (at most a day).
pub fn uncapped_envelope(cfg: &Config, n: u32) -> Duration {
    let b = &cfg.backoff;
    clamp(b.base.as_secs_f64() * b.factor.powi(n.min(4096) as i32))
}

/// Bounds of the `n`-th (0-based) backoff delay since the last reset.
pub fn backoff_bounds(cfg: &Config, n: u32) -> (Duration, Duration) {
    let e = capped(cfg, uncapped_envelope(cfg, n));
    let b = &cfg.backoff;
    match b.strategy {
        Jitter::None => (e, e),
        Jitter::Full => (Duration::ZERO, e),
        Jitter::Equal => (e / 2, e),
        Jitter::Decorrelated => (b.base, b.cap.unwrap_or(MAX_DELAY)),
        Jitter::Spread => {
            let s = e.as_secs_f64();
            let lo = capped(cfg, clamp(s * (1.0 - b.spread)));
            (lo, capped(cfg, clamp(s * (1.0 + b.spread))))
        }
    }
}
