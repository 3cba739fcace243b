//! Upgrade-failure classification and `decide`, table-driven from docs/design.md's
//! "Default policy" section (upgrade-failure table, budget, delays, overrides).

use std::time::Duration;

use redial::config::{Action, Spent};
use redial::config::{Config, Policy, Strategy, Transport};
use redial::policy::{
    classify_close, classify_reach_failure, classify_status, decide, Backoff, Budget, Class,
    Decision, DelayBasis, Phase, ProxyFailure, ReachFailure as F, Why,
};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn s(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// What the upgrade-failure table says should follow.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// Retry with backoff.
    Backoff,
    /// Retry with at least the overload minimum (429 without `Retry-After`).
    Slow,
    /// Wait `max(Retry-After, backoff)`.
    RetryAfter,
    /// Fall back at once, else stop.
    FallBackElseStop,
    /// Re-authenticate, retry once.
    Reauthenticate,
    /// Stop, never fall back.
    StopNoFallback,
    /// Stop: the proxy refused its credentials (407, or 401 as tinyproxy answers); no
    /// retry, no fallback through it.
    StopProxyCredentials,
}

fn status(status: u16, retry_after: Option<Duration>) -> F {
    F::Status {
        status,
        retry_after,
    }
}

const RA: Duration = Duration::from_secs(7);

fn proxy(failure: ProxyFailure) -> F {
    F::Proxy {
        proxy: "proxy.test:3128".into(),
        failure: Box::new(failure),
    }
}

fn redirect(status: u16, location: Option<&str>) -> F {
    F::Redirect {
        status,
        location: location.map(String::from),
    }
}

/// Every row of the upgrade-failure table, with the class the row implies.
fn table() -> Vec<(&'static str, F, Class, Expect)> {
    use Class::{Auth, Certificate, Overload, ProxyAuth, RateLimited, Rejected, Transient};
    use Expect::*;
    use Phase::{Connect, Handshake};
    use ProxyFailure::{Malformed, Unreachable};
    let answered = ProxyFailure::status;
    let (fb, retry) = (FallBackElseStop, Backoff);
    let cert = F::Certificate("expired".into());
    vec![
        ("401", status(401, None), Auth, Reauthenticate),
        ("403", status(403, None), Rejected, fb),
        ("400", status(400, None), Rejected, fb),
        ("404", status(404, None), Rejected, fb),
        ("405", status(405, None), Rejected, fb),
        ("426", status(426, None), Rejected, fb),
        ("429+RA", status(429, Some(RA)), RateLimited, RetryAfter),
        ("429", status(429, None), Overload, Slow),
        ("503+RA", status(503, Some(RA)), RateLimited, RetryAfter),
        ("503", status(503, None), Transient, retry),
        ("500", status(500, None), Transient, retry),
        ("502", status(502, None), Transient, retry),
        ("504", status(504, None), Transient, retry),
        ("599", status(599, None), Transient, retry),
        ("dns", F::Dns("nx".into()), Transient, retry),
        ("refused", F::Refused, Transient, retry),
        ("reset", F::Reset, Transient, retry),
        ("connect t/o", F::Timeout(Connect), Transient, retry),
        ("handshake t/o", F::Timeout(Handshake), Transient, retry),
        ("certificate", cert, Certificate, StopNoFallback),
        ("other tls", F::Tls("alert".into()), Transient, retry),
        // Redirects are not followed: WebSockets are not offered at this URL.
        ("301", redirect(301, Some("wss://new.test/")), Rejected, fb),
        ("302", redirect(302, Some("/elsewhere")), Rejected, fb),
        ("307", redirect(307, None), Rejected, fb),
        ("308", redirect(308, None), Rejected, fb),
        // The proxy: unreachable or its 5xx (it cannot reach the server) retry; 407 and
        // 401 stop (its credentials); 403 and other refusals mean the destination is not
        // offered.
        (
            "proxy refused",
            proxy(Unreachable("refused".into())),
            Transient,
            retry,
        ),
        (
            "proxy garbled",
            proxy(Malformed("not HTTP".into())),
            Transient,
            retry,
        ),
        (
            "proxy 407",
            proxy(answered(407)),
            ProxyAuth,
            StopProxyCredentials,
        ),
        // tinyproxy answers wrong credentials with 401: the same stop as 407.
        (
            "proxy 401",
            proxy(answered(401)),
            ProxyAuth,
            StopProxyCredentials,
        ),
        ("proxy 403", proxy(answered(403)), Rejected, fb),
        ("proxy 400", proxy(answered(400)), Rejected, fb),
        ("proxy 405", proxy(answered(405)), Rejected, fb),
        ("proxy 408", proxy(answered(408)), Transient, retry),
        ("proxy 429", proxy(answered(429)), Transient, retry),
        ("proxy 500", proxy(answered(500)), Transient, retry),
        ("proxy 502", proxy(answered(502)), Transient, retry),
        ("proxy 503", proxy(answered(503)), Transient, retry),
        ("proxy 504", proxy(answered(504)), Transient, retry),
        ("proxy 599", proxy(answered(599)), Transient, retry),
    ]
}

fn policy_with(edit: impl FnOnce(&mut Config)) -> Policy {
    let mut c = Config::default();
    edit(&mut c);
    c.validate().expect("valid test config")
}

fn policy(transport: Transport) -> Policy {
    policy_with(|c| c.transport = transport)
}

/// With a fallback (`auto`) and without (`websocket`).
fn both() -> [Policy; 2] {
    [policy(Transport::Auto), policy(Transport::Websocket)]
}

fn backoff(p: &Policy, seed: u64) -> Backoff {
    Backoff::new(p.config().backoff.clone(), seed)
}

fn dials(n: u32) -> Budget {
    Budget {
        dials: n,
        ..Budget::default()
    }
}

fn stop(why: Why, fallback_unavailable: bool) -> Decision {
    Decision::Stop {
        why,
        fallback_unavailable,
    }
}

/// Fall back when the policy has a fallback, else stop saying so.
fn fall_back_else_stop(p: &Policy, why: Why) -> Decision {
    if p.fallback_available() {
        Decision::FallBack(why)
    } else {
        stop(why, true)
    }
}

fn attempts_spent(n: u32) -> Why {
    Why::Spent(Spent::Attempts { dials: n, max: n })
}

fn ra(asked: Duration, capped: bool) -> DelayBasis {
    DelayBasis::RetryAfter { asked, capped }
}

fn decide_dial(f: &F, budget: &Budget, p: &Policy, seed: u64) -> Decision {
    let (class, mut b) = (classify_reach_failure(f), backoff(p, seed));
    decide(class, None, budget, f.retry_after(), p, &mut b)
}

fn decide_close(code: Option<u16>, budget: &Budget, p: &Policy, b: &mut Backoff) -> Decision {
    let over = p.override_for(code.unwrap_or(1005));
    decide(classify_close(code), over, budget, None, p, b)
}

fn is_backoff_retry(d: Decision) -> bool {
    matches!(
        d,
        Decision::Retry {
            basis: DelayBasis::Backoff,
            ..
        }
    )
}

#[test]
fn every_row_classifies_as_the_table_says() {
    for (name, failure, class, _) in table() {
        assert_eq!(classify_reach_failure(&failure), class, "{name}");
        if let F::Status {
            status,
            retry_after,
        } = failure
        {
            let got = classify_status(status, retry_after.is_some());
            assert_eq!(got, class, "{name}");
        }
    }
}

#[test]
fn every_row_decides_as_the_table_says_with_and_without_fallback() {
    let [auto, ws] = both();
    assert!(auto.fallback_available() && !ws.fallback_available());
    // Default backoff: full jitter, base 200 ms, so a first retry waits at most 200 ms.
    for seed in 0..20 {
        for (name, failure, class, expect) in table() {
            for p in [&auto, &ws] {
                let d = decide_dial(&failure, &dials(1), p, seed);
                let ctx = format!("{name}, fallback {}: {d:?}", p.fallback_available());
                let ok = match expect {
                    Expect::Backoff => {
                        is_backoff_retry(d)
                            && matches!(d, Decision::Retry { delay, .. } if delay <= ms(200))
                    }
                    Expect::Slow => matches!(d, Decision::Retry { delay, .. } if delay >= s(5)),
                    Expect::RetryAfter => {
                        d == Decision::Retry {
                            delay: RA,
                            basis: ra(RA, false),
                        }
                    }
                    Expect::Reauthenticate => d == Decision::Reauthenticate,
                    Expect::FallBackElseStop => d == fall_back_else_stop(p, Why::Class(class)),
                    Expect::StopNoFallback => d == stop(Why::Class(Class::Certificate), false),
                    Expect::StopProxyCredentials => d == stop(Why::Class(Class::ProxyAuth), false),
                };
                assert!(ok, "{ctx}");
            }
        }
    }
}

#[test]
fn fallback_disabled_stops_like_websocket_only() {
    let p = policy_with(|c| c.fallback.enabled = false);
    assert!(!p.fallback_available());
    let d = decide_dial(&status(426, None), &dials(1), &p, 1);
    assert_eq!(d, stop(Why::Class(Class::Rejected), true));
}

#[test]
fn certificate_never_falls_back_even_when_the_budget_is_spent() {
    let cert = F::Certificate("wrong name".into());
    for p in both() {
        for n in [1, 5, 100] {
            let d = decide_dial(&cert, &dials(n), &p, 3);
            assert_eq!(d, stop(Why::Class(Class::Certificate), false), "{n}");
        }
    }
}

#[test]
fn a_second_401_stops_still_unauthorized() {
    let used = Budget {
        dials: 2,
        reauth_used: true,
        ..Budget::default()
    };
    let still = stop(Why::StillUnauthorized, false);
    for p in both() {
        assert_eq!(decide_dial(&status(401, None), &used, &p, 0), still);
        // Close codes 3000 and 3003 are the same auth class.
        for code in [3000, 3003] {
            let b = &mut backoff(&p, 0);
            assert_eq!(
                decide_close(Some(code), &dials(1), &p, b),
                Decision::Reauthenticate
            );
            assert_eq!(decide_close(Some(code), &used, &p, b), still);
        }
    }
}

#[test]
fn reauthentication_respects_the_attempt_budget() {
    for p in both() {
        let d = decide_dial(&status(401, None), &dials(5), &p, 0);
        assert_eq!(d, fall_back_else_stop(&p, attempts_spent(5)));
    }
}

#[test]
fn retry_after_is_the_larger_of_itself_and_the_backoff_capped_by_max_retry_after() {
    // (base, max_retry_after, backoff steps already taken, Retry-After, delay, basis)
    let (base, max) = (ms(200), s(120));
    let cases = [
        (base, max, 0, s(7), s(7), ra(s(7), false)),
        (base, max, 0, s(300), max, ra(s(300), true)),
        (base, max, 0, max, max, ra(max, false)),
        (base, s(10), 0, s(11), s(10), ra(s(11), true)),
        (base, max, 0, ms(50), base, DelayBasis::Backoff),
        // base 1 s, three steps taken: the backoff is 8 s, larger than Retry-After 5 s.
        (s(1), max, 3, s(5), s(8), DelayBasis::Backoff),
        (s(1), max, 3, s(9), s(9), ra(s(9), false)),
    ];
    for (base, max_ra, steps, asked, delay, basis) in cases {
        // No jitter: the backoff is exactly base × 2^steps.
        let p = policy_with(|c| {
            c.backoff.strategy = Strategy::None;
            c.backoff.base = base;
            c.delays.max_retry_after = max_ra;
        });
        for code in [429, 503] {
            let mut b = backoff(&p, 0);
            for _ in 0..steps {
                b.next_delay();
            }
            let f = status(code, Some(asked));
            let class = classify_reach_failure(&f);
            let d = decide(class, None, &dials(1), f.retry_after(), &p, &mut b);
            let want = Decision::Retry { delay, basis };
            assert_eq!(d, want, "{code} asked {asked:?}");
        }
    }
}

#[test]
fn overload_1013_waits_at_least_overload_min() {
    for overload_min in [s(5), s(2), ms(300)] {
        let p = policy_with(|c| c.delays.overload_min = overload_min);
        for seed in 0..100 {
            let mut b = backoff(&p, seed);
            for n in 1..5 {
                match decide_close(Some(1013), &dials(n), &p, &mut b) {
                    Decision::Retry { delay, .. } => assert!(delay >= overload_min, "{delay:?}"),
                    d => panic!("1013 should retry, got {d:?}"),
                }
            }
        }
    }
}

#[test]
fn restart_1012_waits_within_the_restart_window() {
    let (lo, hi) = (s(1), s(5));
    let p = policy(Transport::Auto);
    let delays = &p.config().delays;
    assert_eq!((delays.restart_min, delays.restart_max), (lo, hi));
    let mut seen = std::collections::BTreeSet::new();
    for seed in 0..200 {
        match decide_close(Some(1012), &dials(1), &p, &mut backoff(&p, seed)) {
            Decision::Retry {
                delay,
                basis: DelayBasis::RestartWindow,
            } => {
                assert!(lo <= delay && delay <= hi, "{delay:?}");
                seen.insert(delay);
            }
            d => panic!("1012 should retry in the window, got {d:?}"),
        }
    }
    assert!(seen.len() > 100, "the window is randomized");
}

#[test]
fn attempt_budget_spent_falls_back_or_stops() {
    for f in &[F::Refused, F::Timeout(Phase::Handshake), status(502, None)] {
        for p in both() {
            assert!(is_backoff_retry(decide_dial(f, &dials(4), &p, 0)), "{f}");
            let want = fall_back_else_stop(&p, attempts_spent(5));
            assert_eq!(decide_dial(f, &dials(5), &p, 0), want, "{f}");
        }
    }
}

#[test]
fn max_elapsed_spent_counts_the_next_delay() {
    let p = policy_with(|c| {
        c.backoff.strategy = Strategy::None; // first delay exactly 200 ms
        c.budget.max_elapsed = Some(s(10));
    });
    let elapsed = |elapsed| {
        Decision::FallBack(Why::Spent(Spent::Elapsed {
            elapsed,
            max: s(10),
        }))
    };
    let d = |streak| {
        let budget = Budget { streak, ..dials(2) };
        decide_dial(&F::Reset, &budget, &p, 0)
    };
    assert!(matches!(d(s(9)), Decision::Retry { delay, .. } if delay == ms(200)));
    assert!(
        matches!(d(ms(9_800)), Decision::Retry { .. }),
        "exactly 10 s is allowed"
    );
    assert_eq!(d(ms(9_900)), elapsed(ms(10_100)));
    assert_eq!(d(s(11)), elapsed(s(11)));
}

#[test]
fn policy_and_protocol_closes_fall_back_whatever_the_budget() {
    for code in [1008, 1002, 1015, 999, 5000] {
        let why = Why::Class(classify_close(Some(code)));
        for p in both() {
            for n in [1, 3] {
                let d = decide_close(Some(code), &dials(n), &p, &mut backoff(&p, 0));
                assert_eq!(d, fall_back_else_stop(&p, why), "{code}");
            }
        }
    }
}

#[test]
fn normal_close_waits_for_demand_only_when_stable() {
    let p = policy(Transport::Auto);
    let stable = Budget {
        was_stable: true,
        ..dials(1)
    };
    let b = &mut backoff(&p, 0);
    assert_eq!(
        decide_close(Some(1000), &stable, &p, b),
        Decision::WaitForDemand
    );
    assert!(is_backoff_retry(decide_close(Some(1000), &dials(1), &p, b)));
    // Unstable 1000 counts as a failed attempt: it spends the budget like any other.
    let d = decide_close(Some(1000), &dials(5), &p, b);
    assert_eq!(d, Decision::FallBack(attempts_spent(5)));
}

#[test]
fn close_code_overrides_change_the_action_narrowest_range_wins() {
    let p = policy_with(|c| {
        for (key, action) in [
            ("4000-4999", Action::Stop),
            ("4000-4099", Action::FallBack),
            ("4001", Action::RetrySlow),
            ("1008", Action::Retry),
        ] {
            c.close_codes.insert(key.to_string(), action);
        }
    });
    let cases = [
        (4001, Some(Action::RetrySlow)),
        (4000, Some(Action::FallBack)),
        (4099, Some(Action::FallBack)),
        (4100, Some(Action::Stop)),
        (4999, Some(Action::Stop)),
        (3999, None),
        (5000, None),
        (1008, Some(Action::Retry)),
    ];
    for (code, want) in cases {
        assert_eq!(p.override_for(code), want, "{code}");
    }
    let b = backoff(&p, 0);
    let d = |code| decide_close(Some(code), &dials(1), &p, &mut b.clone());
    assert_eq!(d(4050), Decision::FallBack(Why::Override(Action::FallBack)));
    assert_eq!(d(4500), stop(Why::Override(Action::Stop), false));
    assert!(matches!(d(4001), Decision::Retry { delay, .. } if delay >= s(5)));
    // 1008 is never retried by default; the override makes it a plain retry.
    assert!(is_backoff_retry(d(1008)));
    // Without an override, application codes retry with backoff.
    assert!(is_backoff_retry(d(3500)));
}

#[test]
fn overrides_still_respect_the_attempt_budget() {
    let p = policy_with(|c| {
        c.close_codes.insert("0-65535".into(), Action::Retry);
    });
    let d = decide_close(Some(1008), &dials(5), &p, &mut backoff(&p, 0));
    assert_eq!(d, Decision::FallBack(attempts_spent(5)));
}
