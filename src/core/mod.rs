//! The sans-IO core: a synchronous state machine with no I/O, no clock and no global
//! randomness.
//!
//! # Contract
//!
//! In the style of quinn-proto's `Connection` and str0m's `Rtc`:
//!
//! 1. Feed **one** input with the time it happened: [`Core::handle_input`]
//!    (or [`Input::Timeout`] when the deadline from `poll_timeout` has passed).
//! 2. Drain [`Core::poll_output`] until it returns `None`, and carry out each
//!    [`Output`] (dial, ping, close, fall back, …; events are for observers).
//! 3. Wait for the next input or until [`Core::poll_timeout`], then go to 1.
//!
//! Time only moves forward: a `now` earlier than the last one is taken as the last one.
//! Deadlines that passed before an input are handled first, so `poll_timeout` is never
//! earlier than the last `now`. A timeout call before any deadline does nothing. No input
//! in any state, in any order, panics.
//!
//! ```text
//!            start                dial_ok            user_close / recycle
//!   Idle ──────────► Connecting ──────────► Open ──────────────────► Closing ──► Stopped
//!    ▲                 ▲   │ dial_failed      │ recv_close / dropped /
//!    │ recv_close      │   │ dial_timeout     │ pong_timeout
//!    │ (1000, stable)  │   ▼                  ▼
//!    └──────────────── │ Backoff ◄──── (retry) ─── policy decision ───► FellBack ─► Stopped
//!                      └─backoff_elapsed─┘                              (probe_ok ─► Open)
//! ```
//!
//! The full table is [`TRANSITIONS`]; `docs/state-machine.md` in the repository draws
//! it (and `docs/design.md` says why each rule is what it is).

mod cause;
mod event;
mod failure;
mod input;
mod local;
mod machine;
mod output;
mod transition;

pub use cause::Cause;
pub use event::Event;
pub use failure::{CloseReason, Failure, StableBy, MAX_REASON_BYTES};
pub use input::Input;
pub use output::Output;
pub use transition::{is_documented, StateName, Transition, Trigger, TRANSITIONS};

use std::collections::VecDeque;
use std::fmt;
use std::time::Instant;

use statig::blocking::{IntoStateMachineExt, StateMachine};

use crate::config::Policy;
use machine::{Ctx, Machine};

/// The reconnect state machine. See the [module docs](self) for the drive loop, and the
/// [crate docs](crate) for a runnable example that drives it by hand through a server
/// that accepts the upgrade and at once closes with 1008.
///
/// Its methods, by kind:
///
/// - **Making one:** [`Core::new`] (a validated config and the jitter seed).
/// - **Handing in what happened:** [`Core::handle_input`] (with [`Input::Timeout`] when a
///   deadline passes).
/// - **Taking out what to do:** [`Core::poll_output`] (drain until `None` after every
///   input), [`Core::poll_timeout`] (the next deadline).
/// - **Looking:** [`Core::state`], [`Core::attempt`], [`Core::last_cause`],
///   [`Core::protocol`], [`Core::policy`].
pub struct Core {
    /// Behind a pointer, so that moving a core (into a task, a pool, a vector) copies a
    /// pointer, not its state (close to 900 bytes, much of it written by every step).
    inner: Box<Inner>,
}

struct Inner {
    machine: StateMachine<Machine>,
    out: VecDeque<Output>,
    now: Option<Instant>,
}

impl Core {
    /// A core in `Idle`, with jitter drawn from an RNG seeded with `seed`.
    pub fn new(policy: Policy, seed: u64) -> Core {
        Core {
            inner: Box::new(Inner {
                machine: Machine::new(policy, seed).state_machine(),
                out: VecDeque::with_capacity(16),
                now: None,
            }),
        }
    }

    /// Handle one input that happened at `now`. Deadlines at or before `now` are
    /// handled first.
    pub fn handle_input(&mut self, now: Instant, input: Input) {
        // Time that goes backwards counts as the last time seen.
        let now = self.inner.now.map_or(now, |last| now.max(last));
        self.inner.now = Some(now);
        if input == Input::Timeout {
            return self.dispatch(now, &input);
        }
        if self.poll_timeout().is_some_and(|t| t <= now) {
            self.dispatch(now, &Input::Timeout);
        }
        self.dispatch(now, &input);
    }

    /// The next thing to do, if any. Drain until `None` after every input.
    #[inline]
    #[must_use = "every output must be carried out (drain until None)"]
    pub fn poll_output(&mut self) -> Option<Output> {
        self.inner.out.pop_front()
    }

    /// When [`Input::Timeout`] is next due, if anything waits for time.
    #[must_use = "the driver must wake at this deadline and hand in Input::Timeout"]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.inner.machine.state().deadline()
    }

    /// The current state.
    pub fn state(&self) -> StateName {
        self.inner.machine.state().name()
    }

    /// Dials since the last stable connection (quiet re-probes excluded).
    pub fn attempt(&self) -> u32 {
        self.inner.machine.inner().dials
    }

    /// The cause of the last transition.
    pub fn last_cause(&self) -> Option<&Cause> {
        self.inner.machine.inner().last_cause.as_ref()
    }

    /// The subprotocol the server chose on the latest upgrade (`Sec-WebSocket-Protocol`);
    /// `None` before the first, or when it chose none.
    pub fn protocol(&self) -> Option<&str> {
        self.inner.machine.inner().protocol.as_ref()?.as_deref()
    }

    /// The validated policy the core runs.
    pub fn policy(&self) -> &Policy {
        &self.inner.machine.inner().policy
    }

    fn dispatch(&mut self, now: Instant, input: &Input) {
        let mut ctx = Ctx {
            now,
            out: &mut self.inner.out,
        };
        self.inner.machine.handle_with_context(input, &mut ctx);
    }
}

impl fmt::Debug for Core {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Core")
            .field("state", &self.state())
            .field("attempt", &self.attempt())
            .field("deadline", &self.poll_timeout())
            .field("pending_outputs", &self.inner.out.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_core_is_a_pointer() {
        // Moving a core (into a task, a pool, a vector) copies a pointer, not its state.
        assert_eq!(std::mem::size_of::<Core>(), std::mem::size_of::<usize>());
    }
}
