//! `redial connect URL`: standard input's lines go out as text messages (or requests),
//! received messages go to stdout, events to stderr (or everything as JSON lines on
//! stdout). Reconnects and falls back per the policy; ends on end of input with a
//! graceful close. With `--ack`, acknowledged delivery in the JSON envelope
//! (`redial::delivery::JsonEnvelope`): lines are numbered, kept until acknowledged,
//! sent again after a reconnect, and waited for at the end.

use std::collections::VecDeque;
use std::future::pending;
use std::time::{Duration, Instant};

use async_std::io::prelude::BufReadExt;
use async_std::io::BufReader;
use futures_lite::{FutureExt, StreamExt};
use redial::driver::{
    AckOptions, AckTimeoutAction, ClientEvent, Incoming, Message, RequestError, RequestStream,
};
use serde_json::{json, Map};

use crate::exit::{self, CliError};
use crate::output::Printer;
use crate::session::{drain, Tracker};
use crate::setup::{self, parse_duration, ConnOpts, PolicyOpts};
use crate::term::{self, Stream};

/// Connect, send standard input's lines, print what arrives.
#[derive(clap::Args, Debug)]
pub struct ConnectArgs {
    /// The WebSocket URL (ws:// or wss://).
    url: String,
    /// Fall back to HTTPS POST + Server-Sent Events at this URL.
    #[arg(long, value_name = "URL")]
    fallback_url: Option<String>,
    #[command(flatten)]
    policy: PolicyOpts,
    #[command(flatten)]
    conn: ConnOpts,
    /// Send each line as a request and print its response up to the terminal message
    /// ({"type":"response.completed"}); a request that got no answer before the
    /// connection ended is sent again on the next connection or the fallback.
    #[arg(long)]
    request: bool,
    /// Without --request: after the end of input (with --ack, once every line is
    /// acknowledged), close once nothing has arrived for this long.
    #[arg(long, value_name = "D", default_value = "1s", value_parser = parse_duration)]
    settle: Duration,
    /// Acknowledged delivery with the JSON envelope: each line goes out as
    /// {"seq":N,"text":LINE} and is kept until the server acknowledges it ({"ack":N}),
    /// sent again after a reconnect; inbound envelopes are shown as their text, and
    /// duplicates dropped. After the end of input, waits for every acknowledgement.
    #[arg(long, conflicts_with = "request")]
    ack: bool,
    /// With --ack: how long a written line may wait for its acknowledgement on one
    /// connection (default 10s).
    #[arg(long, value_name = "D", requires = "ack", value_parser = parse_duration)]
    ack_timeout: Option<Duration>,
    /// With --ack: what a late acknowledgement does: recycle (close, dial again and
    /// resend) or resend (on the same connection).
    #[arg(long, value_name = "ACTION", requires = "ack", value_parser = parse_ack_action)]
    on_ack_timeout: Option<AckTimeoutAction>,
    /// With --ack: after the end of input, wait at most this long for the
    /// acknowledgements; lines still unacknowledged are then handed back (exit 1).
    #[arg(long, value_name = "D", default_value = "30s", value_parser = parse_duration)]
    ack_wait: Duration,
}

/// `--on-ack-timeout`'s parser.
fn parse_ack_action(s: &str) -> Result<AckTimeoutAction, String> {
    match s.trim() {
        "recycle" => Ok(AckTimeoutAction::Recycle),
        "resend" => Ok(AckTimeoutAction::Resend),
        _ => Err("expected recycle or resend".to_string()),
    }
}

/// The acknowledged-delivery options `--ack` and its companions ask for, if any.
fn ack_options(args: &ConnectArgs) -> Option<AckOptions> {
    if !args.ack {
        return None;
    }
    let mut options = AckOptions::json_envelope();
    if let Some(timeout) = args.ack_timeout {
        options = options.ack_timeout(timeout);
    }
    if let Some(action) = args.on_ack_timeout {
        options = options.on_ack_timeout(action);
    }
    Some(options)
}

/// How long a request's stream may take to end once the driver has ended (its error
/// item is already there: this bounds a misbehaving stream, not a wait).
const FINISH_LIMIT: Duration = Duration::from_secs(5);

enum Wake {
    Event(Option<ClientEvent>),
    Message(Option<Incoming>),
    Response(Option<Result<Message, RequestError>>),
    Line(Option<std::io::Result<String>>),
    Settled,
    /// `--ack`: everything sent was acknowledged, or the client stopped (its events say
    /// what was handed back).
    Acknowledged,
    /// `--ack`: `--ack-wait` passed with acknowledgements still missing.
    AckWaitOver,
}

/// Runs `connect`; returns the exit code.
pub async fn run(args: ConnectArgs, json: bool) -> Result<u8, CliError> {
    let config = setup::load_config(&args.policy)?;
    let reprobe_after = config.fallback.reprobe_after;
    let mut builder = setup::builder(&args.url, config, &args.conn)?;
    if let Some(url) = &args.fallback_url {
        builder = builder.fallback_url(url.clone());
    }
    if let Some(options) = ack_options(&args) {
        builder = builder.acknowledged(options);
    }
    let (client, mut events) = setup::start(builder)?;
    let printer = Printer::new(json, Stream::Stderr)
        .raw_messages()
        .reprobe_after(reprobe_after);
    let mut tracker = Tracker::default();
    let mut messages = Some(client.messages().tagged());
    let mut lines = Some(BufReader::new(async_std::io::stdin()).lines());
    let mut requests: VecDeque<RequestStream> = VecDeque::new();
    let mut settle_at: Option<Instant> = None;
    // `--ack`, after the end of input: the acknowledgements are awaited until then.
    let mut acks_until: Option<Instant> = None;
    let mut failures = 0usize;
    let mut driver_ended = false;
    loop {
        if lines.is_none() && args.request && requests.is_empty() {
            break;
        }
        // Events first: a fall-back is printed (and tags the transport) before the
        // response it carries.
        let wake = {
            let event = async { Wake::Event(events.next().await) };
            let message = async {
                match messages.as_mut() {
                    Some(m) => Wake::Message(m.next().await),
                    None => pending().await,
                }
            };
            let response = async {
                match requests.front_mut() {
                    Some(r) => Wake::Response(r.next().await),
                    None => pending().await,
                }
            };
            let line = async {
                match lines.as_mut() {
                    Some(l) => Wake::Line(l.next().await),
                    None => pending().await,
                }
            };
            let settled = async {
                match settle_at {
                    Some(at) => {
                        async_io::Timer::at(at).await;
                        Wake::Settled
                    }
                    None => pending().await,
                }
            };
            let acknowledged = async {
                match acks_until {
                    Some(at) => {
                        async {
                            client.settled().await;
                            Wake::Acknowledged
                        }
                        .or(async {
                            async_io::Timer::at(at).await;
                            Wake::AckWaitOver
                        })
                        .await
                    }
                    None => pending().await,
                }
            };
            event
                .or(message)
                .or(response)
                .or(line)
                .or(settled)
                .or(acknowledged)
                .await
        };
        match wake {
            Wake::Event(Some(e)) => tracker.take(&printer, &e),
            Wake::Event(None) => {
                driver_ended = true;
                break;
            }
            Wake::Message(Some(m)) => {
                printer.message(&m.message, m.transport);
                settle_at = settle_at.map(|_| Instant::now() + args.settle);
            }
            Wake::Message(None) => messages = None,
            Wake::Response(Some(Ok(m))) => printer.message(&m, tracker.transport),
            Wake::Response(Some(Err(e))) => {
                printer.failed("request_failed", &e.to_string());
                failures += 1;
                requests.pop_front();
            }
            Wake::Response(None) => {
                requests.pop_front();
            }
            Wake::Line(Some(Ok(line))) if line.trim().is_empty() => {}
            Wake::Line(Some(Ok(line))) => {
                if args.request {
                    match client.request(line).await {
                        Ok(stream) => requests.push_back(stream),
                        Err(e) => {
                            printer.failed("request_failed", &e.to_string());
                            failures += 1;
                        }
                    }
                } else if let Err(e) = client.try_send(line) {
                    printer.failed("send_failed", &e.to_string());
                    failures += 1;
                }
            }
            Wake::Line(Some(Err(e))) => {
                printer.failed("stdin_failed", &format!("reading standard input: {e}"));
                failures += 1;
                lines = None;
                (settle_at, acks_until) = end_of_input(&args);
            }
            Wake::Line(None) => {
                lines = None;
                (settle_at, acks_until) = end_of_input(&args);
            }
            Wake::Settled => break,
            Wake::Acknowledged => {
                acks_until = None;
                settle_at = Some(Instant::now() + args.settle);
            }
            Wake::AckWaitOver => {
                printer.note(&format!(
                    "{} line(s) still unacknowledged after --ack-wait {}: closing",
                    client.unacknowledged(),
                    redial::policy::fmt_duration(args.ack_wait)
                ));
                break;
            }
        }
    }
    if !driver_ended {
        client.close().await;
    }
    drain(&mut events, &printer, &mut tracker).await;
    // Requests still in line when the driver ended (the client gave up): each ends with
    // the driver's error item, printed and counted like any failed request.
    for stream in requests.drain(..) {
        failures += finish_request(stream, &printer, &tracker).await;
    }
    let code = if driver_ended || failures > 0 || tracker.undelivered > 0 {
        exit::RUNTIME
    } else {
        exit::OK
    };
    let cause = match (&tracker.gave_up, &tracker.last_cause) {
        (Some(c), _) | (None, Some(c)) => c.clone(),
        (None, None) => "the client ended".to_string(),
    };
    let mut fields = Map::new();
    fields.insert("dials".into(), json!(tracker.dials));
    fields.insert("transport".into(), json!(tracker.transport.name()));
    fields.insert("failed".into(), json!(failures));
    fields.insert("undelivered".into(), json!(tracker.undelivered));
    let mut readable = format!(
        "ended after {} dial(s), last on {}: {cause}",
        tracker.dials,
        tracker.transport.name()
    );
    if args.ack {
        fields.insert("resent".into(), json!(tracker.resent));
        fields.insert("unacknowledged".into(), json!(tracker.unacknowledged));
        fields.insert("duplicates_dropped".into(), json!(tracker.duplicates));
        readable.push_str(&format!(
            " ({} resent, {} unacknowledged, {} duplicate(s) dropped)",
            tracker.resent, tracker.unacknowledged, tracker.duplicates
        ));
    }
    fields.insert("exit_code".into(), json!(code));
    printer.diagnosis(fields, &cause, &[readable]);
    if json && driver_ended {
        term::line(Stream::Stderr, &format!("redial: gave up: {cause}"));
    }
    Ok(code)
}

/// When the end of input (or a read error) ends the run: the idle `--settle` timer,
/// or with `--ack` first the wait for every acknowledgement (up to `--ack-wait`); with
/// `--request`, neither (the run ends when the last response has).
fn end_of_input(args: &ConnectArgs) -> (Option<Instant>, Option<Instant>) {
    match (args.request, args.ack) {
        (true, _) => (None, None),
        (false, true) => (None, Some(Instant::now() + args.ack_wait)),
        (false, false) => (Some(Instant::now() + args.settle), None),
    }
}

/// Reads what is left of a request's stream after the driver ended, and prints it: its
/// last messages, then its error item (`request_failed`) or its end after the terminal
/// message. A stream that gives neither is reported failed all the same. Returns the
/// number of failures (0 or 1).
async fn finish_request(mut stream: RequestStream, printer: &Printer, tracker: &Tracker) -> usize {
    let deadline = Instant::now() + FINISH_LIMIT;
    let mut answered = false;
    loop {
        let next = async { Some(stream.next().await) }
            .or(async {
                async_io::Timer::at(deadline).await;
                None
            })
            .await;
        match next {
            Some(Some(Ok(m))) => {
                answered = true;
                printer.message(&m, tracker.transport);
            }
            // The stream ends after the terminal message: the request completed.
            Some(None) if answered => return 0,
            Some(Some(Err(e))) => {
                printer.failed("request_failed", &e.to_string());
                return 1;
            }
            Some(None) | None => {
                let cause = tracker.gave_up.as_deref().unwrap_or("the client ended");
                printer.failed(
                    "request_failed",
                    &format!("the request did not complete before the client stopped: {cause}"),
                );
                return 1;
            }
        }
    }
}
