//! The pieces of the driver-level randomized test: what is generated (server scripts,
//! fallback faults, application actions) and the fallback that plays the faults; the
//! ledger oracle that judges a case ([`ledger`]).
#![allow(dead_code)]

pub mod ledger;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use proptest::prelude::*;
use redial::driver::{Fallback, FallbackStream, Headers, Replay};
use redial::policy::{FallbackError, ReachFailure};
use redial_testkit::{Act, Behavior};

pub const DONE: &str = "response.completed";

/// What the server does with one connection.
#[derive(Debug, Clone, Copy)]
pub enum Script {
    /// Answers: a plain message `m<i>` gets one unsolicited echo; a request `r<i>` a
    /// delta and its terminal message. Until the client closes.
    Serve,
    /// Sends `n` unsolicited messages, then serves.
    Flood(u16),
    /// Answers a request with its first item only, never its terminal message (a
    /// response that streams for minutes); plain messages as [`Script::Serve`].
    Hang,
    /// Reads for `ms`, then closes with `code` (0: a close frame without a status
    /// code), and reads until the client's answer.
    CloseAfter { ms: u16, code: u16 },
    /// Refuses the upgrade with this status.
    Reject(u16),
    /// Never answers the upgrade.
    Stall,
}

/// What one fallback POST meets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answers with the same items as [`Script::Serve`], at once.
    Ok,
    /// The TCP connection is refused.
    Refused,
    /// HTTP 503.
    Unavailable,
    /// Nothing ever comes (the driver's guard times it out).
    Stall,
    /// One item, then an event over the size bound.
    Oversized,
    /// The items, 30 ms apart.
    Slow,
    /// The items but the last, then a clean end: a request's terminal message never
    /// comes (a plain message's answer is an empty 2xx).
    EndsEarly,
    /// One item, then the connection breaks (the body was read and answered in part).
    BreaksAfterItems,
    /// The body was written, then the connection failed before any answer.
    WrittenUnanswered,
    /// The connection is reset before the request was written.
    ResetBeforeHeaders,
    /// HTTP/2 GOAWAY before the stream was processed: not written, safe to send again.
    GoAway,
}

/// One step of the application.
#[derive(Debug, Clone, Copy)]
pub enum Step {
    /// `send("m<i>")`.
    Send,
    /// `request("r<i>")`, its stream read by a task.
    Request,
    /// `request("r<i>")`, its stream dropped at once.
    RequestDropped,
    /// `request("r<i>")`, its stream held and read only after `close()`.
    RequestUnread,
    /// `request("r<i>")`, its stream read for this many items, then dropped (a user
    /// interrupting a response at any point).
    RequestCancelAfter(u8),
    /// Let `ms` pass.
    Wait(u16),
}

/// How the application treats `messages()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// Never asks for the stream.
    NoStream,
    /// Holds it and reads everything, from a task.
    Reads,
    /// Holds it and never reads it.
    Unread,
}

/// One generated case.
#[derive(Debug, Clone)]
pub struct Case {
    pub scripts: Vec<Script>,
    pub faults: Vec<Fault>,
    pub steps: Vec<Step>,
    pub reading: Reading,
    pub with_fallback: bool,
    /// With the fallback: `transport = "https"` (every message and request goes over
    /// it), else `auto`.
    pub https_only: bool,
    /// How long the client's TCP connect takes, dial by dial (past the list: at once).
    /// Over the connect timeout (500 ms), a dial completes after the core gave up on it.
    pub slow_dials: Vec<u16>,
    /// What happens to written requests (and plain messages over the fallback) that
    /// were left unanswered.
    pub replay: Replay,
}

fn script() -> impl Strategy<Value = Script> {
    prop_oneof![
        3 => Just(Script::Serve),
        1 => (1u16..400).prop_map(Script::Flood),
        1 => Just(Script::Hang),
        // A code of every class: done, transient, protocol, policy, restart, overload,
        // auth, application, and none at all (0).
        3 => (0u16..150, prop::sample::select(CLOSE_CODES.to_vec()))
            .prop_map(|(ms, code)| Script::CloseAfter { ms, code }),
        1 => prop::sample::select(vec![401u16, 404, 503]).prop_map(Script::Reject),
        1 => Just(Script::Stall),
    ]
}

/// The close codes the server scripts use: every class of the policy table.
pub const CLOSE_CODES: [u16; 12] = [
    1000, 1001, 1002, 1003, 1008, 1011, 1012, 1013, 3000, 3003, 4000, 0,
];

/// Every fault, for counting the generator's reach.
pub const FAULTS: [Fault; 11] = [
    Fault::Ok,
    Fault::Refused,
    Fault::Unavailable,
    Fault::Stall,
    Fault::Oversized,
    Fault::Slow,
    Fault::EndsEarly,
    Fault::BreaksAfterItems,
    Fault::WrittenUnanswered,
    Fault::ResetBeforeHeaders,
    Fault::GoAway,
];

fn fault() -> impl Strategy<Value = Fault> {
    prop_oneof![
        4 => Just(Fault::Ok),
        1 => Just(Fault::Refused),
        1 => Just(Fault::Unavailable),
        1 => Just(Fault::Stall),
        1 => Just(Fault::Oversized),
        1 => Just(Fault::Slow),
        1 => Just(Fault::EndsEarly),
        1 => Just(Fault::BreaksAfterItems),
        1 => Just(Fault::WrittenUnanswered),
        1 => Just(Fault::ResetBeforeHeaders),
        1 => Just(Fault::GoAway),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => Just(Step::Send),
        2 => Just(Step::Request),
        1 => Just(Step::RequestDropped),
        1 => Just(Step::RequestUnread),
        2 => (0u8..3).prop_map(Step::RequestCancelAfter),
        2 => (0u16..120).prop_map(Step::Wait),
        // Past a request's idle timeout and its cancel grace (200 + 100 ms in the
        // test), so that a response that never ends is cut while the case runs.
        1 => (200u16..400).prop_map(Step::Wait),
    ]
}

pub fn case() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec(script(), 1..6),
        prop::collection::vec(fault(), 1..6),
        prop::collection::vec(step(), 1..24),
        prop::sample::select(vec![Reading::NoStream, Reading::Reads, Reading::Unread]),
        any::<bool>(),
        // Slow but in time, or just late: the connect timeout is 500 ms and the backoff
        // at most 100 ms, so a dial of 505-600 ms can complete after the core gave up
        // on it and before it dials again.
        prop::collection::vec(
            prop_oneof![3 => Just(0u16), 1 => 400u16..490, 1 => 505u16..600],
            0..4,
        ),
        prop::sample::select(vec![Replay::IfUnanswered, Replay::Never, Replay::Always]),
        any::<bool>(),
    )
        .prop_map(
            |(scripts, faults, steps, reading, with_fallback, slow_dials, replay, https_only)| {
                Case {
                    scripts,
                    faults,
                    steps,
                    reading,
                    with_fallback,
                    https_only: with_fallback && https_only,
                    slow_dials,
                    replay,
                }
            },
        )
}

/// The server's answer to one message body.
pub fn answer(body: &str) -> Vec<String> {
    match body.strip_prefix('r') {
        Some(id) => vec![
            format!(r#"{{"type":"delta","id":"{id}"}}"#),
            format!(r#"{{"type":"{DONE}","id":"{id}"}}"#),
        ],
        None => vec![format!("echo {body}")],
    }
}

/// The behaviour of connection `index` (from 1); past the scripts, the last one again.
pub fn behavior(scripts: &[Script], index: usize) -> Behavior {
    let serve = || Act::Respond(Arc::new(|body: &str| answer(body)));
    match scripts[(index - 1).min(scripts.len() - 1)] {
        Script::Serve => Behavior::Accept(vec![serve()]),
        Script::Hang => Behavior::Accept(vec![Act::Respond(Arc::new(|body: &str| {
            let mut items = answer(body);
            if body.starts_with('r') {
                items.truncate(1);
            }
            items
        }))]),
        Script::Flood(n) => {
            let mut acts: Vec<Act> = (0..n).map(|i| Act::Text(format!("flood {i}"))).collect();
            acts.push(serve());
            Behavior::Accept(acts)
        }
        Script::CloseAfter { ms, code } => Behavior::Accept(vec![
            Act::HoldFor(Duration::from_millis(ms.into())),
            Act::Close {
                code: (code != 0).then_some(code),
                reason: String::new(),
            },
        ]),
        Script::Reject(status) => Behavior::Reject {
            status,
            headers: Vec::new(),
        },
        Script::Stall => Behavior::StallHandshake,
    }
}

/// What the fallback saw of one POST: its body, its fault, and whether the server's
/// 2xx answer reached the client (a response item, or the clean end of an empty
/// response: the body counts as carried).
#[derive(Debug, Clone)]
pub struct Post {
    pub body: String,
    pub fault: Fault,
    pub answered: Arc<AtomicBool>,
}

impl Post {
    /// Whether the body reached the server (which may have acted on it).
    pub fn written(&self) -> bool {
        !matches!(
            self.fault,
            Fault::Refused | Fault::ResetBeforeHeaders | Fault::GoAway
        )
    }

    pub fn answered(&self) -> bool {
        self.answered.load(Ordering::SeqCst)
    }
}

/// A fallback that meets the generated faults in turn (the last one repeats).
#[derive(Clone)]
pub struct Faulty {
    pub faults: Arc<Vec<Fault>>,
    pub posts: Arc<Mutex<Vec<Post>>>,
}

impl Faulty {
    pub fn new(faults: Vec<Fault>) -> Faulty {
        Faulty {
            faults: Arc::new(faults),
            posts: Arc::default(),
        }
    }
}

impl Fault {
    /// Whether the body reached a server that answered it.
    pub fn answers(self) -> bool {
        matches!(
            self,
            Fault::Ok | Fault::Oversized | Fault::Slow | Fault::EndsEarly | Fault::BreaksAfterItems
        )
    }
}

impl Fallback for Faulty {
    fn request(&self, body: String, _headers: &Headers) -> FallbackStream {
        let mut posts = self.posts.lock().unwrap();
        let fault = self.faults[posts.len().min(self.faults.len() - 1)];
        let answered = Arc::new(AtomicBool::new(false));
        posts.push(Post {
            body: body.clone(),
            fault,
            answered: answered.clone(),
        });
        let stream = self.items(fault, &body);
        // Answered: a response item reached the client, or the response ended cleanly
        // (an error ends it otherwise, and the end is then not clean).
        let failed = Arc::new(AtomicBool::new(false));
        Box::pin(futures_lite::stream::unfold(
            (stream, answered, failed),
            |(mut stream, answered, failed)| async move {
                let item = futures_lite::StreamExt::next(&mut stream).await;
                match &item {
                    Some(Ok(_)) => answered.store(true, Ordering::SeqCst),
                    Some(Err(_)) => failed.store(true, Ordering::SeqCst),
                    None if !failed.load(Ordering::SeqCst) => {
                        answered.store(true, Ordering::SeqCst)
                    }
                    None => {}
                }
                Some((item?, (stream, answered, failed)))
            },
        ))
    }

    fn describe(&self) -> String {
        "faulty".into()
    }
}

impl Faulty {
    fn items(&self, fault: Fault, body: &str) -> FallbackStream {
        type Item = Result<String, FallbackError>;
        let items: Vec<Item> = answer(body).into_iter().map(Ok).collect();
        match fault {
            Fault::Ok => Box::pin(futures_lite::stream::iter(items)),
            Fault::Refused => Box::pin(futures_lite::stream::once(Err(FallbackError::Reach(
                ReachFailure::Refused,
            )))),
            Fault::Unavailable => Box::pin(futures_lite::stream::once(Err(FallbackError::Reach(
                ReachFailure::Status {
                    status: 503,
                    retry_after: None,
                },
            )))),
            Fault::Stall => Box::pin(futures_lite::stream::pending()),
            Fault::Oversized => {
                let first = items.into_iter().next();
                let tail: Item = Err(FallbackError::TooLarge { limit: 64 });
                Box::pin(futures_lite::stream::iter(first.into_iter().chain([tail])))
            }
            Fault::EndsEarly => {
                let mut items = items;
                items.pop();
                Box::pin(futures_lite::stream::iter(items))
            }
            Fault::BreaksAfterItems => {
                let first = items.into_iter().next();
                let tail: Item = Err(FallbackError::Unanswered("connection reset".into()));
                Box::pin(futures_lite::stream::iter(first.into_iter().chain([tail])))
            }
            Fault::WrittenUnanswered => Box::pin(futures_lite::stream::once(Err(
                FallbackError::Unanswered("connection reset".into()),
            ))),
            Fault::ResetBeforeHeaders => Box::pin(futures_lite::stream::once(Err(
                FallbackError::Reach(ReachFailure::Reset),
            ))),
            Fault::GoAway => Box::pin(futures_lite::stream::once(Err(FallbackError::Reach(
                ReachFailure::Io("HTTP/2 GOAWAY before the stream was processed".into()),
            )))),
            Fault::Slow => Box::pin(futures_lite::stream::unfold(
                items.into_iter(),
                |mut items| async move {
                    let item = items.next()?;
                    async_io::Timer::after(Duration::from_millis(30)).await;
                    Some((item, items))
                },
            )),
        }
    }
}

/// The client's sockets, counted: how many are open now, and the most ever open at
/// once (the driver holds one live socket at most: invariant 5 as the driver keeps it).
#[derive(Clone, Default)]
pub struct Sockets {
    open: Arc<std::sync::atomic::AtomicUsize>,
    most: Arc<std::sync::atomic::AtomicUsize>,
    dials: Arc<std::sync::atomic::AtomicUsize>,
    /// How long each dial's TCP connect takes (ms), dial by dial.
    delays: Arc<Vec<u16>>,
    /// Every text message the client wrote in full to a socket, in order.
    written: Arc<Mutex<Vec<String>>>,
}

impl Sockets {
    /// Dials whose connect takes `delays[i]` ms (the rest: at once).
    pub fn slow(delays: Vec<u16>) -> Sockets {
        Sockets {
            delays: Arc::new(delays),
            ..Sockets::default()
        }
    }

    /// The most sockets open at once so far.
    pub fn most(&self) -> usize {
        self.most.load(Ordering::SeqCst)
    }

    /// Every text message the client wrote in full to a socket (read back from its
    /// bytes), in order: what left the client, whatever the server did with it.
    pub fn written(&self) -> Vec<String> {
        self.written.lock().unwrap().clone()
    }

    /// A connector for the builder: TCP to the URL's address, each stream counted
    /// while it lives.
    pub fn connector(
        &self,
    ) -> impl Fn(
        &url::Url,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Counted, ReachFailure>> + Send>,
    > + Send
           + Sync
           + 'static {
        let sockets = self.clone();
        move |url: &url::Url| {
            let addr = format!(
                "{}:{}",
                url.host_str().unwrap_or_default(),
                url.port_or_known_default().unwrap_or(80)
            );
            let sockets = sockets.clone();
            let dial = sockets.dials.fetch_add(1, Ordering::SeqCst);
            let delay = sockets.delays.get(dial).copied().unwrap_or(0);
            Box::pin(async move {
                async_io::Timer::after(Duration::from_millis(delay.into())).await;
                let tcp = async_net::TcpStream::connect(addr)
                    .await
                    .map_err(|_| ReachFailure::Refused)?;
                let now = sockets.open.fetch_add(1, Ordering::SeqCst) + 1;
                sockets.most.fetch_max(now, Ordering::SeqCst);
                Ok(Counted {
                    tcp,
                    open: sockets.open.clone(),
                    frames: redial_testkit::ClientFrames::default(),
                    written: sockets.written.clone(),
                })
            })
        }
    }
}

/// A TCP stream that counts itself out when dropped, and records the text messages
/// written through it.
pub struct Counted {
    tcp: async_net::TcpStream,
    open: Arc<std::sync::atomic::AtomicUsize>,
    frames: redial_testkit::ClientFrames,
    written: Arc<Mutex<Vec<String>>>,
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::SeqCst);
    }
}

impl futures_lite::AsyncRead for Counted {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut [u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.tcp).poll_read(cx, buf)
    }
}

impl futures_lite::AsyncWrite for Counted {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let n = std::task::ready!(std::pin::Pin::new(&mut this.tcp).poll_write(cx, buf))?;
        let written = &this.written;
        this.frames.feed(&buf[..n], |text| {
            if let Ok(t) = std::str::from_utf8(text) {
                written.lock().unwrap().push(t.to_owned());
            }
        });
        std::task::Poll::Ready(Ok(n))
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_close(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.tcp).poll_close(cx)
    }
}
