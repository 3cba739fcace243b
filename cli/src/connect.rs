//! `redial connect URL`: standard input's lines go out as text messages (or requests),
//! received messages go to stdout, events to stderr (or everything as JSON lines on
//! stdout). Reconnects and falls back per the policy; ends on end of input with a
//! graceful close.

use std::collections::VecDeque;
use std::future::pending;
use std::time::{Duration, Instant};

use async_std::io::prelude::BufReadExt;
use async_std::io::BufReader;
use futures_lite::{FutureExt, StreamExt};
use redial::driver::{ClientEvent, Incoming, Message, RequestError, RequestStream};
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
    /// Without --request: after the end of input, close once nothing has arrived for
    /// this long.
    #[arg(long, value_name = "D", default_value = "1s", value_parser = parse_duration)]
    settle: Duration,
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
}

/// Runs `connect`; returns the exit code.
pub async fn run(args: ConnectArgs, json: bool) -> Result<u8, CliError> {
    let config = setup::load_config(&args.policy)?;
    let reprobe_after = config.fallback.reprobe_after;
    let mut builder = setup::builder(&args.url, config, &args.conn)?;
    if let Some(url) = &args.fallback_url {
        builder = builder.fallback_url(url.clone());
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
            event.or(message).or(response).or(line).or(settled).await
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
                settle_at = (!args.request).then(|| Instant::now() + args.settle);
            }
            Wake::Line(None) => {
                lines = None;
                settle_at = (!args.request).then(|| Instant::now() + args.settle);
            }
            Wake::Settled => break,
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
    fields.insert("exit_code".into(), json!(code));
    let readable = format!(
        "ended after {} dial(s), last on {}: {cause}",
        tracker.dials,
        tracker.transport.name()
    );
    printer.diagnosis(fields, &cause, &[readable]);
    if json && driver_ended {
        term::line(Stream::Stderr, &format!("redial: gave up: {cause}"));
    }
    Ok(code)
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
