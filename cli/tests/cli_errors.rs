//! Bad arguments exit 64 and bad config files 65, each with exactly one stderr line
//! naming the problem.

mod cli_support;

use cli_support::*;

/// Runs `args`, checks the exit code and that stderr is one line; returns that line.
fn one_line_error(args: &[&str], config: Option<&std::path::Path>, want: i32) -> String {
    let mut cmd = redial();
    cmd.args(args);
    if let Some(path) = config {
        cmd.arg("--config").arg(path);
    }
    let out = cmd.output().unwrap();
    assert_eq!(code(&out), want, "{args:?}: {}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{args:?}: {err:?}");
    assert!(err.starts_with("redial: "), "{err}");
    assert!(out.stdout.is_empty(), "{args:?}");
    err
}

#[test]
fn an_unknown_subcommand_is_a_usage_error() {
    let err = one_line_error(&["frobnicate"], None, 64);
    assert!(
        err.contains("unrecognized subcommand 'frobnicate'"),
        "{err}"
    );
    assert!(err.contains("--help"), "{err}");
}

#[test]
fn a_bad_timeout_is_a_usage_error() {
    let err = one_line_error(
        &["probe", "ws://127.0.0.1:1/", "--timeout", "soon"],
        None,
        64,
    );
    assert!(err.contains("--timeout"), "{err}");
    assert!(err.contains("soon"), "{err}");
    let err = one_line_error(&["probe", "ws://127.0.0.1:1/", "--timeout", "0s"], None, 64);
    assert!(err.contains("--timeout"), "{err}");
}

#[test]
fn other_bad_arguments_are_usage_errors() {
    let err = one_line_error(&["demo", "nope"], None, 64);
    assert!(
        err.contains("possible values: policy-close, policy-close-old-client"),
        "{err}"
    );
    let err = one_line_error(&["probe"], None, 64);
    assert!(err.contains("<URL>"), "{err}");
    let err = one_line_error(&["connect", "ftp://127.0.0.1/"], None, 64);
    assert!(err.contains("scheme"), "{err}");
    let err = one_line_error(
        &["probe", "ws://127.0.0.1:1/", "--header", "no colon"],
        None,
        64,
    );
    assert!(err.contains("--header"), "{err}");
    let err = one_line_error(
        &["probe", "ws://127.0.0.1:1/", "--ca", "/no/such/ca.pem"],
        None,
        64,
    );
    assert!(err.contains("--ca"), "{err}");
}

#[test]
fn an_unknown_config_field_is_a_config_error() {
    let (_dir, path) = write_file("bad.toml", "[backoff]\nbase = \"100ms\"\njitter = true\n");
    let err = one_line_error(&["echo", "ws://127.0.0.1:1/"], Some(&path), 65);
    assert!(err.contains("bad.toml"), "{err}");
    assert!(err.contains("unknown field `jitter`"), "{err}");
    assert!(err.contains("line 3"), "{err}");
}

#[test]
fn a_broken_rule_is_a_config_error_naming_the_field() {
    let (_dir, path) = write_file("cap.toml", "[backoff]\nbase = \"1s\"\ncap = \"100ms\"\n");
    let err = one_line_error(&["connect", "ws://127.0.0.1:1/"], Some(&path), 65);
    assert!(err.contains("`backoff.cap`"), "{err}");
    assert!(err.contains("must be at least backoff.base"), "{err}");
    let (_dir, path) = write_file("missing.toml", "");
    std::fs::remove_file(&path).unwrap();
    let err = one_line_error(&["echo", "ws://127.0.0.1:1/"], Some(&path), 65);
    assert!(err.contains("cannot read config file"), "{err}");
}
