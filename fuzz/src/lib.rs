//! Shared code of the fuzz targets: the input format of `core_sequence` ([`case`]), the
//! invariant checker ([`check`]), independent copies of ARCHITECTURE.md's tables
//! ([`tables`]) and a reference WebSocket frame reader ([`frames`]).
//!
//! Nothing here depends on the main crate's tests; the ideas of
//! `tests/prop_model/` are written again where they are needed.

pub mod case;
pub mod check;
pub mod frames;
pub mod tables;

/// Whether `REDIAL_FUZZ_DEBUG` asks the targets to print what they decoded (useful
/// with `cargo fuzz run <target> <artifact>`).
pub fn debug() -> bool {
    std::env::var_os("REDIAL_FUZZ_DEBUG").is_some()
}
