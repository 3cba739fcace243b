//! # redial
//!
//! A reconnect core for WebSocket clients: it decides, from what actually happened
//! (close codes, handshake statuses, timeouts), whether to retry, back off longer,
//! re-authenticate, fall back to HTTPS, or stop — and says why in a sentence.
//!
//! The [`core`] is sans-IO: a synchronous [statig] state machine that takes inputs with
//! the time they happened and gives outputs and deadlines. The [`policy`] is pure and
//! reusable (close-code classification, decisions, [`policy::Backoff`]). The [`config`] is one
//! serde struct, validated into a [`config::Policy`].
//!
//! ## Drive loop
//!
//! The [`Core`] never does I/O and never reads a clock. Whoever drives it (the async
//! driver, the simulator `redial::sim` (feature `sim`), a test, or your own loop) keeps
//! to one contract:
//!
//! 1. **One input.** Feed one [`Input`] with the time it happened:
//!    [`Core::handle_input`]`(now, input)`.
//! 2. **Drain the outputs.** Call [`Core::poll_output`] until it returns `None`, and carry
//!    out each [`Output`]: dial, ping, send a close frame, drop the connection, start or
//!    stop the fallback, ask for fresh credentials. [`Output::Event`]s are for observers.
//! 3. **Wait** for the next thing that happens (socket, application), or until
//!    [`Core::poll_timeout`], whichever comes first. When the deadline passes, that is
//!    the next input: [`Core::handle_timeout`]`(now)`. Then go to 2.
//!
//! ```no_run
//! use std::time::Instant;
//! use redial::{Config, Core, Input, Output};
//!
//! /// What woke the loop: something that happened, or the core's deadline.
//! enum Woke {
//!     Happened(Input),
//!     Deadline,
//! }
//!
//! # fn wait_for_io_or(_deadline: Option<Instant>) -> Woke { Woke::Deadline }
//! # fn carry_out(_output: Output) {}
//! let policy = Config::default().validate().expect("the default config is valid");
//! let mut core = Core::new(policy, 42);
//! core.handle_input(Instant::now(), Input::Start); // 1. one input
//! loop {
//!     while let Some(output) = core.poll_output() { // 2. drain
//!         carry_out(output);
//!     }
//!     match wait_for_io_or(core.poll_timeout()) {     // 3. wait, with the deadline
//!         Woke::Happened(input) => core.handle_input(Instant::now(), input),
//!         Woke::Deadline => core.handle_timeout(Instant::now()),
//!     }
//! }
//! ```
//!
//! Driven by hand through the failure this crate was written for: the server accepts
//! the upgrade (101), then at once closes with 1008 (policy violation) and an empty
//! reason. The core does not retry; it falls back, and says why.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use redial::{Config, Core, Input, Output, StateName};
//!
//! let ms = Duration::from_millis;
//! let t0 = Instant::now(); // the driver's clock; the core never reads one
//! let policy = Config::default().validate().expect("the default config is valid");
//! let mut core = Core::new(policy, 42);
//!
//! // 1. One input: the application wants a connection.
//! core.handle_input(t0, Input::Start);
//! // 2. Drain: the core asks for a dial (attempt 1 of the budget).
//! let outputs: Vec<Output> = std::iter::from_fn(|| core.poll_output()).collect();
//! assert!(outputs.iter().any(|o| matches!(o, Output::Dial { attempt: 1, probe: false })));
//! assert_eq!(core.state(), StateName::Connecting);
//! // 3. Wait: the connect timeout is the next deadline.
//! assert!(core.poll_timeout().is_some_and(|t| t > t0));
//!
//! // The upgrade is answered with 101 ...
//! core.handle_input(t0 + ms(2), Input::DialSucceeded);
//! while core.poll_output().is_some() {}
//! assert_eq!(core.state(), StateName::Open);
//!
//! // ... and 3 ms later the server closes with 1008 and an empty reason.
//! core.handle_input(t0 + ms(5), Input::PeerClosed { code: Some(1008), reason: Vec::new() });
//! let outputs: Vec<Output> = std::iter::from_fn(|| core.poll_output()).collect();
//! assert!(outputs.contains(&Output::StartFallback));
//! assert!(!outputs.iter().any(|o| matches!(o, Output::Dial { .. })), "no retry after 1008");
//! assert_eq!(core.state(), StateName::FellBack);
//!
//! // The cause names the real close code, never "closed normally".
//! let cause = core.last_cause().expect("every transition has a cause").to_string();
//! assert!(cause.contains("1008 (policy violation), empty reason"), "{cause}");
//! assert!(!cause.contains("normal"), "{cause}");
//! ```
//!
//! ## State machine
//!
//! Every state and transition is a row of [`core::TRANSITIONS`]; `redial::diagram`
//! (feature `diagram`) draws it. In the repository, the generated `docs/state-machine.md`
//! shows the diagram, the table and what each state waits for; `docs/close-codes.md`,
//! `docs/handshake.md` and `docs/invariants.md` give the policy for every close code and
//! handshake outcome, and the tests behind each invariant; `docs/design.md` is the
//! design they come from. Regenerate the generated ones with `scripts/gen-docs`.
//!
//! ## Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `driver` | yes | `redial::driver`: the async client (TCP, TLS with rustls, async-tungstenite, the HTTPS + SSE fallback); runs on any executor |
//! | `platform-verifier` | no | the platform's certificate verifier instead of the webpki roots |
//! | `async-std` | no | `ClientBuilder::spawn`, which runs the driver on async-std |
//! | `sim` | no | `redial::sim`: the core against scripted servers in virtual time, and the checker of the design's invariants |
//! | `diagram` | no | `redial::diagram`: the state diagram (Mermaid, Graphviz) drawn from the transition table |
//! | `testing` | no | `redial::testing`: an in-memory peer and the raw close-frame scanner, for tests and fuzzing |
//!
//! Without default features the crate is the core, the policy and the config, with no
//! I/O dependency. The loopback test servers (`redial-testkit`) and
//! the `redial` command-line tool (`redial-cli`) are crates of their own.
//!
//! [statig]: https://docs.rs/statig
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![warn(unreachable_pub)]

pub mod config;
pub mod core;
#[cfg(feature = "diagram")]
pub mod diagram;
#[cfg(feature = "driver")]
pub mod driver;
pub mod policy;
pub mod redact;
#[cfg(feature = "sim")]
pub mod sim;
#[cfg(feature = "testing")]
pub mod testing;

pub use crate::config::{Config, Policy, Preset, Transport};
pub use crate::core::{Cause, Core, Event, Input, Output, StableBy, StateName};
