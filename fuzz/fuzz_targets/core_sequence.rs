//! `core_sequence`: an arbitrary config (kept only when `validate()` accepts it) and a
//! sequence of (Δt, input) drive the sans-IO core in virtual time. After every input the
//! outputs are drained and ARCHITECTURE.md's invariants 2–7 are asserted
//! (`redial_fuzz::check`); the whole run is then repeated from another origin and must
//! give the same outputs (invariant 8). Input format: `redial_fuzz::case`.

#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use redial_fuzz::case::decode;
use redial_fuzz::check::run;

fuzz_target!(|data: &[u8]| {
    let case = decode(data);
    if redial_fuzz::debug() {
        eprintln!("{case:#?}");
    }
    // One real origin; everything after it is an offset (virtual time).
    let t0 = Instant::now();
    let Some(first) = run(&case, t0, true) else {
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
    // (8) Same seed and inputs, another origin: the same outputs.
    let again = run(&case, t0 + Duration::from_secs(7 * 24 * 3600), false)
        .expect("validated once")
        .expect("unchecked runs do not fail");
    assert!(
        first == again,
        "(8) same seed and inputs gave different outputs"
    );
});
