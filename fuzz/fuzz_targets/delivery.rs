//! `delivery`: the acknowledgement bookkeeping (`redial::delivery`) under hostile
//! input. Each byte pair is one operation: pushes of any length, writes, cumulative and
//! selective acknowledgements of any 64-bit number (huge, zero, repeated, out of
//! order), reconnects, time passing, overdue checks, writes completing after a rewind,
//! and inbound ids of any value into an inbox. After every operation the outbox's counts must match what it holds and stay
//! within its bounds, and the inbox within its window; at the end, a close must hand
//! back every accepted message that no acknowledgement freed, each exactly once.

#![no_main]

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use redial::delivery::{Ack, Inbox, Outbox, OutboxLimits, Seq};

fuzz_target!(|data: &[u8]| {
    let Some((&head, rest)) = data.split_first() else {
        return;
    };
    let limits = OutboxLimits {
        max_messages: 1 + usize::from(head & 0x0F),
        max_bytes: 1 + usize::from(head >> 4) * 64,
        ack_timeout: Duration::from_millis(u64::from(head)),
    };
    let t0 = Instant::now();
    let mut now = t0;
    let mut outbox: Outbox<u64> = Outbox::new(limits);
    let mut inbox = Inbox::new(1 + usize::from(head % 7));
    let mut accepted = BTreeSet::new();
    let mut freed = 0usize;
    for w in rest.chunks(9) {
        let (&kind, arg) = w.split_first().expect("a chunk is never empty");
        let mut n = [0u8; 8];
        n[..arg.len()].copy_from_slice(arg);
        let n = u64::from_le_bytes(n);
        match kind % 9 {
            0 => {
                if let Ok(Seq(s)) = outbox.push(n, (n % 512) as usize) {
                    assert!(accepted.insert(s), "sequence number {s} given twice");
                }
            }
            1 => {
                if outbox.next_to_write().is_some() {
                    outbox.written(now);
                }
            }
            2 => freed += outbox.ack(Ack::UpTo(Seq(n))).freed,
            3 => freed += outbox.ack(Ack::One(Seq(n))).freed,
            4 => {
                outbox.reconnected();
            }
            5 => now += Duration::from_millis(n % 10_000),
            6 => {
                let late = outbox.overdue(now);
                assert!(late.windows(2).all(|p| p[0] < p[1]), "overdue out of order");
                if let Some(due) = outbox.poll_timeout() {
                    assert!(due > now, "a reported deadline is still due");
                }
            }
            7 => {
                inbox.receive(n);
                assert!(inbox.held() <= 1 + usize::from(head % 7));
            }
            8 => {
                // A write that completes after a rewind, for any number: counted only
                // for a message waiting to be written, which then stays waiting.
                let waiting = outbox.next_to_write().map(|(s, ..)| s);
                let counted = outbox.written_behind(Seq(n));
                if counted {
                    assert!(outbox.writes(Seq(n)).is_some_and(|w| w > 0));
                    assert_eq!(outbox.next_to_write().map(|(s, ..)| s), waiting);
                }
            }
            _ => unreachable!(),
        }
        assert!(outbox.len() <= limits.max_messages);
        assert!(outbox.bytes() <= limits.max_bytes);
        assert_eq!(
            outbox.len() + freed,
            accepted.len(),
            "held + freed = accepted"
        );
    }
    let back = outbox.close();
    assert_eq!(
        back.len() + freed,
        accepted.len(),
        "a message lost at close"
    );
    let seqs: BTreeSet<u64> = back.iter().map(|h| h.seq.0).collect();
    assert_eq!(seqs.len(), back.len(), "a message handed back twice");
    assert!(seqs.is_subset(&accepted.iter().copied().collect()));
    assert_eq!(outbox.bytes(), 0);
});
