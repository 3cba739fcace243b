//! Exit codes, and the one-line error every failing command prints.

use std::fmt;

/// Success (for `probe`: the endpoint is usable).
pub const OK: u8 = 0;
/// A runtime error: the client gave up, a request failed, a demo scenario ended
/// unexpectedly, a server could not be started.
pub const RUNTIME: u8 = 1;
/// `probe`: rejected by a policy, protocol or auth close, or a non-101 upgrade status.
pub const PROBE_REJECTED: u8 = 2;
/// `probe`: unreachable or timed out (DNS, refused, reset, dropped, timeouts).
pub const PROBE_UNREACHABLE: u8 = 3;
/// `probe`: the TLS handshake failed (certificate rejected, or another TLS error).
pub const PROBE_TLS: u8 = 4;
/// Bad arguments (sysexits' EX_USAGE): unknown subcommand or flag, malformed value,
/// an unreadable `--ca` file.
pub const USAGE: u8 = 64;
/// A bad config file (sysexits' EX_DATAERR): unreadable, malformed, an unknown field,
/// or a rule broken.
pub const CONFIG: u8 = 65;

/// The table printed after `--help` and kept in README.md.
pub const TABLE: &str = "\
Exit codes:
  0   success (probe: the endpoint is usable)
  1   runtime error: gave up, a request failed, a demo scenario did not end as expected
  2   probe: rejected by a policy/protocol/auth close or a non-101 upgrade status
  3   probe: unreachable or timed out (DNS, refused, reset, dropped, timeouts)
  4   probe: TLS failure (certificate rejected or another TLS error)
  64  bad arguments (unknown subcommand or flag, malformed value, unreadable --ca file)
  65  bad config file (unreadable, malformed, unknown field, or a rule broken)

With --json every command prints one JSON object per line on stdout; errors are one
line on stderr.";

/// A failure that ends the command: one line for stderr and an exit code.
#[derive(Debug)]
pub struct CliError {
    /// The exit code.
    pub code: u8,
    /// The message, one line.
    pub message: String,
}

impl CliError {
    /// Bad arguments (64).
    pub fn usage(message: impl Into<String>) -> CliError {
        CliError::new(USAGE, message)
    }

    /// A bad config file (65).
    pub fn config(message: impl Into<String>) -> CliError {
        CliError::new(CONFIG, message)
    }

    /// Another runtime error (1).
    pub fn runtime(message: impl Into<String>) -> CliError {
        CliError::new(RUNTIME, message)
    }

    fn new(code: u8, message: impl Into<String>) -> CliError {
        let message: String = message.into();
        // One line, whatever the source said.
        let message = message.split_whitespace().collect::<Vec<_>>().join(" ");
        CliError { code, message }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}
