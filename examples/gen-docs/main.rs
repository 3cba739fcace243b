//! Write the generated docs in `docs/` from the code: `cargo run --example gen-docs`.
//!
//! `docs/state-machine.md` comes from the transition table and `redial::diagram`;
//! `docs/close-codes.md` and `docs/handshake.md` from calling the policy
//! (`classify_close`, `classify_status`, `classify_reach_failure`, `decide`) under every
//! preset; `docs/invariants.md` from docs/design.md's invariants, the property tests
//! in `tests/prop_core_model.rs` and the shared checker `redial::sim::invariants`.
//! `-- --dot` prints the Graphviz source instead, which `scripts/gen-docs` renders to
//! `docs/state-machine.svg`.

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use redial::core::{StateName, TRANSITIONS};
use redial::diagram::{self, Group};
use redial::sim::invariants::Invariant;

mod policy_tables;

use policy_tables::{close_codes_md, handshake_md, Table};

const HEADER: &str = "<!-- Generated from the code by `cargo run --example gen-docs` \
(`scripts/gen-docs`). Do not edit: `scripts/check-docs` fails when this file differs \
from what the code generates. -->";

fn main() -> ExitCode {
    if std::env::args().any(|a| a == "--dot") {
        print!("{}", diagram::dot());
        return ExitCode::SUCCESS;
    }
    match write_docs(Path::new(env!("CARGO_MANIFEST_DIR"))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gen-docs: {e}");
            ExitCode::FAILURE
        }
    }
}

fn write_docs(root: &Path) -> Result<(), String> {
    let docs = [
        ("state-machine.md", state_machine_md()),
        ("close-codes.md", close_codes_md()),
        ("handshake.md", handshake_md()),
        ("invariants.md", invariants_md(root)?),
    ];
    let dir = root.join("docs");
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    for (name, text) in docs {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

// ---------------------------------------------------------------- state machine

fn state_machine_md() -> String {
    let mut md = format!("{HEADER}\n\n# State machine\n\n");
    md.push_str(
        "Every state and transition of the sans-IO core (`redial::core`), drawn from the \
         transition table `redial::core::TRANSITIONS` by `redial::diagram`. The core checks \
         every transition it makes against this table, and the property tests prove every \
         row reachable. One edge stands for every row with the same two states; its label \
         lists their triggers.\n\n",
    );
    md.push_str("![state machine](state-machine.svg)\n\n");
    md.push_str("The same diagram in Mermaid (states coloured by group):\n\n");
    let _ = writeln!(md, "```mermaid\n{}```\n", diagram::mermaid());
    let mut table = Table::new(&["group", "states"], &[]);
    for group in Group::ALL {
        table.row(vec![
            group.title().into(),
            list(group.states().map(diagram::state_title), false, ""),
        ]);
    }
    let rows = TRANSITIONS.len();
    let _ = write!(
        md,
        "{}\n## Transitions\n\n{rows} rows, in table order.\n\n",
        table.0
    );
    let mut table = Table::new(&["from", "trigger", "to", "when"], &[]);
    for row in TRANSITIONS {
        let (from, to) = (diagram::state_title(row.from), diagram::state_title(row.to));
        table.row(vec![
            from,
            format!("`{}`", row.trigger),
            to,
            row.when.to_string(),
        ]);
    }
    let _ = write!(md, "{}\n## Triggers\n\n", table.0);
    let mut triggers: Vec<_> = TRANSITIONS.iter().map(|r| r.trigger).collect();
    triggers.sort();
    triggers.dedup();
    let mut table = Table::new(&["trigger", "what happened"], &[]);
    for trigger in triggers {
        table.row(vec![
            format!("`{trigger}`"),
            diagram::trigger_note(trigger).into(),
        ]);
    }
    md.push_str(&table.0);
    md.push_str("\n## States\n");
    for state in StateName::ALL {
        let note = diagram::state_note(state);
        let _ = write!(
            md,
            "\n### {} ({}, `{}`)\n\n{}\n\n**Timers.** {}\n\n**Left by.** {}\n\n",
            diagram::state_title(state),
            Group::of(state).title(),
            state.name(),
            note.waits_for,
            note.timers,
            note.left_by
        );
        let _ = writeln!(md, "- Entered from: {}", neighbours(state, true));
        let _ = writeln!(md, "- Exits: {}", neighbours(state, false));
    }
    md
}

/// The ways into or out of `state`, from the transition table.
fn neighbours(state: StateName, incoming: bool) -> String {
    let title = diagram::state_title;
    let mut parts: Vec<String> = match incoming {
        true => diagram::entries(state)
            .into_iter()
            .map(|(from, triggers)| format!("{} ({})", title(from), list(triggers, true, "")))
            .collect(),
        false => diagram::exits(state)
            .into_iter()
            .map(|(t, to)| format!("`{t}` → {}", list(to.into_iter().map(title), false, "")))
            .collect(),
    };
    if incoming && state == StateName::Idle {
        parts.insert(0, "the start (a new core is Idle)".into());
    }
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join("; ")
    }
}

// ---------------------------------------------------------------- invariants

const MODEL: &str = "core_follows_the_model_and_keeps_its_invariants";
const TABLES: &str = "one_step_classification_matches_the_tables";
const ROWS: &str = "every_transition_row_is_reached";

/// docs/design.md's invariants, and the property tests in `tests/prop_core_model.rs`
/// that check them. Every name is checked against that file when the docs are generated.
#[rustfmt::skip]
const INVARIANTS: [(u8, &str, &[&str]); 15] = [
    (1, "The core never panics, whatever inputs arrive in whatever state and order.", &[MODEL, TABLES]),
    (2, "Dials between two stable connections never exceed `max_attempts`; for any server \
      behaviour, dials in any window of length T are at most `max_attempts × (1 + T / \
      min_uptime)` (plus quiet re-probes, and a new streak per application `Start` after a \
      finished exchange or `Recycle`), and re-authentications at most one per stable connection.", &[MODEL]),
    (3, "No retry over WebSockets after a `policy` or `protocol` class close; FellBack or Stopped \
      follows directly.", &[MODEL, TABLES]),
    (4, "Every backoff delay lies in `[0, cap]` (or the class minimum), and `Retry-After` is \
      honoured up to `max_retry_after`.", &[MODEL]),
    (5, "`poll_timeout()` is never in the past relative to the last `now` handed in, and the core \
      asks for at most one live socket at a time.", &[MODEL]),
    (6, "After `Stopped`, no output other than observer events is produced.", &[MODEL]),
    (7, "Every transition the core makes is a row of the documented transition table; every row \
      is reachable.", &[MODEL, ROWS]),
    (8, "Same seed and inputs give the same outputs (determinism).", &[MODEL]),
    (9, "A message given to `send` ends written or handed back: never dropped, over WebSockets \
      and over the fallback alike. A POST that failed before it was written goes back in \
      line; one written and then left unanswered is *maybe delivered* and follows the replay \
      policy like a request: resent only with a `Replayed` event, or handed back as written \
      and unanswered. Never a silent duplicate.", &[]),
    (10, "A request given to `request` ends with its terminal message or with an error item that \
      says whether it was written and whether any response had arrived; every replay is \
      reported.", &[]),
    (11, "The driver never waits on the application: whatever the application does (reads \
      nothing, drops streams, stops polling events), timers fire, heartbeats run and \
      `close()` returns within `close_grace` plus one scheduling delay.", &[]),
    (12, "Fallback attempts are bounded like dials: a dead or stalled fallback is retried with \
      backoff under its own budget, then the client stops with a cause; never a tight \
      loop.", &[MODEL]),
    (13, "Every close frame the server sends is answered with a close frame (RFC 6455 §5.5.1), \
      on every path (spawned, in-task, CLI); a close the client starts waits for the \
      server's reply up to `close_grace`.", &[]),
    (14, "Cancelling a request (dropping its stream) never holds the next request longer than \
      a bounded `cancel_grace`: the response's end, a cancel message, or a recycled \
      connection, whichever comes first, and an event says which. A recycle spends no retry \
      budget.", &[MODEL, ROWS]),
    (16, "The in-task connection makes progress from whichever task polls each half: a reader \
      in one task and a writer in another are each woken for their own work.", &[]),
];

/// The driver's randomized test, which checks invariants 9–12 (and the driver's side of
/// 5: one live socket) on real sockets.
const DRIVER_PROP: (&str, &str) = (
    "testkit/tests/prop_driver.rs",
    "the_driver_loses_nothing_ends_every_request_and_closes_in_bounded_time",
);

/// The driver tests (file, test) that check invariants 5 and 9–12 beside the randomized one:
/// each names, in its doc comment, the bug it guards against.
#[rustfmt::skip]
const DRIVER_TESTS: [(u8, &str, &str); 34] = [
    (5, "testkit/tests/prop_driver.rs", "a_dial_that_completes_after_its_timeout_is_not_a_second_socket"),
    (9, "testkit/tests/driver_reprobe.rs", "a_probe_closed_during_its_trial_takes_no_message"),
    (12, "testkit/tests/driver_fallback_faults.rs", "headers_alone_do_not_reset_the_fallback_budget_an_event_does"),
    (9, "testkit/tests/driver_fallback_faults.rs", "messages_sent_to_a_dead_fallback_are_handed_back_when_the_client_gives_up"),
    (9, "testkit/tests/driver_fallback_faults.rs", "a_stalled_fallback_job_times_out_and_later_work_goes_on"),
    (9, "testkit/tests/driver_fallback_faults.rs", "a_message_waits_for_the_fallback_job_still_streaming_when_websockets_return"),
    (9, "testkit/tests/driver_fallback_faults.rs", "close_during_fallback_jobs_hands_the_message_back_and_ends_the_request"),
    (9, "testkit/tests/driver_application.rs", "a_message_over_the_byte_bound_is_too_large_not_full"),
    (10, "testkit/tests/driver_application.rs", "requests_count_against_the_queue_and_a_dropped_one_frees_its_room"),
    (10, "testkit/tests/driver_application.rs", "a_request_without_an_answer_times_out_and_the_next_one_completes"),
    (10, "testkit/tests/driver_application.rs", "every_replay_is_an_event_with_its_cause"),
    (10, "testkit/tests/driver_application.rs", "replay_never_ends_the_request_with_what_is_known"),
    (10, "testkit/tests/driver_application.rs", "a_request_waiting_for_its_replay_when_the_client_stops_says_it_was_written"),
    (10, "testkit/tests/driver_fallback_faults.rs", "a_request_whose_post_got_a_503_is_replayed_as_the_policy_says"),
    (11, "testkit/tests/driver_application.rs", "close_returns_when_the_application_never_reads_300_server_messages"),
    (11, "testkit/tests/driver_application.rs", "a_stream_not_read_pauses_reading_and_the_heartbeat_does_not_blame_the_server"),
    (11, "testkit/tests/driver_application.rs", "close_returns_while_reading_is_paused"),
    (12, "testkit/tests/driver_fallback_faults.rs", "messages_sent_to_a_dead_fallback_are_handed_back_when_the_client_gives_up"),
    (12, "testkit/tests/driver_fallback_faults.rs", "a_fallback_that_never_answers_times_out_in_the_headers_phase"),
    (12, "testkit/tests/driver_fallback_faults.rs", "a_fallback_response_that_goes_quiet_times_out_as_idle"),
    (12, "testkit/tests/driver_fallback_faults.rs", "an_oversized_sse_event_fails_with_too_large"),
    (9, "testkit/tests/driver_fallback_endings.rs", "a_message_written_and_left_unanswered_is_resent_with_an_event_or_handed_back"),
    (10, "testkit/tests/driver_fallback_endings.rs", "a_response_that_ends_before_the_terminal_message_ends_the_request_with_an_error"),
    (10, "testkit/tests/driver_fallback_endings.rs", "an_error_after_response_items_ends_the_request_and_is_never_replayed"),
    (13, "testkit/tests/driver_close_handshake.rs", "the_spawned_driver_answers_every_server_close"),
    (13, "testkit/tests/driver_close_handshake.rs", "the_in_task_connection_answers_every_server_close"),
    (13, "testkit/tests/driver_close_handshake.rs", "a_close_the_server_never_answers_is_waited_for_until_close_grace"),
    (14, "testkit/tests/driver_cancel.rs", "a_response_that_never_ends_is_cut_by_recycling_the_connection"),
    (14, "testkit/tests/driver_cancel.rs", "a_recycle_spends_no_retry_budget"),
    (14, "testkit/tests/driver_cancel.rs", "a_cancel_message_that_ends_the_response_keeps_the_connection"),
    (14, "testkit/tests/driver_cancel.rs", "over_the_fallback_a_cancelled_response_is_released_at_once"),
    (16, "testkit/tests/driver_connection_split.rs", "a_reader_task_is_woken_for_each_echo_while_the_writer_waits_elsewhere"),
    (16, "testkit/tests/driver_connection_split.rs", "a_writer_task_that_fills_the_queue_and_flushes_while_a_reader_task_reads"),
    (16, "testkit/tests/prop_connection_split.rs", "a_split_connection_makes_progress_from_each_task_and_loses_nothing"),
];

/// The driver tests of invariant `n` as `file::test` (the randomized one first), each
/// checked to exist.
fn driver_tests(root: &Path, n: usize) -> Result<Vec<String>, String> {
    if n < 9 && n != 5 {
        return Ok(Vec::new());
    }
    // The randomized test judges 5 and 9–13 (its ledger: 9, 10 and 13).
    let randomized = (n == 5 || (9..=13).contains(&n)).then_some(DRIVER_PROP);
    let all = randomized.into_iter().chain(
        DRIVER_TESTS
            .iter()
            .filter(|(m, _, _)| usize::from(*m) == n)
            .map(|(_, f, t)| (*f, *t)),
    );
    let mut names = Vec::new();
    for (file, test) in all {
        let text = std::fs::read_to_string(root.join(file)).unwrap_or_default();
        if !text.contains(&format!("fn {test}(")) {
            return Err(format!(
                "{file} has no test `fn {test}(`, which invariant {n} names in \
                 examples/gen-docs (DRIVER_TESTS): update the name there"
            ));
        }
        let stem = file
            .rsplit('/')
            .next()
            .unwrap_or(file)
            .trim_end_matches(".rs");
        names.push(format!("{stem}::{test}"));
    }
    Ok(names)
}

/// `items` joined by commas, each in a code span when `tick`; `none` when there are none.
fn list<T: std::fmt::Display>(
    items: impl IntoIterator<Item = T>,
    tick: bool,
    none: &str,
) -> String {
    let q = if tick { "`" } else { "" };
    let items: Vec<String> = items.into_iter().map(|i| format!("{q}{i}{q}")).collect();
    if items.is_empty() {
        none.to_string()
    } else {
        items.join(", ")
    }
}

/// `dir`'s `.rs` files, sorted, as `(path, text)` with paths relative to `root`.
fn sources(root: &Path, dir: &str) -> Vec<(String, String)> {
    let mut files: Vec<String> = std::fs::read_dir(root.join(dir))
        .into_iter()
        .flatten()
        .filter_map(|e| Some(format!("{dir}/{}", e.ok()?.file_name().to_str()?)))
        .filter(|name| name.ends_with(".rs"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|f| {
            let text = std::fs::read_to_string(root.join(&f)).unwrap_or_default();
            (f, text)
        })
        .collect()
}

/// The forged runs of `tests/sim_invariants/` that break a check of the checker and
/// must be caught: the table test covers every `Invariant`; the others pin one each.
const FORGED_ALL: &str = "every_invariant_has_a_forged_run_that_is_caught";
#[rustfmt::skip]
const FORGED: [(Invariant, &str); 24] = [
    (Invariant::RetryBudget, "a_stable_event_before_min_uptime_is_a_budget_violation"),
    (Invariant::RetryBudget, "a_stable_event_on_a_first_message_is_a_budget_violation_by_default"),
    (Invariant::RetryBudget, "a_finished_exchange_needs_server_data_first"),
    (Invariant::RetryBudget, "a_second_reauthentication_in_a_streak_is_a_budget_violation"),
    (Invariant::RetryBudget, "a_stable_event_by_recycle_needs_the_applications_recycle"),
    (Invariant::DocumentedTransitions, "an_undocumented_transition_is_named"),
    (Invariant::Determinism, "determinism_names_the_first_step_that_differs"),
    (Invariant::Determinism, "determinism_names_what_differs"),
    (Invariant::FallbackBudget, "the_fallback_budget_is_checked"),
    (Invariant::Diagnosis, "a_retry_without_its_event_is_a_diagnosis_violation"),
    (Invariant::RetryBudget, "the_dial_rate_bound_counts_windows"),
    (Invariant::RetryBudget, "a_retry_after_a_finished_exchange_breaks_the_dial_rate"),
    (Invariant::NoRetryAfterPolicyClose, "close_code_overrides_decide_whether_a_policy_close_may_be_retried"),
    (Invariant::BackoffBounds, "a_retry_delay_above_the_cap_is_caught"),
    (Invariant::BackoffBounds, "an_overload_retry_before_overload_min_is_caught"),
    (Invariant::BackoffBounds, "a_restart_retry_outside_the_window_is_caught"),
    (Invariant::BackoffBounds, "retry_after_is_honoured_up_to_max_retry_after"),
    (Invariant::BackoffBounds, "without_a_cap_the_envelope_bounds_the_delay"),
    (Invariant::BackoffBounds, "a_fallback_pause_is_checked_at_its_edges"),
    (Invariant::DeadlinesAndSockets, "a_dial_or_connection_left_live_is_caught"),
    (Invariant::DeadlinesAndSockets, "a_deadline_before_the_last_now_is_caught"),
    (Invariant::FallbackBudget, "a_fallback_pause_is_checked_at_its_edges"),
    (Invariant::Diagnosis, "a_decision_event_with_another_cause_is_caught"),
    (Invariant::Diagnosis, "a_drop_described_as_a_normal_close_is_caught"),
];

/// The forged-run tests of `checks`, each checked to exist (in `tests/sim_invariants/`,
/// or, for the checker's own unit tests, in `src/sim/invariants/checker/budget.rs` and
/// `words.rs`).
fn forged_tests(root: &Path, checks: &[Invariant]) -> Result<Vec<String>, String> {
    if checks.is_empty() {
        return Ok(Vec::new());
    }
    let files = [
        ("tests/sim_invariants/main.rs", "sim_invariants"),
        ("tests/sim_invariants/edges.rs", "sim_invariants::edges"),
        (
            "src/sim/invariants/checker/budget.rs",
            "sim::invariants::checker::budget::tests",
        ),
        (
            "src/sim/invariants/checker/words.rs",
            "sim::invariants::checker::words::tests",
        ),
    ];
    let mut names = vec![format!("sim_invariants::{FORGED_ALL}")];
    let named = FORGED
        .iter()
        .filter(|(i, _)| checks.contains(i))
        .map(|(_, t)| *t);
    for test in std::iter::once(FORGED_ALL).chain(named) {
        let found = files.iter().find(|(file, _)| {
            let text = std::fs::read_to_string(root.join(file)).unwrap_or_default();
            text.contains(&format!("fn {test}("))
        });
        match found {
            Some((_, stem)) if test != FORGED_ALL => names.push(format!("{stem}::{test}")),
            Some(_) => {}
            None => {
                return Err(format!(
                    "no forged-run test `fn {test}(` in tests/sim_invariants/ or the \
                     checker: update FORGED in examples/gen-docs"
                ))
            }
        }
    }
    Ok(names)
}

/// The functions of `redial::sim::invariants` that run `invariant`'s check on a run.
fn entry_points(invariant: Invariant) -> &'static [&'static str] {
    match invariant {
        Invariant::Determinism => &["check_determinism("],
        _ => &["Checker::new(", "check_run("],
    }
}

fn invariants_md(root: &Path) -> Result<String, String> {
    let tests = "tests/prop_core_model.rs";
    let source = std::fs::read_to_string(root.join(tests)).unwrap_or_default();
    let mut test_files = vec![(tests.to_string(), source.clone())];
    test_files.extend(sources(root, "tests/prop_model"));
    // A fuzz target, with the `fuzz/src` modules it uses (`redial_fuzz::<module>`).
    let fuzz_src = sources(root, "fuzz/src");
    let targets: Vec<(String, String)> = sources(root, "fuzz/fuzz_targets")
        .into_iter()
        .map(|(path, mut text)| {
            for (module, module_text) in &fuzz_src {
                let name = module
                    .trim_start_matches("fuzz/src/")
                    .trim_end_matches(".rs");
                if text.contains(&format!("redial_fuzz::{name}")) {
                    text.push_str(module_text);
                }
            }
            let name = path
                .trim_start_matches("fuzz/fuzz_targets/")
                .trim_end_matches(".rs");
            (name.to_string(), text)
        })
        .collect();
    let uses =
        |text: &str, invariant: Invariant| entry_points(invariant).iter().any(|f| text.contains(f));
    let unnumbered: Vec<&str> = Invariant::ALL
        .iter()
        .filter(|i| i.number().is_none())
        .map(|i| i.title())
        .collect();
    let mut md = format!("{HEADER}\n\n# Invariants\n\n");
    let _ = write!(
        md,
        "docs/design.md's invariants of the core, the property tests that check them \
         (`tests/prop_core_model.rs`, which drives the real core beside a reference model), \
         and where they are checked. One checker, in the library, checks them: \
         `redial::sim::invariants` (`src/sim/invariants/`), fed every step of a run by the \
         files named below, in the property tests and in the cargo-fuzz targets (`fuzz/`, see \
         `docs/fuzzing.md`). Its errors name the invariant and the step, as in \
         `(2) retry budget: 6 dials without a stable connection, max_attempts 5`. Besides the \
         numbered invariants it checks {} (see `Invariant` in its docs). A panic anywhere is \
         a failure of every property test and a crash of every fuzz target.\n\n\
         Invariants 9–14 and 16 are about the driver, the application and the fallback: the \
         driver tests check them on real sockets, first of all the randomized `{}` \
         (application actions × server scripts × fallback faults, judged by a ledger \
         oracle; see `docs/reliability.md`). Invariant 15 (acknowledged delivery): its \
         sans-IO bookkeeping (`redial::delivery`) is checked by `tests/prop_delivery.rs` \
         (a model and a ledger oracle, each ledger rule with a forged violation) and the \
         `delivery` and `envelope` fuzz targets; the driver carries it out \
         (`ClientBuilder::acknowledged`), checked on real sockets by \
         `testkit/tests/driver_acked.rs`, against an independent Python peer, and by \
         `testkit/tests/soak_acked.rs` (lost end to end: 0).\n\n",
        list(unnumbered, false, "nothing else"),
        DRIVER_PROP.0
    );
    let columns = [
        "#",
        "invariant",
        "property tests",
        "driver tests",
        "shared check",
        "run through it in",
        "fuzz targets",
        "forged violations caught",
    ];
    let mut table = Table::new(&columns, &[]);
    for (number, text, names) in INVARIANTS.iter() {
        let n = usize::from(*number);
        if let Some(name) = names
            .iter()
            .find(|name| !source.contains(&format!("fn {name}(")))
        {
            return Err(format!(
                "{tests} has no test `fn {name}(`, which invariant {n} names in \
                 examples/gen-docs.rs (INVARIANTS): update the name there"
            ));
        }
        let checks: Vec<Invariant> = Invariant::ALL
            .into_iter()
            .filter(|c| c.number().is_some_and(|m| usize::from(m) == n))
            .collect();
        let through = |files: &[(String, String)]| -> Vec<String> {
            files
                .iter()
                .filter(|(_, t)| checks.iter().any(|c| uses(t, *c)))
                .map(|(f, _)| f.clone())
                .collect()
        };
        let none = "— (the driver's, outside the core's model)";
        let driver = driver_tests(root, n)?;
        let (no_check, no_target) = match n {
            1 => ("— (no panic)", "every target (a panic is a crash)"),
            _ => ("—", "—"),
        };
        table.row(vec![
            n.to_string(),
            text.to_string(),
            list(names.iter(), true, none),
            list(driver.iter(), true, "—"),
            list(
                checks.iter().map(|c| format!("Invariant::{c:?}")),
                true,
                no_check,
            ),
            list(through(&test_files), true, "—"),
            list(through(&targets), true, no_target),
            list(forged_tests(root, &checks)?.iter(), true, "—"),
        ]);
    }
    md.push_str(&table.0);
    Ok(md)
}
