//! `redial echo URL`: sends back every text and binary message it receives; ends when
//! the server closes with 1000, and reconnects per the policy when the server drops it.

use futures_lite::{FutureExt, StreamExt};
use redial::core::Event;
use redial::core::Failure;
use redial::driver::{ClientEvent, Incoming};
use serde_json::{json, Map};

use crate::exit::{self, CliError};
use crate::output::Printer;
use crate::session::{drain, Tracker};
use crate::setup::{self, ConnOpts, PolicyOpts};
use crate::term::{self, Stream};

/// Echo every message back to the server until it closes with 1000.
#[derive(clap::Args, Debug)]
pub struct EchoArgs {
    /// The WebSocket URL (ws:// or wss://).
    url: String,
    #[command(flatten)]
    policy: PolicyOpts,
    #[command(flatten)]
    conn: ConnOpts,
}

enum Wake {
    Event(Option<ClientEvent>),
    Message(Option<Incoming>),
}

/// Runs `echo`; returns the exit code.
pub async fn run(args: EchoArgs, json: bool) -> Result<u8, CliError> {
    let config = setup::load_config(&args.policy)?;
    let reprobe_after = config.fallback.reprobe_after;
    let (client, mut events) = setup::start(setup::builder(&args.url, config, &args.conn)?)?;
    let printer = Printer::new(json, Stream::Stdout).reprobe_after(reprobe_after);
    let mut tracker = Tracker::default();
    let mut messages = Some(client.messages().tagged());
    let mut echoed = 0usize;
    let mut failures = 0usize;
    let mut done = false;
    loop {
        let wake = async { Wake::Event(events.next().await) }
            .or(async {
                match messages.as_mut() {
                    Some(m) => Wake::Message(m.next().await),
                    None => std::future::pending().await,
                }
            })
            .await;
        match wake {
            Wake::Event(Some(event)) => {
                tracker.take(&printer, &event);
                if let ClientEvent::Core(Event::Closed {
                    failure:
                        Failure::Closed {
                            code: Some(1000), ..
                        },
                }) = event
                {
                    done = true;
                    break;
                }
            }
            Wake::Event(None) => break,
            Wake::Message(Some(incoming)) => {
                printer.message(&incoming.message, incoming.transport);
                match client.try_send(incoming.message) {
                    Ok(()) => echoed += 1,
                    Err(e) => {
                        printer.failed("send_failed", &e.to_string());
                        failures += 1;
                    }
                }
            }
            // The driver ended; its events say why.
            Wake::Message(None) => messages = None,
        }
    }
    client.close().await;
    drain(&mut events, &printer, &mut tracker).await;
    let ok = done && failures == 0 && tracker.undelivered == 0;
    let code = if ok { exit::OK } else { exit::RUNTIME };
    let cause = if done {
        format!(
            "the server closed with 1000 (normal closure) after {echoed} message(s) were echoed"
        )
    } else {
        tracker
            .gave_up
            .clone()
            .or(tracker.last_cause.clone())
            .unwrap_or_else(|| "the client ended".to_string())
    };
    let mut fields = Map::new();
    fields.insert("echoed".into(), json!(echoed));
    fields.insert("dials".into(), json!(tracker.dials));
    fields.insert("undelivered".into(), json!(tracker.undelivered));
    fields.insert("exit_code".into(), json!(code));
    printer.diagnosis(fields, &cause, &[format!("{cause} (exit {code})")]);
    if json && !ok {
        term::line(Stream::Stderr, &format!("redial: {cause}"));
    }
    Ok(code)
}
