//! Plays one demo scenario through the real driver against loopback servers: a scripted
//! WebSocket server and an HTTPS+SSE fallback with a certificate made at run time.

use std::future::pending;
use std::time::{Duration, Instant};

use futures_lite::{FutureExt, StreamExt};
use redial::driver::ProxyRules;
use redial::driver::{
    Client, ClientEvent, Incoming, Message, RequestError, RequestStream, TransportKind,
};
use redial_testkit::{echo_responder, ConnectProxy, SseServer, TestCert, WsServer};
use serde_json::{json, Map};

use crate::demo_acked::{self, Delivery};
use crate::demo_scenarios::{Outcome, RequestAt, Scenario};
use crate::exit::CliError;
use crate::output::Printer;
use crate::session::{drain, Tracker};
use crate::setup;
use crate::term::Stream;

/// The request every scenario sends.
pub const REQUEST: &str = r#"{"input":"hello from redial demo"}"#;
/// The password of the `behind-proxy` scenario's proxy (never shown: the proxy's URL
/// is printed redacted).
const DEMO_PROXY_PASSWORD: &str = "demo-proxy-secret";
/// A scenario that takes longer than this has failed.
const LIMIT: Duration = Duration::from_secs(30);

/// How a scenario went.
#[derive(Debug)]
pub struct Report {
    /// Which scenario.
    pub scenario: Scenario,
    /// Dials made, quiet re-probes included.
    pub dials: u32,
    /// The outcome, if it was reached.
    pub outcome: Option<Outcome>,
    /// The transport that carried the complete response.
    pub response: Option<TransportKind>,
    /// What did not go as expected.
    pub problems: Vec<String>,
    /// Tunnels the demo's proxy opened, for a scenario behind it.
    pub tunnels: Option<usize>,
    /// What became of the messages, for the scenario with acknowledged delivery.
    pub delivery: Option<Delivery>,
}

impl Report {
    /// Whether the scenario ended as expected.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

enum Wake {
    Event(Option<ClientEvent>),
    Message(Option<Incoming>),
    Response(Option<Result<Message, RequestError>>),
    TimedOut,
}

/// Plays `scenario`; its timeline lines start with `label`.
pub async fn play(
    scenario: Scenario,
    cert: &TestCert,
    json: bool,
    label: String,
) -> Result<Report, CliError> {
    if scenario == Scenario::Acknowledged {
        return demo_acked::play(scenario, json, label).await;
    }
    let server_error = |e: std::io::Error| CliError::runtime(format!("demo server: {e}"));
    let ws = WsServer::start(scenario.script())
        .await
        .map_err(server_error)?;
    let sse = SseServer::start(cert, echo_responder)
        .await
        .map_err(server_error)?;
    let config = scenario.config();
    let printer = Printer::new(json, Stream::Stdout)
        .tagged(scenario.name(), scenario.preset().name(), label)
        .reprobe_after(config.fallback.reprobe_after);
    // 127.0.0.1 rather than `localhost`: the certificate names both, and the demo stays
    // on the IPv4 loopback.
    let fallback = format!("https://127.0.0.1:{}/v1/responses", sse.addr().port());
    let mut builder = Client::builder(ws.url())
        .config(config)
        .root_certificate(cert.cert_der.clone())
        .fallback_url(fallback)
        // The demo's servers are on loopback: the machine's proxy is not for them.
        .proxy(ProxyRules::none());
    let proxy = match scenario.proxied() {
        true => {
            let proxy = ConnectProxy::with_credentials("demo", DEMO_PROXY_PASSWORD)
                .await
                .map_err(server_error)?;
            let url = proxy.url_with("demo", DEMO_PROXY_PASSWORD);
            let rules = ProxyRules::explicit(&url).map_err(CliError::runtime)?;
            if let Some(p) = rules.for_url(&url::Url::parse(&ws.url()).expect("a URL")) {
                printer.note(&format!(
                    "  (both transports go through the proxy {p}, CONNECT with Basic auth)"
                ));
            }
            builder = builder.proxy(rules);
            Some(proxy)
        }
        false => None,
    };
    let (client, mut events) = setup::start(builder)?;
    let mut messages = Some(client.messages().tagged());
    let mut tracker = Tracker::default();
    let mut request: Option<RequestStream> = None;
    let mut requested = false;
    let mut fallback_turns = 0;
    let mut outcome: Option<Outcome> = None;
    let mut response: Option<TransportKind> = None;
    let mut problems = Vec::new();
    if scenario.request_at() == RequestAt::Start {
        request = Some(send(&client).await?);
        requested = true;
    }
    let deadline = Instant::now() + LIMIT;
    while outcome.is_none() || request.is_some() || !requested {
        if request.is_none() {
            // Fallback turns first, one after the other, then the scenario's request.
            let on_fallback = tracker.transport == TransportKind::Https && outcome.is_none();
            if on_fallback && fallback_turns < scenario.fallback_turns() {
                request = Some(send(&client).await?);
                fallback_turns += 1;
            } else if outcome.is_some() && !requested {
                request = Some(send(&client).await?);
                requested = true;
            }
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
            let answer = async {
                match request.as_mut() {
                    Some(r) => Wake::Response(r.next().await),
                    None => pending().await,
                }
            };
            let timeout = async {
                async_io::Timer::at(deadline).await;
                Wake::TimedOut
            };
            event.or(message).or(answer).or(timeout).await
        };
        match wake {
            Wake::Event(Some(e)) => {
                tracker.take(&printer, &e);
                if outcome.is_none() {
                    outcome = scenario.outcome(&tracker.log);
                }
            }
            Wake::Event(None) => {
                problems.push("the client stopped before the scenario ended".to_string());
                break;
            }
            Wake::Message(Some(m)) => printer.message(&m.message, m.transport),
            Wake::Message(None) => messages = None,
            Wake::Response(Some(Ok(m))) => {
                printer.message(&m, tracker.transport);
                response = Some(tracker.transport);
            }
            Wake::Response(Some(Err(e))) => {
                printer.failed("request_failed", &e.to_string());
                problems.push(format!("the request failed: {e}"));
                response = None;
                request = None;
            }
            Wake::Response(None) => request = None,
            Wake::TimedOut => {
                problems.push(format!("not done after {}s", LIMIT.as_secs()));
                break;
            }
        }
    }
    printer.stop_countdown();
    client.close().await;
    drain(&mut events, &printer, &mut tracker).await;
    problems.extend(scenario.check(
        &tracker.log,
        tracker.dials,
        response,
        &tracker.fallback_connections,
    ));
    if let Some(proxy) = &proxy {
        // One tunnel for the WebSocket, one for the fallback's POST.
        if proxy.tunnels() != 2 {
            problems.push(format!(
                "expected 2 tunnels through the proxy (WebSocket and fallback), saw {}",
                proxy.tunnels()
            ));
        }
    }
    let report = Report {
        scenario,
        dials: tracker.dials,
        outcome,
        response,
        problems,
        tunnels: proxy.as_ref().map(ConnectProxy::tunnels),
        delivery: None,
    };
    diagnosis(&printer, &report);
    Ok(report)
}

async fn send(client: &Client) -> Result<RequestStream, CliError> {
    client
        .request(REQUEST)
        .await
        .map_err(|e| CliError::runtime(format!("demo request: {e}")))
}

/// The scenario's `diagnosis` JSON line (the readable summary is the demo's table).
pub fn diagnosis(printer: &Printer, report: &Report) {
    if !printer.is_json() {
        return;
    }
    let mut fields = Map::new();
    fields.insert("dials".into(), json!(report.dials));
    if let Some(o) = &report.outcome {
        fields.insert("outcome".into(), json!(o.what));
        fields.insert("outcome_ms".into(), json!(o.at.as_millis() as u64));
    }
    if let Some(t) = report.response {
        fields.insert("transport".into(), json!(t.name()));
    }
    if let Some(n) = report.tunnels {
        fields.insert("proxy_tunnels".into(), json!(n));
    }
    if let Some(d) = &report.delivery {
        fields.insert("sent".into(), json!(d.sent));
        fields.insert("resent".into(), json!(d.resent));
        fields.insert("server_received".into(), json!(d.received));
        fields.insert("server_duplicates".into(), json!(d.duplicates));
        fields.insert("handed_back".into(), json!(d.handed_back));
        fields.insert("lost".into(), json!(d.lost));
    }
    fields.insert("ok".into(), json!(report.ok()));
    if !report.ok() {
        fields.insert("problems".into(), json!(report.problems));
    }
    let told = report.outcome.as_ref().map_or("no outcome", |o| &o.told);
    printer.diagnosis(fields, told, &[]);
}
