//! `core_sequence`: an arbitrary config (kept only when `validate()` accepts it) and a
//! sequence of (Δt, input) drive the sans-IO core in virtual time. After every input the
//! outputs are drained and docs/design.md's invariants 2–7 are asserted by the
//! library's checker (`redial::sim::invariants`, shared with the property tests; driven
//! by `redial_fuzz::run`); the whole run is then repeated from another origin and must
//! give the same records (invariant 8, `check_determinism`). Input format:
//! `redial_fuzz::case`.

#![no_main]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use redial::sim::invariants::check_determinism;
use redial_fuzz::case::decode;
use redial_fuzz::run::run;

/// Inputs run, and inputs discarded because validation refused their config: reported
/// on stderr at every power of two of the total from 1,024 on (`scripts/fuzz` prints the
/// last report), so a generator that mostly makes invalid configs shows.
static RUNS: AtomicU64 = AtomicU64::new(0);
static DISCARDED: AtomicU64 = AtomicU64::new(0);

fn count(discarded: bool) {
    let total = RUNS.fetch_add(1, Ordering::Relaxed) + 1;
    let thrown =
        DISCARDED.fetch_add(u64::from(discarded), Ordering::Relaxed) + u64::from(discarded);
    if total >= 1024 && total.is_power_of_two() {
        eprintln!(
            "core_sequence: {thrown} of {total} inputs discarded ({:.1} %: config refused by validate)",
            thrown as f64 * 100.0 / total as f64
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let case = decode(data);
    if redial_fuzz::debug() {
        eprintln!("{case:#?}");
    }
    // One real origin; everything after it is an offset (virtual time).
    let t0 = Instant::now();
    let first = run(&case, t0, true);
    count(first.is_none());
    let Some(first) = first else {
        return; // validation refused the config
    };
    let first = first.unwrap_or_else(|e| {
        panic!(
            "invariant broken\n{e}\nconfig: {:?}\nseed: {}",
            case.config, case.seed
        )
    });
    if redial_fuzz::debug() {
        for r in &first {
            eprintln!(
                "t0+{:?} {:?} -> {} (attempt {})",
                r.at, r.input, r.state, r.attempt
            );
            if let Some(c) = &r.cause {
                eprintln!("    {c}");
            }
        }
    }
    // (8) Same seed and inputs, another origin: the same records.
    let again = run(&case, t0 + Duration::from_secs(7 * 24 * 3600), false)
        .expect("validated once")
        .expect("unchecked runs do not fail");
    if let Err(e) = check_determinism(&first, &again) {
        panic!(
            "invariant broken\n{e}\nconfig: {:?}\nseed: {}",
            case.config, case.seed
        );
    }
});
