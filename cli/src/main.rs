//! `redial`: see, diagnose and script reconnect behaviour without writing code.
//!
//! Every subcommand takes `--json` (one JSON object per line on stdout, docs/design.md's
//! event lines); errors are one line on stderr with a documented exit code (see
//! [`exit::TABLE`]).
#![forbid(unsafe_code)]

mod connect;
mod countdown;
mod demo;
mod demo_acked;
mod demo_run;
mod demo_scenarios;
mod echo;
mod exit;
mod output;
mod probe;
mod probe_verdict;
mod session;
mod setup;
mod term;

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use redial::config::Preset;
use redial::redact::{redact_url, redact_urls_in};
use serde_json::json;

use crate::exit::CliError;
use crate::term::Stream;

/// See, diagnose and script WebSocket reconnect behaviour: redial reads close codes
/// instead of guessing, retries what is worth retrying, falls back to HTTPS and comes
/// back, and says why.
#[derive(Parser, Debug)]
#[command(name = "redial", version, after_help = exit::TABLE)]
struct Cli {
    /// Print one JSON object per event on stdout (t_ms, event, cause, code, class, …).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Real servers on loopback, through the real driver: a server that accepts the
    /// upgrade and at once closes with 1008, a restart, a 429, a return from HTTPS, a proxy,
    /// acknowledged delivery across a reset.
    Demo(demo::DemoArgs),
    /// One dial, no retries: what the server did and what redial would do about it.
    Probe(probe::ProbeArgs),
    /// Send standard input's lines, print what arrives; reconnect and fall back per the
    /// policy.
    Connect(connect::ConnectArgs),
    /// Send back every message received, until the server closes with 1000.
    Echo(echo::EchoArgs),
    /// Print the core's state diagram, drawn from its transition table.
    Diagram {
        /// The output format.
        #[arg(long, value_enum, default_value_t = Format::Mermaid)]
        format: Format,
    },
    /// Print a complete, commented TOML config that --config accepts back.
    Config {
        /// The preset to print: default or codex-compat.
        #[arg(long, value_name = "NAME", default_value = "default", value_parser = setup::parse_preset)]
        preset: Preset,
    },
}

/// Formats of `redial diagram`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// A Mermaid `stateDiagram-v2`.
    Mermaid,
    /// A Graphviz digraph.
    Dot,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return bad_arguments(e),
    };
    match async_std::task::block_on(run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            // Messages name what they were given; a URL in one loses its secrets.
            term::line(Stream::Stderr, &redact_urls_in(&format!("redial: {e}")));
            ExitCode::from(e.code)
        }
    }
}

async fn run(cli: Cli) -> Result<u8, CliError> {
    let json = cli.json;
    match cli.command {
        Command::Demo(args) => demo::run(args, json).await,
        Command::Probe(args) => probe::run(args, json).await,
        Command::Connect(args) => connect::run(args, json).await,
        Command::Echo(args) => echo::run(args, json).await,
        Command::Diagram { format } => {
            let (name, text) = match format {
                Format::Mermaid => ("mermaid", redial::diagram::mermaid()),
                Format::Dot => ("dot", redial::diagram::dot()),
            };
            if json {
                let line = json!({"t_ms": 0, "event": "diagram", "format": name, "text": text});
                term::line(Stream::Stdout, &line.to_string());
            } else {
                term::line(Stream::Stdout, text.trim_end());
            }
            Ok(exit::OK)
        }
        Command::Config { preset } => {
            let config = preset.config();
            if json {
                let text = serde_json::to_string(&config)
                    .map_err(|e| CliError::runtime(format!("config as JSON: {e}")))?;
                term::line(Stream::Stdout, &text);
            } else {
                let text = redial::config::to_commented_toml(&config);
                term::line(
                    Stream::Stdout,
                    &format!("# preset: {}\n{}", preset.name(), text.trim_end()),
                );
            }
            Ok(exit::OK)
        }
    }
}

/// Help and version go to stdout (exit 0); anything else is clap's first error line
/// with a hint, on stderr (exit 64). A rejected value is shown without its secrets
/// ([`shown_value`]), never as clap quotes it.
fn bad_arguments(e: clap::Error) -> ExitCode {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    let message = match e.kind() {
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand | ErrorKind::MissingSubcommand => {
            "a subcommand is required: demo, probe, connect, echo, diagram or config".to_string()
        }
        _ if bad_value(&e).is_some() => bad_value(&e).unwrap_or_default(),
        _ => {
            let rendered = e.render().to_string();
            let mut lines = rendered.lines().map(str::trim).filter(|l| !l.is_empty());
            let first = lines.next().unwrap_or("invalid arguments");
            let mut first = first.strip_prefix("error: ").unwrap_or(first).to_string();
            // "the following required arguments were not provided:" names them next.
            if first.ends_with(':') {
                if let Some(next) = lines.next() {
                    first.push(' ');
                    first.push_str(next);
                }
            }
            if let Some(ContextValue::Strings(valid)) = e.get(ContextKind::ValidValue) {
                first.push_str(&format!("; possible values: {}", valid.join(", ")));
            }
            first
        }
    };
    term::line(
        Stream::Stderr,
        &redact_urls_in(&format!("redial: {message} (see 'redial --help')")),
    );
    ExitCode::from(exit::USAGE)
}

/// "invalid value '…' for '--flag <V>': why; possible values: …" for an error about a
/// value, with the value as [`shown_value`] shows it; `None` for other errors.
fn bad_value(e: &clap::Error) -> Option<String> {
    use clap::error::{ContextKind, ContextValue};
    let Some(ContextValue::String(value)) = e.get(ContextKind::InvalidValue) else {
        return None;
    };
    let arg = match e.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(arg)) => arg.as_str(),
        _ => "an argument",
    };
    let mut message = format!("invalid value '{}' for '{arg}'", shown_value(arg, value));
    if let Some(why) = std::error::Error::source(e) {
        message.push_str(&format!(": {why}"));
    }
    if let Some(ContextValue::Strings(valid)) = e.get(ContextKind::ValidValue) {
        message.push_str(&format!("; possible values: {}", valid.join(", ")));
    }
    Some(message)
}

/// A rejected value as an error message may show it: a header with its name only (its
/// value may be a token), anything else as a URL without user info or query
/// ([`redact_url`]: a proxy URL's password, a token in a query).
fn shown_value(arg: &str, value: &str) -> String {
    if arg.starts_with("--header") {
        return match value.split_once(':') {
            Some((name, _)) => format!("{}: <redacted>", name.trim()),
            None => "<redacted>".to_string(),
        };
    }
    redact_url(value)
}
