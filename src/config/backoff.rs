//! The backoff's settings (`[backoff]`): the strategy, the envelope, the cap. The
//! sequence they describe is drawn by [`Backoff`](crate::policy::Backoff).

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
    #[serde(with = "super::optional_duration")]
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
