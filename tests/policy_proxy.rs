//! Proxy failures and redirects, for the WebSocket dial and the fallback alike,
//! table-driven from docs/design.md's "Networks" and issues 14 and
//! 23: an unreachable proxy and its 5xx retry, its 407 stops (credentials) and so does
//! its 401 (tinyproxy's answer to wrong credentials), its 403 falls back (dial) or
//! stops (fallback); a proxy's reason phrase is quoted as sent, and its refusal is never
//! read as the server not offering WebSockets; a redirect is not followed and its cause
//! names the status and the `Location`. Each row states its rule afresh.

use std::time::Duration;

use redial::config::{Config, Policy};
use redial::policy::{
    classify_proxy_failure, classify_reach_failure, decide_fallback, Backoff, Class,
    FallbackDecision, FallbackError, FallbackStop, ProxyFailure, ReachFailure, SocksFailure,
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
    use ProxyFailure::Malformed;
    let status = ProxyFailure::status;
    vec![
        (unreachable(), Transient, true),
        (Malformed("HTTP/9".into()), Transient, true),
        (status(407), ProxyAuth, false),
        (status(401), ProxyAuth, false),
        (status(403), Rejected, false),
        (status(400), Rejected, false),
        (status(404), Rejected, false),
        (status(406), Rejected, false),
        (status(409), Rejected, false),
        (status(428), Rejected, false),
        (status(430), Rejected, false),
        (status(499), Rejected, false),
        (status(600), Rejected, false),
        (status(300), Rejected, false),
        (status(408), Transient, true),
        (status(429), Transient, true),
        (status(500), Transient, true),
        (status(502), Transient, true),
        (status(503), Transient, true),
        (status(504), Transient, true),
        (status(599), Transient, true),
    ]
    .into_iter()
    .chain(socks_table())
    .collect()
}

/// A SOCKS5 proxy's failures (RFC 1928 replies, RFC 1929 authentication): (failure,
/// class, whether the fallback retries it).
fn socks_table() -> Vec<(ProxyFailure, Class, bool)> {
    use Class::{ProxyAuth, ProxyUnsupported, Rejected, Transient};
    let reply = |reply: u8| {
        ProxyFailure::Socks(SocksFailure::Reply {
            reply,
            target: "example.test:443".into(),
        })
    };
    let mut rows = vec![
        (reply(2), Rejected, false),
        (reply(7), ProxyUnsupported, false),
        (reply(8), ProxyUnsupported, false),
        (
            ProxyFailure::Socks(SocksFailure::Malformed("version 4".into())),
            Transient,
            true,
        ),
        (
            ProxyFailure::Socks(SocksFailure::AuthFailed { status: 1 }),
            ProxyAuth,
            false,
        ),
        (
            ProxyFailure::Socks(SocksFailure::NoAcceptableMethod {
                offered_password: true,
            }),
            ProxyAuth,
            false,
        ),
        (
            ProxyFailure::Socks(SocksFailure::CredentialsTooLong),
            ProxyAuth,
            false,
        ),
    ];
    // General failure, network and host unreachable, refused, TTL expired, and codes
    // RFC 1928 does not assign: transient.
    rows.extend([1, 3, 4, 5, 6, 9, 0x80, 0xff].map(|r| (reply(r), Transient, true)));
    rows
}

fn dial(failure: &ProxyFailure) -> ReachFailure {
    ReachFailure::Proxy {
        proxy: "proxy.test:3128".into(),
        failure: Box::new(failure.clone()),
    }
}

fn fallback(failure: &ProxyFailure) -> FallbackError {
    FallbackError::Reach(ReachFailure::Proxy {
        proxy: "proxy.test:3128".into(),
        failure: Box::new(failure.clone()),
    })
}

#[test]
fn every_proxy_failure_has_its_class_on_both_transports() {
    for (failure, class, _) in table() {
        assert_eq!(classify_proxy_failure(&failure), class, "{failure:?}");
        assert_eq!(
            classify_reach_failure(&dial(&failure)),
            class,
            "{failure:?}"
        );
        assert_eq!(fallback(&failure).class(), class, "{failure:?}");
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
        let mut backoff = Backoff::new(p.config().backoff.clone(), 1);
        let d = decide_fallback(f.class(), f.retry_after(), 1, &p, &mut backoff);
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
        said(&ProxyFailure::status(407)),
        "the proxy proxy.test:3128 answered the CONNECT with HTTP 407 (Proxy Authentication \
         Required): check the user and password in the proxy URL"
    );
    assert_eq!(
        said(&ProxyFailure::status(403)),
        "the proxy proxy.test:3128 answered the CONNECT with HTTP 403 (Forbidden): the proxy \
         does not allow this destination"
    );
    assert_eq!(
        said(&ProxyFailure::status(502)),
        "the proxy proxy.test:3128 answered the CONNECT with HTTP 502 (Bad Gateway)"
    );
    assert_eq!(
        said(&ProxyFailure::status(599)),
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
        fallback(&ProxyFailure::status(407)).as_cause().to_string(),
        "the HTTPS fallback went through the proxy proxy.test:3128, which answered the CONNECT \
         with HTTP 407 (Proxy Authentication Required): check the user and password in the \
         proxy URL"
    );
    assert_eq!(Class::ProxyAuth.name(), "proxy_auth");
    assert_eq!(Class::ProxyAuth.default_action().name(), "stop");
}

#[test]
fn a_redirect_is_rejected_and_named_with_its_location() {
    let moved = ReachFailure::Redirect {
        status: 301,
        location: Some("wss://new.test/v2".into()),
    };
    assert_eq!(classify_reach_failure(&moved), Class::Rejected);
    assert_eq!(dial_class(&moved), Class::Rejected);
    assert_eq!(moved.status(), Some(301));
    assert_eq!(moved.retry_after(), None);
    assert_eq!(
        moved.to_string(),
        "the server answered the upgrade with HTTP 301 (Moved Permanently) to Location \
         wss://new.test/v2, a redirect, which is not followed"
    );
    let bare = ReachFailure::Redirect {
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
/// (docs/design.md: a status other than 408, 429 and 5xx means the fallback will not
/// serve this client), and the cause names where it pointed.
#[test]
fn a_fallback_redirect_is_rejected_and_named_with_its_location() {
    let p = policy();
    let moved = FallbackError::Reach(ReachFailure::Redirect {
        status: 302,
        location: Some("https://login.test/sso?<redacted>".into()),
    });
    assert_eq!(moved.class(), Class::Rejected);
    assert!(!fallback_retried(&moved));
    assert_eq!(moved.status(), Some(302));
    assert_eq!(moved.retry_after(), None);
    assert_eq!(
        moved.as_cause().to_string(),
        "the HTTPS fallback answered HTTP 302 (Found) to Location \
         https://login.test/sso?<redacted>, a redirect, which is not followed"
    );
    let d = decide_fallback(
        moved.class(),
        moved.retry_after(),
        1,
        &p,
        &mut Backoff::new(p.config().backoff.clone(), 1),
    );
    assert_eq!(
        d,
        FallbackDecision::Stop(FallbackStop::Class(Class::Rejected))
    );
    let bare = FallbackError::Reach(ReachFailure::Redirect {
        status: 399,
        location: None,
    });
    assert_eq!(
        bare.as_cause().to_string(),
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
    core.handle_input(t0, Input::DialFailed(dial(&ProxyFailure::status(407))));
    while core.poll_output().is_some() {}
    assert_eq!(core.state(), StateName::Stopped);
    let cause = core.last_cause().unwrap().to_string();
    assert!(
        cause.contains("the proxy refused its credentials, and no retry can change them"),
        "{cause}"
    );
}

/// A core fed one dial failure: the cause of what followed.
fn cause_after(failure: ReachFailure, transport: redial::config::Transport) -> (String, String) {
    use redial::core::{Core, Input};
    let c = Config {
        transport,
        ..Config::default()
    };
    let mut core = Core::new(c.validate().expect("a valid config"), 7);
    let t0 = std::time::Instant::now();
    core.handle_input(t0, Input::Start);
    while core.poll_output().is_some() {}
    core.handle_input(t0, Input::DialFailed(failure));
    while core.poll_output().is_some() {}
    (
        core.state().to_string(),
        core.last_cause().expect("a cause").to_string(),
    )
}

/// Issue 23: tinyproxy answers wrong credentials with 401, not 407. Its 401 is the
/// proxy's credentials too: the same class, decision and advice as 407.
#[test]
fn a_proxys_401_is_its_credentials_like_407() {
    for status in [401, 407] {
        let failure = ProxyFailure::status(status);
        assert_eq!(
            classify_proxy_failure(&failure),
            Class::ProxyAuth,
            "{status}"
        );
        assert_eq!(dial_class(&dial(&failure)), Class::ProxyAuth, "{status}");
        assert!(!fallback_retried(&fallback(&failure)), "{status}");
        assert!(
            dial(&failure)
                .to_string()
                .ends_with(": check the user and password in the proxy URL"),
            "{status}: {}",
            dial(&failure)
        );
        for transport in [
            redial::config::Transport::Auto,
            redial::config::Transport::Websocket,
        ] {
            let (state, cause) = cause_after(dial(&failure), transport);
            assert_eq!(state, "stopped", "{status} {transport:?}: {cause}");
            assert!(
                cause.contains("the proxy refused its credentials, and no retry can change them"),
                "{status} {transport:?}: {cause}"
            );
        }
    }
    let p = policy();
    let refused = fallback(&ProxyFailure::status(401));
    let d = decide_fallback(
        refused.class(),
        refused.retry_after(),
        1,
        &p,
        &mut Backoff::new(p.config().backoff.clone(), 1),
    );
    assert_eq!(
        d,
        FallbackDecision::Stop(FallbackStop::Class(Class::ProxyAuth))
    );
}

/// Issue 23: "the server does not offer WebSockets at this URL" explains the server's
/// answer to the upgrade. A proxy that refuses the tunnel (403, 400, 405, 401) has said
/// nothing about the server: its causes never say so, falling back or stopping.
#[test]
fn a_proxys_refusal_never_reads_as_the_server_not_offering_websockets() {
    for status in [401, 403, 400, 405, 404] {
        for transport in [
            redial::config::Transport::Auto,
            redial::config::Transport::Websocket,
        ] {
            let (state, cause) = cause_after(dial(&ProxyFailure::status(status)), transport);
            assert!(
                !cause.contains("offer WebSockets"),
                "{status} {transport:?}: {cause}"
            );
            assert!(cause.contains("the proxy"), "{cause}");
            if status != 401 {
                assert!(
                    cause.contains(
                        "the proxy refused the tunnel, and retrying through it will not change that"
                    ),
                    "{status} {transport:?}: {cause}"
                );
                let want = match transport {
                    redial::config::Transport::Auto => "fell_back",
                    _ => "stopped",
                };
                assert_eq!(state, want, "{status} {transport:?}: {cause}");
            }
        }
    }
    // The server's own 403 to the upgrade still reads as WebSockets not offered here.
    let (_, cause) = cause_after(
        ReachFailure::Status {
            status: 403,
            retry_after: None,
        },
        redial::config::Transport::Auto,
    );
    assert!(
        cause.contains("the server does not offer WebSockets at this URL"),
        "{cause}"
    );
}

/// Issue 23: a proxy's reason phrase is quoted as the proxy sent it ("500 Unable to
/// connect" is tinyproxy's), never replaced by the status's standard phrase; without
/// one, the standard phrase names the status.
#[test]
fn a_proxys_reason_is_quoted_as_sent() {
    let said = |status: u16, reason: Option<&str>| {
        dial(&ProxyFailure::Status {
            status,
            reason: reason.map(String::from),
        })
        .to_string()
    };
    assert_eq!(
        said(500, Some("Unable to connect")),
        "the proxy proxy.test:3128 answered the CONNECT with HTTP 500 \"Unable to connect\""
    );
    assert_eq!(
        said(403, Some("Filtered")),
        "the proxy proxy.test:3128 answered the CONNECT with HTTP 403 \"Filtered\": the proxy \
         does not allow this destination"
    );
    assert_eq!(
        said(401, Some("Unauthorized")),
        "the proxy proxy.test:3128 answered the CONNECT with HTTP 401 \"Unauthorized\": check \
         the user and password in the proxy URL"
    );
    assert_eq!(
        said(500, None),
        "the proxy proxy.test:3128 answered the CONNECT with HTTP 500 (Internal Server Error)"
    );
    assert_eq!(
        said(500, Some("  ")),
        said(500, None),
        "a blank reason is none"
    );
    assert_eq!(
        said(502, Some("say \"hi\"")),
        "the proxy proxy.test:3128 answered the CONNECT with HTTP 502 \"say \\\"hi\\\"\"",
        "quotes in the reason are escaped"
    );
    assert_eq!(
        fallback(&ProxyFailure::Status {
            status: 500,
            reason: Some("Unable to connect".into()),
        })
        .as_cause()
        .to_string(),
        "the HTTPS fallback went through the proxy proxy.test:3128, which answered the CONNECT \
         with HTTP 500 \"Unable to connect\""
    );
}
