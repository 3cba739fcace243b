//! The quiet re-probe's trial in the checker: a probe that upgrades is on trial, and
//! the client goes back to WebSockets (`FellBack --probe_ok--> Open`) only on that
//! connection and only once it has been open for `budget.min_uptime`; a close or a drop
//! during the trial fails the probe (`ProbeFailed`) and ends the connection.

use std::time::Duration;

use super::{Broken, Checker, Link, I};
use crate::core::{Failure, Input, StateName as S};

impl Checker {
    /// `Connected { probe: true }`: the probe's connection goes on trial.
    pub(super) fn probe_connected(&mut self, now: Duration) -> Result<(), Broken> {
        if self.state != S::FellBack || self.trial.is_some() {
            let msg = format!(
                "a probe connected in {} (a connection on trial already: {})",
                self.state,
                self.trial.is_some()
            );
            return Err((I::Consistency, msg));
        }
        self.trial = Some(Link {
            opened: now,
            stable: false,
            received: false,
        });
        Ok(())
    }

    /// `ProbeFailed` for the close or drop of the connection on trial: it ends the
    /// connection, and its failure says when and how.
    pub(super) fn trial_ended(
        &mut self,
        now: Duration,
        failure: &Failure,
        input: &Input,
    ) -> Result<(), Broken> {
        let (after_upgrade, received) = match (failure, input) {
            (
                Failure::Closed {
                    after_upgrade,
                    received,
                    ..
                },
                Input::PeerClosed { .. },
            )
            | (
                Failure::Dropped {
                    after_upgrade,
                    received,
                    ..
                },
                Input::Dropped { .. },
            ) => (*after_upgrade, *received),
            // A failed dial (checked with the other dial failures).
            _ => return Ok(()),
        };
        let Some(trial) = self.trial.take() else {
            return Err((
                I::Consistency,
                "a probe's connection ended, none was open".into(),
            ));
        };
        self.live = false;
        let up = now.saturating_sub(trial.opened);
        if (after_upgrade, received) != (up, trial.received) {
            let msg = format!(
                "the probe's connection ended {up:?} after its upgrade (server data: {}), \
                 the failure says {after_upgrade:?} (server data: {received})",
                trial.received
            );
            return Err((I::Diagnosis, msg));
        }
        self.close_classified(failure)
    }

    /// `FellBack --probe_ok--> Open`: the connection on trial, once its trial is over.
    pub(super) fn trial_passed(&mut self, now: Duration) -> Result<Link, Broken> {
        let Some(trial) = self.trial.take() else {
            return Err((
                I::Consistency,
                "back on WebSockets with no probe open".into(),
            ));
        };
        let up = now.saturating_sub(trial.opened);
        let min_uptime = self.cfg.budget.min_uptime;
        if up < min_uptime {
            let msg = format!(
                "back on WebSockets {up:?} after the probe's upgrade, before its trial \
                 (min_uptime {min_uptime:?}) was over"
            );
            return Err((I::RetryBudget, msg));
        }
        Ok(trial)
    }
}
