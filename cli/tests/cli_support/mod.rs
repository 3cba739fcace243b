//! Shared setup of the CLI tests: the built `redial` binary, run off the async test's
//! thread; a config file with short timeouts in a temporary directory; JSON lines.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Output;

use serde_json::Value;
use tempfile::TempDir;

/// The environment variables the proxy rules read.
pub const PROXY_VARS: [&str; 8] = [
    "https_proxy",
    "HTTPS_PROXY",
    "http_proxy",
    "HTTP_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
];

/// The built binary, with colours off and no proxy from the environment.
pub fn redial() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::new(env!("CARGO_BIN_EXE_redial"));
    cmd.env("NO_COLOR", "1");
    // The machine's proxy settings are not the test's: a test that wants a proxy sets
    // one on its own child.
    for var in PROXY_VARS {
        cmd.env_remove(var);
    }
    // A guard against a hang, not a synchronisation.
    cmd.timeout(std::time::Duration::from_secs(60));
    cmd
}

/// Runs `cmd` on a blocking thread, so that the test's loopback servers keep running.
pub async fn run(mut cmd: assert_cmd::Command) -> Output {
    async_std::task::spawn_blocking(move || cmd.output().expect("the binary runs")).await
}

/// The default policy with short timeouts, as a TOML file in a temporary directory
/// (kept alive by the returned `TempDir`).
pub fn fast_config() -> (TempDir, PathBuf) {
    write_file(
        "fast.toml",
        r#"
[backoff]
base = "10ms"
cap = "100ms"
[timeouts]
connect = "500ms"
handshake = "500ms"
close_grace = "300ms"
"#,
    )
}

/// Writes `text` to `name` in a new temporary directory.
pub fn write_file(name: &str, text: impl AsRef<[u8]>) -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("the file is written");
    (dir, path)
}

/// Every stdout line, parsed as JSON (panics on a line that is not).
pub fn json_lines(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// The lines whose `event` is `kind`.
pub fn of_kind<'a>(lines: &'a [Value], kind: &str) -> Vec<&'a Value> {
    lines.iter().filter(|l| l["event"] == kind).collect()
}

/// The stderr text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The exit code.
pub fn code(out: &Output) -> i32 {
    out.status.code().expect("an exit code")
}
