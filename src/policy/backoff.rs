//! Backoff strategies from the AWS article "Exponential Backoff And Jitter", seeded and
//! capped, usable on their own.
//!
//! ```
//! use std::time::Duration;
//! use redial::backoff::{Backoff, BackoffConfig, Strategy};
//!
//! let config = BackoffConfig {
//!     strategy: Strategy::Full,
//!     base: Duration::from_millis(200),
//!     factor: 2.0,
//!     cap: Some(Duration::from_secs(30)),
//!     spread: 0.0,
//! };
//! let mut backoff = Backoff::new(config, 42);
//! for attempt in 0..10 {
//!     let delay = backoff.next_delay();
//!     assert!(delay <= backoff.ceiling(attempt));
//! }
//! ```

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The longest delay any strategy returns, cap or not: one day.
pub const MAX_DELAY: Duration = Duration::from_secs(24 * 60 * 60);

/// How a delay is drawn from the exponential envelope `min(cap, base × factor^n)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// No jitter: exactly the envelope.
    None,
    /// Full jitter: uniform in `[0, envelope]`.
    Full,
    /// Equal jitter: `envelope/2 + uniform[0, envelope/2]`.
    Equal,
    /// Decorrelated jitter: `min(cap, uniform[base, previous × 3])`.
    Decorrelated,
    /// The envelope times `1 ± spread` (uniform), as clients with "±10 % jitter" do.
    Spread,
}

/// Parameters of a backoff.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackoffConfig {
    /// How jitter is applied.
    pub strategy: Strategy,
    /// The first envelope.
    #[serde(with = "humantime_serde")]
    pub base: Duration,
    /// Growth of the envelope per attempt (at least 1).
    pub factor: f64,
    /// The largest delay; `None` (`"none"` in a file) means no cap (then [`MAX_DELAY`]
    /// bounds it).
    #[serde(with = "crate::config::optional_duration")]
    pub cap: Option<Duration>,
    /// For [`Strategy::Spread`]: the relative spread, in `[0, 1]` (0.1 is ±10 %).
    pub spread: f64,
}

impl Default for BackoffConfig {
    /// Full jitter, base 200 ms, factor 2, cap 30 s.
    fn default() -> Self {
        BackoffConfig {
            strategy: Strategy::Full,
            base: Duration::from_millis(200),
            factor: 2.0,
            cap: Some(Duration::from_secs(30)),
            spread: 0.1,
        }
    }
}

/// How many envelopes a [`Backoff`] works out when it is made: those of the first
/// attempts, which are the ones drawn again and again (the budget is reset by every
/// stable connection).
const EARLY: usize = 8;

/// A seeded backoff sequence. Each [`next_delay`](Backoff::next_delay) advances the
/// attempt; [`reset`](Backoff::reset) starts over after a stable connection.
#[derive(Clone)]
pub struct Backoff {
    config: BackoffConfig,
    rng: fastrand::Rng,
    attempt: u32,
    previous: Duration,
    /// `envelope(n)` for `n < EARLY`, worked out once, by the same arithmetic.
    early: [Duration; EARLY],
}

impl Backoff {
    /// A backoff whose jitter is drawn from an RNG seeded with `seed`.
    pub fn new(config: BackoffConfig, seed: u64) -> Self {
        let early = std::array::from_fn(|n| envelope(&config, n as u32));
        Backoff {
            previous: config.base,
            config,
            rng: fastrand::Rng::with_seed(seed),
            attempt: 0,
            early,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &BackoffConfig {
        &self.config
    }

    /// How many delays have been drawn since the last reset.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Start over from the base delay.
    pub fn reset(&mut self) {
        self.attempt = 0;
        self.previous = self.config.base;
    }

    /// The envelope for `attempt` (0-based): `min(cap, base × factor^attempt)`.
    pub fn envelope(&self, attempt: u32) -> Duration {
        match self.early.get(attempt as usize) {
            Some(early) => *early,
            None => envelope(&self.config, attempt),
        }
    }

    /// The largest delay the strategy can return for `attempt` (0-based).
    pub fn ceiling(&self, attempt: u32) -> Duration {
        match self.config.strategy {
            Strategy::Decorrelated => self.capped(MAX_DELAY),
            Strategy::Spread => {
                let e = self.envelope(attempt).as_secs_f64();
                self.capped(secs(e * (1.0 + self.config.spread)))
            }
            _ => self.envelope(attempt),
        }
    }

    /// Draw the next delay.
    pub fn next_delay(&mut self) -> Duration {
        let envelope = self.envelope(self.attempt);
        let delay = match self.config.strategy {
            Strategy::None => envelope,
            Strategy::Full => self.uniform(Duration::ZERO, envelope),
            Strategy::Equal => {
                let half = envelope / 2;
                half + self.uniform(Duration::ZERO, envelope - half)
            }
            Strategy::Decorrelated => {
                let high = secs(self.previous.as_secs_f64() * 3.0).max(self.config.base);
                let drawn = self.uniform(self.config.base, high);
                let d = self.capped(drawn);
                self.previous = d;
                d
            }
            Strategy::Spread => {
                let s = self.config.spread;
                // Uniform on [1 − s, 1 + s).
                let r = (1.0 - s) + 2.0 * s * self.rng.f64();
                self.capped(secs(envelope.as_secs_f64() * r))
            }
        };
        self.attempt = self.attempt.saturating_add(1);
        delay
    }

    /// A uniform draw in `[low, high]` from the same seeded RNG (for randomized windows).
    pub fn uniform(&mut self, low: Duration, high: Duration) -> Duration {
        if high <= low {
            return low;
        }
        let span = (high - low).as_nanos().min(u64::MAX as u128) as u64;
        low + Duration::from_nanos(self.rng.u64(0..=span))
    }

    fn capped(&self, d: Duration) -> Duration {
        capped(&self.config, d)
    }
}

impl fmt::Debug for Backoff {
    /// The configuration and where the sequence stands (not the envelopes worked out
    /// ahead, which follow from the configuration).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Backoff")
            .field("config", &self.config)
            .field("rng", &self.rng)
            .field("attempt", &self.attempt)
            .field("previous", &self.previous)
            .finish()
    }
}

impl Iterator for Backoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        Some(self.next_delay())
    }
}

/// `min(cap, base × factor^attempt)`.
fn envelope(c: &BackoffConfig, attempt: u32) -> Duration {
    let raw = c.base.as_secs_f64() * c.factor.powi(attempt.min(4096) as i32);
    capped(c, secs(raw))
}

/// `d`, at most the cap (and [`MAX_DELAY`]).
fn capped(c: &BackoffConfig, d: Duration) -> Duration {
    let d = d.min(MAX_DELAY);
    match c.cap {
        Some(cap) => d.min(cap),
        None => d,
    }
}

/// Seconds as a duration, clamped to `[0, MAX_DELAY]` (NaN gives zero).
fn secs(s: f64) -> Duration {
    if s.is_nan() || s <= 0.0 {
        Duration::ZERO
    } else if s >= MAX_DELAY.as_secs_f64() {
        MAX_DELAY
    } else {
        Duration::from_secs_f64(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(strategy: Strategy) -> BackoffConfig {
        BackoffConfig {
            strategy,
            ..BackoffConfig::default()
        }
    }

    #[test]
    fn none_is_the_capped_envelope() {
        let mut b = Backoff::new(cfg(Strategy::None), 1);
        let got: Vec<u64> = b.by_ref().take(10).map(|d| d.as_millis() as u64).collect();
        assert_eq!(
            got,
            [200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000, 30000]
        );
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_millis(200));
    }

    #[test]
    fn every_strategy_stays_under_its_ceiling_and_cap() {
        for s in [
            Strategy::None,
            Strategy::Full,
            Strategy::Equal,
            Strategy::Decorrelated,
            Strategy::Spread,
        ] {
            for seed in 0..50 {
                let mut b = Backoff::new(cfg(s), seed);
                for attempt in 0..40 {
                    let d = b.next_delay();
                    assert!(d <= b.ceiling(attempt), "{s:?} {attempt} {d:?}");
                    assert!(d <= Duration::from_secs(30), "{s:?} {d:?}");
                }
            }
        }
    }

    #[test]
    fn equal_jitter_keeps_half_the_envelope() {
        let mut b = Backoff::new(cfg(Strategy::Equal), 7);
        for attempt in 0..12 {
            let e = b.envelope(attempt);
            let d = b.next_delay();
            assert!(d >= e / 2 && d <= e, "{attempt}: {d:?} vs {e:?}");
        }
    }

    #[test]
    fn decorrelated_never_goes_below_base() {
        let mut b = Backoff::new(cfg(Strategy::Decorrelated), 3);
        for _ in 0..100 {
            assert!(b.next_delay() >= Duration::from_millis(200));
        }
    }

    #[test]
    fn spread_is_within_ten_percent_and_uncapped_when_asked() {
        let c = BackoffConfig {
            strategy: Strategy::Spread,
            cap: None,
            spread: 0.1,
            ..BackoffConfig::default()
        };
        let mut b = Backoff::new(c, 11);
        for attempt in 0..12 {
            let e = b.envelope(attempt).as_secs_f64();
            let d = b.next_delay().as_secs_f64();
            assert!(d >= e * 0.9 - 1e-9 && d <= e * 1.1 + 1e-9, "{d} vs {e}");
        }
        assert!(b.envelope(11) > Duration::from_secs(400));
    }

    #[test]
    fn same_seed_same_sequence_other_seed_other_sequence() {
        let a: Vec<_> = Backoff::new(cfg(Strategy::Full), 5).take(8).collect();
        let b: Vec<_> = Backoff::new(cfg(Strategy::Full), 5).take(8).collect();
        let c: Vec<_> = Backoff::new(cfg(Strategy::Full), 6).take(8).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn envelopes_worked_out_ahead_are_the_envelopes() {
        for (factor, cap) in [
            (2.0, Some(Duration::from_secs(30))),
            (1.7, None),
            (1.0, None),
        ] {
            let config = BackoffConfig {
                factor,
                cap,
                ..BackoffConfig::default()
            };
            let b = Backoff::new(config.clone(), 1);
            for attempt in 0..3 * EARLY as u32 {
                assert_eq!(b.envelope(attempt), envelope(&config, attempt), "{attempt}");
            }
        }
        let b = Backoff::new(cfg(Strategy::None), 1);
        assert_eq!(b.envelope(0), Duration::from_millis(200));
        assert_eq!(b.envelope(3), Duration::from_millis(1600));
        assert_eq!(b.envelope(EARLY as u32 + 1), Duration::from_secs(30));
        let debug = format!("{b:?}");
        assert!(
            debug.starts_with("Backoff { config: BackoffConfig {"),
            "{debug}"
        );
        assert!(debug.ends_with("attempt: 0, previous: 200ms }"), "{debug}");
    }

    #[test]
    fn huge_factors_saturate_instead_of_panicking() {
        let c = BackoffConfig {
            strategy: Strategy::None,
            factor: 1e300,
            cap: None,
            ..BackoffConfig::default()
        };
        let mut b = Backoff::new(c, 0);
        for _ in 0..10 {
            assert!(b.next_delay() <= MAX_DELAY);
        }
    }
}
