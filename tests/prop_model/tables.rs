//! The model's own tables from docs/design.md's "Default policy": each class's default
//! action and the bounds of each backoff strategy. The tables it shares with the
//! invariant checker (the class of every close code and dial failure, the
//! `close_codes` lookup) are `redial::sim::invariants::tables`, written again from the
//! page independently of `redial::policy` as these are.

use std::time::Duration;

use redial::config::MAX_DELAY;
use redial::config::{Action, Config, Strategy as Jitter};
use redial::policy::Class;
use redial::sim::invariants::tables::{clamp, uncapped_envelope};

pub use redial::sim::invariants::tables::{close_class, dial_class, override_for, TOL};

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

fn capped(cfg: &Config, d: Duration) -> Duration {
    cfg.backoff.cap.map_or(d, |c| d.min(c)).min(MAX_DELAY)
}

/// Bounds of the `n`-th (0-based) backoff delay since the last reset, each strategy's
/// law as AWS's "Exponential Backoff And Jitter" states it. `previous` is (an upper bound
/// of) the previous delay drawn, for decorrelated jitter: `sleep = min(cap,
/// random_between(base, sleep × 3))`, starting from `sleep = base`.
pub fn backoff_bounds(cfg: &Config, n: u32, previous: Duration) -> (Duration, Duration) {
    let e = capped(cfg, uncapped_envelope(cfg, n));
    let b = &cfg.backoff;
    match b.strategy {
        Jitter::None => (e, e),
        Jitter::Full => (Duration::ZERO, e),
        Jitter::Equal => (e / 2, e),
        Jitter::Decorrelated => {
            let three = previous.checked_mul(3).unwrap_or(Duration::MAX);
            (capped(cfg, b.base), capped(cfg, three.max(b.base)))
        }
        Jitter::Spread => {
            let s = e.as_secs_f64();
            let lo = capped(cfg, clamp(s * (1.0 - b.spread)));
            (lo, capped(cfg, clamp(s * (1.0 + b.spread))))
        }
    }
}
