//! The printer: docs/design.md's JSON event lines (`--json`), or a readable timeline
//! with colours (only on a terminal, none with `NO_COLOR`), plus the CLI-only
//! `message`, `undelivered`, `request_failed` and `diagnosis` lines, and acknowledged
//! delivery's `resent`, `ack_overdue`, `duplicate_dropped` and `unacknowledged`.

use std::time::{Duration, Instant};

use anstyle::{AnsiColor, Style};
use redial::core::Event;
use redial::driver::{AckTimeoutAction, CancelSettled, ClientEvent, Message, TransportKind};
use redial::policy::fmt_duration;
use serde_json::{json, Map, Value};

use crate::countdown::Countdown;
use crate::term::{self, Stream};

/// Prints one run's events and messages.
#[derive(Debug)]
pub struct Printer {
    json: bool,
    start: Instant,
    events_to: Stream,
    raw_messages: bool,
    tags: Map<String, Value>,
    label: String,
    countdown: Countdown,
    reprobe_after: Option<Duration>,
}

impl Printer {
    /// A printer whose timeline goes to `events_to`; JSON lines always go to stdout.
    pub fn new(json: bool, events_to: Stream) -> Printer {
        Printer {
            json,
            start: Instant::now(),
            events_to,
            raw_messages: false,
            tags: Map::new(),
            label: String::new(),
            countdown: Countdown::new(events_to, json),
            reprobe_after: None,
        }
    }

    /// Without `--json`, received messages go to stdout alone (the text, nothing else).
    pub fn raw_messages(mut self) -> Printer {
        self.raw_messages = true;
        self
    }

    /// Every JSON line gets `scenario` and `preset`; timeline lines get `label` in front.
    pub fn tagged(mut self, scenario: &str, preset: &str, label: String) -> Printer {
        self.tags.insert("scenario".into(), json!(scenario));
        self.tags.insert("preset".into(), json!(preset));
        self.label = label;
        self
    }

    /// The re-probe cooldown, for the countdown after a fall-back.
    pub fn reprobe_after(mut self, after: Option<Duration>) -> Printer {
        self.reprobe_after = after;
        self
    }

    /// Whether this printer writes JSON lines.
    pub fn is_json(&self) -> bool {
        self.json
    }

    /// Time since the printer was made (the run's start).
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// An event of the client (core events and undelivered messages).
    pub fn client_event(&self, event: &ClientEvent) {
        match event {
            ClientEvent::Core(e) => self.event(e),
            ClientEvent::Undelivered(m) => {
                if self.json {
                    self.json_line("undelivered", message_fields(m));
                } else {
                    let text = format!("handed back, not delivered: {}", preview(m));
                    self.timeline("undelivered", Some(warn()), &text);
                }
            }
            ClientEvent::Unanswered { message, cause } => {
                if self.json {
                    let mut fields = message_fields(message);
                    fields.insert("cause".into(), json!(cause));
                    self.json_line("unanswered", fields);
                } else {
                    let text = format!(
                        "handed back, written and unanswered (the server may have it): {} ({cause})",
                        preview(message)
                    );
                    self.timeline("unanswered", Some(warn()), &text);
                }
            }
            ClientEvent::CancelSettled {
                how,
                cancel_message,
            } => {
                let mut fields = Map::new();
                fields.insert("how".into(), json!(how.name()));
                fields.insert("cancel_message".into(), json!(cancel_message));
                let text = match how {
                    CancelSettled::Ended => "a cancelled request's response ended".to_string(),
                    CancelSettled::Recycled => {
                        "a cancelled request's response did not end in time: connection recycled"
                            .to_string()
                    }
                    CancelSettled::ConnectionEnded => {
                        "a cancelled request's connection ended".to_string()
                    }
                    CancelSettled::Released => {
                        "a cancelled request's fallback response was let go".to_string()
                    }
                    other => format!("a cancelled request settled: {}", other.name()),
                };
                self.app_event("cancel_settled", fields, &text);
            }
            ClientEvent::Lagged { missed } => {
                if self.json {
                    let mut fields = Map::new();
                    fields.insert("missed".into(), json!(missed));
                    self.json_line("lagged", fields);
                } else {
                    let text = format!("{missed} events skipped: this reader fell behind");
                    self.timeline("lagged", Some(warn()), &text);
                }
            }
            ClientEvent::Replayed {
                cause,
                response_started,
            } => {
                let mut fields = Map::new();
                fields.insert("cause".into(), json!(cause));
                fields.insert("response_started".into(), json!(response_started));
                let text = format!("a written request is sent again: {cause}");
                self.app_event("replayed", fields, &text);
            }
            ClientEvent::ReadingPaused { stream } => {
                let mut fields = Map::new();
                fields.insert("stream".into(), json!(stream));
                let text = format!("the {stream} stream is full: reading paused");
                self.app_event("reading_paused", fields, &text);
            }
            ClientEvent::FallbackCarrier(c) => {
                let (which, style) = match c.reused {
                    true => ("a reused connection", good()),
                    false => ("a new connection", warn()),
                };
                if self.json {
                    let mut fields = Map::new();
                    fields.insert("transport".into(), json!("https"));
                    fields.insert("reused".into(), json!(c.reused));
                    fields.insert("protocol".into(), json!(c.protocol()));
                    self.json_line("fallback_connection", fields);
                } else {
                    let text = format!("fallback answered on {which} ({})", c.protocol());
                    self.timeline("connection", Some(style), &text);
                }
            }
            ClientEvent::ReadingResumed => {
                self.app_event("reading_resumed", Map::new(), "reading again");
            }
            ClientEvent::Resent { messages, cause } => {
                let mut fields = Map::new();
                fields.insert("messages".into(), json!(messages));
                fields.insert("cause".into(), json!(cause));
                let text =
                    format!("{messages} written, unacknowledged message(s) sent again: {cause}");
                self.app_event("resent", fields, &text);
            }
            ClientEvent::AckOverdue {
                messages,
                waited,
                action,
            } => {
                let mut fields = Map::new();
                fields.insert("messages".into(), json!(messages));
                fields.insert("waited_ms".into(), json!(waited.as_millis() as u64));
                fields.insert("action".into(), json!(action.name()));
                let then = match action {
                    AckTimeoutAction::Recycle => "recycling the connection",
                    AckTimeoutAction::Resend => "sending them again",
                    _ => action.name(),
                };
                let text = format!(
                    "{messages} message(s) not acknowledged within {}: {then}",
                    fmt_duration(*waited)
                );
                self.app_event("ack_overdue", fields, &text);
            }
            ClientEvent::DuplicateDropped { id, total } => {
                let mut fields = Map::new();
                fields.insert("id".into(), json!(id));
                fields.insert("total".into(), json!(total));
                let text = format!("a duplicate of message {id} dropped ({total} so far)");
                self.app_event("duplicate_dropped", fields, &text);
            }
            ClientEvent::Unacknowledged { seq, message } => {
                if self.json {
                    let mut fields = Map::new();
                    fields.insert("seq".into(), json!(seq));
                    fields.extend(message_fields(message));
                    self.json_line("unacknowledged", fields);
                } else {
                    let text = format!(
                        "handed back, written and not acknowledged (the server may have it): #{seq} {}",
                        preview(message)
                    );
                    self.timeline("unacknowledged", Some(warn()), &text);
                }
            }
            ClientEvent::Discarded { total } => {
                let mut fields = Map::new();
                fields.insert("total".into(), json!(total));
                let text = format!("{total} unsolicited messages discarded (no reader)");
                self.app_event("discarded", fields, &text);
            }
            _ => {}
        }
    }

    /// An event of the application's side (not the core's): a JSON line with `fields`,
    /// or a timeline line with `text`.
    fn app_event(&self, name: &str, fields: Map<String, Value>, text: &str) {
        if self.json {
            self.json_line(name, fields);
        } else {
            self.timeline(name, Some(warn()), text);
        }
    }

    /// A core event.
    pub fn event(&self, event: &Event) {
        self.countdown_for(event);
        if self.json {
            let mut line = event.to_json(self.elapsed());
            if let Value::Object(m) = &mut line {
                m.extend(self.tags.clone());
            }
            term::line(Stream::Stdout, &line.to_string());
        } else if !matches!(event, Event::StateChanged { .. }) {
            self.timeline(event.kind(), Some(style_of(event)), &event.to_string());
        }
    }

    fn countdown_for(&self, event: &Event) {
        match event {
            Event::RetryScheduled {
                attempt,
                max_attempts,
                delay,
                ..
            } => self
                .countdown
                .start(format!("dial {attempt} of {max_attempts}"), *delay),
            Event::ProbeFailed { next_probe_in, .. } => self
                .countdown
                .start("quiet WebSocket re-probe".into(), *next_probe_in),
            Event::FellBack { .. } => {
                if let Some(after) = self.reprobe_after {
                    self.countdown
                        .start("quiet WebSocket re-probe".into(), after);
                }
            }
            Event::Dial { .. }
            | Event::Connected { .. }
            | Event::Recovered { .. }
            | Event::GaveUp { .. } => self.countdown.stop(),
            _ => {}
        }
    }

    /// A received message and the transport that carried it.
    pub fn message(&self, message: &Message, transport: TransportKind) {
        if self.json {
            let mut fields = Map::new();
            fields.insert("transport".into(), json!(transport.name()));
            fields.extend(message_fields(message));
            self.json_line("message", fields);
        } else if self.raw_messages {
            let text = match message {
                Message::Text(t) => t.clone(),
                Message::Binary(b) => format!("<binary message, {} bytes>", b.len()),
            };
            term::line(Stream::Stdout, &text);
        } else {
            let text = format!("[{}] {}", transport.name(), preview(message));
            self.timeline("message", None, &text);
        }
    }

    /// Something the command tried that failed (`request_failed`, `send_failed`), with
    /// its cause.
    pub fn failed(&self, kind: &str, cause: &str) {
        if self.json {
            let mut fields = Map::new();
            fields.insert("cause".into(), json!(cause));
            self.json_line(kind, fields);
        } else {
            self.timeline(kind, Some(bad()), cause);
        }
    }

    /// The final summary: a `diagnosis` JSON line (with `cause`), or the given
    /// readable lines.
    pub fn diagnosis(&self, mut fields: Map<String, Value>, cause: &str, readable: &[String]) {
        if self.json {
            fields.insert("cause".into(), json!(cause));
            self.json_line("diagnosis", fields);
        } else {
            for line in readable {
                term::line(self.events_to, line);
            }
        }
    }

    /// A line of text in the timeline (nothing with `--json`).
    pub fn note(&self, text: &str) {
        if !self.json {
            term::line(self.events_to, text);
        }
    }

    /// A JSON line `{"t_ms", "event": kind, ...fields, ...tags}`.
    pub fn json_line(&self, kind: &str, fields: Map<String, Value>) {
        let mut m = Map::new();
        m.insert("t_ms".into(), json!(self.elapsed().as_millis() as u64));
        m.insert("event".into(), json!(kind));
        m.extend(fields);
        m.extend(self.tags.clone());
        term::line(Stream::Stdout, &Value::Object(m).to_string());
    }

    fn timeline(&self, kind: &str, style: Option<Style>, text: &str) {
        let t = fmt_duration(self.elapsed());
        let style = style.unwrap_or_default();
        let line = format!("{t:>8}  {}{style}{kind:<16}{style:#} {text}", self.label);
        term::line(self.events_to, &line);
    }

    /// Ends a countdown still on screen.
    pub fn stop_countdown(&self) {
        self.countdown.stop();
    }
}

/// `text` or `binary_len`.
fn message_fields(message: &Message) -> Map<String, Value> {
    let mut m = Map::new();
    match message {
        Message::Text(t) => m.insert("text".into(), json!(t)),
        Message::Binary(b) => m.insert("binary_len".into(), json!(b.len())),
    };
    m
}

/// A message for the timeline: the text (cut at 120 characters), or the binary size.
pub fn preview(message: &Message) -> String {
    match message {
        Message::Text(t) if t.chars().count() > 120 => {
            format!("{}…", t.chars().take(120).collect::<String>())
        }
        Message::Text(t) => t.clone(),
        Message::Binary(b) => format!("<binary, {} bytes>", b.len()),
    }
}

fn fg(colour: AnsiColor) -> Style {
    Style::new().fg_color(Some(colour.into()))
}

/// Yellow: something went wrong but is handled.
pub fn warn() -> Style {
    fg(AnsiColor::Yellow)
}

/// Red, bold: the end of the road.
pub fn bad() -> Style {
    fg(AnsiColor::Red).bold()
}

/// Green: things work.
pub fn good() -> Style {
    fg(AnsiColor::Green)
}

/// Bold, for headings.
pub fn heading() -> Style {
    Style::new().bold()
}

fn style_of(event: &Event) -> Style {
    match event {
        Event::Dial { .. } => fg(AnsiColor::Cyan),
        Event::Connected { .. } | Event::Stable { .. } | Event::FallbackReady => good(),
        Event::Recovered { .. } => good().bold(),
        Event::Closed { .. }
        | Event::HandshakeFailed { .. }
        | Event::ProbeFailed { .. }
        | Event::FallbackFailed { .. }
        | Event::SubprotocolChanged { .. } => warn(),
        Event::RetryScheduled { .. } => fg(AnsiColor::Blue),
        Event::FellBack { .. } => fg(AnsiColor::Magenta).bold(),
        Event::GaveUp { .. } => bad(),
        _ => Style::new(),
    }
}
