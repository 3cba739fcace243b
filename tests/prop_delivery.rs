//! Model-based property tests of acknowledged delivery (`redial::delivery`), sans-IO.
//!
//! Generated sequences of pushes, writes, acknowledgements (cumulative and selective,
//! of held, freed, never-written and never-assigned numbers, 0 and `u64::MAX`, and
//! repeats), reconnects (drops after writes), the passing of time and a close drive the
//! real [`Outbox`] beside a reference model written here from the design's rules:
//!
//! 1. a push is accepted, with the next sequence number (1, 2, …), unless the outbox is
//!    closed, full in messages, or full in bytes; a message larger than the byte bound is
//!    refused as too large;
//! 2. messages are written in sequence order; the next one is the lowest held message
//!    not written on the current connection, a resend when it was written before;
//! 3. an acknowledgement of 0 or of a number never assigned frees nothing; otherwise it
//!    frees every held message it names that was written at least once, and leaves a
//!    named message that was never written (the acknowledgement is then "unknown"); one
//!    that frees nothing and names nothing unknown is a duplicate;
//! 4. a reconnect makes every message written on the connection wait to be resent;
//! 5. a written message is reported overdue once its acknowledgement is `ack_timeout`
//!    late, once per write; the next deadline is the earliest unreported one;
//! 6. a close hands back every held message in order, saying whether it was written,
//!    and refuses later pushes.
//!
//! The ledger oracle then checks the invariant over the whole run: every accepted
//! message ends exactly once, freed after a write or handed back; each rule of the
//! ledger has a forged run that it catches (below). The generator's reach is counted.
//!
//! Cases: `PROPTEST_CASES` (256 when unset). Failures are persisted to
//! `proptest-regressions/prop_delivery.txt`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{FileFailurePersistence, TestRunner};

use redial::delivery::{Ack, Inbox, Outbox, OutboxLimits, PushError, Receipt, Seq};

const REGRESSIONS: &str = "proptest-regressions/prop_delivery.txt";

fn proptest_config() -> ProptestConfig {
    ProptestConfig {
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(REGRESSIONS))),
        ..ProptestConfig::default()
    }
}

/// How an acknowledgement picks its number.
#[derive(Debug, Clone)]
enum Pick {
    /// The k-th number assigned so far (k modulo their count; 0 when none).
    Assigned(usize),
    /// The next number, not assigned yet.
    Next,
    /// A number far past anything assigned.
    Huge,
    Zero,
    Max,
}

#[derive(Debug, Clone)]
enum Op {
    Push(usize),
    Write,
    WriteAll,
    AckUpTo(Pick),
    AckOne(Pick),
    Reconnect,
    /// A write completes after a rewind (the driver's frame in flight, a fallback POST).
    WriteBehind(Pick),
    Advance(u64),
    Overdue,
    Close,
}

fn pick() -> impl Strategy<Value = Pick> {
    prop_oneof![
        6 => any::<usize>().prop_map(Pick::Assigned),
        1 => Just(Pick::Next),
        1 => Just(Pick::Huge),
        1 => Just(Pick::Zero),
        1 => Just(Pick::Max),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0usize..40).prop_map(Op::Push),
        5 => Just(Op::Write),
        2 => Just(Op::WriteAll),
        4 => pick().prop_map(Op::AckUpTo),
        3 => pick().prop_map(Op::AckOne),
        2 => Just(Op::Reconnect),
        1 => pick().prop_map(Op::WriteBehind),
        2 => (0u64..150).prop_map(Op::Advance),
        2 => Just(Op::Overdue),
        1 => Just(Op::Close),
    ]
}

fn limits() -> impl Strategy<Value = OutboxLimits> {
    (1usize..8, 10usize..120, 1u64..100).prop_map(|(m, b, t)| OutboxLimits {
        max_messages: m,
        max_bytes: b,
        ack_timeout: Duration::from_millis(t),
    })
}

// --- the reference model --------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Where {
    /// Waiting to be written on the current connection; `ever`: written before.
    Waiting { ever: bool },
    /// Written on the current connection at `at` (ms); `reported`: overdue reported.
    Written { at: u64, reported: bool },
}

#[derive(Debug, Clone)]
struct ModelMsg {
    len: usize,
    at: Where,
}

#[derive(Debug, Default)]
struct Model {
    /// Held messages by sequence number.
    held: BTreeMap<u64, ModelMsg>,
    assigned: u64,
    closed: bool,
}

impl Model {
    fn bytes(&self) -> usize {
        self.held.values().map(|m| m.len).sum()
    }

    fn next_to_write(&self) -> Option<(u64, bool)> {
        self.held.iter().find_map(|(s, m)| match m.at {
            Where::Waiting { ever } => Some((*s, ever)),
            Where::Written { .. } => None,
        })
    }

    /// Rule 3: (freed with their lengths, unknown).
    fn ack(&mut self, lo: u64, hi: u64) -> (Vec<(u64, usize)>, bool) {
        if hi == 0 || hi > self.assigned {
            return (Vec::new(), true);
        }
        let mut freed = Vec::new();
        let mut unknown = false;
        for (s, m) in self.held.range(lo..=hi) {
            let written = matches!(m.at, Where::Written { .. } | Where::Waiting { ever: true });
            if written {
                freed.push((*s, m.len));
            } else {
                unknown = true;
            }
        }
        for (s, _) in &freed {
            self.held.remove(s);
        }
        (freed, unknown)
    }
}

// --- the ledger ------------------------------------------------------------------------

/// What happened to messages over a run, as the outbox reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Fate {
    Accepted(u64),
    Written(u64),
    Freed(u64),
    HandedBack { seq: u64, written: bool },
}

/// The ledger's rules, stated afresh: every accepted message ends exactly once (freed
/// or handed back), is freed only after it was written, and is handed back as written
/// exactly when it was.
fn check_ledger(log: &[Fate]) -> Result<(), String> {
    let mut accepted = BTreeMap::new();
    let mut written = BTreeMap::<u64, bool>::new();
    let mut ended = BTreeMap::new();
    for f in log {
        match *f {
            Fate::Accepted(s) => {
                if accepted.insert(s, ()).is_some() {
                    return Err(format!("{s} accepted twice"));
                }
            }
            Fate::Written(s) => {
                if !accepted.contains_key(&s) || ended.contains_key(&s) {
                    return Err(format!("{s} written while not held"));
                }
                written.insert(s, true);
            }
            Fate::Freed(s) => {
                if !written.contains_key(&s) {
                    return Err(format!("{s} freed without ever being written"));
                }
                if ended.insert(s, "freed").is_some() {
                    return Err(format!("{s} ended twice"));
                }
            }
            Fate::HandedBack { seq, written: w } => {
                if w != written.contains_key(&seq) {
                    return Err(format!("{seq} handed back as written = {w}, wrongly"));
                }
                if ended.insert(seq, "handed back").is_some() {
                    return Err(format!("{seq} ended twice"));
                }
            }
        }
    }
    for s in accepted.keys() {
        if !ended.contains_key(s) {
            return Err(format!("{s} lost: neither freed nor handed back"));
        }
    }
    Ok(())
}

/// How often each interesting thing happened over the cases.
#[derive(Debug, Default)]
struct Reach {
    full: usize,
    too_large: usize,
    resends: usize,
    unknown: usize,
    duplicate: usize,
    unwritten_named: usize,
    overdue: usize,
    handed_back_written: usize,
    pushes_after_close: usize,
    written_behind: usize,
}

fn run(limits: OutboxLimits, ops: &[Op], reach: &mut Reach) -> Result<(), String> {
    let t0 = Instant::now();
    let mut now_ms = 0u64;
    let mut outbox: Outbox<u64> = Outbox::new(limits);
    let mut model = Model::default();
    let mut log = Vec::new();
    let number = |p: &Pick, model: &Model| -> u64 {
        match p {
            Pick::Assigned(k) if model.assigned > 0 => (*k as u64 % model.assigned) + 1,
            Pick::Assigned(_) | Pick::Zero => 0,
            Pick::Next => model.assigned + 1,
            Pick::Huge => model.assigned + 1_000_000,
            Pick::Max => u64::MAX,
        }
    };
    let mut ops: Vec<Op> = ops.to_vec();
    ops.push(Op::Close);
    for (i, op) in ops.iter().enumerate() {
        let at = |what: &str| format!("step {i} ({op:?}): {what}");
        match op {
            Op::Push(len) => {
                let want_ok = !model.closed
                    && *len <= limits.max_bytes
                    && model.held.len() < limits.max_messages
                    && model.bytes() + len <= limits.max_bytes;
                match outbox.push(model.assigned + 1, *len) {
                    Ok(Seq(s)) => {
                        if !want_ok || s != model.assigned + 1 {
                            return Err(at(&format!("accepted as {s}, model says {want_ok}")));
                        }
                        model.assigned = s;
                        model.held.insert(
                            s,
                            ModelMsg {
                                len: *len,
                                at: Where::Waiting { ever: false },
                            },
                        );
                        log.push(Fate::Accepted(s));
                    }
                    Err(PushError::TooLarge(_)) => {
                        reach.too_large += 1;
                        if *len <= limits.max_bytes {
                            return Err(at("too large, but it fits the bound"));
                        }
                    }
                    Err(PushError::Full(_)) => {
                        reach.full += 1;
                        if model.closed {
                            reach.pushes_after_close += 1;
                        }
                        if want_ok || *len > limits.max_bytes {
                            return Err(at("refused as full"));
                        }
                    }
                }
            }
            Op::Write | Op::WriteAll => {
                let rounds = if matches!(op, Op::WriteAll) {
                    usize::MAX
                } else {
                    1
                };
                for _ in 0..rounds {
                    let got = outbox.next_to_write().map(|(s, m, r)| (s.0, *m, r));
                    let want = model.next_to_write();
                    match (got, want) {
                        (None, None) => break,
                        (Some((s, payload, resend)), Some((ws, ever))) => {
                            if s != ws || resend != ever || payload != s {
                                return Err(at(&format!(
                                    "next to write {s} (resend {resend}), model {ws} ({ever})"
                                )));
                            }
                            if resend {
                                reach.resends += 1;
                            }
                            let before = outbox.writes(Seq(s)).expect("held");
                            outbox.written(t0 + Duration::from_millis(now_ms));
                            if outbox.writes(Seq(s)) != Some(before + 1) || (before > 0) != resend {
                                return Err(at(&format!("{s} written {before} times before")));
                            }
                            model.held.get_mut(&s).expect("held").at = Where::Written {
                                at: now_ms,
                                reported: false,
                            };
                            log.push(Fate::Written(s));
                        }
                        (g, w) => return Err(at(&format!("next to write {g:?}, model {w:?}"))),
                    }
                }
            }
            Op::AckUpTo(p) | Op::AckOne(p) => {
                let n = number(p, &model);
                let (ack, lo) = match op {
                    Op::AckUpTo(_) => (Ack::UpTo(Seq(n)), 1),
                    _ => (Ack::One(Seq(n)), n),
                };
                let (freed, unknown) = model.ack(lo, n);
                let out = outbox.ack(ack);
                let freed_bytes: usize = freed.iter().map(|f| f.1).sum();
                if out.freed != freed.len()
                    || out.freed_bytes != freed_bytes
                    || out.unknown != unknown
                {
                    return Err(at(&format!(
                        "{out:?}, model frees {freed:?}, unknown {unknown}"
                    )));
                }
                if out.duplicate != (freed.is_empty() && !unknown) {
                    return Err(at(&format!("duplicate {}", out.duplicate)));
                }
                if out.unknown {
                    reach.unknown += 1;
                    if n != 0 && n <= model.assigned {
                        reach.unwritten_named += 1;
                    }
                }
                if out.duplicate {
                    reach.duplicate += 1;
                }
                for (s, _) in freed {
                    log.push(Fate::Freed(s));
                }
            }
            Op::Reconnect => {
                let want = model
                    .held
                    .values()
                    .filter(|m| matches!(m.at, Where::Written { .. }))
                    .count();
                for m in model.held.values_mut() {
                    if let Where::Written { .. } = m.at {
                        m.at = Where::Waiting { ever: true };
                    }
                }
                let got = outbox.reconnected();
                if got != want {
                    return Err(at(&format!("{got} to resend, model {want}")));
                }
            }
            Op::WriteBehind(p) => {
                // The design: a waiting message whose write completed counts as written
                // (the peer may have it) and stays waiting; any other number, nothing.
                // Mostly a waiting message (the case that matters), sometimes any number.
                let waiting: Vec<u64> = model
                    .held
                    .iter()
                    .filter(|(_, m)| matches!(m.at, Where::Waiting { .. }))
                    .map(|(s, _)| *s)
                    .collect();
                let n = match p {
                    Pick::Assigned(i) if !waiting.is_empty() && i % 4 != 0 => {
                        waiting[i % waiting.len()]
                    }
                    _ => number(p, &model),
                };
                let want = match model.held.get_mut(&n) {
                    Some(m) if matches!(m.at, Where::Waiting { .. }) => {
                        m.at = Where::Waiting { ever: true };
                        true
                    }
                    _ => false,
                };
                let got = outbox.written_behind(Seq(n));
                if got != want {
                    return Err(at(&format!("written behind {n}: {got}, model {want}")));
                }
                if got {
                    reach.written_behind += 1;
                    log.push(Fate::Written(n));
                }
            }
            Op::Advance(ms) => now_ms += ms,
            Op::Overdue => {
                let timeout = limits.ack_timeout.as_millis() as u64;
                let want_deadline = model
                    .held
                    .values()
                    .filter_map(|m| match m.at {
                        Where::Written {
                            at,
                            reported: false,
                        } => Some(at + timeout),
                        _ => None,
                    })
                    .min();
                let got_deadline = outbox
                    .poll_timeout()
                    .map(|d| d.duration_since(t0).as_millis() as u64);
                if got_deadline != want_deadline {
                    return Err(at(&format!(
                        "deadline {got_deadline:?}, model {want_deadline:?}"
                    )));
                }
                let mut want = Vec::new();
                for (s, m) in model.held.iter_mut() {
                    if let Where::Written { at, reported } = &mut m.at {
                        if !*reported && now_ms >= *at + timeout {
                            *reported = true;
                            want.push(*s);
                        }
                    }
                }
                let got: Vec<u64> = outbox
                    .overdue(t0 + Duration::from_millis(now_ms))
                    .into_iter()
                    .map(|s| s.0)
                    .collect();
                if got != want {
                    return Err(at(&format!("overdue {got:?}, model {want:?}")));
                }
                reach.overdue += got.len();
            }
            Op::Close => {
                let want: Vec<(u64, bool)> = model
                    .held
                    .iter()
                    .map(|(s, m)| {
                        let w =
                            matches!(m.at, Where::Written { .. } | Where::Waiting { ever: true });
                        (*s, w)
                    })
                    .collect();
                let got: Vec<(u64, bool)> = outbox
                    .close()
                    .into_iter()
                    .map(|h| {
                        if h.message != h.seq.0 {
                            panic!("message {} handed back as {}", h.message, h.seq.0);
                        }
                        (h.seq.0, h.written)
                    })
                    .collect();
                if got != want {
                    return Err(at(&format!("handed back {got:?}, model {want:?}")));
                }
                for (seq, written) in got {
                    if written {
                        reach.handed_back_written += 1;
                    }
                    log.push(Fate::HandedBack { seq, written });
                }
                model.held.clear();
                model.closed = true;
            }
        }
        if outbox.len() != model.held.len() || outbox.bytes() != model.bytes() {
            return Err(at(&format!(
                "holds {} messages, {} bytes; model {}, {}",
                outbox.len(),
                outbox.bytes(),
                model.held.len(),
                model.bytes()
            )));
        }
    }
    check_ledger(&log).map_err(|e| format!("ledger: {e}"))
}

proptest! {
    #![proptest_config(proptest_config())]

    /// The outbox agrees with the model at every step, and the ledger holds.
    #[test]
    fn the_outbox_follows_the_model_and_loses_nothing(
        limits in limits(),
        ops in proptest::collection::vec(op(), 0..120),
    ) {
        run(limits, &ops, &mut Reach::default()).map_err(TestCaseError::fail)?;
    }

    /// The inbox never drops an id it did not see as a duplicate, never hands the same
    /// id on twice, stays within its window, and calls "too old" only ids at or below
    /// its contiguous mark.
    #[test]
    fn the_inbox_drops_exactly_the_duplicates(
        window in 1usize..6,
        ids in proptest::collection::vec(prop_oneof![8 => 1u64..40, 1 => Just(u64::MAX), 1 => Just(0u64)], 0..150),
    ) {
        let mut inbox = Inbox::new(window);
        let mut seen = std::collections::BTreeSet::new();
        let mut dropped = 0u64;
        for id in ids {
            let r = inbox.receive(id);
            let before = seen.contains(&id);
            match r {
                Receipt::Fresh => prop_assert!(!before, "{id} fresh twice"),
                Receipt::Duplicate => prop_assert!(before || id == 0, "{id} dropped unseen"),
                Receipt::TooOld => prop_assert!(id <= inbox.contiguous(), "{id} too old"),
            }
            match r {
                Receipt::Fresh => {
                    seen.insert(id);
                }
                Receipt::Duplicate | Receipt::TooOld => dropped += 1,
            }
            prop_assert_eq!(inbox.duplicates(), dropped);
            prop_assert!(inbox.held() <= window);
            prop_assert!(inbox.last() == seen.iter().next_back().copied());
        }
    }
}

/// The generator reaches every branch that matters, many times over a run of cases.
#[test]
fn the_generator_reaches_every_kind_of_acknowledgement_and_ending() {
    let mut runner = TestRunner::deterministic();
    let mut reach = Reach::default();
    let strategy = (limits(), proptest::collection::vec(op(), 0..120));
    for _ in 0..200 {
        let (limits, ops) = strategy.new_tree(&mut runner).expect("a case").current();
        run(limits, &ops, &mut reach).expect("the model agrees");
    }
    let counts = [
        ("full", reach.full),
        ("too large", reach.too_large),
        ("resends", reach.resends),
        ("unknown acknowledgements", reach.unknown),
        (
            "acknowledgements naming never-written messages",
            reach.unwritten_named,
        ),
        ("duplicate acknowledgements", reach.duplicate),
        ("overdue reports", reach.overdue),
        ("written messages handed back", reach.handed_back_written),
        ("pushes after close", reach.pushes_after_close),
        ("writes completed after a rewind", reach.written_behind),
    ];
    for (what, n) in counts {
        assert!(n >= 20, "{what}: reached {n} times in 200 cases: {reach:?}");
    }
}

// --- the ledger's forged violations ----------------------------------------------------

#[test]
fn the_ledger_accepts_an_honest_run() {
    let log = [
        Fate::Accepted(1),
        Fate::Accepted(2),
        Fate::Written(1),
        Fate::Freed(1),
        Fate::HandedBack {
            seq: 2,
            written: false,
        },
    ];
    assert_eq!(check_ledger(&log), Ok(()));
}

#[test]
fn the_ledger_catches_a_message_freed_without_a_write() {
    let log = [Fate::Accepted(1), Fate::Freed(1)];
    assert_eq!(
        check_ledger(&log),
        Err("1 freed without ever being written".into())
    );
}

#[test]
fn the_ledger_catches_a_lost_message() {
    let log = [Fate::Accepted(1), Fate::Written(1)];
    assert_eq!(
        check_ledger(&log),
        Err("1 lost: neither freed nor handed back".into())
    );
}

#[test]
fn the_ledger_catches_a_message_that_ends_twice() {
    let log = [
        Fate::Accepted(1),
        Fate::Written(1),
        Fate::Freed(1),
        Fate::HandedBack {
            seq: 1,
            written: true,
        },
    ];
    assert_eq!(check_ledger(&log), Err("1 ended twice".into()));
}

#[test]
fn the_ledger_catches_a_written_message_handed_back_as_never_sent() {
    let log = [
        Fate::Accepted(1),
        Fate::Written(1),
        Fate::HandedBack {
            seq: 1,
            written: false,
        },
    ];
    assert_eq!(
        check_ledger(&log),
        Err("1 handed back as written = false, wrongly".into())
    );
}

#[test]
fn the_ledger_catches_a_write_after_the_end() {
    let log = [
        Fate::Accepted(1),
        Fate::Written(1),
        Fate::Freed(1),
        Fate::Written(1),
    ];
    assert_eq!(check_ledger(&log), Err("1 written while not held".into()));
}
