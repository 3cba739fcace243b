//! Proxy failures and redirects, for the WebSocket dial and the fallback alike,
//! table-driven from ARCHITECTURE.md's "Networks as users have them" and issue 14: an
//! unreachable proxy and its 5xx retry, its 407 stops (credentials), its 403 falls back
//! (dial) or stops (fallback); a redirect is not followed and its cause names the
//! status and the `Location`. Each row states its rule afresh.

use std::time::Duration;

use redial::config::{Config, Policy};
use redial::policy::{
    classify_dial_failure, classify_fallback_failure, classify_proxy_failure, decide_fallback,
    Backoff, Class, DialFailure, FallbackDecision, FallbackFailure, FallbackStop, ProxyFailure,
};
use redial::sim::invariants::tables::{dial_class, fallback_retried};

fn policy() -> Policy {
    Config::default()
        .validate()
        .expect("the default config is valid")
}

fn unreachable() -> ProxyFailure {
    ProxyFailure::Unreachable("connection refused".into())
}

/// (proxy failure, its class, whether the fallback retries it).
fn table() -> Vec<(ProxyFailure, Class, bool)> {
    use Class::{ProxyAuth, Rejected, Transient};
    use ProxyFailure::{Malformed, Status};
    vec![
        (unreachable(), Transient, true),
        (Malformed("HTTP/9".into()), Transient, true),
        (Status(407), ProxyAuth, false),
        (Status(403), Rejected, false),
        (Status(400), Rejected, false),
        (Status(401), Rejected, false),
        (Status(404), Rejected, false),
        (Status(406), Rejected, false),
        (Status(409), Rejected, false),
        (Status(428), Rejected, false),
        (Status(430), Rejected, false),
        (Status(499), Rejected, false),
        (Status(600), Rejected, false),
        (Status(300), Rejected, false),
        (Status(408), Transient, true),
        (Status(429), Transient, true),
        (Status(500), Transient, true),
        (Status(502), Transient, true),
        (Status(503), Transient, true),
        (Status(504), Transient, true),
        (Status(599), Transient, true),
    ]
}

fn dial(failure: &ProxyFailure) -> DialFailure {
    DialFailure::Proxy {
        proxy: "proxy.test:3128".into(),
        failure: Box::new(failure.clone()),
    }
}

fn fallback(failure: &ProxyFailure) -> FallbackFailure {
    FallbackFailure::Proxy {
        proxy: "proxy.test:3128".into(),
        failure: Box::new(failure.clone()),
    }
}

#[test]
fn every_proxy_failure_has_its_class_on_both_transports() {
    for (failure, class, _) in table() {
        assert_eq!(classify_proxy_failure(&failure), class, "{failure:?}");
        assert_eq!(classify_dial_failure(&dial(&failure)), class, "{failure:?}");
        assert_eq!(
            classify_fallback_failure(&fallback(&failure)),
            class,
            "{failure:?}"
        );
        // The invariant checker's own table agrees.
        assert_eq!(dial_class(&dial(&failure)), class, "{failure:?}");
    }
}

#[test]
fn the_fallback_retries_what_may_pass_and_stops_on_credentials_and_refusals() {
    let p = policy();
    for (failure, class, retried) in table() {
        let f = fallback(&failure);
        assert_eq!(fallback_retried(&f), retried, "{failure:?}");
        let d = decide_fallback(&f, 1, &p, &mut Backoff::new(p.config().backoff.clone(), 1));
        match retried {
            true => assert!(
                matches!(d, FallbackDecision::Retry { delay, .. } if delay <= Duration::from_millis(200)),
                "{failure:?}: {d:?}"
            ),
            false => assert_eq!(
                d,
                FallbackDecision::Stop(FallbackStop::Class(class)),
                "{failure:?}"
            ),
        }
    }
}

#[test]
fn causes_name_the_proxy_and_what_it_said_never_its_credentials() {
    let said = |f: &ProxyFailure| dial(f).to_string();
    assert_eq!(
        said(&ProxyFailure::Status(407)),
        "the proxy proxy.test:3128 answered the CONNECT with HTTP 407 (Proxy Authentication \
         Required): check the user and password in the proxy URL"
    );
    assert_eq!(
        said(&ProxyFailure::Status(403)),
        "the proxy proxy.test:3128 answered the CONNECT with HTTP 403 (Forbidden): the proxy \
         does not allow this destination"
    );
    assert_eq!(
        said(&ProxyFailure::Status(502)),
        "the proxy proxy.test:3128 answered the CONNECT with HTTP 502 (Bad Gateway)"
    );
    assert_eq!(
        said(&ProxyFailure::Status(599)),
        "the proxy proxy.test:3128 answered the CONNECT with HTTP 599"
    );
    assert_eq!(
        said(&unreachable()),
        "the proxy proxy.test:3128 could not be reached (connection refused)"
    );
    assert_eq!(
        said(&ProxyFailure::Malformed("invalid token".into())),
        "the proxy proxy.test:3128 did not answer the CONNECT in HTTP (invalid token)"
    );
    assert_eq!(
        fallback(&ProxyFailure::Status(407)).to_string(),
        "the HTTPS fallback went through the proxy proxy.test:3128, which answered the CONNECT \
         with HTTP 407 (Proxy Authentication Required): check the user and password in the \
         proxy URL"
    );
    assert_eq!(Class::ProxyAuth.name(), "proxy_auth");
    assert_eq!(Class::ProxyAuth.default_action().name(), "stop");
}

#[test]
fn a_redirect_is_rejected_and_named_with_its_location() {
    let moved = DialFailure::Redirect {
        status: 301,
        location: Some("wss://new.test/v2".into()),
    };
    assert_eq!(classify_dial_failure(&moved), Class::Rejected);
    assert_eq!(dial_class(&moved), Class::Rejected);
    assert_eq!(moved.status(), Some(301));
    assert_eq!(moved.retry_after(), None);
    assert_eq!(
        moved.to_string(),
        "the server answered the upgrade with HTTP 301 (Moved Permanently) to Location \
         wss://new.test/v2, a redirect, which is not followed"
    );
    let bare = DialFailure::Redirect {
        status: 399,
        location: None,
    };
    assert_eq!(
        bare.to_string(),
        "the server answered the upgrade with HTTP 399 without a Location, a redirect, which \
         is not followed"
    );
    assert_eq!(dial(&unreachable()).status(), None);
}

/// The fallback does not follow a redirect either: a 3xx stops the client as rejected
/// (ARCHITECTURE.md: a status other than 408, 429 and 5xx means the fallback will not
/// serve this client), and the cause names where it pointed.
#[test]
fn a_fallback_redirect_is_rejected_and_named_with_its_location() {
    let p = policy();
    let moved = FallbackFailure::Redirect {
        status: 302,
        location: Some("https://login.test/sso?<redacted>".into()),
    };
    assert_eq!(classify_fallback_failure(&moved), Class::Rejected);
    assert!(!fallback_retried(&moved));
    assert_eq!(moved.status(), Some(302));
    assert_eq!(moved.retry_after(), None);
    assert_eq!(
        moved.to_string(),
        "the HTTPS fallback answered HTTP 302 (Found) to Location \
         https://login.test/sso?<redacted>, a redirect, which is not followed"
    );
    let d = decide_fallback(
        &moved,
        1,
        &p,
        &mut Backoff::new(p.config().backoff.clone(), 1),
    );
    assert_eq!(
        d,
        FallbackDecision::Stop(FallbackStop::Class(Class::Rejected))
    );
    let bare = FallbackFailure::Redirect {
        status: 399,
        location: None,
    };
    assert_eq!(
        bare.to_string(),
        "the HTTPS fallback answered HTTP 399 without a Location, a redirect, which is not \
         followed"
    );
}

#[test]
fn the_core_stops_on_a_407_and_says_why() {
    use redial::core::{Core, Input, StateName};
    let mut core = Core::new(policy(), 7);
    let t0 = std::time::Instant::now();
    core.handle_input(t0, Input::Start);
    while core.poll_output().is_some() {}
    core.handle_input(t0, Input::DialFailed(dial(&ProxyFailure::Status(407))));
    while core.poll_output().is_some() {}
    assert_eq!(core.state(), StateName::Stopped);
    let cause = core.last_cause().unwrap().to_string();
    assert!(
        cause.contains("the proxy refused its credentials, and no retry can change them"),
        "{cause}"
    );
}
