//! Write the generated docs in `docs/` from the code: `cargo run --example gen-docs`.
//!
//! `docs/state-machine.md` comes from the transition table and `redial::diagram`;
//! `docs/close-codes.md` and `docs/handshake.md` from calling the policy
//! (`classify_close`, `classify_status`, `classify_dial_failure`, `decide`) under every
//! preset; `docs/invariants.md` from ARCHITECTURE.md's invariants and the property tests
//! in `tests/prop_core_model.rs`. `-- --dot` prints the Graphviz source instead, which
//! `scripts/gen-docs` renders to `docs/state-machine.svg`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use redial::config::{Policy, Preset};
use redial::core::{CloseReason, Failure, StateName, TRANSITIONS};
use redial::diagram::{self, Group};
use redial::policy::{
    classify_close, classify_dial_failure, classify_status, close_code_name, decide,
    fmt_duration, status_name, Action, Backoff, Budget, Class, Decision, DialFailure, DialPhase,
};
use serde_json::Value;

const HEADER: &str = "<!-- Generated from the code by `cargo run --example gen-docs` \
(`scripts/gen-docs`). Do not edit: `scripts/check-docs` fails when this file differs \
from what the code generates. -->";

fn main() -> ExitCode {
    if std::env::args().any(|a| a == "--dot") {
        print!("{}", diagram::dot());
        return ExitCode::SUCCESS;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let invariants = match invariants_md(root) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("gen-docs: {e}");
            return ExitCode::FAILURE;
        }
    };
    let docs = [
        ("state-machine.md", state_machine_md()),
        ("close-codes.md", close_codes_md()),
        ("handshake.md", handshake_md()),
        ("invariants.md", invariants),
    ];
    let dir = root.join("docs");
    for (name, text) in docs {
        let path: PathBuf = dir.join(name);
        if let Err(e) = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, text)) {
            eprintln!("gen-docs: cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
        println!("wrote {}", path.display());
    }
    ExitCode::SUCCESS
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
    md.push_str("| group | states |\n|---|---|\n");
    for group in Group::ALL {
        let states: Vec<String> = group.states().map(diagram::state_title).collect();
        let _ = writeln!(md, "| {} | {} |", group.title(), states.join(", "));
    }
    let _ = writeln!(md, "\n## Transitions\n\n{} rows, in table order.\n", TRANSITIONS.len());
    md.push_str("| from | trigger | to | the trigger is |\n|---|---|---|---|\n");
    for row in TRANSITIONS {
        let _ = writeln!(
            md,
            "| {} | `{}` | {} | {} |",
            diagram::state_title(row.from),
            row.trigger,
            diagram::state_title(row.to),
            diagram::trigger_note(row.trigger)
        );
    }
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

/// The rows into (`incoming`) or out of `state`, grouped by trigger.
fn neighbours(state: StateName, incoming: bool) -> String {
    let mut by_trigger: Vec<(String, Vec<String>)> = Vec::new();
    for row in TRANSITIONS {
        let (this, other) = if incoming { (row.to, row.from) } else { (row.from, row.to) };
        if this != state {
            continue;
        }
        let other = diagram::state_title(other);
        let key = format!("`{}`", row.trigger);
        match by_trigger.iter_mut().find(|(k, _)| *k == key) {
            Some((_, states)) => states.push(other),
            None => by_trigger.push((key, vec![other])),
        }
    }
    if by_trigger.is_empty() {
        return if incoming { "the start (a new core)".into() } else { "none".into() };
    }
    let arrow = if incoming { "from" } else { "→" };
    let parts: Vec<String> = by_trigger
        .into_iter()
        .map(|(t, s)| format!("{t} {arrow} {}", s.join(", ")))
        .collect();
    parts.join("; ")
}

// ---------------------------------------------------------------- policy, shared

fn presets() -> Vec<(Preset, Policy)> {
    Preset::ALL
        .into_iter()
        .map(|p| (p, p.config().validate().expect("every preset validates")))
        .collect()
}

/// What `decide` makes of a failure of `class` under `policy`, as a phrase: the first
/// failure, then where it differs, on a stable connection (`after_open`), after
/// re-authenticating, and once the retry budget is spent.
fn decision(policy: &Policy, class: Class, code: Option<u16>, retry_after: Option<Duration>, after_open: bool) -> String {
    let over = code.and_then(|c| policy.override_for(c));
    let action = over.unwrap_or(class.default_action());
    let run = |dials: u32, reauth_used: bool, was_stable: bool| {
        let budget = Budget { dials, streak: Duration::ZERO, reauth_used, was_stable };
        let mut backoff = Backoff::new(policy.config().backoff.clone(), 1);
        let d = decide(class, over, &budget, retry_after, policy, &mut backoff);
        describe(policy, action, retry_after, &d)
    };
    let first = run(1, false, false);
    let mut text = first.clone();
    if after_open {
        let stable = run(0, false, true);
        if stable != first {
            text = format!("{first} if the connection was not yet stable; {stable} if it was");
        }
    }
    let again = run(1, true, false);
    if again != first {
        let _ = write!(text, "; after re-authenticating: {again}");
    }
    let spent = run(policy.max_attempts(), false, false);
    if spent != first {
        let _ = write!(text, "; once the budget is spent: {spent}");
    }
    text
}

fn describe(policy: &Policy, action: Action, retry_after: Option<Duration>, d: &Decision) -> String {
    let c = &policy.config().delays;
    match d {
        Decision::Retry { .. } => {
            let base = match action {
                Action::RetryAfterRestart => format!(
                    "retry after a random delay in {}–{}",
                    fmt_duration(c.restart_min),
                    fmt_duration(c.restart_max)
                ),
                Action::RetrySlow => format!("retry with backoff, at least {}", fmt_duration(c.overload_min)),
                _ => "retry with backoff".to_string(),
            };
            match retry_after {
                Some(_) => format!(
                    "{base}, or after `Retry-After` when longer (at most {})",
                    fmt_duration(c.max_retry_after)
                ),
                None => base,
            }
        }
        Decision::Reauthenticate => "ask the application to re-authenticate, then dial once more".into(),
        Decision::FallBack(_) => "fall back at once".into(),
        Decision::Stop { fallback_unavailable: true, .. } => "stop (no fallback available)".into(),
        Decision::Stop { .. } => "stop".into(),
        Decision::WaitForDemand => "wait until a connection is needed (Idle)".into(),
    }
}

fn range(first: u16, last: u16) -> String {
    if first == last {
        first.to_string()
    } else {
        format!("{first}–{last}")
    }
}

/// Runs of equal keys over `first..=last`, as `(first, last)` pairs.
fn runs<K: PartialEq>(first: u16, last: u16, key: impl Fn(u16) -> K) -> Vec<(u16, u16)> {
    let mut out: Vec<(u16, u16)> = Vec::new();
    let mut start = first;
    for code in first..=last {
        if code == last || key(code + 1) != key(start) {
            out.push((start, code));
            start = code.saturating_add(1);
        }
    }
    out
}

fn preset_columns(md: &mut String, presets: &[(Preset, Policy)]) {
    for (p, _) in presets {
        let _ = write!(md, " `{}` preset |", p.name());
    }
    md.push('\n');
}

// ---------------------------------------------------------------- close codes

fn close_codes_md() -> String {
    let presets = presets();
    let mut md = format!("{HEADER}\n\n# Close codes\n\n");
    md.push_str(
        "How the core treats every close code a server can send (`redial::policy`). The \
         ranges come from calling `classify_close` on all 65,536 codes and grouping runs of \
         equal class (and equal preset overrides); the names from `close_code_name`. The \
         default action is `Class::default_action`; a config's `close_codes` table can \
         override it per code or range. The preset columns are what `decide` does under each \
         preset, for a close on the first dial and, where it differs, once the retry budget \
         is spent. A close before the connection is *stable* (open for `min_uptime`, or \
         past its first server message) counts as a failed attempt. The presets' settings \
         are compared in [handshake.md](handshake.md#presets).\n\n",
    );
    md.push_str("| codes | names | class | default action |");
    preset_columns(&mut md, &presets);
    md.push_str(&"|---".repeat(4 + presets.len()));
    md.push_str("|\n");
    let key = |code: u16| {
        let overrides: Vec<Option<Action>> = presets.iter().map(|(_, p)| p.override_for(code)).collect();
        (classify_close(Some(code)), overrides)
    };
    for (first, last) in runs(0, u16::MAX, key) {
        let names: Vec<String> = runs(first, last, close_code_name)
            .into_iter()
            .map(|(a, b)| format!("{} {}", range(a, b), close_code_name(a)))
            .collect();
        let class = classify_close(Some(first));
        let _ = write!(md, "| {} | {} | `{class}` | `{}` |", range(first, last), names.join("; "), class.default_action());
        for (_, policy) in &presets {
            let _ = write!(md, " {} |", decision(policy, class, Some(first), None, true));
        }
        md.push('\n');
    }
    md.push_str(
        "\n## Endings without a status code\n\nThese are classified by the core \
         (`Failure::class`) and looked up in `close_codes` under the code `Failure::code` \
         gives them.\n\n",
    );
    md.push_str("| ending | code looked up | class | default action |");
    preset_columns(&mut md, &presets);
    md.push_str(&"|---".repeat(4 + presets.len()));
    md.push_str("|\n");
    let z = Duration::ZERO;
    let endings = [
        (
            "close frame without a status code",
            Failure::Closed { code: None, reason: CloseReason::default(), class: classify_close(None), after_upgrade: z, received: false },
        ),
        ("connection dropped without a close frame", Failure::Dropped { detail: String::new(), after_upgrade: z, received: false }),
        ("no pong after a ping", Failure::PongTimeout { waited: z, after_upgrade: z }),
    ];
    for (what, failure) in endings {
        let (class, code) = (failure.class(), failure.code());
        let shown = code.map_or("none".to_string(), |c| c.to_string());
        let _ = write!(md, "| {what} | {shown} | `{class}` | `{}` |", class.default_action());
        for (_, policy) in &presets {
            let _ = write!(md, " {} |", decision(policy, class, code, None, true));
        }
        md.push('\n');
    }
    md.push_str("\n## By class\n\n| class | default action | close codes |\n|---|---|---|\n");
    let by_class = runs(0, u16::MAX, |c| classify_close(Some(c)));
    for class in Class::ALL {
        let codes: Vec<String> = by_class
            .iter()
            .filter(|(a, _)| classify_close(Some(*a)) == class)
            .map(|(a, b)| range(*a, *b))
            .collect();
        if !codes.is_empty() {
            let _ = writeln!(md, "| `{class}` | `{}` | {} |", class.default_action(), codes.join(", "));
        }
    }
    md
}

// ---------------------------------------------------------------- handshake

fn handshake_md() -> String {
    let presets = presets();
    let mut md = format!("{HEADER}\n\n# Handshake outcomes\n\n");
    md.push_str(
        "How the core treats a dial that did not reach an open WebSocket (`redial::policy`). \
         HTTP statuses 100–599 answering the upgrade are grouped into ranges of equal class \
         by `classify_status`, without and with a `Retry-After` header; the other failures \
         are classified by `classify_dial_failure`. The default action is \
         `Class::default_action` (`close_codes` overrides apply to close codes only, never \
         to handshakes). The preset columns are what `decide` does under each preset for a \
         failure of the first dial and, where it differs, after re-authenticating and once \
         the retry budget is spent.\n\n## HTTP statuses\n\n",
    );
    md.push_str("| status | `Retry-After` | named statuses | class | default action |");
    preset_columns(&mut md, &presets);
    md.push_str(&"|---".repeat(5 + presets.len()));
    md.push_str("|\n");
    let key = |s: u16| (s / 100, classify_status(s, false), classify_status(s, true));
    let asked = Some(Duration::from_secs(30));
    for (first, last) in runs(100, 599, key) {
        let names: Vec<String> = (first..=last)
            .filter_map(|s| status_name(s).map(|n| format!("{s} {n}")))
            .collect();
        let names = if names.is_empty() { "—".to_string() } else { names.join(", ") };
        let cells = |ra: Option<Duration>| {
            let class = classify_status(first, ra.is_some());
            let decisions: Vec<String> = presets.iter().map(|(_, p)| decision(p, class, None, ra, false)).collect();
            (class, decisions)
        };
        let (without, with) = (cells(None), cells(asked));
        let rows = if without == with {
            vec![("either", without)]
        } else {
            vec![("no", without), ("yes", with)]
        };
        for (ra, (class, decisions)) in rows {
            let _ = write!(md, "| {} | {ra} | {names} | `{class}` | `{}` |", range(first, last), class.default_action());
            for d in decisions {
                let _ = write!(md, " {d} |");
            }
            md.push('\n');
        }
    }
    md.push_str("\n## Other dial failures\n\n| failure | the diagnosis reads | class | default action |");
    preset_columns(&mut md, &presets);
    md.push_str(&"|---".repeat(4 + presets.len()));
    md.push_str("|\n");
    for failure in dial_failures() {
        let class = classify_dial_failure(&failure);
        let _ = write!(md, "| {} | {failure} | `{class}` | `{}` |", failure_label(&failure), class.default_action());
        for (_, policy) in &presets {
            let _ = write!(md, " {} |", decision(policy, class, None, None, false));
        }
        md.push('\n');
    }
    md.push_str(&presets_md(&presets));
    md
}

/// One example of every kind of dial failure but an HTTP status.
fn dial_failures() -> Vec<DialFailure> {
    vec![
        DialFailure::Dns("example.invalid".into()),
        DialFailure::Refused,
        DialFailure::Reset,
        DialFailure::Timeout(DialPhase::Connect),
        DialFailure::Timeout(DialPhase::Handshake),
        DialFailure::Tls("handshake alert".into()),
        DialFailure::Certificate("unknown issuer".into()),
        DialFailure::Io("broken pipe".into()),
    ]
}

/// A short name for a dial failure. The match is exhaustive on purpose: a new kind of
/// failure does not compile until it is named here and added to [`dial_failures`].
fn failure_label(failure: &DialFailure) -> &'static str {
    match failure {
        DialFailure::Dns(_) => "DNS failure",
        DialFailure::Refused => "connection refused",
        DialFailure::Reset => "connection reset",
        DialFailure::Timeout(DialPhase::Connect) => "connect timeout",
        DialFailure::Timeout(DialPhase::Handshake) => "handshake timeout",
        DialFailure::Tls(_) => "TLS failure",
        DialFailure::Certificate(_) => "certificate rejected",
        DialFailure::Status { .. } => "HTTP status",
        DialFailure::Io(_) => "other I/O error",
    }
}

/// The settings in which the presets differ, from their serialized configs.
fn presets_md(presets: &[(Preset, Policy)]) -> String {
    let flat: Vec<BTreeMap<String, String>> = presets
        .iter()
        .map(|(_, p)| {
            let mut out = BTreeMap::new();
            flatten("", &serde_json::to_value(p.config()).expect("a config serializes"), &mut out);
            out
        })
        .collect();
    let mut keys: Vec<&String> = flat.iter().flat_map(|m| m.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut md = String::from(
        "\n## Presets\n\nThe settings in which the presets differ (from their serialized \
         configs; absent means unset). Every other setting is the default of \
         `Config::default()`.\n\n| setting |",
    );
    preset_columns(&mut md, presets);
    md.push_str(&"|---".repeat(1 + presets.len()));
    md.push_str("|\n");
    for key in keys {
        let values: Vec<&str> = flat.iter().map(|m| m.get(key).map_or("absent", String::as_str)).collect();
        if values.iter().all(|v| *v == values[0]) {
            continue;
        }
        let _ = write!(md, "| `{key}` |");
        for v in values {
            let _ = write!(md, " `{v}` |");
        }
        md.push('\n');
    }
    md
}

fn flatten(prefix: &str, value: &Value, out: &mut BTreeMap<String, String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let plain = k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    && k.starts_with(|c: char| c.is_ascii_alphabetic());
                let k = if plain { k.clone() } else { format!("\"{k}\"") };
                let key = if prefix.is_empty() { k } else { format!("{prefix}.{k}") };
                flatten(&key, v, out);
            }
        }
        Value::String(s) => {
            out.insert(prefix.to_string(), s.clone());
        }
        other => {
            out.insert(prefix.to_string(), other.to_string());
        }
    }
}

// ---------------------------------------------------------------- invariants

/// ARCHITECTURE.md's invariants, and the property tests in `tests/prop_core_model.rs`
/// that check them. Every name is checked against the file when the docs are generated.
const INVARIANTS: [(&str, &[&str]); 9] = [
    ("The core never panics, whatever inputs arrive in whatever state and order.", &[
        "core_follows_the_model_and_keeps_its_invariants",
        "one_step_classification_matches_the_tables",
    ]),
    ("Dials between two stable connections never exceed `max_attempts`.", &[
        "core_follows_the_model_and_keeps_its_invariants",
    ]),
    ("No retry over WebSockets after a `policy` or `protocol` class close; FellBack or \
      Stopped follows directly.", &[
        "core_follows_the_model_and_keeps_its_invariants",
        "one_step_classification_matches_the_tables",
    ]),
    ("Every backoff delay lies in `[0, cap]` (or the class minimum), and `Retry-After` is \
      honoured up to `max_retry_after`.", &["core_follows_the_model_and_keeps_its_invariants"]),
    ("`poll_timeout()` is never in the past relative to the last `now` handed in, and the \
      core asks for at most one live socket at a time.", &[
        "core_follows_the_model_and_keeps_its_invariants",
    ]),
    ("After `Stopped`, no output other than observer events is produced.", &[
        "core_follows_the_model_and_keeps_its_invariants",
    ]),
    ("Every transition the core makes is a row of the documented transition table; every \
      row is reachable.", &[
        "core_follows_the_model_and_keeps_its_invariants",
        "every_transition_row_is_reached",
    ]),
    ("Same seed and inputs give the same outputs (determinism).", &[
        "core_follows_the_model_and_keeps_its_invariants",
    ]),
    ("A message given to `send` ends written or handed back: never dropped.", &[]),
];

const FUZZ_PENDING: &str = "added with the fuzz targets (issue 5)";

fn invariants_md(root: &Path) -> Result<String, String> {
    let tests = "tests/prop_core_model.rs";
    let source = std::fs::read_to_string(root.join(tests))
        .map_err(|e| format!("cannot read {tests} to check the property test names: {e}"))?;
    let helpers: Vec<(String, String)> = std::fs::read_dir(root.join("tests/prop_model"))
        .map(|dir| {
            let mut files: Vec<(String, String)> = dir
                .filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == "rs"))
                .filter_map(|e| {
                    let name = format!("tests/prop_model/{}", e.file_name().to_string_lossy());
                    std::fs::read_to_string(e.path()).ok().map(|text| (name, text))
                })
                .collect();
            files.sort();
            files
        })
        .unwrap_or_default();
    let mut md = format!("{HEADER}\n\n# Invariants\n\n");
    md.push_str(
        "ARCHITECTURE.md's invariants of the core, the property tests that check them \
         (`tests/prop_core_model.rs`, which drives the real core beside a reference model), \
         and the files whose checks fail with the invariant's number, as in \
         `\"(3) …\"`. The fuzz assertion column is filled in with the fuzz targets.\n\n\
         | # | invariant | property tests | checked in | fuzz assertion |\n|---|---|---|---|---|\n",
    );
    for (i, (text, names)) in INVARIANTS.iter().enumerate() {
        let n = i + 1;
        for name in *names {
            if !source.contains(&format!("fn {name}(")) {
                return Err(format!(
                    "{tests} has no test `fn {name}(`: invariant {n} names it in \
                     examples/gen-docs.rs (INVARIANTS); update the name there"
                ));
            }
        }
        let tag = format!("\"({n}) ");
        let mut files: Vec<&str> = helpers.iter().filter(|(_, t)| t.contains(&tag)).map(|(f, _)| f.as_str()).collect();
        if source.contains(&tag) {
            files.insert(0, tests);
        }
        let tests_cell = if names.is_empty() {
            "none yet: the send queue lives in the driver, outside the core's model".to_string()
        } else {
            names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
        };
        let files_cell = if files.is_empty() {
            "—".to_string()
        } else {
            files.iter().map(|f| format!("`{f}`")).collect::<Vec<_>>().join(", ")
        };
        let _ = writeln!(md, "| {n} | {text} | {tests_cell} | {files_cell} | {FUZZ_PENDING} |");
    }
    Ok(md)
}
