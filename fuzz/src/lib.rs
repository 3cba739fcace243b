//! Shared code of the fuzz targets: the input format of `core_sequence` ([`case`]), the
//! harness that drives a core through a decoded case ([`run`]) and a reference WebSocket
//! frame reader ([`frames`]).
//!
//! The invariant checker and the independent copies of docs/design.md's tables are the
//! library's `redial::sim::invariants` (and its `tables`), which the property tests in
//! `tests/prop_model/` use too.

pub mod case;
pub mod frames;
pub mod run;

/// Whether `REDIAL_FUZZ_DEBUG` asks the targets to print what they decoded (useful
/// with `cargo fuzz run <target> <artifact>`).
pub fn debug() -> bool {
    std::env::var_os("REDIAL_FUZZ_DEBUG").is_some()
}
