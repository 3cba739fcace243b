//! Shared setup of the driver tests: short timeouts, loopback servers, and event
//! collection bounded by a deadline.
#![allow(dead_code)]

use std::future::Future;
use std::time::{Duration, Instant};

use futures_lite::StreamExt;
use redial::config::{Config, Preset};
use redial::core::Event;
use redial::core::StateName;
use redial::driver::{Client, ClientBuilder, ClientEvent, Events, Messages};
use redial_testkit::{TestCert, WsServer};

/// `timeouts.close_grace` in [`fast`]'s config.
pub const CLOSE_GRACE: Duration = Duration::from_millis(300);

/// What invariant 11 allows `close()` beyond `close_grace`: one scheduling delay, on a
/// shared CI runner.
pub const SCHEDULING_MARGIN: Duration = Duration::from_millis(1500);

/// Close, and check that `close()` returned within `close_grace` plus the margin
/// (invariant 11), whatever the test left the application doing.
pub async fn close_in_time(client: &Client) {
    let started = Instant::now();
    within(Duration::from_secs(10), "close()", client.close()).await;
    let took = started.elapsed();
    assert!(
        took <= CLOSE_GRACE + SCHEDULING_MARGIN,
        "close() took {took:?} with close_grace {CLOSE_GRACE:?}"
    );
}

/// The default policy with timeouts short enough for tests.
pub fn fast(mut c: Config) -> Config {
    let ms = Duration::from_millis;
    c.backoff.base = ms(10);
    c.backoff.cap = Some(ms(100));
    c.budget.min_uptime = ms(500);
    c.delays.restart_min = ms(200);
    c.delays.restart_max = ms(300);
    c.delays.overload_min = ms(400);
    c.timeouts.connect = ms(500);
    c.timeouts.handshake = ms(300);
    c.timeouts.close_grace = CLOSE_GRACE;
    c.heartbeat.ping_interval = Some(ms(200));
    c.heartbeat.pong_timeout = ms(200);
    if c.fallback.reprobe_after.is_some() {
        c.fallback.reprobe_after = Some(ms(300));
        c.fallback.reprobe_max = ms(600);
    }
    c
}

/// The default preset, fast.
pub fn fast_default() -> Config {
    fast(Preset::Default.config())
}

/// A builder for `server` that trusts `cert`.
pub fn builder(server: &WsServer, cert: &TestCert, config: Config) -> ClientBuilder {
    Client::builder(server.url())
        .config(config)
        .root_certificate(cert.cert_der.clone())
}

/// Build, subscribe to events, and spawn the driver on async-std.
pub fn spawn(b: ClientBuilder) -> (Client, Events) {
    let (client, driver) = b.build().expect("valid client");
    let events = client.events();
    async_std::task::spawn(driver.run());
    (client, events)
}

/// As [`spawn`], with the `messages()` stream taken before the driver runs: messages
/// that arrive while no stream is held are discarded, and a loaded machine can run the
/// driver's dial and first reads before the test's next line.
pub fn spawn_with_messages(b: ClientBuilder) -> (Client, Events, Messages) {
    let (client, driver) = b.build().expect("valid client");
    let events = client.events();
    let messages = client.messages();
    async_std::task::spawn(driver.run());
    (client, events, messages)
}

/// Fail the test when `fut` takes longer than `limit` (a guard, not a synchronisation).
pub async fn within<T>(limit: Duration, what: &str, fut: impl Future<Output = T>) -> T {
    let guard = async {
        async_io::Timer::after(limit).await;
        panic!("timed out after {limit:?} waiting for {what}");
    };
    futures_lite::future::or(fut, guard).await
}

/// Every event left until the driver ends (close it first), 10 s at most.
pub async fn rest_of(events: Events) -> Vec<ClientEvent> {
    within(Duration::from_secs(10), "the events' end", events.collect()).await
}

/// Collect core events until one matches `stop` (included).
pub async fn until(events: &mut Events, stop: impl Fn(&Event) -> bool) -> Vec<Event> {
    let mut seen = Vec::new();
    let collect = async {
        while let Some(e) = events.next().await {
            if let ClientEvent::Core(e) = e {
                let done = stop(&e);
                seen.push(e);
                if done {
                    return;
                }
            }
        }
    };
    within(Duration::from_secs(20), "an event", collect).await;
    seen
}

/// Collect events until the client enters `state`.
pub async fn until_state(events: &mut Events, state: StateName) -> Vec<Event> {
    until(
        events,
        |e| matches!(e, Event::StateChanged { to, .. } if *to == state),
    )
    .await
}

/// Count events of a kind (`Event::kind()`).
pub fn count(events: &[Event], kind: &str) -> usize {
    events.iter().filter(|e| e.kind() == kind).count()
}

/// The cause sentence of the first event of `kind` that has one.
pub fn cause_of(events: &[Event], kind: &str) -> String {
    events
        .iter()
        .filter(|e| e.kind() == kind)
        .find_map(|e| {
            e.to_json(Duration::ZERO)["cause"]
                .as_str()
                .map(String::from)
        })
        .unwrap_or_else(|| panic!("no {kind} event with a cause in {events:#?}"))
}

/// Collect events until one of `kind` (`Event::kind()`, e.g. "fell_back", "gave_up").
pub async fn until_kind(events: &mut Events, kind: &str) -> Vec<Event> {
    until(events, |e| e.kind() == kind).await
}
