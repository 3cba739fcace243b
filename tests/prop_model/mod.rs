//! Support for `prop_core_model.rs`: generators ([`gen`]), the reference model
//! ([`model`]), the invariant checker ([`invariants`]) and the harness that drives the
//! real core beside them ([`run`]).

pub mod decide;
pub mod gen;
pub mod invariants;
pub mod model;
pub mod tables;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use redial::core::{Cause, Core, Input, Output, StateName, Trigger};
use redial::Event;

use gen::{Act, Case, Dt};
use invariants::Invariants;
use model::Model;

/// One step of a run, with times relative to the run's start.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub at: Duration,
    pub input: Input,
    pub outputs: Vec<Output>,
    pub timeout: Option<Duration>,
    pub state: StateName,
    pub attempt: u32,
    pub cause: Option<Cause>,
}

/// What a run produced.
pub struct Run {
    pub trace: Vec<Record>,
    /// Every `(from, trigger, to)` the core's `StateChanged` events named.
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
    let mut inv = Invariants::new(&case.config);
    let mut now = t0;
    let mut trace = Vec::with_capacity(case.steps.len());
    let mut rows = BTreeSet::new();
    for (i, step) in case.steps.iter().enumerate() {
        now = advance(now, step.dt, core.poll_timeout());
        let before = core.state();
        let input = step.act.input(before);
        let timeout_call = matches!(step.act, Act::Driver { pick, .. } if pick % 2 == 0);
        if input == Input::Timeout && timeout_call {
            core.handle_timeout(now);
        } else {
            core.handle_input(now, input.clone());
        }
        let outputs: Vec<Output> = std::iter::from_fn(|| core.poll_output()).collect();
        for o in &outputs {
            if let Output::Event(Event::StateChanged {
                from, trigger, to, ..
            }) = o
            {
                rows.insert((*from, *trigger, *to));
            }
        }
        if check {
            let context = |e: String| {
                format!(
                    "step {i} at t0+{:?}, in {before}, input {input:?}:\n  {e}\n  outputs: {outputs:#?}",
                    now - t0
                )
            };
            inv.check_step(now, &input, &outputs, &core)
                .map_err(|e| context(format!("invariant {e}")))?;
            model
                .step(now, &input, &outputs)
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
        trace.push(Record {
            at: now - t0,
            input,
            outputs,
            timeout: core.poll_timeout().map(|t| t.saturating_duration_since(t0)),
            state: core.state(),
            attempt: core.attempt(),
            cause: core.last_cause().cloned(),
        });
    }
    Ok(Run { trace, rows })
}

/// A case of explicit `(dt, input)` steps, for directed sequences.
pub fn directed(config: redial::Config, seed: u64, steps: &[(Dt, Input)]) -> Case {
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
