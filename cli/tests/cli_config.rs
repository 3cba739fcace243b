//! `redial config` prints a commented TOML config that parses back to the preset and
//! that `--config` accepts unchanged; `redial diagram` prints the state diagram.

mod cli_support;

use cli_support::*;
use redial::config::{Config, Preset};
use redial_testkit::{Act, Behavior, WsServer};

#[async_std::test]
async fn config_output_parses_back_for_both_presets() {
    // A server that closes normally at once: `echo` then ends with exit 0.
    let ws = WsServer::start(|_| {
        Behavior::Accept(vec![Act::Close {
            code: Some(1000),
            reason: String::new(),
        }])
    })
    .await
    .unwrap();
    for preset in Preset::ALL {
        let mut cmd = redial();
        cmd.args(["config", "--preset", preset.name()]);
        let out = run(cmd).await;
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let text = String::from_utf8(out.stdout).unwrap();
        let back = Config::from_toml_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(back, preset.config(), "{}", preset.name());
        assert!(
            text.contains("# Dials allowed between two stable connections"),
            "{text}"
        );

        // --config takes the printed file back unchanged.
        let (_dir, path) = write_file("printed.toml", &text);
        let mut cmd = redial();
        cmd.args(["echo", "--json", &ws.url(), "--config"])
            .arg(&path);
        let out = run(cmd).await;
        assert_eq!(code(&out), 0, "{}: {}", preset.name(), stderr(&out));
    }
}

#[test]
fn config_json_reads_back() {
    let out = redial()
        .args(["config", "--json", "--preset", "codex-compat"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        Config::from_json_str(&text).unwrap(),
        Preset::CodexCompat.config()
    );
}

#[test]
fn diagram_prints_mermaid_and_dot() {
    let out = redial().args(["diagram"]).output().unwrap();
    assert_eq!(code(&out), 0);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("stateDiagram-v2"));
    let out = redial()
        .args(["diagram", "--format", "dot"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("digraph"));
}
