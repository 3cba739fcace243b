//! Strategies: validated configs, and sequences of (Δt, input) steps.
//!
//! Inputs are either "wild" (any `Input` variant, whatever the state) or "driver-like"
//! (a pick from the inputs a real driver could send in the current state, so that deep
//! states such as a quiet re-probe are reached often).

use std::time::Duration;

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::select;

use redial::config::{Action, Config, Preset, Strategy as Jitter, Transport};
use redial::core::{Input, StateName};
use redial::policy::{FallbackError, Phase, ProxyFailure, ReachFailure, SocksFailure};

/// Close codes worth hitting often: every registered code, range boundaries, oddities.
pub const MEANINGFUL_CODES: &[u16] = &[
    0, 999, 1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008, 1009, 1010, 1011, 1012, 1013,
    1014, 1015, 1016, 2999, 3000, 3001, 3003, 3999, 4000, 4001, 4500, 4999, 5000, 65535,
];

/// HTTP statuses the upgrade table names, plus a few it does not.
const STATUSES: &[u16] = &[
    400, 401, 403, 404, 405, 426, 429, 503, 500, 502, 504, 200, 301, 407, 408, 101, 599, 0,
];

/// How far virtual time moves before a step's input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dt {
    /// By this many milliseconds.
    Millis(u64),
    /// Exactly to `poll_timeout()` (no move when there is none, or it is behind).
    ToDeadline,
    /// One millisecond before `poll_timeout()`: an early timeout must do nothing.
    BeforeDeadline,
}

/// One step: move the clock, then hand over one input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub dt: Dt,
    pub act: Act,
}

/// Which input a step hands over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Act {
    /// Exactly this input, whatever the state.
    Wild(Input),
    /// An input a driver could send in the current state; `pick` chooses among them.
    Driver {
        pick: u8,
        code: Option<u16>,
        reason: Vec<u8>,
        failure: ReachFailure,
        fallback: FallbackError,
        ok: bool,
    },
}

/// A whole generated case.
#[derive(Debug, Clone)]
pub struct Case {
    pub config: Config,
    pub seed: u64,
    pub steps: Vec<Step>,
}

#[derive(Clone, Copy)]
enum K {
    Start,
    Progress,
    Succeeded,
    Failed,
    Close,
    Dropped,
    Received,
    Pong,
    UserClose,
    Recycle,
    Ready,
    FallbackFailed,
    ReauthDone,
    Timeout,
}

impl Act {
    /// The input this step hands over when the core is in `state`.
    pub fn input(&self, state: StateName) -> Input {
        use K::*;
        let (pick, code, reason, failure, fallback, ok) = match self {
            Act::Wild(input) => return input.clone(),
            Act::Driver {
                pick,
                code,
                reason,
                failure,
                fallback,
                ok,
            } => (*pick as usize, code, reason, failure, fallback, *ok),
        };
        // Weighted menus (repeats are weights); UserClose is rare so runs go deep.
        let menu: &[K] = match state {
            StateName::Idle => &[Start, Start, Start, Start, Start, Start, Start, UserClose],
            StateName::Connecting => &[
                Progress, Progress, Succeeded, Succeeded, Succeeded, Succeeded, Succeeded,
                Succeeded, Failed, Failed, Failed, Timeout, Timeout, Close, UserClose,
            ],
            // Received often, so that messages then closes (the error loop) and finished
            // exchanges (data, then 1000) are common.
            StateName::Open => &[
                Received, Received, Received, Received, Received, Received, Pong, Close, Close,
                Close, Close, Close, Close, Close, Dropped, Dropped, Timeout, Timeout, Timeout,
                Timeout, UserClose, Failed, Start, Recycle,
            ],
            StateName::Closing => &[Close, Dropped, Timeout, Timeout, Received, UserClose],
            StateName::Backoff => &[Timeout, Timeout, Timeout, Timeout, Timeout, UserClose],
            StateName::Reauthenticating => &[ReauthDone, ReauthDone, ReauthDone, UserClose],
            StateName::FellBack => &[
                Ready,
                Timeout,
                Timeout,
                Timeout,
                Timeout,
                Progress,
                Succeeded,
                Succeeded,
                Failed,
                Failed,
                Failed,
                Close,
                FallbackFailed,
                FallbackFailed,
                FallbackFailed,
                UserClose,
            ],
            StateName::Stopped => &[
                Start,
                Progress,
                Succeeded,
                Failed,
                Close,
                Dropped,
                Received,
                Pong,
                UserClose,
                Recycle,
                Ready,
                FallbackFailed,
                ReauthDone,
                Timeout,
            ],
        };
        match menu[pick % menu.len()] {
            Start => Input::Start,
            Progress => Input::DialProgress(Phase::Handshake),
            Succeeded => Input::DialSucceeded,
            Failed => Input::DialFailed(failure.clone()),
            Close => Input::PeerClosed {
                code: *code,
                reason: reason.clone(),
            },
            Dropped => Input::Dropped {
                detail: "connection reset by peer".into(),
            },
            Received => Input::Received,
            Pong => Input::Pong,
            UserClose => Input::UserClose,
            Recycle => Input::Recycle {
                reason: String::from_utf8_lossy(reason).into_owned(),
            },
            Ready => Input::FallbackReady,
            FallbackFailed => Input::FallbackFailed {
                failure: fallback.clone(),
            },
            ReauthDone => Input::ReauthDone { ok },
            Timeout => Input::Timeout,
        }
    }
}

/// Lower-case words (a regex strategy would be re-parsed for every value).
fn text(min: usize, max: usize) -> impl Strategy<Value = String> {
    let chars = select(&['a', 'e', 'o', 'r', 's', 't', 'x', ' ', '.'][..]);
    vec(chars, min..=max).prop_map(|v| v.into_iter().collect())
}

pub fn close_code() -> impl Strategy<Value = Option<u16>> {
    prop_oneof![
        // The codes the policy turns on: normal (finished exchange or not), policy,
        // transient after a message (the error loop), auth, protocol.
        16 => select(&[1000u16, 1000, 1000, 1000, 1008, 1008, 1011, 1011, 3000, 3000, 1012, 1002][..])
            .prop_map(Some),
        2 => Just(None),
        8 => select(MEANINGFUL_CODES).prop_map(Some),
        3 => (1000u16..=1015).prop_map(Some),
        4 => select(&[1008u16, 1012, 1013, 1013, 3000, 3003][..]).prop_map(Some),
        2 => (4000u16..=4999).prop_map(Some),
        1 => (3000u16..=3999).prop_map(Some),
        2 => any::<u16>().prop_map(Some),
    ]
}

pub fn reason() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => Just(Vec::new()),
        3 => text(1, 20).prop_map(String::into_bytes),
        1 => Just(vec![b'r'; 200]),
        1 => Just("é".repeat(100).into_bytes()),
        1 => Just(b"bad \xff\xfe utf-8 \xc3".to_vec()),
        1 => vec(any::<u8>(), 0..300),
    ]
}

fn retry_after() -> impl Strategy<Value = Option<Duration>> {
    prop_oneof![
        3 => Just(None),
        3 => (0u64..600).prop_map(|s| Some(Duration::from_secs(s))),
        1 => (0u64..5_000).prop_map(|ms| Some(Duration::from_millis(ms))),
        1 => select(&[u64::MAX, 86_400 * 365, 86_401][..]).prop_map(|s| Some(Duration::from_secs(s))),
        1 => Just(Some(Duration::MAX)),
    ]
}

pub fn dial_failure() -> impl Strategy<Value = ReachFailure> {
    let status = prop_oneof![4 => select(STATUSES), 1 => any::<u16>()];
    prop_oneof![
        1 => text(0, 12).prop_map(ReachFailure::Dns),
        1 => Just(ReachFailure::Refused),
        1 => Just(ReachFailure::Reset),
        1 => phase().prop_map(ReachFailure::Timeout),
        1 => text(0, 12).prop_map(ReachFailure::Certificate),
        1 => text(0, 12).prop_map(ReachFailure::Tls),
        1 => text(0, 12).prop_map(ReachFailure::Io),
        6 => (status, retry_after())
            .prop_map(|(status, retry_after)| ReachFailure::Status { status, retry_after }),
        // Auth and overload twice in a streak (a second 401, the overload minimum).
        6 => (select(&[401u16, 429][..]), option::weighted(0.2, (0u64..600).prop_map(Duration::from_secs)))
            .prop_map(|(status, retry_after)| ReachFailure::Status { status, retry_after }),
        1 => (300u16..400, option::of(text(0, 12)))
            .prop_map(|(status, location)| ReachFailure::Redirect { status, location }),
        1 => proxy_failure().prop_map(|f| ReachFailure::Proxy {
            proxy: "proxy.test:3128".into(),
            failure: Box::new(f),
        }),
    ]
}

/// What an HTTP proxy may answer a CONNECT with, or fail with.
pub fn proxy_failure() -> impl Strategy<Value = ProxyFailure> {
    prop_oneof![
        1 => text(0, 12).prop_map(ProxyFailure::Unreachable),
        1 => text(0, 12).prop_map(ProxyFailure::Malformed),
        2 => (select(&[407u16, 401, 403, 502, 503, 400][..]), option::of(text(0, 12)))
            .prop_map(|(status, reason)| ProxyFailure::Status { status, reason }),
        1 => any::<u16>().prop_map(ProxyFailure::status),
        1 => socks_failure().prop_map(ProxyFailure::Socks),
    ]
}

/// What a SOCKS5 proxy may answer: any reply code, a refused or impossible
/// authentication, or bytes that are not SOCKS5.
fn socks_failure() -> impl Strategy<Value = SocksFailure> {
    prop_oneof![
        3 => any::<u8>().prop_map(|reply| SocksFailure::Reply {
            reply,
            target: "example.test:443".into(),
        }),
        1 => any::<u8>().prop_map(|status| SocksFailure::AuthFailed { status }),
        1 => any::<bool>().prop_map(|offered_password| SocksFailure::NoAcceptableMethod {
            offered_password
        }),
        1 => Just(SocksFailure::CredentialsTooLong),
        1 => text(0, 12).prop_map(SocksFailure::Malformed),
    ]
}

/// A fallback request's failure: reaching its server (every kind, a timeout in any of
/// the request's phases), or what only a request adds.
pub fn fallback_failure() -> impl Strategy<Value = FallbackError> {
    let phase = select(&[Phase::Connect, Phase::Tls, Phase::Headers, Phase::Idle][..]);
    let status = prop_oneof![4 => select(STATUSES), 1 => any::<u16>()];
    let reach = prop_oneof![
        1 => text(0, 12).prop_map(ReachFailure::Dns),
        3 => Just(ReachFailure::Refused),
        1 => Just(ReachFailure::Reset),
        3 => phase.prop_map(ReachFailure::Timeout),
        1 => text(0, 12).prop_map(ReachFailure::Certificate),
        1 => text(0, 12).prop_map(ReachFailure::Tls),
        1 => text(0, 12).prop_map(ReachFailure::Io),
        4 => (status, retry_after())
            .prop_map(|(status, retry_after)| ReachFailure::Status { status, retry_after }),
        1 => (300u16..400, proptest::option::of(text(0, 12)))
            .prop_map(|(status, location)| ReachFailure::Redirect { status, location }),
        1 => proxy_failure().prop_map(|f| ReachFailure::Proxy {
            proxy: "proxy.test:3128".into(),
            failure: Box::new(f),
        }),
    ];
    prop_oneof![
        17 => reach.prop_map(FallbackError::Reach),
        1 => (0usize..1 << 20).prop_map(|limit| FallbackError::TooLarge { limit }),
        1 => text(0, 12).prop_map(FallbackError::Unanswered),
        1 => text(0, 12).prop_map(FallbackError::BrokeOff),
    ]
}

/// A dial's phase.
fn phase() -> impl Strategy<Value = Phase> {
    prop_oneof![Just(Phase::Connect), Just(Phase::Handshake)]
}

/// Any input at all, every variant.
pub fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        Just(Input::Start),
        phase().prop_map(Input::DialProgress),
        Just(Input::DialSucceeded),
        dial_failure().prop_map(Input::DialFailed),
        (close_code(), reason()).prop_map(|(code, reason)| Input::PeerClosed { code, reason }),
        text(0, 10).prop_map(|detail| Input::Dropped { detail }),
        Just(Input::Received),
        Just(Input::Pong),
        Just(Input::UserClose),
        text(0, 10).prop_map(|reason| Input::Recycle { reason }),
        Just(Input::FallbackReady),
        fallback_failure().prop_map(|failure| Input::FallbackFailed { failure }),
        any::<bool>().prop_map(|ok| Input::ReauthDone { ok }),
        Just(Input::Timeout),
    ]
}

fn dt() -> impl Strategy<Value = Dt> {
    prop_oneof![
        2 => Just(Dt::Millis(0)),
        4 => (0u64..200).prop_map(Dt::Millis),
        3 => (0u64..15_000).prop_map(Dt::Millis),
        1 => (0u64..300_000).prop_map(Dt::Millis),
        5 => Just(Dt::ToDeadline),
        1 => Just(Dt::BeforeDeadline),
    ]
}

pub fn step() -> impl Strategy<Value = Step> {
    let driver = (
        any::<u8>(),
        close_code(),
        reason(),
        dial_failure(),
        fallback_failure(),
        prop::bool::weighted(0.8),
    )
        .prop_map(|(pick, code, reason, failure, fallback, ok)| Act::Driver {
            pick,
            code,
            reason,
            failure,
            fallback,
            ok,
        });
    let act = prop_oneof![1 => input().prop_map(Act::Wild), 6 => driver];
    (dt(), act).prop_map(|(dt, act)| Step { dt, act })
}

fn ms(lo: u64, hi: u64) -> impl Strategy<Value = Duration> {
    (lo..hi).prop_map(Duration::from_millis)
}

fn override_key() -> impl Strategy<Value = String> {
    let code = prop_oneof![
        3 => select(MEANINGFUL_CODES),
        2 => select(&[1000u16, 1005, 1006, 1008, 1002, 3000, 3003, 4000][..]),
    ];
    prop_oneof![
        3 => code.clone().prop_map(|c| c.to_string()),
        2 => (code, 1u16..1200).prop_map(|(c, w)| format!("{}-{}", c, c.saturating_add(w))),
        1 => Just("0-65535".to_string()),
    ]
}

/// A config from a preset with varied knobs; always valid (the test asserts it).
pub fn config() -> impl Strategy<Value = Config> {
    let preset = prop_oneof![3 => Just(Preset::Default), 1 => Just(Preset::CodexCompat)];
    let strategy = select(
        &[
            Jitter::None,
            Jitter::Full,
            Jitter::Equal,
            Jitter::Decorrelated,
            Jitter::Spread,
        ][..],
    );
    let factor = prop_oneof![4 => 1.0f64..4.0, 1 => Just(1.0), 1 => Just(1e12)];
    let backoff = option::of((
        strategy,
        ms(0, 2_000),
        option::of(ms(0, 60_000)),
        factor,
        0.0f64..=1.0,
    ));
    let budget = (
        option::of(1u32..=8),
        option::of(option::weighted(0.6, ms(500, 120_000))),
        option::of(ms(50, 10_000)),
    );
    let transport = option::of(prop_oneof![
        4 => Just(Transport::Auto),
        2 => Just(Transport::Websocket),
        1 => Just(Transport::Https),
    ]);
    let fallback = (
        option::of(prop::bool::weighted(0.75)),
        option::of(option::weighted(0.8, ms(1_000, 600_000))),
        option::of(ms(0, 3_600_000)),
        option::of(1u32..=6),
    );
    let heartbeat = (
        option::of(option::weighted(0.7, ms(1_000, 60_000))),
        option::of(ms(500, 20_000)),
    );
    let timeouts = option::of((ms(100, 20_000), ms(100, 20_000), ms(100, 5_000)));
    let delays = option::of((ms(0, 3_000), ms(0, 8_000), ms(0, 10_000), ms(0, 300_000)));
    let overrides = option::of((
        any::<bool>(),
        vec((override_key(), select(&Action::ALL[..])), 0..4),
    ));
    (
        preset, backoff, budget, transport, fallback, heartbeat, timeouts, delays, overrides,
    )
        .prop_map(
            |(
                preset,
                backoff,
                budget,
                transport,
                fallback,
                heartbeat,
                timeouts,
                delays,
                overrides,
            )| {
                let mut c = preset.config();
                if let Some((strategy, base, cap_extra, factor, spread)) = backoff {
                    c.backoff.strategy = strategy;
                    c.backoff.base = base;
                    c.backoff.cap = cap_extra.map(|extra| base + extra);
                    c.backoff.factor = factor;
                    c.backoff.spread = spread;
                }
                let (attempts, max_elapsed, min_uptime) = budget;
                c.budget.max_attempts = attempts.unwrap_or(c.budget.max_attempts);
                c.budget.max_elapsed = max_elapsed.unwrap_or(c.budget.max_elapsed);
                c.budget.min_uptime = min_uptime.unwrap_or(c.budget.min_uptime);
                c.transport = transport.unwrap_or(c.transport);
                let (enabled, reprobe_after, reprobe_max, max_failures) = fallback;
                c.fallback.max_failures = max_failures.unwrap_or(c.fallback.max_failures);
                c.fallback.enabled = enabled.unwrap_or(c.fallback.enabled);
                c.fallback.reprobe_after = reprobe_after.unwrap_or(c.fallback.reprobe_after);
                c.fallback.reprobe_max = reprobe_max.unwrap_or(c.fallback.reprobe_max);
                if let Some(after) = c.fallback.reprobe_after {
                    c.fallback.reprobe_max = c.fallback.reprobe_max.max(after);
                }
                if c.transport == Transport::Https {
                    c.fallback.enabled = true;
                }
                let (ping, pong) = heartbeat;
                c.heartbeat.ping_interval = ping.unwrap_or(c.heartbeat.ping_interval);
                c.heartbeat.pong_timeout = pong.unwrap_or(c.heartbeat.pong_timeout);
                if let Some((connect, handshake, grace)) = timeouts {
                    c.timeouts.connect = connect;
                    c.timeouts.handshake = handshake;
                    c.timeouts.close_grace = grace;
                }
                if let Some((restart_min, restart_extra, overload_min, max_retry_after)) = delays {
                    c.delays.restart_min = restart_min;
                    c.delays.restart_max = restart_min + restart_extra;
                    c.delays.overload_min = overload_min;
                    c.delays.max_retry_after = max_retry_after;
                }
                if let Some((replace, entries)) = overrides {
                    if replace {
                        c.close_codes.clear();
                    }
                    c.close_codes.extend(entries);
                }
                c
            },
        )
}

/// One connection as a server script plays it: whatever gets the core dialing (a
/// `Start` from Idle, fresh credentials, the backoff's or the re-probe's deadline), an
/// accepted upgrade, `messages` server messages, then a close, each a few milliseconds
/// apart (well under `min_uptime`, unless the gaps say otherwise). Inputs that do not
/// apply in the state the core is in are ignored by it, as wild inputs are.
fn episode() -> impl Strategy<Value = Vec<Step>> {
    let gap =
        prop_oneof![4 => (0u64..40).prop_map(Dt::Millis), 1 => (0u64..8_000).prop_map(Dt::Millis)];
    (
        0usize..4,
        close_code(),
        reason(),
        vec(gap, 6),
        any::<bool>(),
        0u8..6,
    )
        .prop_map(|(messages, code, reason, gaps, ok, end)| {
            let wild = |dt, input| Step {
                dt,
                act: Act::Wild(input),
            };
            let mut steps = vec![
                wild(Dt::Millis(0), Input::Start),
                wild(
                    Dt::Millis(1),
                    Input::ReauthDone {
                        ok: ok || messages > 0,
                    },
                ),
                wild(Dt::ToDeadline, Input::Timeout),
                wild(Dt::Millis(1), Input::DialProgress(Phase::Handshake)),
                wild(Dt::Millis(1), Input::DialSucceeded),
            ];
            if matches!(gaps[4], Dt::Millis(ms) if ms >= 40) {
                // (The one gap no message uses, when long.) The server waits for the
                // client's next deadline: a probe's trial ends, or a ping goes out.
                steps.push(wild(Dt::ToDeadline, Input::Timeout));
            }
            for g in gaps.iter().take(messages) {
                steps.push(wild(*g, Input::Received));
            }
            // Mostly a close frame; sometimes a drop, or a silence until the heartbeat
            // gives up.
            steps.push(match end {
                0 => wild(
                    gaps[5],
                    Input::Dropped {
                        detail: "reset".into(),
                    },
                ),
                1 => wild(Dt::ToDeadline, Input::Timeout),
                // A finished exchange: the server answered and closed politely.
                5 if messages > 0 => wild(
                    gaps[5],
                    Input::PeerClosed {
                        code: Some(1000),
                        reason,
                    },
                ),
                _ => wild(gaps[5], Input::PeerClosed { code, reason }),
            });
            steps
        })
}

pub fn case() -> impl Strategy<Value = Case> {
    let steps = prop_oneof![
        3 => vec(step(), 1..80),
        // Server scripts: connection after connection (the error loop, finished
        // exchanges, policy closes, auth closes), with a few driver-like steps between.
        1 => vec((episode(), vec(step(), 0..3)), 1..12).prop_map(|eps| {
            eps.into_iter()
                .flat_map(|(episode, extra)| episode.into_iter().chain(extra))
                .collect()
        }),
    ];
    (config(), any::<u64>(), steps).prop_map(|(config, seed, steps)| Case {
        config,
        seed,
        steps,
    })
}
