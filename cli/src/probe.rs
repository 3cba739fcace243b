//! `redial probe URL`: one dial, no retries, and a diagnosis of what the server did.

use std::time::{Duration, Instant};

use futures_lite::{FutureExt, StreamExt};
use redial::config::Preset;
use redial::core::Event;
use redial::driver::ClientEvent;
use redial::redact::redact_url;

use crate::exit::CliError;
use crate::output::Printer;
use crate::probe_verdict::{judge, Observed};
use crate::session::{drain, Tracker};
use crate::setup::{self, parse_duration, ConnOpts};
use crate::term::Stream;

/// The exit codes of `probe`, shown after its `--help`.
const CODES: &str = "\
Exit codes:
  0   usable: the upgrade succeeded and the server did not close with a policy,
      protocol or auth code within --wait (other closes are reported)
  2   rejected: a policy (1008), protocol or auth close, or a non-101 upgrade status
  3   unreachable or timed out: DNS, refused, reset, dropped, connect/handshake timeout
  4   TLS failure: certificate rejected, or another TLS error
  64  bad arguments";

/// Dial once, without retries, and say what the server did and what redial's default
/// policy would do about it.
#[derive(clap::Args, Debug)]
#[command(after_help = CODES)]
pub struct ProbeArgs {
    /// The WebSocket URL (ws:// or wss://).
    url: String,
    #[command(flatten)]
    conn: ConnOpts,
    /// The connect timeout and the handshake timeout (each).
    #[arg(long, value_name = "D", default_value = "10s", value_parser = parse_duration)]
    timeout: Duration,
    /// How long to watch an open connection for a close.
    #[arg(long, value_name = "D", default_value = "1s", value_parser = parse_duration)]
    wait: Duration,
}

/// Runs the probe; returns the exit code.
pub async fn run(args: ProbeArgs, json: bool) -> Result<u8, CliError> {
    if args.timeout.is_zero() || args.timeout > Duration::from_secs(24 * 3600) {
        return Err(CliError::usage(
            "--timeout must be longer than 0s and at most a day",
        ));
    }
    let mut config = Preset::Default.config();
    config.budget.max_attempts = 1;
    config.fallback.enabled = false;
    config.timeouts.connect = args.timeout;
    config.timeouts.handshake = args.timeout;
    let printer = Printer::new(json, Stream::Stdout);
    let proxy = setup::proxy_shown(&args.url, &setup::with_proxy(config.clone(), &args.conn))?;
    let (client, mut events) = setup::start(setup::builder(&args.url, config, &args.conn)?)?;
    let mut tracker = Tracker::default();
    let mut chosen: Option<String> = None;
    let mut obs = Observed {
        wait: args.wait,
        ..Observed::default()
    };
    // The driver times the dial out by itself; this only guards against a hang.
    let mut until = Instant::now() + args.timeout * 2 + args.wait + Duration::from_secs(5);
    loop {
        let next = async { Some(events.next().await) }
            .or(async {
                async_io::Timer::at(until).await;
                None
            })
            .await;
        let Some(Some(event)) = next else { break };
        tracker.take(&printer, &event);
        let ClientEvent::Core(event) = event else {
            continue;
        };
        match event {
            Event::Connected { took, protocol, .. } => {
                obs.took = Some(took);
                chosen = protocol;
                until = Instant::now() + args.wait;
            }
            Event::Closed { failure } | Event::HandshakeFailed { failure } => {
                obs.failure = Some(failure);
                break;
            }
            Event::GaveUp { .. } => break,
            _ => {}
        }
    }
    client.close().await;
    drain(&mut events, &printer, &mut tracker).await;
    let mut verdict = judge(&redact_url(&args.url), &obs);
    verdict
        .fields
        .insert("proxy".into(), serde_json::json!(proxy));
    verdict.lines.insert(1, format!("  proxy      {proxy}"));
    if let Some(p) = &chosen {
        verdict
            .fields
            .insert("protocol".into(), serde_json::json!(p));
        verdict.lines.insert(2, format!("  protocol   {p:?}"));
    }
    if !json {
        printer.note("");
    }
    printer.diagnosis(verdict.fields, &verdict.cause, &verdict.lines);
    Ok(verdict.code)
}
