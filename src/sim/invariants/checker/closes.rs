//! A connection's close in the checker: the failure says when it came and whether
//! server data had arrived, its class is the table's, and a policy or protocol close
//! that no retrying override covers forbids any retry over WebSockets (invariant 3).

use std::time::Duration;

use super::{Broken, Checker, I};
use crate::core::{Failure, Input, StateName as S};
use crate::policy::Class;
use crate::sim::invariants::tables::{close_class, override_for, retrying};

impl Checker {
    /// A close's class is the table's for its code.
    pub(super) fn close_classified(&self, failure: &Failure) -> Result<(), Broken> {
        if let Failure::Closed { code, class, .. } = failure {
            let expected = close_class(*code);
            if *class != expected {
                let msg = format!("close {code:?} classed {class:?}, not {expected:?}");
                return Err((I::Classification, msg));
            }
        }
        Ok(())
    }

    pub(super) fn closed(
        &mut self,
        now: Duration,
        failure: &Failure,
        input: &Input,
    ) -> Result<(), Broken> {
        self.failures += 1;
        self.step_failure = Some(failure.clone());
        let ends = matches!(
            (failure, input),
            (Failure::Closed { .. }, Input::PeerClosed { .. })
                | (Failure::Dropped { .. }, Input::Dropped { .. })
        );
        if ends {
            self.live = false;
        }
        let Some(link) = self.link.filter(|_| self.state == S::Open) else {
            return Err((I::Consistency, format!("Closed in {}", self.state)));
        };
        let up = now.saturating_sub(link.opened);
        let (after_upgrade, received) = match failure {
            Failure::Closed {
                after_upgrade,
                received,
                ..
            }
            | Failure::Dropped {
                after_upgrade,
                received,
                ..
            } => (*after_upgrade, Some(*received)),
            Failure::PongTimeout { after_upgrade, .. } => (*after_upgrade, None),
            Failure::Dial { .. } => {
                return Err((I::Consistency, "a Closed event for a dial".into()));
            }
        };
        if after_upgrade != up {
            let msg = format!(
                "the close came {up:?} after the upgrade, the failure says {after_upgrade:?}"
            );
            return Err((I::Diagnosis, msg));
        }
        if received.is_some_and(|r| r != link.received) {
            let msg = format!(
                "the failure says received {received:?}, it was {}",
                link.received
            );
            return Err((I::Diagnosis, msg));
        }
        self.close_classified(failure)?;
        if let Failure::Closed { code, class, .. } = failure {
            let action = override_for(&self.cfg, code.unwrap_or(1005));
            if matches!(class, Class::Policy | Class::Protocol) && !action.is_some_and(retrying) {
                self.no_retry = Some(format!("close {code:?} of class {class:?}"));
            }
        }
        Ok(())
    }
}
