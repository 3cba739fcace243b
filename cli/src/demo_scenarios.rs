//! The demo's scenarios: each a scripted server, a preset, when the request goes out,
//! which event is the outcome, and what must have happened.

use std::sync::Arc;
use std::time::Duration;

use redial::config::{Config, Preset};
use redial::core::Event;
use redial::driver::{FallbackCarrier, TransportKind};
use redial::policy::Class;
use redial_testkit::{echo_responder, Act, Behavior, ConnInfo};
use serde_json::{json, Value};

/// The re-probe cooldown of the `reprobe` scenario (the default is 5 minutes).
pub const DEMO_REPROBE_AFTER: Duration = Duration::from_secs(2);
/// The `budget.min_uptime` of the `restart` scenario (the first connection stays up
/// 300 ms) and of `reprobe` (the probe's trial).
pub const DEMO_MIN_UPTIME: Duration = Duration::from_millis(250);

/// Messages the `acknowledged` scenario sends; its server's first connection reads
/// half of them, then resets.
pub const ACKED_DEMO_MESSAGES: usize = 10;

/// The JSON envelope's acknowledgement of an inbound envelope `{"seq": N, …}`:
/// `{"ack": N}` (what the `acknowledged` scenario's healthy server answers).
pub fn acknowledgement(text: &str) -> Vec<String> {
    let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    match v["seq"].as_u64() {
        Some(seq) => vec![json!({ "ack": seq }).to_string()],
        None => Vec::new(),
    }
}

/// One scenario of `redial demo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// A server that answers the upgrade with 101, then closes with 1008 (policy
    /// violation) and an empty reason; the `default` preset.
    #[value(alias = "mission")]
    PolicyClose,
    /// The same server under `codex-compat`, the preset that behaves as the old client
    /// did (every close retried, five times).
    #[value(alias = "mission-codex")]
    PolicyCloseOldClient,
    /// 1012 (service restart) after a connection stable by time, then a healthy server.
    Restart,
    /// The upgrade answered 429 with `Retry-After: 1`, then a healthy server.
    RetryAfter,
    /// 1008 and a fall-back, then a quiet re-probe finds WebSockets healthy again.
    Reprobe,
    /// Only an HTTP proxy (CONNECT, with a password) reaches the servers: the WebSocket
    /// and the fallback both go through it.
    BehindProxy,
    /// Acknowledged delivery (the JSON envelope): the server resets the connection
    /// after reading half of what was sent; the next connection acknowledges.
    Acknowledged,
}

/// When the scenario's one request is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestAt {
    /// At once, before the first dial ends.
    Start,
    /// Once the outcome is reached.
    Outcome,
}

/// The event that settles a scenario.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// When, since the scenario started.
    pub at: Duration,
    /// What happened, in a few words.
    pub what: &'static str,
    /// What the user is told: the cause sentence.
    pub told: String,
}

impl Scenario {
    /// Every scenario, in the order the demo plays them.
    pub const ALL: [Scenario; 7] = [
        Scenario::PolicyClose,
        Scenario::PolicyCloseOldClient,
        Scenario::Restart,
        Scenario::RetryAfter,
        Scenario::Reprobe,
        Scenario::BehindProxy,
        Scenario::Acknowledged,
    ];

    /// The name `redial demo NAME` takes.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::PolicyClose => "policy-close",
            Scenario::PolicyCloseOldClient => "policy-close-old-client",
            Scenario::Restart => "restart",
            Scenario::RetryAfter => "retry-after",
            Scenario::Reprobe => "reprobe",
            Scenario::BehindProxy => "behind-proxy",
            Scenario::Acknowledged => "acknowledged",
        }
    }

    /// The preset it runs under.
    pub fn preset(self) -> Preset {
        match self {
            Scenario::PolicyCloseOldClient => Preset::CodexCompat,
            _ => Preset::Default,
        }
    }

    /// What the server does, in a sentence.
    pub fn story(self) -> &'static str {
        match self {
            Scenario::PolicyClose | Scenario::PolicyCloseOldClient => {
                "the server answers the upgrade with 101, then closes with 1008 (policy violation) and an empty reason, 3 ms later"
            }
            Scenario::Restart => {
                "a stable connection (up past min_uptime, set to 250 ms for this demo; the default is 5 s) is closed with 1012 (service restart); the next connection is healthy"
            }
            Scenario::RetryAfter => {
                "the upgrade is answered 429 (Too Many Requests) with Retry-After: 1; the next one is healthy"
            }
            Scenario::Reprobe => {
                "1008 at once, so the client falls back to HTTPS, where two turns share one kept-alive connection; WebSockets are healthy again by the quiet re-probe, whose connection must stay open for min_uptime before traffic moves back (fallback.reprobe_after 2 s and budget.min_uptime 250 ms for this demo; the defaults are 5 min and 5 s)"
            }
            Scenario::BehindProxy => {
                "only an HTTP proxy (CONNECT, Basic auth) reaches the servers, as in a corporate network: the WebSocket goes through it and is closed with 1008, and the HTTPS fallback goes through the same proxy"
            }
            Scenario::Acknowledged => {
                "acknowledged delivery on (the JSON envelope): the client sends 10 messages; the server reads 5, acknowledges none and resets the connection; the next connection acknowledges each, and the client waits until every one is acknowledged"
            }
        }
    }

    /// The config: the preset's, with the demo's re-probe cooldown for `reprobe`.
    pub fn config(self) -> Config {
        let mut config = self.preset().config();
        if self == Scenario::Reprobe {
            config.fallback.reprobe_after = Some(DEMO_REPROBE_AFTER);
        }
        if matches!(self, Scenario::Restart | Scenario::Reprobe) {
            // A connection is stable by time, not by a message (and a probe's trial
            // lasts as long): short enough to show.
            config.budget.min_uptime = DEMO_MIN_UPTIME;
        }
        config
    }

    /// The server's script.
    pub fn script(self) -> impl Fn(&ConnInfo) -> Behavior + Send + Sync + 'static {
        move |conn: &ConnInfo| {
            let healthy = Behavior::Accept(vec![Act::Respond(Arc::new(echo_responder))]);
            let close = |code: u16, reason: &str| Act::Close {
                code: Some(code),
                reason: reason.to_string(),
            };
            match (self, conn.index) {
                (
                    Scenario::PolicyClose | Scenario::PolicyCloseOldClient | Scenario::BehindProxy,
                    _,
                ) => Behavior::Accept(vec![Act::Wait(Duration::from_millis(3)), close(1008, "")]),
                (Scenario::Restart, 1) => Behavior::Accept(vec![
                    Act::Text(r#"{"type":"session.created"}"#.into()),
                    Act::Wait(Duration::from_millis(300)),
                    close(1012, "service restart"),
                ]),
                (Scenario::RetryAfter, 1) => Behavior::Reject {
                    status: 429,
                    headers: vec![("Retry-After".into(), "1".into())],
                },
                (Scenario::Reprobe, 1) => Behavior::Accept(vec![
                    Act::Wait(Duration::from_millis(3)),
                    close(1008, "websockets paused"),
                ]),
                // Reads half of what is sent, acknowledges none of it, resets.
                (Scenario::Acknowledged, 1) => Behavior::Accept(
                    std::iter::repeat_with(|| Act::AwaitMessage)
                        .take(ACKED_DEMO_MESSAGES / 2)
                        .chain([Act::Reset])
                        .collect(),
                ),
                (Scenario::Acknowledged, _) => {
                    Behavior::Accept(vec![Act::Respond(Arc::new(acknowledgement))])
                }
                _ => healthy,
            }
        }
    }

    /// Whether the scenario's client reaches the servers through the demo's proxy.
    pub fn proxied(self) -> bool {
        self == Scenario::BehindProxy
    }

    /// Turns sent over the fallback once the client has fallen back, one after the
    /// other, before the scenario's request: the second goes on the connection the
    /// first one opened.
    pub fn fallback_turns(self) -> usize {
        match self {
            Scenario::Reprobe => 2,
            _ => 0,
        }
    }

    /// When the request goes out.
    pub fn request_at(self) -> RequestAt {
        match self {
            Scenario::Restart | Scenario::Reprobe => RequestAt::Outcome,
            _ => RequestAt::Start,
        }
    }

    /// The outcome, once the events show it.
    pub fn outcome(self, log: &[(Duration, Event)]) -> Option<Outcome> {
        let retry_cause = || {
            log.iter().find_map(|(_, e)| match e {
                Event::RetryScheduled { cause, .. } => Some(cause.to_string()),
                _ => None,
            })
        };
        let retried_at = log
            .iter()
            .position(|(_, e)| matches!(e, Event::RetryScheduled { .. }));
        match self {
            Scenario::PolicyClose | Scenario::PolicyCloseOldClient | Scenario::BehindProxy => {
                log.iter().find_map(|(t, e)| match e {
                    Event::FellBack { cause } => Some(Outcome {
                        at: *t,
                        what: "fell back to HTTPS",
                        told: cause.to_string(),
                    }),
                    _ => None,
                })
            }
            Scenario::Restart | Scenario::RetryAfter => {
                let (t, _) = log[retried_at?..]
                    .iter()
                    .find(|(_, e)| matches!(e, Event::Connected { probe: false, .. }))?;
                Some(Outcome {
                    at: *t,
                    what: "reconnected",
                    told: retry_cause()?,
                })
            }
            Scenario::Reprobe => log.iter().find_map(|(t, e)| match e {
                Event::Recovered { cause } => Some(Outcome {
                    at: *t,
                    what: "back on WebSockets",
                    told: cause.to_string(),
                }),
                _ => None,
            }),
            // Settled by the acknowledgements, not by an event (see `demo_acked`).
            Scenario::Acknowledged => None,
        }
    }

    /// What did not go as expected (empty: all did).
    pub fn check(
        self,
        log: &[(Duration, Event)],
        dials: u32,
        response: Option<TransportKind>,
        fallback_connections: &[FallbackCarrier],
    ) -> Vec<String> {
        let mut problems = Vec::new();
        let mut expect = |ok: bool, what: &str| {
            if !ok {
                problems.push(what.to_string());
            }
        };
        let events = || log.iter().map(|(_, e)| e);
        let fell_back_1008 =
            events().any(|e| matches!(e, Event::FellBack { cause } if cause.code() == Some(1008)));
        let retry_class = |class: Class| {
            events().any(|e| matches!(e, Event::RetryScheduled { class: c, .. } if *c == class))
        };
        let (want_dials, want_transport) = match self {
            Scenario::PolicyClose | Scenario::BehindProxy => (1, TransportKind::Https),
            Scenario::PolicyCloseOldClient => (6, TransportKind::Https),
            // One dial that failed or closed, then one that works (the re-probe's).
            Scenario::Restart
            | Scenario::RetryAfter
            | Scenario::Reprobe
            | Scenario::Acknowledged => (2, TransportKind::Websocket),
        };
        expect(
            dials == want_dials,
            &format!("expected {want_dials} dial(s), saw {dials}"),
        );
        expect(
            response == Some(want_transport),
            &format!("expected the response over {}", want_transport.name()),
        );
        match self {
            Scenario::PolicyClose | Scenario::PolicyCloseOldClient | Scenario::BehindProxy => {
                expect(fell_back_1008, "expected a fall-back naming 1008");
            }
            Scenario::Restart => {
                expect(
                    events().any(|e| matches!(e, Event::Stable { .. })),
                    "expected a stable first connection",
                );
                expect(
                    retry_class(Class::Restart),
                    "expected a restart-class retry",
                );
            }
            Scenario::RetryAfter => {
                let waited = events().any(|e| {
                    matches!(e, Event::RetryScheduled { class: Class::RateLimited, delay, .. }
                        if *delay >= Duration::from_secs(1))
                });
                expect(waited, "expected a retry after at least Retry-After (1 s)");
            }
            Scenario::Reprobe => {
                expect(fell_back_1008, "expected a fall-back naming 1008");
                let reused: Vec<bool> = fallback_connections.iter().map(|c| c.reused).collect();
                expect(
                    reused == [false, true],
                    &format!(
                        "expected two fallback turns, the second on the first one's connection, saw reused = {reused:?}"
                    ),
                );
                expect(
                    events().any(|e| matches!(e, Event::Recovered { .. })),
                    "expected a recovery",
                );
            }
            Scenario::Acknowledged => {
                expect(
                    retry_class(Class::Transient),
                    "expected a transient-class retry after the reset",
                );
            }
        }
        problems
    }
}
