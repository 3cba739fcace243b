//! Invariant 12 in the checker: the fallback starts on entering FellBack or after a
//! pause, and each pause keeps to the budget and the backoff's bounds.

use std::time::Duration;

use super::{Broken, Checker, I};
use crate::config::MAX_DELAY;
use crate::core::{Input, StateName as S};
use crate::sim::invariants::tables::TOL;

impl Checker {
    /// (12): the fallback starts on entering FellBack, or again once a pause has ended.
    pub(super) fn start_fallback(&mut self, now: Duration, input: &Input) -> Result<(), Broken> {
        if self.state != S::FellBack {
            // Entering FellBack: the transition's event comes first.
            return Err((I::Consistency, format!("StartFallback in {}", self.state)));
        }
        match self.fallback.paused_until.take() {
            // On a timeout, or on any input once the pause is due (the core handles
            // deadlines that passed before an input first).
            Some(due) if now + TOL >= due => Ok(()),
            Some(due) => {
                let msg =
                    format!("the fallback resumed at {now:?} on {input:?}, paused until {due:?}");
                Err((I::FallbackBudget, msg))
            }
            // The state is FellBack (checked above): a transition in this step entered it.
            None if self.fallback.failures == 0 && self.step_cause.is_some() => Ok(()),
            None => Err((
                I::FallbackBudget,
                "StartFallback while the fallback was neither paused nor just entered".into(),
            )),
        }
    }

    /// (12): a retried fallback failure pauses the fallback within the budget and the
    /// backoff's bounds.
    pub(super) fn fallback_paused(
        &mut self,
        now: Duration,
        failure: &crate::policy::FallbackError,
        failures: u32,
        max_failures: u32,
        retry_in: Duration,
    ) -> Result<(), Broken> {
        let max = self.cfg.fallback.max_failures;
        let broken = |msg: String| Err((I::FallbackBudget, msg));
        let answered = self.fallback.unanswered.take();
        if answered.is_some() {
            self.fallback.failures += 1;
        }
        match answered {
            Some(true) if self.fallback.failures < max => {}
            Some(retried) => {
                return broken(format!(
                    "fallback failure {} of {max} (retried: {retried}) paused, not stopped",
                    self.fallback.failures
                ))
            }
            None => return broken("a FallbackFailed event without a fallback failure".into()),
        }
        if (failures, max_failures) != (self.fallback.failures, max) {
            return broken(format!(
                "FallbackFailed says failure {failures} of {max_failures}, it is {} of {max}",
                self.fallback.failures
            ));
        }
        let c = &self.cfg;
        let ceiling = c.backoff.cap.unwrap_or(MAX_DELAY);
        let asked = failure
            .retry_after()
            .map(|a| a.min(c.delays.max_retry_after));
        let bound = ceiling
            .max(c.delays.overload_min)
            .max(asked.unwrap_or_default());
        if retry_in > bound + TOL || asked.is_some_and(|a| retry_in + TOL < a) {
            return Err((
                I::BackoffBounds,
                format!("a fallback pause of {retry_in:?}, bound {bound:?}, Retry-After {asked:?}"),
            ));
        }
        let until = now + retry_in;
        let due = self.fallback.paused_until.map_or(until, |p| p.max(until));
        self.fallback.paused_until = Some(due);
        Ok(())
    }
}
