//! Issue 12, the fallback side: a fallback that is dead, stalls, or sends too much is
//! bounded by timeouts and by the core's fallback budget, and loses no message.
//!
//! Each test names the bug it guards against and why it failed on the code before
//! issue 12 (commit 7d73981).

mod driver_support;
mod fallback_support;

use std::time::Duration;

use driver_support::*;
use fallback_support::*;
use futures_lite::StreamExt;
use redial::core::Event;
use redial::core::StateName;
use redial::driver::{
    ClientEvent, Fallback, FallbackLimits, Headers, HttpsSse, Message, RequestError, TlsOptions,
};
use redial::policy::{FallbackError, Phase, ReachFailure};
use redial_testkit::{Act, Behavior, Received, TestCert, WsServer};

fn policy_close() -> Behavior {
    Behavior::Accept(vec![Act::Close {
        code: Some(1008),
        reason: String::new(),
    }])
}

/// Short fallback timeouts for tests.
fn fast_fallback() -> redial::config::Config {
    let mut c = fast_default();
    let ms = Duration::from_millis;
    c.fallback.connect_timeout = ms(300);
    c.fallback.tls_timeout = ms(300);
    c.fallback.headers_timeout = ms(300);
    c.fallback.idle_timeout = ms(300);
    c.fallback.max_failures = 3;
    c
}

/// Collect every event until the stream ends (the driver ended), 20 s at most.
async fn all_events(mut events: redial::driver::Events) -> Vec<ClientEvent> {
    let collect = async {
        let mut seen = Vec::new();
        while let Some(e) = events.next().await {
            seen.push(e);
        }
        seen
    };
    within(Duration::from_secs(20), "the driver's end", collect).await
}

/// The core's events among the client's.
fn core_events(events: &[ClientEvent]) -> Vec<Event> {
    events
        .iter()
        .filter_map(|e| match e {
            ClientEvent::Core(e) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

fn undelivered(events: &[ClientEvent]) -> Vec<Message> {
    events
        .iter()
        .filter_map(|e| match e {
            ClientEvent::Undelivered(m) => Some(m.clone()),
            _ => None,
        })
        .collect()
}

/// Bug 1 of the issue: 101 then 1008, the fallback URL a closed port, three `send`s
/// after `FellBack`. Before, the driver logged a warning and dropped each message (0
/// `Undelivered`, `queued()` 0) and never told the core. Now each failure is a core
/// input: retried with backoff under `fallback.max_failures`, then the client stops
/// with a cause naming the fallback, and the three messages are handed back in order.
#[async_std::test]
async fn messages_sent_to_a_dead_fallback_are_handed_back_when_the_client_gives_up() {
    let ws = WsServer::start(|_| policy_close()).await.unwrap();
    let cert = TestCert::localhost();
    let b = builder(&ws, &cert, fast_fallback()).fallback_url(closed_port_url().await);
    let (client, mut events) = spawn(b);
    until_kind(&mut events, "fell_back").await;
    for i in 0..3 {
        client.try_send(format!("m{i}")).unwrap();
    }
    let seen = all_events(events).await;
    assert_eq!(
        undelivered(&seen),
        ["m0", "m1", "m2"].map(Message::from).to_vec()
    );
    let core = core_events(&seen);
    let cause = cause_of(&core, "gave_up");
    assert!(cause.contains("refused"), "{cause}");
    assert_eq!(client.state(), StateName::Stopped);
}

fn limits(max_event_bytes: usize) -> FallbackLimits {
    let ms = Duration::from_millis;
    FallbackLimits {
        connect: ms(300),
        tls: ms(300),
        headers: ms(300),
        idle: ms(300),
        max_event_bytes,
    }
}

async fn items(server: &RawHttp, limits: FallbackLimits) -> Vec<Result<String, FallbackError>> {
    let f = HttpsSse::new(&server.url, &TlsOptions::default())
        .unwrap()
        .with_limits(limits);
    let stream = f.request("{}".into(), &Headers::default());
    within(Duration::from_secs(5), "the response", stream.collect()).await
}

/// Bug "the fallback has no … response-header timeout": a server that accepts and
/// never answers. Before, the request waited forever.
#[async_std::test]
async fn a_fallback_that_never_answers_times_out_in_the_headers_phase() {
    let server = RawHttp::start(|_| Reply::Stall).await;
    let got = items(&server, limits(1024)).await;
    assert_eq!(
        got,
        [Err(FallbackError::Reach(ReachFailure::Timeout(
            Phase::Headers
        )))]
    );
}

/// Bug "… no idle timeout": a response that sends one event and then nothing.
#[async_std::test]
async fn a_fallback_response_that_goes_quiet_times_out_as_idle() {
    let server = RawHttp::start(|_| sse("data: one\n\n")).await;
    let got = items(&server, limits(1024)).await;
    assert_eq!(
        got,
        [
            Ok("one".to_string()),
            Err(FallbackError::Reach(ReachFailure::Timeout(Phase::Idle)))
        ]
    );
}

/// Bug "no bound on an SSE event's size (eventsource-stream buffers without limit)":
/// an event that never ends fails once it passes `max_event_bytes`; smaller events
/// before it arrive.
#[async_std::test]
async fn an_oversized_sse_event_fails_with_too_large() {
    let body = format!("data: small\r\n\r\ndata: {}", "x".repeat(3000));
    let server = RawHttp::start(move |_| sse(&body)).await;
    let got = items(&server, limits(1000)).await;
    assert_eq!(
        got,
        [
            Ok("small".to_string()),
            Err(FallbackError::TooLarge { limit: 1000 })
        ]
    );
}

/// A fallback that answers with a redirect: not followed, and the failure says where it
/// pointed (resolved against the fallback's URL, its query redacted), or that it did not.
#[async_std::test]
async fn a_fallback_redirect_is_not_followed_and_names_its_location() {
    let server = RawHttp::start(|_| {
        Reply::Bytes(
            b"HTTP/1.1 302 Found\r\nlocation: /login?token=s3cret\r\ncontent-length: 0\r\n\r\n"
                .to_vec(),
        )
    })
    .await;
    let got = items(&server, limits(1024)).await;
    let base = server.url.trim_end_matches("/v1/responses");
    let location = format!("{base}/login?<redacted>");
    assert_eq!(
        got,
        [Err(FallbackError::Reach(ReachFailure::Redirect {
            status: 302,
            location: Some(location.clone()),
        }))]
    );
    let Err(e) = &got[0] else { unreachable!() };
    let said = e.as_cause().to_string();
    assert_eq!(
        said,
        format!(
            "the HTTPS fallback answered HTTP 302 (Found) to Location {location}, a redirect, \
             which is not followed"
        )
    );
    assert!(!said.contains("s3cret"), "{said}");
    assert_eq!(*server.connections.lock().unwrap(), 1, "not followed");

    let bare = RawHttp::start(|_| {
        Reply::Bytes(b"HTTP/1.1 307 Temporary Redirect\r\ncontent-length: 0\r\n\r\n".to_vec())
    })
    .await;
    let got = items(&bare, limits(1024)).await;
    assert_eq!(
        got,
        [Err(FallbackError::Reach(ReachFailure::Redirect {
            status: 307,
            location: None,
        }))]
    );
}

/// Bug "one stalled fallback job blocks every later one": the first POST stalls, the
/// next ones are answered. The stalled job times out, its message goes back to the
/// front of the queue, the core retries the fallback after a backoff, and both
/// messages are carried, in order.
#[async_std::test]
async fn a_stalled_fallback_job_times_out_and_later_work_goes_on() {
    let ws = WsServer::start(|_| policy_close()).await.unwrap();
    let cert = TestCert::localhost();
    let server = RawHttp::start(|i| match i {
        1 => Reply::Stall,
        _ => Reply::Bytes(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: 11\r\n\r\ndata: ok\n\n"
                .to_vec(),
        ),
    })
    .await;
    let mut config = fast_fallback();
    config.fallback.reprobe_after = None;
    let b = builder(&ws, &cert, config).fallback_url(server.url.clone());
    let (client, mut events) = spawn(b);
    let mut messages = client.messages();
    until_kind(&mut events, "fell_back").await;
    client.try_send("first").unwrap();
    client.try_send("second").unwrap();
    let two = async {
        let a = messages.next().await;
        let b = messages.next().await;
        (a, b)
    };
    let (a, b) = within(Duration::from_secs(10), "two responses", two).await;
    assert_eq!((a, b), (Some("ok".into()), Some("ok".into())));
    // Stalled + first again + second.
    assert_eq!(server.connections(), 3);
    assert_eq!(client.queued(), 0);
    close_in_time(&client).await;
}

/// Bug "after a re-probe succeeds, the next message can overtake a fallback job still
/// streaming": the job carrying `first` streams while the probe brings WebSockets
/// back; `second`, sent then, waits until the job has ended. Before, `writable` only
/// checked that the core was Open, and `second` went out over the WebSocket at once.
#[async_std::test]
async fn a_message_waits_for_the_fallback_job_still_streaming_when_websockets_return() {
    let ws = WsServer::start(|c| match c.index {
        1 => policy_close(),
        _ => Behavior::Accept(vec![Act::Hold]),
    })
    .await
    .unwrap();
    let cert = TestCert::localhost();
    let (fallback, requests) = Scripted::new();
    let mut config = fast_fallback();
    // The job must outlast the re-probe (300 ms).
    config.fallback.idle_timeout = Duration::from_secs(5);
    let b = builder(&ws, &cert, config).fallback(fallback.clone());
    let (client, mut events) = spawn(b);
    let mut messages = client.messages();
    until_kind(&mut events, "fell_back").await;
    client.try_send("first").unwrap();
    within(Duration::from_secs(5), "the POST", requests.recv())
        .await
        .unwrap();
    let response = fallback.respond();
    response.send(Ok("a".into())).await.unwrap();
    assert_eq!(messages.next().await, Some("a".into()));
    until_kind(&mut events, "recovered").await;
    client.try_send("second").unwrap();
    // A bounded look: the job still streams, so nothing may reach the WebSocket. What
    // follows checks the positive side (it arrives once the job ends).
    let early = futures_lite::future::or(
        async {
            ws.wait_received(1).await;
            true
        },
        async {
            async_io::Timer::after(Duration::from_millis(300)).await;
            false
        },
    )
    .await;
    assert!(!early, "second overtook the job: {:?}", ws.received());
    response.send(Ok("b".into())).await.unwrap();
    drop(response);
    assert_eq!(messages.next().await, Some("b".into()));
    within(Duration::from_secs(5), "second", ws.wait_received(1)).await;
    assert_eq!(ws.received()[0].1, Received::Text("second".into()));
    assert_eq!(*fallback.bodies.lock().unwrap(), ["first"]);
    close_in_time(&client).await;
}

/// Issue item 1: `close()` during a fallback job hands the in-flight message back
/// (the server had not answered), and ends an in-flight request's stream with an error
/// item. Before, `finish` dropped the job: the message was lost and the request's
/// stream ended without an error.
#[async_std::test]
async fn close_during_fallback_jobs_hands_the_message_back_and_ends_the_request() {
    let ws = WsServer::start(|_| policy_close()).await.unwrap();
    let cert = TestCert::localhost();
    let (fallback, requests) = Scripted::new();
    let b = builder(&ws, &cert, fast_fallback()).fallback(fallback.clone());
    let (client, mut events) = spawn(b);
    until_kind(&mut events, "fell_back").await;
    client.try_send("in flight").unwrap();
    within(Duration::from_secs(5), "the POST", requests.recv())
        .await
        .unwrap();
    let _response = fallback.respond();
    let close = client.close();
    let seen = all_events(events);
    let (_, seen) = futures_lite::future::zip(close, seen).await;
    assert_eq!(undelivered(&seen), [Message::from("in flight")]);

    // A request in flight over the fallback.
    let ws = WsServer::start(|_| policy_close()).await.unwrap();
    let (fallback, requests) = Scripted::new();
    let b = builder(&ws, &cert, fast_fallback()).fallback(fallback.clone());
    let (client, mut events) = spawn(b);
    until_kind(&mut events, "fell_back").await;
    let stream = client.request("ask").await.unwrap();
    within(Duration::from_secs(5), "the POST", requests.recv())
        .await
        .unwrap();
    let response = fallback.respond();
    response.send(Ok("part".into())).await.unwrap();
    let mut stream = stream;
    let first = within(Duration::from_secs(2), "part", stream.next()).await;
    assert_eq!(first, Some(Ok(Message::from("part"))));
    within(Duration::from_secs(2), "close()", client.close()).await;
    let items: Vec<_> = within(Duration::from_secs(2), "the stream", stream.collect()).await;
    assert_eq!(items.len(), 1, "{items:?}");
    assert!(
        matches!(
            items[0],
            Err(RequestError::Interrupted {
                sent: true,
                response_started: true,
                ..
            })
        ),
        "{items:?}"
    );
}

/// A request whose POST reached the server but got no 2xx (here a 503) is sent again
/// after the fallback's backoff only as the replay policy allows, and the replay is
/// reported; under `Replay::Never` its stream ends with an error item saying it was
/// written and unanswered.
#[async_std::test]
async fn a_request_whose_post_got_a_503_is_replayed_as_the_policy_says() {
    for replay in [
        redial::driver::Replay::IfUnanswered,
        redial::driver::Replay::Never,
    ] {
        let ws = WsServer::start(|_| policy_close()).await.unwrap();
        let cert = TestCert::localhost();
        let (fallback, requests) = Scripted::new();
        let b = builder(&ws, &cert, fast_fallback())
            .fallback(fallback.clone())
            .replay(replay);
        let (client, mut events) = spawn(b);
        until_kind(&mut events, "fell_back").await;
        let stream = client.request("ask").await.unwrap();
        within(Duration::from_secs(5), "the POST", requests.recv())
            .await
            .unwrap();
        let unavailable = FallbackError::Reach(ReachFailure::Status {
            status: 503,
            retry_after: None,
        });
        fallback.respond().send(Err(unavailable)).await.unwrap();
        if replay == redial::driver::Replay::Never {
            let items: Vec<_> =
                within(Duration::from_secs(5), "the stream", stream.collect()).await;
            assert!(
                matches!(
                    items.as_slice(),
                    [Err(RequestError::Interrupted {
                        sent: true,
                        response_started: false,
                        ..
                    })]
                ),
                "{items:?}"
            );
        } else {
            within(Duration::from_secs(5), "the second POST", requests.recv())
                .await
                .unwrap();
            // The terminal message ends the response (a clean end before it would be
            // an interrupted request).
            let done = r#"{"type":"response.completed"}"#;
            let response = fallback.respond();
            response.send(Ok(done.into())).await.unwrap();
            drop(response);
            let items: Vec<_> =
                within(Duration::from_secs(5), "the stream", stream.collect()).await;
            assert_eq!(items, [Ok(Message::from(done))]);
            let replayed = async {
                while let Some(e) = events.next().await {
                    if let ClientEvent::Replayed { cause, .. } = e {
                        return cause;
                    }
                }
                panic!("no Replayed event");
            };
            let cause = within(Duration::from_secs(5), "Replayed", replayed).await;
            assert!(cause.contains("503"), "{cause}");
        }
        assert_eq!(
            *fallback.bodies.lock().unwrap(),
            match replay {
                redial::driver::Replay::Never => vec!["ask"],
                _ => vec!["ask", "ask"],
            }
        );
        close_in_time(&client).await;
    }
}

/// What resets the fallback's budget (`FallbackReady`) is a response item, not a 200
/// status line and headers. A fallback that answers 200 and then says nothing fails
/// every job as idle, and the client stops at `max_failures` (3) of them: the messages
/// of those jobs reached a server that answered 2xx and are not handed back; the one
/// still queued is. A fallback that sends one event before going quiet is working: each
/// job is ready, then fails, and the count starts again every time.
#[async_std::test]
async fn headers_alone_do_not_reset_the_fallback_budget_an_event_does() {
    for (body, stops) in [("", true), ("data: one\n\n", false)] {
        let server = RawHttp::start(move |_| sse(body)).await;
        let ws = WsServer::start(|_| policy_close()).await.unwrap();
        let cert = TestCert::localhost();
        // No re-probe: a probe's brief WebSocket (101, then 1008) would carry the queue.
        let mut config = fast_fallback();
        config.fallback.reprobe_after = None;
        let b = builder(&ws, &cert, config).fallback_url(server.url.clone());
        let (client, mut events) = spawn(b);
        until_kind(&mut events, "fell_back").await;
        for i in 0..4 {
            client.try_send(format!("m{i}")).unwrap();
        }
        let failures = |seen: &[Event]| -> Vec<u32> {
            seen.iter()
                .filter_map(|e| match e {
                    Event::FallbackFailed { failures, .. } => Some(*failures),
                    _ => None,
                })
                .collect()
        };
        if stops {
            let seen = all_events(events).await;
            let core = core_events(&seen);
            // Two pauses, then the third failure stops the client.
            assert_eq!(failures(&core), [1, 2], "{core:#?}");
            assert!(!core.iter().any(|e| matches!(e, Event::FallbackReady)));
            let cause = cause_of(&core, "gave_up");
            assert!(cause.contains("idle"), "{cause}");
            assert_eq!(undelivered(&seen), [Message::from("m3")]);
        } else {
            let mut seen = Vec::new();
            while failures(&seen).len() < 4 {
                seen.extend(until_kind(&mut events, "fallback_failed").await);
            }
            assert_eq!(failures(&seen), [1, 1, 1, 1], "{seen:#?}");
            let ready = seen.iter().filter(|e| matches!(e, Event::FallbackReady));
            assert_eq!(ready.count(), 4);
            assert_eq!(client.state(), StateName::FellBack);
            close_in_time(&client).await;
        }
        assert_eq!(*server.connections.lock().unwrap(), 3 + usize::from(!stops));
    }
}

/// A request whose POST got a 503 waits to be sent again; when the client gives up
/// first (`max_failures` 1), its stream says it was written, as over WebSockets: the
/// server had it.
#[async_std::test]
async fn a_request_whose_post_got_a_503_says_it_was_written_when_the_client_gives_up_first() {
    let ws = WsServer::start(|_| policy_close()).await.unwrap();
    let cert = TestCert::localhost();
    let (fallback, requests) = Scripted::new();
    let mut c = fast_fallback();
    c.fallback.max_failures = 1;
    let b = builder(&ws, &cert, c).fallback(fallback.clone());
    let (client, mut events) = spawn(b);
    until_kind(&mut events, "fell_back").await;
    let stream = client.request("ask").await.unwrap();
    within(Duration::from_secs(5), "the POST", requests.recv())
        .await
        .unwrap();
    let unavailable = FallbackError::Reach(ReachFailure::Status {
        status: 503,
        retry_after: None,
    });
    fallback.respond().send(Err(unavailable)).await.unwrap();
    let items: Vec<_> = within(Duration::from_secs(5), "the stream", stream.collect()).await;
    assert!(
        matches!(
            items.as_slice(),
            [Err(RequestError::Interrupted {
                sent: true,
                response_started: false,
                ..
            })]
        ),
        "{items:?}"
    );
    assert_eq!(*fallback.bodies.lock().unwrap(), ["ask"]);
    within(Duration::from_secs(5), "the client's end", client.closed()).await;
}

/// A request dropped before it was written (it waited behind a fallback job still
/// streaming), while an event of that job is held back for the message stream (reading
/// paused): the held message stays, and every message arrives once, in order.
#[async_std::test]
async fn dropping_an_unwritten_request_keeps_the_message_held_for_the_message_stream() {
    let ws = WsServer::start(|_| policy_close()).await.unwrap();
    let cert = TestCert::localhost();
    let (fallback, requests) = Scripted::new();
    let b = builder(&ws, &cert, fast_fallback()).fallback(fallback.clone());
    let (client, mut events, mut messages) = spawn_with_messages(b);
    until_kind(&mut events, "fell_back").await;
    client.try_send("m").unwrap();
    within(Duration::from_secs(5), "the POST", requests.recv())
        .await
        .unwrap();
    let response = fallback.respond();
    // Sent before any of the job's events: the driver takes it (commands come first)
    // before it reads them, and it waits behind the job.
    let request = client.request("r").await.unwrap();
    for i in 0..258 {
        response.send(Ok(format!("e{i}"))).await.unwrap();
    }
    let paused = async {
        while let Some(e) = events.next().await {
            if let ClientEvent::ReadingPaused { stream } = e {
                return stream;
            }
        }
        panic!("the events ended");
    };
    assert_eq!(
        within(Duration::from_secs(5), "ReadingPaused", paused).await,
        "messages"
    );
    drop(request);
    let read = async {
        let mut got = Vec::new();
        while got.len() < 258 {
            got.push(messages.next().await.expect("a message"));
        }
        got
    };
    let got = within(Duration::from_secs(5), "258 messages", read).await;
    let want: Vec<Message> = (0..258).map(|i| Message::from(format!("e{i}"))).collect();
    assert_eq!(got, want);
    assert_eq!(*fallback.bodies.lock().unwrap(), ["m"]);
    drop(response);
    close_in_time(&client).await;
}

/// A scripted fallback that counts the driver's calls of the connection hooks.
#[derive(Clone, Default)]
struct Counting {
    inner: Scripted,
    polls: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    expiries: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Fallback for Counting {
    fn request(&self, body: String, headers: &Headers) -> redial::driver::FallbackStream {
        self.inner.request(body, headers)
    }

    fn describe(&self) -> String {
        "counting".into()
    }

    fn poll_connections(&self, _: &mut std::task::Context<'_>) {
        self.polls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    fn expire_idle(&self, _: std::time::Instant) -> Option<std::time::Instant> {
        self.expiries
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        None
    }
}

/// The `Fallback` hooks' contract: `expire_idle` is called when a response ends (and
/// at the deadlines it returns: here none, nothing is kept), and nothing is polled
/// while no job runs and nothing is idle, whatever wakes the driver meanwhile (here a
/// `send`). The driver runs on the test's thread (a local executor): when the test
/// sees the first response's end, the driver has finished the poll that ended it.
#[test]
fn the_fallbacks_connections_are_left_alone_while_nothing_is_held() {
    let ex = smol::LocalExecutor::new();
    smol::block_on(ex.run(async {
        let ws = WsServer::start(|_| policy_close()).await.unwrap();
        let cert = TestCert::localhost();
        let (scripted, requests) = Scripted::new();
        let fallback = Counting {
            inner: scripted.clone(),
            ..Counting::default()
        };
        let b = builder(&ws, &cert, fast_fallback()).fallback(fallback.clone());
        let (client, driver) = b.build().expect("valid client");
        let mut events = client.events();
        ex.spawn(driver.run()).detach();
        until_kind(&mut events, "fell_back").await;
        let stream = client.request("one").await.unwrap();
        within(Duration::from_secs(5), "the POST", requests.recv())
            .await
            .unwrap();
        let done = r#"{"type":"response.completed"}"#;
        let response = scripted.respond();
        response.send(Ok(done.into())).await.unwrap();
        drop(response);
        let items: Vec<_> = within(Duration::from_secs(5), "the stream", stream.collect()).await;
        assert_eq!(items, [Ok(Message::from(done))]);
        let count =
            |c: &std::sync::atomic::AtomicUsize| c.load(std::sync::atomic::Ordering::SeqCst);
        assert!(count(&fallback.polls) > 0, "polled while the job ran");
        assert_eq!(
            count(&fallback.expiries),
            1,
            "called when the response ended"
        );
        // A wake-up with nothing held (the message sent), then the next job's POST.
        client.try_send("two").unwrap();
        within(Duration::from_secs(5), "the second POST", requests.recv())
            .await
            .unwrap();
        assert_eq!(count(&fallback.expiries), 1, "not called again meanwhile");
        scripted.respond().send(Ok("item".into())).await.unwrap();
        close_in_time(&client).await;
    }));
}
