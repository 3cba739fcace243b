//! `hostile_server` (feature `driver`): after a valid upgrade over an in-memory stream
//! (`MemoryPeer`), the server sends the fuzz input (frames, fragments, pings, garbage)
//! and EOF. The client runs with small message and frame limits, `max_attempts = 1`, no
//! fallback, and a connector that serves the peer once (later dials are refused).
//! Asserts: `driver.run()` ends with a cause and the last state is Stopped; a close
//! code in that cause is the code of the first close frame on the wire; memory stays
//! under a bound derived from the limits (a counting global allocator); and
//! `FrameScanner` finds the same close frame in every chunking of the same bytes as a
//! plain reference reader.

#![no_main]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_lite::StreamExt;
use libfuzzer_sys::fuzz_target;
use redial::driver::{Client, ClientEvent};
use redial::policy::ReachFailure;
use redial::testing::{FrameScanner, MemoryPeer};
use redial::{Event, Preset, StateName};
use redial_fuzz::frames::{close_frames, UPGRADE_RESPONSE};

/// The global allocator, counting live bytes and their peak.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let now = LIVE.fetch_add(by, Relaxed) + by;
    PEAK.fetch_max(now, Relaxed);
}

// SAFETY: every call is forwarded to the system allocator unchanged; only counters are
// updated beside it.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_sub(layout.size(), Relaxed);
            grew(new_size);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The limits the client runs with (`ClientBuilder::max_message_size`).
const MESSAGE_LIMIT: usize = 1024;
const FRAME_LIMIT: usize = 512;

/// The bound on the peak of live heap bytes during one run, above what was live before.
///
/// Measured (release + ASan, `REDIAL_FUZZ_DEBUG=1` prints it): about 376 KiB for any
/// input, of which tungstenite's read buffer is 128 KiB (its default
/// `read_buffer_size`, reserved once) and the rest is the client (rustls config,
/// channels, the core) and the upgrade. On top of that, what depends on the peer:
/// the peer's own copy of its bytes plus the client's copy of one frame and one message
/// (each at most its limit), and the fuzz harness's copy of the input, so
/// `FIXED + 3 × input + 2 × (message + frame)`. A client that allocated by the length
/// a frame header claims (up to 2^63) or kept messages past the limit would blow it.
fn memory_bound(input_len: usize) -> usize {
    const FIXED: usize = 448 * 1024;
    FIXED + 3 * input_len + 2 * (MESSAGE_LIMIT + FRAME_LIMIT)
}

struct Run {
    cause: Option<String>,
    last_state: Option<StateName>,
    events: Vec<Event>,
}

fn run(after_upgrade: &[u8]) -> Run {
    let mut c = Preset::Default.config();
    c.budget.max_attempts = 1;
    c.backoff.base = Duration::ZERO;
    c.backoff.cap = Some(Duration::ZERO);
    c.seed = Some(1);
    // The peer is served once; a retry after a stable connection is refused.
    let peer = Arc::new(Mutex::new(Some(MemoryPeer::new(after_upgrade.to_vec()))));
    let (client, driver) = Client::builder("ws://peer.invalid/")
        .config(c)
        .max_message_size(MESSAGE_LIMIT, FRAME_LIMIT)
        .connector(move |_| {
            let served = peer.lock().expect("peer").take();
            async move { served.ok_or(ReachFailure::Refused) }
        })
        .build()
        .expect("a valid client");
    let mut events = client.events();
    let mut messages = client.messages();
    let watch = async move {
        let mut client = Some(client);
        let mut seen = Vec::new();
        while let Some(ev) = events.next().await {
            if let ClientEvent::Core(e) = ev {
                if let Event::StateChanged { to, .. } = &e {
                    if *to == StateName::Idle {
                        // A stable connection closed with 1000: the client waits for
                        // demand; the application lets go of it instead.
                        client = None;
                    }
                }
                seen.push(e);
            }
        }
        drop(client);
        seen
    };
    let drain = async move { while messages.next().await.is_some() {} };
    let (cause, (events, ())) = futures_lite::future::block_on(futures_lite::future::zip(
        driver.run(),
        futures_lite::future::zip(watch, drain),
    ));
    let last_state = events.iter().rev().find_map(|e| match e {
        Event::StateChanged { to, .. } => Some(*to),
        _ => None,
    });
    Run {
        cause,
        last_state,
        events,
    }
}

/// The close code a cause sentence names, if it is about a close frame.
fn named_code(cause: &str) -> Option<Option<u16>> {
    let rest = cause.strip_prefix("server closed the WebSocket ")?;
    if rest.starts_with("without a status code") {
        return Some(None);
    }
    let digits: String = rest
        .strip_prefix("with ")?
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    Some(Some(digits.parse().expect("a code")))
}

/// Chunk sizes from the data itself (1–32 bytes), so mutations also move the cuts.
fn chunkings(data: &[u8]) -> Vec<Vec<usize>> {
    let derived = data.iter().map(|b| usize::from(b % 32) + 1).collect();
    vec![vec![usize::MAX], vec![1], vec![2], vec![7], derived]
}

fn scan(stream: &[u8], sizes: &[usize]) -> Option<(Option<u16>, Vec<u8>)> {
    let mut s = FrameScanner::new();
    let mut rest = stream;
    let mut i = 0;
    while !rest.is_empty() {
        let n = sizes
            .get(i % sizes.len().max(1))
            .copied()
            .unwrap_or(1)
            .max(1);
        let (chunk, tail) = rest.split_at(n.min(rest.len()));
        s.feed(chunk);
        rest = tail;
        i += 1;
    }
    s.close_frame().map(|c| (c.code, c.reason.clone()))
}

fuzz_target!(|data: &[u8]| {
    let closes = close_frames(data);

    // FrameScanner against the reference, in every chunking.
    let stream = [UPGRADE_RESPONSE, data].concat();
    let expected = closes.first().cloned();
    for sizes in chunkings(data) {
        let got = scan(&stream, &sizes);
        assert_eq!(got, expected, "FrameScanner in chunks of {sizes:?}");
    }

    // The driver over the hostile peer.
    let before = LIVE.load(Relaxed);
    PEAK.store(before, Relaxed);
    let r = run(data);
    let peak = PEAK.load(Relaxed).saturating_sub(before);
    if redial_fuzz::debug() {
        eprintln!("cause: {:?}\nlast state: {:?}", r.cause, r.last_state);
        eprintln!("peak live heap during the run: {peak} bytes");
        for e in &r.events {
            eprintln!("  {e}");
        }
    }
    let cause = r.cause.expect("the driver ended without a cause");
    assert!(!cause.is_empty(), "an empty cause");
    assert_eq!(r.last_state, Some(StateName::Stopped), "cause: {cause}");
    if let Some(code) = named_code(&cause) {
        let first = closes.first().map(|c| c.0);
        assert_eq!(
            Some(code),
            first,
            "the cause names {code:?}, the first close frame on the wire has {first:?}: {cause}"
        );
    }
    let bound = memory_bound(data.len());
    assert!(peak <= bound, "peak live heap {peak} bytes > bound {bound}");
});
