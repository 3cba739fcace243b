//! docs/design.md's "Default policy" tables written again, independently of
//! [`crate::policy`], so that the [checker](super::Checker) tests the crate's
//! classification instead of trusting it.
//!
//! Nothing here calls into `crate::policy` or `crate::config::Policy`'s lookups: a bug in
//! those shows up as a disagreement. The property tests compare these tables with
//! [`classify_close`](crate::policy::classify_close) and
//! [`classify_reach_failure`](crate::policy::classify_reach_failure) directly, and their
//! reference model reads them too.

use std::time::Duration;

use crate::config::MAX_DELAY;
use crate::config::{Action, Config};
use crate::policy::{Class, FallbackError, ProxyFailure, ReachFailure, SocksFailure};

/// Slack for float rounding in backoff-envelope arithmetic: bounds are compared with
/// this much room on either side.
pub const TOL: Duration = Duration::from_micros(1);

/// The close-code table. `None` is a close frame without a status code (1005).
pub fn close_class(code: Option<u16>) -> Class {
    match code {
        None | Some(1001 | 1005 | 1006 | 1011 | 1014) => Class::Transient,
        Some(1000) => Class::Done,
        Some(1012) => Class::Restart,
        Some(1013) => Class::Overload,
        Some(1008) => Class::Policy,
        Some(3000 | 3003) => Class::Auth,
        Some(3001..=4999) => Class::Application,
        // 1002, 1003, 1004, 1007, 1009, 1010, 1015, <1000, 1016–2999, ≥5000.
        Some(_) => Class::Protocol,
    }
}

/// The upgrade-failure table. Statuses the table does not name follow the crate's
/// documented choice: 429 without `Retry-After` is overload, 408 (request timeout) is
/// transient like 5xx, other statuses mean WebSockets are not offered; TLS and I/O
/// errors are transient. A redirect (3xx) is not followed: WebSockets are not offered
/// at this URL. A proxy's 407 stops (its credentials), and so does its 401 (tinyproxy's
/// answer to wrong credentials); its 408, 429 and 5xx are transient like an unreachable
/// proxy, and any other status it answers the CONNECT with (403) means the destination
/// is not offered through it.
pub fn dial_class(failure: &ReachFailure) -> Class {
    match failure {
        ReachFailure::Certificate(_) => Class::Certificate,
        ReachFailure::Redirect { .. } => Class::Rejected,
        ReachFailure::Subprotocol(_) => Class::SubprotocolMismatch,
        ReachFailure::Proxy { failure, .. } => match **failure {
            ProxyFailure::Status { status, .. } if status == 407 || status == 401 => {
                Class::ProxyAuth
            }
            ProxyFailure::Status { status, .. } if status == 408 || status == 429 => {
                Class::Transient
            }
            ProxyFailure::Status { status, .. } if (500..600).contains(&status) => Class::Transient,
            ProxyFailure::Status { .. } => Class::Rejected,
            ProxyFailure::Socks(SocksFailure::Reply { reply: 2, .. }) => Class::Rejected,
            ProxyFailure::Socks(SocksFailure::Reply { reply: 7 | 8, .. }) => {
                Class::ProxyUnsupported
            }
            ProxyFailure::Socks(SocksFailure::Reply { .. } | SocksFailure::Malformed(_)) => {
                Class::Transient
            }
            ProxyFailure::Socks(_) => Class::ProxyAuth,
            _ => Class::Transient,
        },
        ReachFailure::Status { status: 401, .. } => Class::Auth,
        ReachFailure::Status {
            status: 429 | 503,
            retry_after: Some(_),
        } => Class::RateLimited,
        ReachFailure::Status { status: 429, .. } => Class::Overload,
        ReachFailure::Status {
            status: 408 | 500..=599,
            ..
        } => Class::Transient,
        ReachFailure::Status { .. } => Class::Rejected,
        _ => Class::Transient,
    }
}

/// Whether a failure of the fallback is retried under the fallback's budget
/// (docs/design.md, invariant 12, and issue 12: 5xx, refused and timeouts are retried;
/// 401/403 and certificate errors are not). Network failures, timeouts, oversized
/// events, requests left unanswered, responses broken off, 408, 429 and 5xx are
/// retried; a rejected certificate and every other status (a redirect, which is not
/// followed, included) stop the client; through a proxy, its unreachability, 408, 429
/// and 5xx are retried and any other status it answers (407, 401, 403) stops.
pub fn fallback_retried(failure: &FallbackError) -> bool {
    let FallbackError::Reach(reached) = failure else {
        // Unanswered, broken off, too large: the server was reached, and may do better.
        return true;
    };
    match reached {
        ReachFailure::Certificate(_) => false,
        ReachFailure::Proxy { failure, .. } => match **failure {
            ProxyFailure::Status { status, .. } => matches!(status, 408 | 429 | 500..=599),
            ProxyFailure::Socks(SocksFailure::Reply { reply, .. }) => !matches!(reply, 2 | 7 | 8),
            ProxyFailure::Socks(SocksFailure::Malformed(_)) => true,
            ProxyFailure::Socks(_) => false,
            _ => true,
        },
        ReachFailure::Status { status, .. } => matches!(status, 408 | 429 | 500..=599),
        ReachFailure::Redirect { .. } | ReachFailure::Subprotocol(_) => false,
        _ => true,
    }
}

/// The config's `close_codes` entry for `code` (`"4000"` or `"4000-4099"` keys): the
/// narrowest covering range, the lowest first on a tie.
pub fn override_for(cfg: &Config, code: u16) -> Option<Action> {
    let parse = |k: &str| -> Option<(u16, u16)> {
        let k = k.trim();
        let (a, b) = k.split_once('-').unwrap_or((k, k));
        let (a, b) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
        (a <= b).then_some((a, b))
    };
    cfg.close_codes
        .iter()
        .filter_map(|(k, a)| parse(k).map(|(lo, hi)| (lo, hi, *a)))
        .filter(|(lo, hi, _)| (*lo..=*hi).contains(&code))
        .min_by_key(|(lo, hi, _)| (hi - lo, *lo))
        .map(|(_, _, a)| a)
}

/// Whether an override action keeps WebSockets in play (anything but falling back or
/// stopping).
pub fn retrying(action: Action) -> bool {
    !matches!(action, Action::FallBack | Action::Stop)
}

/// `base × factor^n` without the cap, clamped to `[0, MAX_DELAY]`.
pub fn uncapped_envelope(cfg: &Config, n: u32) -> Duration {
    let b = &cfg.backoff;
    clamp(b.base.as_secs_f64() * b.factor.powi(n.min(4096) as i32))
}

/// Seconds as a duration in `[0, MAX_DELAY]` (`NaN` and negatives are zero).
pub fn clamp(secs: f64) -> Duration {
    if secs.is_nan() || secs <= 0.0 {
        Duration::ZERO
    } else {
        Duration::from_secs_f64(secs.min(MAX_DELAY.as_secs_f64()))
    }
}
