//! [`Inbox`]: which inbound message ids were seen, to drop duplicates (a resend after a
//! reconnect, a replay after a resume) and to say where to resume from.

use std::collections::BTreeSet;

/// What [`Inbox::receive`] says of an inbound message's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Receipt {
    /// Not seen before: hand it to the application.
    Fresh,
    /// Seen before: drop it (and count it).
    Duplicate,
    /// Too far behind the ids seen to tell (older than the window): dropped as a
    /// duplicate would be, since it may be one.
    TooOld,
}

/// The ids of inbound messages seen so far, for a peer whose ids increase (a sequence
/// number, an offset): every id up to a contiguous mark was seen, and the ids above it
/// that arrived out of order are kept, at most `window` of them. Bounded whatever the
/// peer sends (a hostile id costs one entry, and the window caps them); sans-IO.
#[derive(Debug, Clone)]
pub struct Inbox {
    /// Every id ≤ this was seen or given up on (0: none yet).
    contiguous: u64,
    /// Every id ≤ this was seen, for certain (≤ `contiguous`).
    certain: u64,
    /// Ids > `contiguous` seen, out of order.
    above: BTreeSet<u64>,
    window: usize,
    duplicates: u64,
    last: Option<u64>,
}

impl Inbox {
    /// An inbox that keeps at most `window` (at least 1) out-of-order ids.
    pub fn new(window: usize) -> Inbox {
        Inbox {
            contiguous: 0,
            certain: 0,
            above: BTreeSet::new(),
            window: window.max(1),
            duplicates: 0,
            last: None,
        }
    }

    /// An inbound message with id `id` arrived. Ids start at 1; an id of 0 counts as a
    /// duplicate.
    pub fn receive(&mut self, id: u64) -> Receipt {
        if id <= self.contiguous {
            self.duplicates += 1;
            return match id <= self.certain {
                true => Receipt::Duplicate,
                false => Receipt::TooOld,
            };
        }
        if !self.above.insert(id) {
            self.duplicates += 1;
            return Receipt::Duplicate;
        }
        self.last = Some(self.last.map_or(id, |l| l.max(id)));
        self.settle();
        // More out-of-order ids than the window: the lowest kept one becomes the
        // contiguous mark, and the gaps below it are given up on (an id that arrives
        // there later is too old to tell).
        while self.above.len() > self.window {
            if let Some(lowest) = self.above.pop_first() {
                self.contiguous = lowest;
            }
            self.settle();
        }
        Receipt::Fresh
    }

    /// Absorb the kept ids that continue the contiguous run.
    fn settle(&mut self) {
        while self
            .contiguous
            .checked_add(1)
            .is_some_and(|n| self.above.first() == Some(&n))
        {
            self.above.pop_first();
            if self.certain == self.contiguous {
                self.certain += 1;
            }
            self.contiguous += 1;
        }
    }

    /// Every id up to this was seen or given up on (0: none): what a cumulative
    /// acknowledgement says, and where a resume starts.
    pub fn contiguous(&self) -> u64 {
        self.contiguous
    }

    /// The highest id seen, if any.
    pub fn last(&self) -> Option<u64> {
        self.last
    }

    /// Duplicates (and too-old ids) dropped so far.
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }

    /// Out-of-order ids kept now (at most the window).
    pub fn held(&self) -> usize {
        self.above.len()
    }
}
