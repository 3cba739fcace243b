//! Model-based property tests of the sans-IO core.
//!
//! Generated configs (from the `default` and `codex-compat` presets, varied) and
//! generated sequences of (Δt, input) drive the real [`Core`] beside a small reference
//! model written from docs/design.md (`prop_model/model.rs`). After every step the
//! state, attempt counter, deadline, transitions and outputs must agree, and
//! docs/design.md's invariants 1–8 must hold (`redial::sim::invariants`, the checker
//! the `core_sequence` fuzz target uses too).
//!
//! Cases: `PROPTEST_CASES` (proptest's own variable; 256 when unset). Failures are
//! persisted to `proptest-regressions/prop_core_model.txt` at the crate root.

mod prop_model;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{FileFailurePersistence, RngAlgorithm, TestRng, TestRunner};

use redial::config::{Action, Config, Transport};
use redial::core::{Input, TRANSITIONS};
use redial::policy::ReachFailure;
use redial::sim::invariants::check_determinism;
use redial::Preset;

use prop_model::gen::{self, Dt};
use prop_model::{directed, run};

const REGRESSIONS: &str = "proptest-regressions/prop_core_model.txt";

fn proptest_config() -> ProptestConfig {
    ProptestConfig {
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(REGRESSIONS))),
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(proptest_config())]

    /// The core agrees with the model and keeps invariants 1–7 at every step; running
    /// the same case again (from another start instant) gives the same outputs (8).
    #[test]
    fn core_follows_the_model_and_keeps_its_invariants(case in gen::case()) {
        let t0 = Instant::now();
        let first = run(&case, t0, true).map_err(TestCaseError::fail)?;
        let again = run(&case, t0 + Duration::from_secs(3600), false).map_err(TestCaseError::fail)?;
        check_determinism(&first.trace, &again.trace)
            .map_err(|v| TestCaseError::fail(format!("invariant {v}")))?;
    }

    /// Classification of every close code and every dial failure matches the tables.
    #[test]
    fn one_step_classification_matches_the_tables(
        code in gen::close_code(),
        reason in gen::reason(),
        failure in gen::dial_failure(),
        seed in any::<u64>(),
    ) {
        prop_assert_eq!(redial::policy::classify_close(code), prop_model::tables::close_class(code));
        prop_assert_eq!(
            redial::policy::classify_reach_failure(&failure),
            prop_model::tables::dial_class(&failure)
        );
        // A close right after the upgrade, with every reason shape, under both presets.
        for preset in Preset::ALL {
            let case = directed(preset.config(), seed, &[
                (Dt::Millis(0), Input::Start),
                (Dt::Millis(3), Input::DialSucceeded),
                (Dt::Millis(3), Input::PeerClosed { code, reason: reason.clone() }),
                (Dt::ToDeadline, Input::Timeout),
                (Dt::Millis(1), Input::DialFailed(failure.clone())),
            ]);
            run(&case, Instant::now(), true).map_err(TestCaseError::fail)?;
        }
    }
}

fn with(f: impl FnOnce(&mut Config)) -> Config {
    let mut c = Config::default();
    f(&mut c);
    c
}

fn status(status: u16) -> Input {
    Input::DialFailed(ReachFailure::Status {
        status,
        retry_after: None,
    })
}

fn close(code: u16) -> Input {
    Input::PeerClosed {
        code: Some(code),
        reason: vec![],
    }
}

/// Short sequences for the rows random runs reach least often.
fn directed_cases() -> Vec<prop_model::gen::Case> {
    use Input::*;
    let z = Dt::Millis(0);
    let ms = Dt::Millis(3);
    let due = Dt::ToDeadline;
    let websocket_only = |attempts| {
        with(|c| {
            c.transport = Transport::Websocket;
            c.budget.max_attempts = attempts;
        })
    };
    let one_attempt = with(|c| c.budget.max_attempts = 1);
    let unstable_pings = with(|c| {
        c.budget.max_attempts = 1;
        c.budget.min_uptime = Duration::from_secs(60);
        c.heartbeat.ping_interval = Some(Duration::from_secs(1));
        c.heartbeat.pong_timeout = Duration::from_secs(1);
    });
    let https = with(|c| c.transport = Transport::Https);
    vec![
        directed(
            https.clone(),
            1,
            &[
                (z, Start),
                (ms, FallbackReady),
                (
                    ms,
                    FallbackFailed {
                        failure: redial::policy::FallbackError::Reach(ReachFailure::Certificate(
                            "x".into(),
                        )),
                    },
                ),
            ],
        ),
        directed(https, 1, &[(z, Start), (ms, UserClose)]),
        directed(Config::default(), 1, &[(z, UserClose)]),
        directed(websocket_only(1), 2, &[(z, Start), (due, Timeout)]),
        directed(one_attempt.clone(), 2, &[(z, Start), (due, Timeout)]),
        directed(
            Config::default(),
            2,
            &[(z, Start), (due, Timeout), (ms, UserClose)],
        ),
        directed(Config::default(), 3, &[(z, Start), (ms, UserClose)]),
        directed(
            Config::default(),
            3,
            &[
                (z, Start),
                (ms, status(401)),
                (ms, ReauthDone { ok: false }),
            ],
        ),
        directed(
            Config::default(),
            3,
            &[(z, Start), (ms, status(401)), (ms, UserClose)],
        ),
        directed(
            Config::default(),
            3,
            &[
                (z, Start),
                (ms, status(401)),
                (ms, ReauthDone { ok: true }),
                (ms, status(401)),
            ],
        ),
        directed(
            Config::default(),
            4,
            &[
                (z, Start),
                (ms, DialFailed(ReachFailure::Certificate("expired".into()))),
            ],
        ),
        directed(Config::default(), 4, &[(z, Start), (ms, status(426))]),
        directed(
            Config::default(),
            5,
            &[(z, Start), (ms, DialSucceeded), (ms, close(3000))],
        ),
        directed(
            Config::default(),
            5,
            &[
                (z, Start),
                (ms, DialSucceeded),
                (ms, Received),
                (ms, close(1000)),
                (ms, Start),
            ],
        ),
        directed(
            websocket_only(5),
            5,
            &[(z, Start), (ms, DialSucceeded), (ms, close(1002))],
        ),
        directed(
            websocket_only(1),
            6,
            &[
                (z, Start),
                (ms, DialSucceeded),
                (
                    ms,
                    Dropped {
                        detail: "eof".into(),
                    },
                ),
            ],
        ),
        directed(
            one_attempt,
            6,
            &[
                (z, Start),
                (ms, DialSucceeded),
                (
                    ms,
                    Dropped {
                        detail: "eof".into(),
                    },
                ),
            ],
        ),
        directed(
            unstable_pings.clone(),
            7,
            &[
                (z, Start),
                (ms, DialSucceeded),
                (due, Timeout),
                (due, Timeout),
            ],
        ),
        directed(
            with(|c| {
                c.transport = Transport::Websocket;
                c.budget.max_attempts = 1;
                c.budget.min_uptime = Duration::from_secs(60);
                c.heartbeat.ping_interval = Some(Duration::from_secs(1));
            }),
            7,
            &[
                (z, Start),
                (ms, DialSucceeded),
                (due, Timeout),
                (due, Timeout),
            ],
        ),
        directed(
            Config::default(),
            7,
            &[
                (z, Start),
                (ms, DialSucceeded),
                (ms, Received),
                (due, Timeout),
                (due, Timeout),
            ],
        ),
        directed(
            Config::default(),
            8,
            &[
                (z, Start),
                (ms, DialSucceeded),
                (ms, UserClose),
                (ms, close(1000)),
            ],
        ),
        directed(
            Config::default(),
            8,
            &[
                (z, Start),
                (ms, DialSucceeded),
                (ms, UserClose),
                (due, Timeout),
            ],
        ),
        directed(
            Config::default(),
            9,
            &[
                (z, Start),
                (ms, DialFailed(ReachFailure::Refused)),
                (ms, UserClose),
            ],
        ),
        directed(
            Config::default(),
            10,
            &[
                (z, Start),
                (ms, DialSucceeded),
                (ms, close(1008)),
                (due, Timeout),
                (ms, DialSucceeded),
                (ms, Received),
            ],
        ),
        directed(
            Config::default(),
            10,
            &[
                (z, Start),
                (ms, DialSucceeded),
                (ms, close(1008)),
                (ms, UserClose),
            ],
        ),
    ]
}

/// Every row of `TRANSITIONS` is reached, by many generated cases plus the directed
/// sequences, and every transition made is a row (checked inside `run`).
#[test]
fn every_transition_row_is_reached() {
    let mut runner = TestRunner::new_with_rng(
        ProptestConfig::default(),
        TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    );
    let strategy = gen::case();
    let mut random = BTreeSet::new();
    for _ in 0..1000 {
        let case = strategy.new_tree(&mut runner).expect("a case").current();
        match run(&case, Instant::now(), true) {
            Ok(r) => random.extend(r.rows),
            Err(e) => panic!(
                "{e}\nconfig: {:?}\nseed: {}\nsteps: {:#?}",
                case.config, case.seed, case.steps
            ),
        }
    }
    let mut all = random.clone();
    let named = override_1006_cases().into_iter().map(|(_, case)| case);
    for case in directed_cases().into_iter().chain(named) {
        let r =
            run(&case, Instant::now(), true).unwrap_or_else(|e| panic!("directed: {e}\n{case:#?}"));
        all.extend(r.rows);
    }
    let missing: Vec<_> = TRANSITIONS
        .iter()
        .filter(|r| !all.contains(&(r.from, r.trigger, r.to)))
        .collect();
    assert!(missing.is_empty(), "rows never reached: {missing:#?}");
    let random_only = TRANSITIONS
        .iter()
        .filter(|r| random.contains(&(r.from, r.trigger, r.to)))
        .count();
    // The generators alone should reach most of the table, not lean on the directed cases.
    assert!(
        random_only * 10 >= TRANSITIONS.len() * 9,
        "random cases reached only {random_only} rows; missing: {:#?}",
        TRANSITIONS
            .iter()
            .filter(|r| !random.contains(&(r.from, r.trigger, r.to)))
            .collect::<Vec<_>>()
    );
}

/// The settings CI relies on: `PROPTEST_CASES` is honoured, and failures are written to
/// `proptest-regressions/` at the crate root (tests run with the crate root as cwd).
#[test]
fn proptest_settings_honour_the_environment_and_the_regressions_dir() {
    let config = proptest_config();
    match std::env::var("PROPTEST_CASES") {
        Ok(v) => assert_eq!(config.cases, v.parse::<u32>().expect("a number")),
        Err(_) => assert_eq!(config.cases, ProptestConfig::default().cases),
    }
    let persistence = config.failure_persistence.as_ref().expect("persistence");
    let file = persistence
        .as_any()
        .downcast_ref::<FileFailurePersistence>()
        .expect("file persistence");
    assert_eq!(*file, FileFailurePersistence::Direct(REGRESSIONS));
    let cwd = std::env::current_dir().expect("cwd");
    assert_eq!(cwd, Path::new(env!("CARGO_MANIFEST_DIR")));
}

/// Overrides for the pseudo-code 1006 apply to drops and pong timeouts, for every
/// action, on stable and unstable connections.
fn override_1006_cases() -> Vec<(String, prop_model::gen::Case)> {
    let mut cases = vec![];
    for action in Action::ALL {
        for stable in [false, true] {
            let config = with(|c| {
                c.close_codes.insert("1006".into(), action);
                c.heartbeat.ping_interval = Some(Duration::from_secs(1));
                c.heartbeat.pong_timeout = Duration::from_secs(1);
                // Stable by time (a message alone is not stability): up 500 ms, before
                // the first ping at 1 s.
                if stable {
                    c.budget.min_uptime = Duration::from_millis(500);
                }
            });
            let mut steps = vec![
                (Dt::Millis(0), Input::Start),
                (Dt::Millis(3), Input::DialSucceeded),
                (Dt::Millis(3), Input::Received),
            ];
            if stable {
                steps.push((Dt::Millis(600), Input::Timeout));
            }
            let dropped = [(
                Dt::Millis(3),
                Input::Dropped {
                    detail: "reset".into(),
                },
            )];
            // Ping at 1 s, no pong by 2 s: dead before min_uptime (5 s) unless stable.
            let pong = [
                (Dt::ToDeadline, Input::Timeout),
                (Dt::ToDeadline, Input::Timeout),
            ];
            for (what, tail) in [("drop", &dropped[..]), ("pong timeout", &pong[..])] {
                let all: Vec<_> = steps.iter().chain(tail).cloned().collect();
                let name = format!("1006 = {action}, stable {stable}, {what}");
                cases.push((name, directed(config.clone(), 11, &all)));
            }
        }
    }
    cases
}

#[test]
fn overrides_for_1006_apply_to_drops_and_pong_timeouts() {
    for (name, case) in override_1006_cases() {
        let r = run(&case, Instant::now(), true).unwrap_or_else(|e| panic!("{name}: {e}"));
        let failed = r.trace.last().expect("steps");
        let expected = match (
            case.config.close_codes["1006"],
            name.contains("stable true"),
        ) {
            (Action::ReconnectLazily, true) => redial::StateName::Idle,
            (Action::Reauthenticate, _) => redial::StateName::Reauthenticating,
            (Action::FallBack, _) => redial::StateName::FellBack,
            (Action::Stop, _) => redial::StateName::Stopped,
            _ => redial::StateName::Backoff,
        };
        assert_eq!(failed.state, expected, "{name}");
    }
}

/// The generators' reach is counted, not assumed: over 1,000 generated cases every
/// meaningful situation (a policy close, a spent budget, a 3000 close, a message then a
/// close, a failed re-probe, a fallback failure, each stability rule, each decision
/// after each class) happens at least its minimum number of times. The counts print
/// with `--nocapture`.
#[test]
fn generator_reach_is_counted() {
    let mut runner = TestRunner::new_with_rng(
        ProptestConfig::default(),
        TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    );
    let strategy = gen::case();
    let mut reach = prop_model::reach::Reach::default();
    for _ in 0..1000 {
        let case = strategy.new_tree(&mut runner).expect("a case").current();
        let r = run(&case, Instant::now(), false).expect("an unchecked run");
        reach.add(&r.trace);
    }
    println!("{}", reach.table());
    let starved: Vec<String> = prop_model::reach::minimums()
        .into_iter()
        .filter(|(cell, min)| reach.get(cell) < *min)
        .map(|(cell, min)| format!("{cell:?}: {} < {min}", reach.get(&cell)))
        .collect();
    assert!(
        starved.is_empty(),
        "starved cells: {starved:#?}\n{}",
        reach.table()
    );
}
