//! Invariant 2 in the checker: stability must be earned, and dials keep to the
//! dial-rate bound.

use std::time::Duration;

use super::{Broken, Checker, DIAL_HISTORY, I};
use crate::config::Action;
use crate::core::{Input, StableBy, StateName as S};
use crate::sim::invariants::tables::override_for;

impl Checker {
    /// (2): the dial-rate bound over every window that ends with this dial.
    pub(super) fn dial_rate(&mut self, now: Duration) -> Result<(), Broken> {
        if self.dial_times.len() == DIAL_HISTORY {
            self.dial_times.pop_front();
        }
        self.dial_times.push_back(now);
        if self.cfg.budget.stable_on_first_message {
            return Ok(());
        }
        let max = u64::from(self.cfg.budget.max_attempts);
        let min_uptime = self.cfg.budget.min_uptime.as_nanos().max(1);
        let n = self.dial_times.len();
        for (i, &from) in self.dial_times.iter().enumerate() {
            let dials = (n - i) as u64;
            let window = now.saturating_sub(from);
            let periods = (window.as_nanos() / min_uptime) as u64;
            let starts = self.start_times.iter().filter(|&&t| t > from).count() as u64;
            let bound = max * (1 + periods + starts);
            if dials > bound {
                let msg = format!(
                    "{dials} dials in {window:?} (from {from:?}), more than max_attempts {max} \
                     × (1 + {periods} min_uptime periods + {starts} starts) = {bound}"
                );
                return Err((I::RetryBudget, msg));
            }
        }
        Ok(())
    }

    /// (2): a `Stable` event resets the budget, so it must be earned: an open connection,
    /// once, by staying up for `min_uptime`, by a 1000 close after a server message,
    /// by the application's recycle (or, under the old rule, by its first server
    /// message).
    pub(super) fn stable(
        &mut self,
        now: Duration,
        after_upgrade: Duration,
        by: StableBy,
        input: &Input,
    ) -> Result<(), Broken> {
        let min_uptime = self.cfg.budget.min_uptime;
        let state = self.state;
        let Some(link) = self.link.as_mut().filter(|_| state == S::Open) else {
            return Err((I::RetryBudget, format!("Stable in {state}")));
        };
        let up = now.saturating_sub(link.opened);
        if link.stable {
            return Err((I::RetryBudget, "a second Stable on one connection".into()));
        }
        let earned = match by {
            StableBy::Uptime => up >= min_uptime,
            StableBy::FirstMessage => {
                self.cfg.budget.stable_on_first_message && *input == Input::Received
            }
            // A 1000 close after server data, which leaves the next dial to the
            // application: the class's default (`reconnect_lazily`) unless `close_codes`
            // says otherwise.
            // The application recycled the connection: its replacement is no retry.
            StableBy::Recycled => matches!(input, Input::Recycle { .. }),
            StableBy::FinishedExchange => {
                let lazy =
                    override_for(&self.cfg, 1000).is_none_or(|a| a == Action::ReconnectLazily);
                lazy && link.received
                    && matches!(
                        input,
                        Input::PeerClosed {
                            code: Some(1000),
                            ..
                        }
                    )
            }
        };
        if !earned {
            let msg = format!(
                "Stable by {by:?} {up:?} after the upgrade (min_uptime {min_uptime:?}, \
                 stable_on_first_message {}, server data before this step: {}), on {input:?}",
                self.cfg.budget.stable_on_first_message, link.received
            );
            return Err((I::RetryBudget, msg));
        }
        if after_upgrade != up {
            let msg = format!("Stable says {after_upgrade:?} after the upgrade, it is {up:?}");
            return Err((I::Diagnosis, msg));
        }
        link.stable = true;
        self.dials = 0;
        self.failures = 0;
        self.reauths = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn checker() -> Checker {
        let policy = Config::default().validate().expect("valid");
        Checker::new(&policy)
    }

    /// The dial-rate bound on its own (the other budget checks would catch a core that
    /// breaks it first): `max_attempts × (1 + ⌊T / min_uptime⌋ + starts)` dials in any
    /// window of length T.
    #[test]
    fn the_dial_rate_bound_counts_windows() {
        let ms = Duration::from_millis;
        let mut c = checker();
        for t in 0..5 {
            c.dial_rate(ms(t)).expect("5 dials in 4 ms: within 5 × 1");
        }
        let (invariant, msg) = c.dial_rate(ms(5)).expect_err("a sixth dial in 5 ms");
        assert_eq!(invariant, I::RetryBudget);
        assert!(msg.contains("6 dials in 5ms"), "{msg}");

        let mut c = checker();
        for t in 0..5 {
            c.dial_rate(ms(t)).expect("first streak");
        }
        // One min_uptime (5 s) later, a second streak of five fits, a sixth does not.
        for t in 0..5 {
            c.dial_rate(ms(5_000 + t)).expect("second streak");
        }
        assert!(c.dial_rate(ms(5_010)).is_err());

        // An application Start from Idle (after a finished exchange) opens a new streak.
        let mut c = checker();
        for t in 0..5 {
            c.dial_rate(ms(t)).expect("first streak");
        }
        c.start_times.push_back(ms(10));
        c.dial_rate(ms(11))
            .expect("a new streak after the application's Start");

        // The old rule, for measuring old clients, is not bound.
        let mut cfg = Config::default();
        cfg.budget.stable_on_first_message = true;
        let mut c = Checker::new(&cfg.validate().expect("valid"));
        for t in 0..50 {
            c.dial_rate(ms(t))
                .expect("not checked under stable_on_first_message");
        }
    }
}
