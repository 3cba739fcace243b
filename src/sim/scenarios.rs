//! Named scenarios: a config and a scripted server each, for the `simulate` example,
//! the scenario tests and the docs.

use std::str::FromStr;
use std::time::Duration;

use super::{Connect, DialInfo, Sim, Step};
use crate::config::{Config, Preset};

/// A scripted situation worth seeing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scenario {
    /// The mission: 101, then 1008 with an empty reason 3 ms later, fallback configured.
    Seed,
    /// The same server under the `codex-compat` preset.
    SeedCodex,
    /// Every dial accepted, then closed with 1001 2 ms later, forever.
    Flapping,
    /// A stable connection closed with 1012, then a healthy server.
    Restart,
    /// An upgrade answered 429 with `Retry-After: 2`, then a healthy server.
    RetryAfter,
    /// An upgrade answered 401, then a healthy server after re-authentication.
    Reauth,
    /// The mission's server for four minutes, healthy after: the quiet re-probe returns.
    Reprobe,
    /// 1013 (try again later) twice, then a healthy server.
    Overload,
    /// A server that accepts and then never answers pings.
    Silent,
    /// Every dial accepted, one error message sent, then closed with 1011, forever: a
    /// message is not stability, so the budget stops the loop.
    ErrorLoop,
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn healthy() -> Connect {
    Connect::Accept(vec![Step::Message])
}

impl Scenario {
    /// Every scenario.
    pub const ALL: [Scenario; 10] = [
        Scenario::Seed,
        Scenario::SeedCodex,
        Scenario::Flapping,
        Scenario::Restart,
        Scenario::RetryAfter,
        Scenario::Reauth,
        Scenario::Reprobe,
        Scenario::Overload,
        Scenario::Silent,
        Scenario::ErrorLoop,
    ];

    /// The name the `simulate` example takes.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Seed => "seed",
            Scenario::SeedCodex => "seed-codex",
            Scenario::Flapping => "flapping",
            Scenario::Restart => "restart",
            Scenario::RetryAfter => "retry-after",
            Scenario::Reauth => "reauth",
            Scenario::Reprobe => "reprobe",
            Scenario::Overload => "overload",
            Scenario::Silent => "silent",
            Scenario::ErrorLoop => "error-loop",
        }
    }

    /// One line on what the server does.
    pub fn description(self) -> &'static str {
        match self {
            Scenario::Seed => {
                "101, then close 1008 with an empty reason 3 ms later (default preset)"
            }
            Scenario::SeedCodex => "the same server under the codex-compat preset",
            Scenario::Flapping => "every dial accepted, then closed with 1001 2 ms later",
            Scenario::Restart => "a stable connection closed with 1012, then a healthy server",
            Scenario::RetryAfter => "upgrade answered 429 with Retry-After: 2, then healthy",
            Scenario::Reauth => "upgrade answered 401, then healthy after re-authentication",
            Scenario::Reprobe => "the 1008 server for 4 minutes, then healthy: re-probe returns",
            Scenario::Overload => "1013 (try again later) twice, then a healthy server",
            Scenario::Silent => "accepts, then never answers pings",
            Scenario::ErrorLoop => {
                "every dial accepted, one error message, then 1011 3 ms later, forever"
            }
        }
    }

    /// The config the scenario runs.
    pub fn config(self) -> Config {
        match self {
            Scenario::SeedCodex => Preset::CodexCompat.config(),
            _ => Preset::Default.config(),
        }
    }

    /// How much virtual time the scenario runs for.
    pub fn duration(self) -> Duration {
        match self {
            Scenario::Reprobe => Duration::from_secs(10 * 60),
            Scenario::Silent => Duration::from_secs(120),
            _ => Duration::from_secs(60),
        }
    }

    /// What the server does with a dial.
    pub fn connect(self, dial: &DialInfo) -> Connect {
        let mission = || Connect::Accept(vec![Step::Wait(ms(3)), Step::close(1008, "")]);
        match self {
            Scenario::Seed | Scenario::SeedCodex => mission(),
            Scenario::Flapping => {
                Connect::Accept(vec![Step::Wait(ms(2)), Step::close(1001, "going away")])
            }
            Scenario::Restart if dial.index == 1 => Connect::Accept(vec![
                Step::Message,
                Step::Wait(Duration::from_secs(10)),
                Step::close(1012, "restarting"),
            ]),
            Scenario::RetryAfter if dial.index == 1 => Connect::Status {
                status: 429,
                retry_after: Some(Duration::from_secs(2)),
            },
            Scenario::Reauth if dial.index == 1 => Connect::Status {
                status: 401,
                retry_after: None,
            },
            Scenario::Reprobe if dial.at < Duration::from_secs(240) => mission(),
            Scenario::Overload if dial.index <= 2 => {
                Connect::Accept(vec![Step::Wait(ms(5)), Step::close(1013, "overloaded")])
            }
            Scenario::Silent => Connect::Accept(vec![Step::IgnorePings]),
            Scenario::ErrorLoop => Connect::Accept(vec![
                Step::Message,
                Step::Wait(ms(3)),
                Step::close(1011, "internal error"),
            ]),
            _ => healthy(),
        }
    }

    /// Run the scenario with jitter seed `seed`.
    pub fn run(self, seed: u64) -> Sim {
        self.run_with(self.config(), seed)
    }

    /// Run the scenario's server against another config.
    ///
    /// # Panics
    ///
    /// When `config` is invalid.
    pub fn run_with(self, config: Config, seed: u64) -> Sim {
        let policy = match config.validate() {
            Ok(p) => p,
            Err(e) => panic!("scenario {}: {e}", self.name()),
        };
        let mut sim = Sim::new(policy, seed, move |d| self.connect(d));
        sim.run_for(self.duration());
        sim
    }
}

impl FromStr for Scenario {
    type Err = String;

    fn from_str(s: &str) -> Result<Scenario, String> {
        Scenario::ALL
            .into_iter()
            .find(|sc| sc.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Scenario::ALL.iter().map(|s| s.name()).collect();
                format!("unknown scenario `{s}` (known: {})", names.join(", "))
            })
    }
}
