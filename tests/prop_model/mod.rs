//! Support for `prop_core_model.rs`: generators ([`gen`]), the reference model
//! ([`model`]) and the harness that drives the real core beside the model and the
//! library's invariant checker, `redial::sim::invariants` ([`run`]).

pub mod decide;
pub mod fallback;
pub mod gen;
pub mod model;
pub mod reach;
pub mod tables;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use redial::core::{Core, Input, Output, StateName, Trigger};
use redial::sim::invariants::{Checker, Record};

use gen::{Act, Case, Dt};
use model::Model;

/// What a run produced.
pub struct Run {
    pub trace: Vec<Record>,
    /// Every `(from, trigger, to)` the core's `StateChanged` events named (checked runs
    /// only: the checker collects them).
    pub rows: BTreeSet<(StateName, Trigger, StateName)>,
}

/// The time after a step's `dt`, given the core's deadline.
pub fn advance(now: Instant, dt: Dt, deadline: Option<Instant>) -> Instant {
    match dt {
        Dt::Millis(ms) => now + Duration::from_millis(ms),
        Dt::ToDeadline => deadline.map_or(now, |d| d.max(now)),
        Dt::BeforeDeadline => deadline
            .and_then(|d| d.checked_sub(Duration::from_millis(1)))
            .map_or(now, |d| d.max(now)),
    }
}

/// Drive the core through `case` from `t0`. With `check`, the model and the invariant
/// checker run beside it and the first disagreement is returned as an error.
pub fn run(case: &Case, t0: Instant, check: bool) -> Result<Run, String> {
    let policy = case
        .config
        .clone()
        .validate()
        .map_err(|e| format!("the generator made an invalid config: {e}"))?;
    let mut core = Core::new(policy, case.seed);
    let mut model = Model::new(&case.config);
    let mut checker = Checker::new(core.policy());
    let mut now = t0;
    let mut trace = Vec::with_capacity(case.steps.len());
    for (i, step) in case.steps.iter().enumerate() {
        now = advance(now, step.dt, core.poll_timeout());
        let before = core.state();
        let input = step.act.input(before);
        core.handle_input(now, input.clone());
        let outputs: Vec<Output> = std::iter::from_fn(|| core.poll_output()).collect();
        let record = Record::observe(&core, t0, now, input, outputs);
        if check {
            checker
                .check(&record)
                .map_err(|v| format!("invariant {v}"))?;
            let context = |e: String| {
                format!(
                    "step {i} at t0+{:?}, in {before}, input {:?}:\n  {e}\n  outputs: {:#?}",
                    record.at, record.input, record.outputs
                )
            };
            model
                .step(now, &record.input, &record.outputs)
                .map_err(|e| context(format!("model: {e}")))?;
            let m = (model.state(), model.dials, model.deadline());
            let c = (core.state(), core.attempt(), core.poll_timeout());
            if m != c {
                let rel = |t: Option<Instant>| t.map(|t| t - t0);
                return Err(context(format!(
                    "model: state {} attempt {} deadline {:?}; core: state {} attempt {} deadline {:?}",
                    m.0,
                    m.1,
                    rel(m.2),
                    c.0,
                    c.1,
                    rel(c.2)
                )));
            }
        }
        trace.push(record);
    }
    let rows = checker.transitions().clone();
    Ok(Run { trace, rows })
}

/// A case of explicit `(dt, input)` steps, for directed sequences.
pub fn directed(config: redial::config::Config, seed: u64, steps: &[(Dt, Input)]) -> Case {
    let steps = steps
        .iter()
        .map(|(dt, input)| gen::Step {
            dt: *dt,
            act: Act::Wild(input.clone()),
        })
        .collect();
    Case {
        config,
        seed,
        steps,
    }
}
