//! The fallback's failures in the one vocabulary: reaching its server fails as a dial
//! does (`ReachFailure`, one table of classes), and a request adds its own few cases
//! (written and unanswered, broken off, too large) and rules (a 403 is auth). Each row
//! states, afresh, the class, whether the request was written or answered, and both
//! sentences: the error a request ends with, and the cause's words.

use std::time::Duration;

use redial::config::{Config, Policy};
use redial::policy::{
    classify_reach_failure, decide_fallback, Backoff, Class, DelayBasis, FallbackDecision,
    FallbackError, FallbackStop, Phase, ProxyFailure, ReachFailure,
};

fn reach(failure: ReachFailure) -> FallbackError {
    FallbackError::Reach(failure)
}

fn status(status: u16, retry_after: Option<Duration>) -> FallbackError {
    reach(ReachFailure::Status {
        status,
        retry_after,
    })
}

/// One failure: its class, `written`, `after_answer`, the error text, the cause's words.
struct Row {
    failure: FallbackError,
    class: Class,
    written: bool,
    after_answer: bool,
    error: &'static str,
    cause: &'static str,
}

fn row(
    failure: FallbackError,
    class: Class,
    (written, after_answer): (bool, bool),
    error: &'static str,
    cause: &'static str,
) -> Row {
    Row {
        failure,
        class,
        written,
        after_answer,
        error,
        cause,
    }
}

fn table() -> Vec<Row> {
    use Class::{Auth, Certificate, RateLimited, Rejected, Transient};
    const NOT_SENT: (bool, bool) = (false, false);
    const WRITTEN: (bool, bool) = (true, false);
    const ANSWERED: (bool, bool) = (false, true);
    vec![
        row(
            reach(ReachFailure::Dns("nxdomain".into())),
            Transient,
            NOT_SENT,
            "the fallback connection failed: the host name did not resolve (nxdomain)",
            "the HTTPS fallback host name did not resolve (nxdomain)",
        ),
        row(
            reach(ReachFailure::Refused),
            Transient,
            NOT_SENT,
            "the fallback connection failed: the TCP connection was refused",
            "the HTTPS fallback refused the TCP connection",
        ),
        row(
            reach(ReachFailure::Reset),
            Transient,
            NOT_SENT,
            "the fallback connection failed: the TCP connection was reset during the dial",
            "the HTTPS fallback connection was reset before the response ended",
        ),
        row(
            reach(ReachFailure::Timeout(Phase::Connect)),
            Transient,
            NOT_SENT,
            "the fallback timed out in the connect phase",
            "the HTTPS fallback timed out in the connect phase",
        ),
        row(
            reach(ReachFailure::Timeout(Phase::Tls)),
            Transient,
            NOT_SENT,
            "the fallback timed out in the TLS handshake phase",
            "the HTTPS fallback timed out in the TLS handshake phase",
        ),
        row(
            reach(ReachFailure::Timeout(Phase::Headers)),
            Transient,
            WRITTEN,
            "the fallback timed out in the response headers phase",
            "the HTTPS fallback timed out in the response headers phase",
        ),
        row(
            reach(ReachFailure::Timeout(Phase::Idle)),
            Transient,
            ANSWERED,
            "the fallback timed out in the idle (between response events) phase",
            "the HTTPS fallback timed out in the idle (between response events) phase",
        ),
        row(
            reach(ReachFailure::Certificate("expired".into())),
            Certificate,
            NOT_SENT,
            "the fallback connection failed: the server's TLS certificate was rejected (expired)",
            "the HTTPS fallback server's TLS certificate was rejected (expired)",
        ),
        row(
            reach(ReachFailure::Tls("alert".into())),
            Transient,
            NOT_SENT,
            "the fallback connection failed: the TLS handshake failed (alert)",
            "the HTTPS fallback TLS handshake failed (alert)",
        ),
        row(
            status(503, Some(Duration::from_secs(2))),
            RateLimited,
            WRITTEN,
            "the fallback answered HTTP 503",
            "the HTTPS fallback answered HTTP 503 (Service Unavailable) with Retry-After 2 s",
        ),
        row(
            status(503, None),
            Transient,
            WRITTEN,
            "the fallback answered HTTP 503",
            "the HTTPS fallback answered HTTP 503 (Service Unavailable)",
        ),
        row(
            status(403, None),
            Auth,
            WRITTEN,
            "the fallback answered HTTP 403",
            "the HTTPS fallback answered HTTP 403 (Forbidden)",
        ),
        row(
            status(401, None),
            Auth,
            WRITTEN,
            "the fallback answered HTTP 401",
            "the HTTPS fallback answered HTTP 401 (Unauthorized)",
        ),
        row(
            status(404, None),
            Rejected,
            WRITTEN,
            "the fallback answered HTTP 404",
            "the HTTPS fallback answered HTTP 404 (Not Found)",
        ),
        row(
            reach(ReachFailure::Redirect {
                status: 301,
                location: Some("https://elsewhere.test/".into()),
            }),
            Rejected,
            WRITTEN,
            "the fallback answered HTTP 301, a redirect",
            "the HTTPS fallback answered HTTP 301 (Moved Permanently) to Location \
             https://elsewhere.test/, a redirect, which is not followed",
        ),
        row(
            reach(ReachFailure::Proxy {
                proxy: "proxy.test:3128".into(),
                failure: Box::new(ProxyFailure::Unreachable("refused".into())),
            }),
            Transient,
            NOT_SENT,
            "the fallback connection failed: the proxy proxy.test:3128 could not be reached \
             (refused)",
            "the HTTPS fallback went through the proxy proxy.test:3128, which could not be \
             reached (refused)",
        ),
        row(
            reach(ReachFailure::Io("broken pipe".into())),
            Transient,
            NOT_SENT,
            "the fallback connection failed: the dial failed (broken pipe)",
            "the HTTPS fallback request failed (broken pipe)",
        ),
        row(
            FallbackError::Unanswered("reset".into()),
            Transient,
            WRITTEN,
            "the fallback connection failed after the request was written, before any \
             answer: reset",
            "the HTTPS fallback request failed (the connection failed after the request was \
             written: reset)",
        ),
        row(
            FallbackError::BrokeOff("eof".into()),
            Transient,
            ANSWERED,
            "the fallback response broke off: eof",
            "the HTTPS fallback request failed (the response broke off: eof)",
        ),
        row(
            FallbackError::TooLarge { limit: 64 },
            Transient,
            ANSWERED,
            "the fallback sent an event larger than 64 bytes",
            "the HTTPS fallback sent an event larger than its bound of 64 bytes",
        ),
    ]
}

#[test]
fn every_fallback_failure_has_its_class_its_progress_and_its_two_sentences() {
    for r in table() {
        let f = &r.failure;
        assert_eq!(f.class(), r.class, "{f:?}");
        assert_eq!(f.written(), r.written, "{f:?}");
        assert_eq!(f.after_answer(), r.after_answer, "{f:?}");
        assert_eq!(f.to_string(), r.error, "{f:?}");
        assert_eq!(f.as_cause().to_string(), r.cause, "{f:?}");
    }
}

/// The fallback keeps the dial's table: only a 403 (credentials refused, where an
/// upgrade's 403 says WebSockets are not offered) and what only a request adds differ.
#[test]
fn the_fallback_differs_from_a_dial_only_where_a_request_does() {
    for r in table() {
        if let FallbackError::Reach(failure) = &r.failure {
            let dial = classify_reach_failure(failure);
            match failure.status() {
                Some(403) => assert_eq!((dial, r.class), (Class::Rejected, Class::Auth)),
                _ => assert_eq!(dial, r.class, "{failure:?}"),
            }
        }
    }
}

#[test]
fn status_and_retry_after_are_the_servers_answer_only() {
    let limited = status(429, Some(Duration::from_secs(3)));
    assert_eq!(limited.status(), Some(429));
    assert_eq!(limited.retry_after(), Some(Duration::from_secs(3)));
    let moved = reach(ReachFailure::Redirect {
        status: 308,
        location: None,
    });
    assert_eq!((moved.status(), moved.retry_after()), (Some(308), None));
    for other in [
        reach(ReachFailure::Refused),
        FallbackError::Unanswered("reset".into()),
        FallbackError::BrokeOff("eof".into()),
        FallbackError::TooLarge { limit: 1 },
    ] {
        assert_eq!(
            (other.status(), other.retry_after()),
            (None, None),
            "{other:?}"
        );
    }
    assert_eq!(
        FallbackError::from(ReachFailure::Refused),
        reach(ReachFailure::Refused)
    );
}

#[test]
fn every_phase_has_its_name() {
    let names: Vec<String> = [
        Phase::Connect,
        Phase::Tls,
        Phase::Handshake,
        Phase::Headers,
        Phase::Idle,
    ]
    .iter()
    .map(Phase::to_string)
    .collect();
    assert_eq!(
        names,
        [
            "connect",
            "TLS handshake",
            "handshake",
            "response headers",
            "idle (between response events)"
        ]
    );
    assert_eq!(
        ReachFailure::Timeout(Phase::Handshake).to_string(),
        "the handshake phase timed out"
    );
}

fn policy() -> Policy {
    let mut c = Config::default();
    c.fallback.max_failures = 3;
    c.validate().expect("a valid config")
}

fn decided(class: Class, retry_after: Option<Duration>, failures: u32) -> FallbackDecision {
    let p = policy();
    let mut backoff = Backoff::new(p.config().backoff.clone(), 1);
    decide_fallback(class, retry_after, failures, &p, &mut backoff)
}

/// `decide_fallback` decides from the class and the `Retry-After` it is given.
#[test]
fn a_fallback_decision_follows_the_class_and_the_retry_after_given() {
    for class in [
        Class::Auth,
        Class::Rejected,
        Class::Certificate,
        Class::ProxyAuth,
    ] {
        assert_eq!(
            decided(class, None, 1),
            FallbackDecision::Stop(FallbackStop::Class(class))
        );
    }
    assert_eq!(
        decided(Class::Transient, None, 3),
        FallbackDecision::Stop(FallbackStop::Spent {
            failures: 3,
            max: 3
        })
    );
    let asked = Duration::from_secs(10);
    assert_eq!(
        decided(Class::RateLimited, Some(asked), 1),
        FallbackDecision::Retry {
            delay: asked,
            basis: DelayBasis::RetryAfter {
                asked,
                capped: false
            },
        }
    );
    let overload_min = policy().config().delays.overload_min;
    assert_eq!(
        decided(Class::Overload, None, 2),
        FallbackDecision::Retry {
            delay: overload_min,
            basis: DelayBasis::OverloadMinimum,
        }
    );
    assert!(matches!(
        decided(Class::Transient, None, 2),
        FallbackDecision::Retry {
            basis: DelayBasis::Backoff,
            ..
        }
    ));
}
