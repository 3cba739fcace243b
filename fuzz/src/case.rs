//! The input format of `core_sequence`, kept simple enough to write seeds by hand:
//!
//! ```text
//! [Knobs: 29 bytes, 0 = keep the preset's value] then [Step: 5 bytes] repeated:
//!   dt     how far virtual time moves (see `advance`; 0x00 = to the core's deadline,
//!          0x80 | n = n ms)
//!   kind   < 0xF0: "driver-like" pick from the inputs that make sense in the current
//!          state; 0xF0 + k: exactly input k whatever the state (`WILD` below)
//!   lo hi  a 16-bit argument (close code, status, Retry-After, ...), little-endian
//!   extra  selects the variant of the argument (code form, reason shape, failure kind)
//! ```
//!
//! `fuzz/seeds/core_sequence/` holds the mission's sequence in this form.

use std::time::{Duration, Instant};

use arbitrary::{Arbitrary, Unstructured};
use redial::config::{Action, Config, Preset, Strategy, Transport};
use redial::core::{Input, StateName};
use redial::policy::{FallbackError, Phase, ProxyFailure, ReachFailure};

/// Config choices, one byte each; 0 keeps the preset's value.
#[derive(Arbitrary, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Knobs {
    pub preset: u8,
    pub strategy: u8,
    pub base: u8,
    pub cap: u8,
    pub factor: u8,
    pub spread: u8,
    pub max_attempts: u8,
    pub max_elapsed: u8,
    pub min_uptime: u8,
    pub transport: u8,
    pub fallback: u8,
    pub reprobe_after: u8,
    pub reprobe_max: u8,
    pub ping: u8,
    pub pong: u8,
    pub connect: u8,
    pub handshake: u8,
    pub grace: u8,
    pub restart_min: u8,
    pub restart_extra: u8,
    pub overload_min: u8,
    pub max_retry_after: u8,
    pub key1: u8,
    pub action1: u8,
    pub key2: u8,
    pub action2: u8,
    pub key3: u8,
    pub action3: u8,
    pub seed: u8,
}

/// The size of [`Knobs`] in the input.
pub const KNOB_BYTES: usize = 29;

/// One step, five bytes.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawStep {
    pub dt: u8,
    pub kind: u8,
    pub lo: u8,
    pub hi: u8,
    pub extra: u8,
}

/// A decoded input: the config (not yet validated), the RNG seed and the steps.
#[derive(Debug, Clone)]
pub struct Case {
    pub config: Config,
    pub seed: u64,
    pub steps: Vec<RawStep>,
}

/// Close codes worth hitting often.
pub const MEANINGFUL_CODES: &[u16] = &[
    0, 999, 1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008, 1009, 1010, 1011, 1012, 1013,
    1014, 1015, 1016, 2999, 3000, 3001, 3003, 3999, 4000, 4001, 4500, 4999, 5000, 65535,
];

const STATUSES: &[u16] = &[
    400, 401, 403, 404, 405, 426, 429, 503, 500, 502, 504, 200, 301, 407, 408, 101, 599, 0,
];

/// Decode a fuzz input. Never fails: missing bytes read as zero.
pub fn decode(data: &[u8]) -> Case {
    let mut u = Unstructured::new(data);
    let knobs = Knobs::arbitrary(&mut u).unwrap_or_default();
    let mut steps = Vec::new();
    while !u.is_empty() && steps.len() < 1024 {
        match RawStep::arbitrary(&mut u) {
            Ok(s) => steps.push(s),
            Err(_) => break,
        }
    }
    Case {
        config: knobs.config(),
        seed: u64::from(knobs.seed).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        steps,
    }
}

/// A duration from a knob byte (≥ 1): 0–990 ms, 1–100 s, 1–50 min, 12–60 h (the last
/// ones past validation's one-day limit).
pub fn dur(v: u8) -> Duration {
    let v = u64::from(v);
    match v {
        0..=100 => Duration::from_millis(v.saturating_sub(1) * 10),
        101..=200 => Duration::from_secs(v - 100),
        201..=250 => Duration::from_secs((v - 200) * 60),
        _ => Duration::from_secs((v - 250) * 12 * 3600),
    }
}

fn opt(v: u8) -> Option<Duration> {
    (v != 1).then(|| dur(v))
}

impl Knobs {
    /// The config these choices make (validation may still refuse it).
    pub fn config(&self) -> Config {
        let k = self;
        let set = |v: u8, f: &mut dyn FnMut(u8)| {
            if v != 0 {
                f(v)
            }
        };
        let preset = if k.preset % 4 == 3 {
            Preset::CodexCompat
        } else {
            Preset::Default
        };
        let mut c = preset.config();
        use Strategy as S;
        set(k.strategy, &mut |v| {
            c.backoff.strategy =
                [S::None, S::Full, S::Equal, S::Decorrelated, S::Spread][usize::from(v % 5)]
        });
        set(k.base, &mut |v| c.backoff.base = dur(v));
        set(k.cap, &mut |v| {
            c.backoff.cap = opt(v).map(|d| c.backoff.base.saturating_add(d))
        });
        set(k.factor, &mut |v| {
            c.backoff.factor = match v % 8 {
                0 => 1.0,
                1 => 1.5,
                2 => 2.0,
                3 => 3.0,
                4 => 10.0,
                5 => 1e12,
                6 => 1.0 + f64::from(v / 8) / 8.0,
                _ => 0.5, // invalid
            }
        });
        set(k.spread, &mut |v| {
            c.backoff.spread = f64::from(v % 12) / 10.0
        });
        set(k.max_attempts, &mut |v| {
            c.budget.max_attempts = u32::from(v % 9)
        });
        set(k.max_elapsed, &mut |v| c.budget.max_elapsed = opt(v));
        set(k.min_uptime, &mut |v| c.budget.min_uptime = dur(v));
        set(k.transport, &mut |v| {
            c.transport =
                [Transport::Auto, Transport::Websocket, Transport::Https][usize::from(v % 3)]
        });
        set(k.fallback, &mut |v| {
            c.fallback.enabled = v & 1 == 1;
            // 1..=6 failures in a row; the high bits left at 0 keep the default.
            if v >> 1 != 0 {
                c.fallback.max_failures = u32::from((v >> 1) % 6) + 1;
            }
        });
        set(k.reprobe_after, &mut |v| c.fallback.reprobe_after = opt(v));
        set(k.reprobe_max, &mut |v| {
            let after = c.fallback.reprobe_after.unwrap_or_default();
            c.fallback.reprobe_max = dur(v).max(after)
        });
        set(k.ping, &mut |v| c.heartbeat.ping_interval = opt(v));
        set(k.pong, &mut |v| c.heartbeat.pong_timeout = dur(v));
        set(k.connect, &mut |v| c.timeouts.connect = dur(v));
        set(k.handshake, &mut |v| c.timeouts.handshake = dur(v));
        set(k.grace, &mut |v| c.timeouts.close_grace = dur(v));
        set(k.restart_min, &mut |v| c.delays.restart_min = dur(v));
        set(k.restart_extra, &mut |v| {
            c.delays.restart_max = c.delays.restart_min.saturating_add(dur(v))
        });
        set(k.overload_min, &mut |v| c.delays.overload_min = dur(v));
        set(k.max_retry_after, &mut |v| {
            c.delays.max_retry_after = dur(v)
        });
        for (key, action) in [
            (k.key1, k.action1),
            (k.key2, k.action2),
            (k.key3, k.action3),
        ] {
            if key != 0 {
                let action = Action::ALL[usize::from(action) % Action::ALL.len()];
                c.close_codes.insert(override_key(key), action);
            }
        }
        c
    }
}

fn override_key(key: u8) -> String {
    let code = MEANINGFUL_CODES[usize::from(key & 63) % MEANINGFUL_CODES.len()];
    match key >> 6 {
        0 | 1 => code.to_string(),
        2 => {
            let width = [1u16, 10, 100, 1000][usize::from(key & 3)];
            format!("{code}-{}", code.saturating_add(width))
        }
        _ if key == 255 => "not-a-code".to_string(),
        _ => "0-65535".to_string(),
    }
}

/// The time after a step's `dt` byte, given the core's deadline; never before `t0`.
pub fn advance(t0: Instant, now: Instant, dt: u8, deadline: Option<Instant>) -> Instant {
    let low = u64::from(dt & 31);
    match dt >> 5 {
        0..=2 => deadline.map_or(now, |d| d.max(now)),
        3 => deadline
            .and_then(|d| d.checked_sub(Duration::from_millis(1)))
            .map_or(now, |d| d.max(now)),
        4 => now + Duration::from_millis(low),
        5 => now + Duration::from_millis(low * 100),
        6 => now + Duration::from_secs(low * 2),
        _ if low < 16 => now + Duration::from_secs(low * 60),
        // Time running backwards: the core must take it as the last `now`.
        _ => now
            .checked_sub(Duration::from_millis((low - 16) * 100))
            .map_or(t0, |t| t.max(t0)),
    }
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
    Ready,
    FallbackFailed,
    ReauthDone,
    Timeout,
    Recycle,
}

/// The wild inputs, in `kind - 0xF0` order.
const WILD: [K; 14] = [
    K::Start,
    K::Progress,
    K::Succeeded,
    K::Failed,
    K::Close,
    K::Dropped,
    K::Received,
    K::Pong,
    K::UserClose,
    K::Ready,
    K::FallbackFailed,
    K::ReauthDone,
    K::Timeout,
    K::Recycle,
];

/// Inputs a driver could send in `state`, repeats as weights (as in the property test).
fn menu(state: StateName) -> &'static [K] {
    use K::*;
    match state {
        StateName::Idle => &[Start, Start, Start, Start, Start, Start, Start, UserClose],
        StateName::Connecting => &[
            Progress, Progress, Succeeded, Succeeded, Succeeded, Failed, Failed, Failed, Timeout,
            Timeout, Close, UserClose,
        ],
        StateName::Open => &[
            Received, Pong, Pong, Close, Close, Close, Close, Dropped, Dropped, Timeout, Timeout,
            Timeout, Timeout, UserClose, Failed, Start, Recycle,
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
            UserClose,
        ],
        StateName::Stopped => &WILD,
    }
}

impl RawStep {
    fn arg(&self) -> u16 {
        u16::from_le_bytes([self.lo, self.hi])
    }

    /// The input of this step in `state`, and whether to hand a timeout over through
    /// `handle_timeout` rather than `handle_input(Timeout)`.
    pub fn input(&self, state: StateName) -> (Input, bool) {
        let k = if self.kind >= 0xF0 {
            WILD[usize::from(self.kind - 0xF0) % WILD.len()]
        } else {
            let m = menu(state);
            m[usize::from(self.kind) % m.len()]
        };
        let (arg, extra) = (self.arg(), self.extra);
        let input = match k {
            K::Start => Input::Start,
            K::Progress if extra & 1 == 1 => Input::DialProgress(Phase::Connect),
            K::Progress => Input::DialProgress(Phase::Handshake),
            K::Succeeded => Input::DialSucceeded,
            K::Failed => Input::DialFailed(dial_failure(self.lo, self.hi, extra)),
            K::Close => Input::PeerClosed {
                code: close_code(arg, extra),
                reason: reason(self.lo, self.hi, extra),
            },
            K::Dropped => Input::Dropped {
                detail: "connection reset by peer".into(),
            },
            K::Received => Input::Received,
            K::Pong => Input::Pong,
            K::UserClose => Input::UserClose,
            K::Recycle => Input::Recycle {
                reason: String::from_utf8_lossy(&reason(self.lo, self.hi, extra)).into_owned(),
            },
            K::Ready => Input::FallbackReady,
            K::FallbackFailed => Input::FallbackFailed {
                failure: fallback_failure(self.lo, self.hi, extra),
            },
            K::ReauthDone => Input::ReauthDone { ok: extra % 5 != 0 },
            K::Timeout => return (Input::Timeout, extra & 1 == 1),
        };
        (input, false)
    }
}

/// `extra & 3`: 0 no code, 1 the raw argument, 2–3 a meaningful code.
pub fn close_code(arg: u16, extra: u8) -> Option<u16> {
    match extra & 3 {
        0 => None,
        1 => Some(arg),
        _ => Some(MEANINGFUL_CODES[usize::from(arg) % MEANINGFUL_CODES.len()]),
    }
}

/// `(extra >> 2) % 8` picks the reason's shape: empty, short, too long, not UTF-8, ...
pub fn reason(lo: u8, hi: u8, extra: u8) -> Vec<u8> {
    match (extra >> 2) % 8 {
        0..=2 => Vec::new(),
        3 => b"bye".to_vec(),
        4 => vec![b'r'; 200],
        5 => "é".repeat(100).into_bytes(),
        6 => b"bad \xff\xfe utf-8 \xc3".to_vec(),
        _ => vec![hi; usize::from(lo)],
    }
}

/// `extra % 16` picks the failure; statuses take `lo` (or the raw argument) and
/// `extra >> 5` the shape of Retry-After (seconds or milliseconds from `hi`, huge, none);
/// 14 is a redirect, 15 a proxy's failure (unreachable, a status, or not HTTP).
pub fn dial_failure(lo: u8, hi: u8, extra: u8) -> ReachFailure {
    match extra % 16 {
        14 => ReachFailure::Redirect {
            status: 300 + u16::from(lo % 10),
            location: hi
                .is_multiple_of(2)
                .then(|| "https://elsewhere.test/".into()),
        },
        15 => ReachFailure::Proxy {
            proxy: "proxy.test:3128".into(),
            failure: Box::new(proxy_failure(lo, hi)),
        },
        0 => ReachFailure::Dns("nxdomain".into()),
        1 => ReachFailure::Refused,
        2 => ReachFailure::Reset,
        3 => ReachFailure::Timeout(Phase::Connect),
        4 => ReachFailure::Timeout(Phase::Handshake),
        5 => ReachFailure::Certificate("expired".into()),
        6 => ReachFailure::Tls("handshake alert".into()),
        7 => ReachFailure::Io("broken pipe".into()),
        _ => {
            let status = if extra & 0x10 == 0 {
                STATUSES[usize::from(lo) % STATUSES.len()]
            } else {
                u16::from_le_bytes([lo, hi])
            };
            let h = u64::from(hi);
            let retry_after = match extra >> 5 {
                0..=2 => None,
                3 => Some(Duration::from_secs(h * 3)),
                4 => Some(Duration::from_millis(h * 20)),
                5 => Some(Duration::from_secs(h * 3600)),
                6 => Some(Duration::MAX),
                _ => Some(Duration::from_secs(u64::MAX)),
            };
            ReachFailure::Status {
                status,
                retry_after,
            }
        }
    }
}

/// A proxy's failure: `hi % 3` picks unreachable, a status (`lo` into the statuses,
/// 401 and 407 among them; `hi / 3` odd: with a reason phrase of the proxy's own) or an
/// answer that is not HTTP.
fn proxy_failure(lo: u8, hi: u8) -> ProxyFailure {
    match hi % 3 {
        0 => ProxyFailure::Unreachable("connection refused".into()),
        1 => ProxyFailure::Status {
            status: STATUSES[usize::from(lo) % STATUSES.len()],
            // The proxy's own reason phrase, or none.
            reason: (hi / 3 % 2 == 1).then(|| "Unable to connect".to_string()),
        },
        _ => ProxyFailure::Malformed("not HTTP".into()),
    }
}

/// `extra % 12` picks a fallback failure: reaching its server failed (statuses,
/// redirects and a proxy's failures decoded as a dial's are), or, at 9, what only a
/// request adds as `lo % 3` says (an I/O failure, written and unanswered, broken off).
pub fn fallback_failure(lo: u8, hi: u8, extra: u8) -> FallbackError {
    let phase =
        |i: u8| [Phase::Connect, Phase::Tls, Phase::Headers, Phase::Idle][usize::from(i % 4)];
    let reach = match extra % 12 {
        0 => ReachFailure::Dns("nxdomain".into()),
        1 | 2 => ReachFailure::Refused,
        3 => ReachFailure::Reset,
        4 | 5 => ReachFailure::Timeout(phase(lo)),
        6 => ReachFailure::Certificate("expired".into()),
        7 => ReachFailure::Tls("handshake alert".into()),
        8 => {
            return FallbackError::TooLarge {
                limit: usize::from(u16::from_le_bytes([lo, hi])),
            }
        }
        9 => match lo % 3 {
            0 => ReachFailure::Io("broken pipe".into()),
            1 => return FallbackError::Unanswered("connection reset".into()),
            _ => return FallbackError::BrokeOff("connection reset".into()),
        },
        // A status, a redirect or a proxy's failure.
        _ => dial_failure(lo, hi, extra | 0x08),
    };
    FallbackError::Reach(reach)
}

/// Encode steps for a seed: `(dt, kind, arg, extra)`.
pub fn encode(knobs: &[u8; KNOB_BYTES], steps: &[(u8, u8, u16, u8)]) -> Vec<u8> {
    let mut out = knobs.to_vec();
    for &(dt, kind, arg, extra) in steps {
        let [lo, hi] = arg.to_le_bytes();
        out.extend_from_slice(&[dt, kind, lo, hi, extra]);
    }
    out
}
