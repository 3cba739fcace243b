//! `envelope`: the ready delivery protocol (`JsonEnvelope`) reading hostile text, and
//! what its acknowledgements do to an outbox. Any text is read without a panic; an
//! envelope gives at most one cumulative and `MAX_ACKS_PER_MESSAGE` selective
//! acknowledgements (a longer list is cut, and said so); applied to an outbox of
//! written messages, they free only numbers that were assigned, never more than it
//! holds; and what the protocol writes, it reads back: the same number and text.

#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use redial::delivery::{
    Ack, JsonEnvelope, Outbox, OutboxLimits, Protocol, Seq, MAX_ACKS_PER_MESSAGE,
};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let inbound = JsonEnvelope.read(&text);
    let cumulative = inbound
        .acks
        .iter()
        .filter(|a| matches!(a, Ack::UpTo(_)))
        .count();
    assert!(cumulative <= 1, "more than one cumulative acknowledgement");
    assert!(inbound.acks.len() - cumulative <= MAX_ACKS_PER_MESSAGE);
    // Five messages, three of them written.
    let limits = OutboxLimits {
        max_messages: 8,
        max_bytes: 1 << 10,
        ack_timeout: Duration::from_secs(1),
    };
    let mut outbox: Outbox<u8> = Outbox::new(limits);
    for m in 0..5u8 {
        outbox.push(m, 1).expect("room");
    }
    for _ in 0..3 {
        outbox.written(Instant::now());
    }
    let mut freed = 0;
    for ack in &inbound.acks {
        let outcome = outbox.ack(*ack);
        let n = match ack {
            Ack::UpTo(Seq(n)) | Ack::One(Seq(n)) => *n,
        };
        if n == 0 || n > 5 {
            assert_eq!(outcome.freed, 0, "an unassigned number {n} freed something");
        }
        freed += outcome.freed;
    }
    assert!(freed <= 3, "freed {freed} of 3 written");
    assert_eq!(outbox.len(), 5 - freed);
    // Round trip: what it writes, it reads back.
    let seq = Seq(u64::from_le_bytes(
        data.iter()
            .chain([0u8; 8].iter())
            .take(8)
            .copied()
            .collect::<Vec<_>>()[..8]
            .try_into()
            .expect("eight bytes"),
    ));
    let back = JsonEnvelope.read(&JsonEnvelope.wrap(seq, &text));
    assert_eq!(back.id, Some(seq.0));
    assert_eq!(back.payload.as_deref(), Some(&*text));
    assert!(back.acks.is_empty());
});
