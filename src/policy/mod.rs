//! The pure policy: classify what happened, then decide what to do.
//!
//! [`classify_close`] and [`classify_reach_failure`] map a close code or a failure to
//! reach a host (a dial's, or the fallback's: [`FallbackError::class`]) to a [`Class`];
//! the class's default [`Action`] (or a per-code override from the config) and the
//! retry [`Budget`] give a [`Decision`] through [`decide`] ([`decide_fallback`] for the
//! fallback). Nothing here does I/O or reads a clock; randomness comes from the seeded
//! [`Backoff`].

mod backoff;
mod close_code;
mod decide;
mod fallback_decision;
mod fallback_error;
mod proxy_failure;
mod reach_failure;
mod socks_failure;
mod subprotocol;

pub use backoff::Backoff;
pub use close_code::{classify_close, close_code_name};
pub use decide::{decide, Budget, Decision, DelayBasis, NoRetryReason};
pub use fallback_decision::{decide_fallback, FallbackDecision, FallbackStop};
pub use fallback_error::FallbackError;
pub use proxy_failure::{classify_proxy_failure, ProxyFailure};
pub use reach_failure::{
    classify_reach_failure, classify_status, status_name, Phase, ReachFailure,
};
pub use socks_failure::{classify_socks_failure, socks_reply_name, SocksFailure};
pub use subprotocol::SubprotocolMismatch;

use std::fmt;
use std::time::Duration;

use crate::config::Action;

use serde::{Deserialize, Serialize};

/// What kind of ending a close code, a failed dial or a failed fallback request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// 1000: the server is done; reconnect when next needed.
    Done,
    /// 1001, 1005, 1006, 1011, 1014, network failures, 5xx: retry with backoff.
    Transient,
    /// 1012: the service restarts; retry after a randomized window.
    Restart,
    /// 1013 and 429 without `Retry-After`: retry with a longer backoff.
    Overload,
    /// 429, or 503 with `Retry-After`: wait as asked (capped), at least the backoff.
    RateLimited,
    /// 1008: policy violation; never retried over WebSockets.
    Policy,
    /// Protocol errors and codes that must never be on the wire; never retried over WebSockets.
    Protocol,
    /// 3000, 3003 and HTTP 401: re-authenticate once.
    Auth,
    /// Other 3000–4999 codes: per the config, by default retried.
    Application,
    /// An upgrade answered with 400, 403, 404, 405, 426 or another non-101 status:
    /// WebSockets are not offered here. Also a proxy's refusal of the tunnel (its 403,
    /// say): the proxy will not carry this connection.
    Rejected,
    /// The TLS certificate was rejected: stop, never fall back around it.
    Certificate,
    /// The proxy refused the credentials of its URL (an HTTP proxy's 407, or 401 as
    /// some answer; a SOCKS5 proxy's refused or impossible authentication): stop;
    /// retrying or falling back through the same proxy cannot help.
    ProxyAuth,
    /// The server's 101 did not agree to the WebSocket subprotocols offered (it chose
    /// one not offered, or none when some were): stop. The next dial offers the same
    /// list to the same server, and the fallback carries the same application
    /// protocol, so neither can help; the application's list or the server must change.
    SubprotocolMismatch,
    /// The proxy cannot carry this connection at all (a SOCKS5 proxy's "command not
    /// supported" or "address type not supported"): stop; retrying or falling back
    /// through the same proxy cannot help.
    ProxyUnsupported,
}

impl Class {
    /// Every class, in table order.
    pub const ALL: [Class; 14] = [
        Class::Done,
        Class::Transient,
        Class::Restart,
        Class::Overload,
        Class::RateLimited,
        Class::Policy,
        Class::Protocol,
        Class::Auth,
        Class::Application,
        Class::Rejected,
        Class::Certificate,
        Class::ProxyAuth,
        Class::SubprotocolMismatch,
        Class::ProxyUnsupported,
    ];

    /// The action taken for this class when the config does not override it.
    pub fn default_action(self) -> Action {
        match self {
            Class::Done => Action::ReconnectLazily,
            Class::Transient | Class::Application | Class::RateLimited => Action::Retry,
            Class::Restart => Action::RetryAfterRestart,
            Class::Overload => Action::RetrySlow,
            Class::Policy | Class::Protocol | Class::Rejected => Action::FallBack,
            Class::Auth => Action::Reauthenticate,
            Class::Certificate
            | Class::ProxyAuth
            | Class::SubprotocolMismatch
            | Class::ProxyUnsupported => Action::Stop,
        }
    }

    /// The snake_case name used in configs and event lines.
    pub fn name(self) -> &'static str {
        match self {
            Class::Done => "done",
            Class::Transient => "transient",
            Class::Restart => "restart",
            Class::Overload => "overload",
            Class::RateLimited => "rate_limited",
            Class::Policy => "policy",
            Class::Protocol => "protocol",
            Class::Auth => "auth",
            Class::Application => "application",
            Class::Rejected => "rejected",
            Class::Certificate => "certificate",
            Class::ProxyAuth => "proxy_auth",
            Class::SubprotocolMismatch => "subprotocol_mismatch",
            Class::ProxyUnsupported => "proxy_unsupported",
        }
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A duration as people read it: "0 ms", "180 ms", "1.5 s", "2 min 30 s".
pub fn fmt_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        let tenths = (ms + 50) / 100;
        if tenths.is_multiple_of(10) {
            format!("{} s", tenths / 10)
        } else {
            format!("{}.{} s", tenths / 10, tenths % 10)
        }
    } else {
        let s = (ms + 500) / 1000;
        match (s / 60, s % 60) {
            (m, 0) => format!("{m} min"),
            (m, s) => format!("{m} min {s} s"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        let f = |ms| fmt_duration(Duration::from_millis(ms));
        assert_eq!(f(0), "0 ms");
        assert_eq!(f(3), "3 ms");
        assert_eq!(f(999), "999 ms");
        assert_eq!(f(1000), "1 s");
        assert_eq!(f(1540), "1.5 s");
        assert_eq!(f(6200), "6.2 s");
        assert_eq!(f(300_000), "5 min");
        assert_eq!(f(150_000), "2 min 30 s");
    }
}
