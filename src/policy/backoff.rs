//! Backoff strategies from the AWS article "Exponential Backoff And Jitter", seeded and
//! capped, usable on their own.
//!
//! ```
//! use std::time::Duration;
//! use redial::config::{BackoffConfig, Strategy};
//! use redial::policy::Backoff;
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

use crate::config::{BackoffConfig, Strategy, MAX_DELAY};

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

    /// AWS's "Exponential Backoff And Jitter", written here from the article rather than
    /// taken from the code: the envelope of the `n`-th delay is `min(cap, base × factor^n)`,
    /// in seconds as floats.
    fn law_envelope(base: f64, factor: f64, cap: Option<f64>, n: u32) -> f64 {
        let e = base * factor.powi(n as i32);
        cap.map_or(e, |c| e.min(c))
    }

    /// Each strategy's law, checked on 40 draws × 50 seeds × three configs: none
    /// `= envelope`; full jitter `∈ [0, envelope]`; equal jitter `∈ [envelope/2,
    /// envelope]`; decorrelated `sleep = min(cap, random_between(base, 3 × sleep))` from
    /// `sleep = base`; spread `∈ envelope × [1 − s, 1 + s]`, capped.
    #[test]
    fn every_strategy_keeps_its_law() {
        let secs = |d: Duration| d.as_secs_f64();
        let eps = 1e-9;
        let configs = [
            (0.2, 2.0, Some(30.0)),
            (0.05, 1.5, None),
            (1.0, 3.0, Some(4.0)),
        ];
        for (base, factor, cap) in configs {
            for s in [
                Strategy::None,
                Strategy::Full,
                Strategy::Equal,
                Strategy::Decorrelated,
                Strategy::Spread,
            ] {
                let config = BackoffConfig {
                    strategy: s,
                    base: Duration::from_secs_f64(base),
                    factor,
                    cap: cap.map(Duration::from_secs_f64),
                    spread: 0.1,
                };
                for seed in 0..50 {
                    let mut b = Backoff::new(config.clone(), seed);
                    let mut sleep = base;
                    for n in 0..40 {
                        let d = secs(b.next_delay());
                        let e = law_envelope(base, factor, cap, n).min(secs(MAX_DELAY));
                        let capped = |x: f64| cap.map_or(x, |c| x.min(c));
                        let (lo, hi) = match s {
                            Strategy::None => (e, e),
                            Strategy::Full => (0.0, e),
                            Strategy::Equal => (e / 2.0, e),
                            Strategy::Decorrelated => (base, capped((3.0 * sleep).max(base))),
                            Strategy::Spread => (capped(e * 0.9), capped(e * 1.1)),
                        };
                        assert!(
                            d >= lo - eps && d <= hi + eps,
                            "{s:?} base {base} factor {factor} cap {cap:?} seed {seed} n {n}: \
                             {d} s not in [{lo}, {hi}]"
                        );
                        sleep = d;
                    }
                }
            }
        }
    }

    /// `ceiling` is each law's upper end: the envelope, the cap for decorrelated jitter
    /// (no cap: `MAX_DELAY`), `envelope × (1 + s)` capped for spread.
    #[test]
    fn ceilings_are_the_laws_upper_ends() {
        for cap in [Some(30.0), None] {
            for s in [
                Strategy::None,
                Strategy::Full,
                Strategy::Equal,
                Strategy::Decorrelated,
                Strategy::Spread,
            ] {
                let b = Backoff::new(
                    BackoffConfig {
                        strategy: s,
                        cap: cap.map(Duration::from_secs_f64),
                        spread: 0.25,
                        ..BackoffConfig::default()
                    },
                    1,
                );
                let max = MAX_DELAY.as_secs_f64();
                for n in 0..30 {
                    let e = law_envelope(0.2, 2.0, cap, n).min(max);
                    let capped = |x: f64| cap.map_or(x, |c| x.min(c)).min(max);
                    let expected = match s {
                        Strategy::Decorrelated => cap.unwrap_or(max),
                        Strategy::Spread => capped(e * 1.25),
                        _ => e,
                    };
                    let got = b.ceiling(n).as_secs_f64();
                    assert!(
                        (got - expected).abs() < 1e-6,
                        "{s:?} {cap:?} {n}: {got} vs {expected}"
                    );
                }
            }
        }
    }

    /// The laws are not met trivially: full jitter uses its whole range, and
    /// decorrelated jitter climbs well past twice the previous sleep, not only to it.
    #[test]
    fn jitter_uses_its_range() {
        let mut full = Backoff::new(cfg(Strategy::Full), 9);
        let first: Vec<f64> = (0..2000)
            .map(|_| {
                full.reset();
                full.next_delay().as_secs_f64() / 0.2
            })
            .collect();
        assert!(first.iter().any(|&r| r < 0.05) && first.iter().any(|&r| r > 0.95));
        let mut d = Backoff::new(cfg(Strategy::Decorrelated), 4);
        let mut prev = 0.2;
        let mut max_ratio: f64 = 0.0;
        for _ in 0..200 {
            let x = d.next_delay().as_secs_f64();
            if x < 30.0 {
                max_ratio = max_ratio.max(x / prev);
            }
            prev = x;
        }
        assert!(
            max_ratio > 2.5,
            "decorrelated grew at most {max_ratio}× per step"
        );
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
            let e = law_envelope(0.2, 2.0, None, attempt);
            let d = b.next_delay().as_secs_f64();
            assert!(d >= e * 0.9 - 1e-9 && d <= e * 1.1 + 1e-9, "{d} vs {e}");
        }
        // Uncapped: the 13th delay is about 0.2 s × 2^12 ≈ 820 s.
        assert!(b.next_delay() > Duration::from_secs(700));
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
