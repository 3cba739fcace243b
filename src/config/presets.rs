//! Named configurations.

use std::str::FromStr;
use std::time::Duration;

use super::{Action, BackoffConfig, Strategy};
use super::{Config, ConfigError};

/// A named starting configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Preset {
    /// docs/design.md's policy: close codes classified, 5 dials, full jitter
    /// 200 ms × 2 capped at 30 s, sticky fallback with a re-probe after 5 minutes.
    Default,
    /// The behaviour of the CLI in the mission, so that it can be measured: 6 dials
    /// (5 retries after the first), 200 ms × 2 with ±10 % jitter and no cap, every close
    /// code retried, fallback for good once the budget is spent, and the first server
    /// message counts as a stable connection (`budget.stable_on_first_message`), as such
    /// clients reset their retry counter on any message.
    CodexCompat,
}

impl Preset {
    /// Every preset.
    pub const ALL: [Preset; 2] = [Preset::Default, Preset::CodexCompat];

    /// The preset's name, as `--preset` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Preset::Default => "default",
            Preset::CodexCompat => "codex-compat",
        }
    }

    /// The preset's config.
    pub fn config(self) -> Config {
        match self {
            Preset::Default => Config::default(),
            Preset::CodexCompat => {
                let mut c = Config::default();
                c.budget.max_attempts = 6;
                c.budget.stable_on_first_message = true;
                c.backoff = BackoffConfig {
                    strategy: Strategy::Spread,
                    base: Duration::from_millis(200),
                    factor: 2.0,
                    cap: None,
                    spread: 0.1,
                };
                c.fallback.enabled = true;
                c.fallback.reprobe_after = None;
                c.close_codes.insert("0-65535".to_string(), Action::Retry);
                c
            }
        }
    }
}

impl FromStr for Preset {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Preset, ConfigError> {
        Preset::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| ConfigError::UnknownPreset(s.to_string()))
    }
}
