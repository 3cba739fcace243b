//! `core_sequence`'s harness: a decoded [`Case`] drives a core in virtual time, one
//! record per step, checked by the library's invariant checker
//! (`redial::sim::invariants`, shared with the property tests).

use std::time::Instant;

use redial::core::{Core, Output};
use redial::sim::invariants::{Checker, Record, Violation};

use crate::case::{advance, Case};

/// Drive a core through `case` from `t0`, checking the invariants after every step when
/// `check` is set. `None` when validation refuses the config.
pub fn run(case: &Case, t0: Instant, check: bool) -> Option<Result<Vec<Record>, Violation>> {
    let policy = case.config.clone().validate().ok()?;
    let mut core = Core::new(policy, case.seed);
    let mut checker = Checker::new(core.policy());
    let mut now = t0;
    let mut trace = Vec::with_capacity(case.steps.len());
    for step in &case.steps {
        now = advance(t0, now, step.dt, core.poll_timeout());
        let input = step.input(core.state());
        core.handle_input(now, input.clone());
        let outputs: Vec<Output> = std::iter::from_fn(|| core.poll_output()).collect();
        let record = Record::observe(&core, t0, now, input, outputs);
        if check {
            if let Err(v) = checker.check(&record) {
                return Some(Err(v));
            }
        }
        trace.push(record);
    }
    Some(Ok(trace))
}
