//! Upgrade-failure classification and `decide`, table-driven from ARCHITECTURE.md's
//! "Default policy" section (upgrade-failure table, budget, delays, overrides).

use std::time::Duration;

use redial::config::{Config, Policy, Strategy, Transport};
use redial::policy::{
    classify_close, classify_dial_failure, classify_status, decide, Action, Backoff, Budget,
    Class, Decision, DelayBasis, DialFailure, DialPhase, Spent, Why,
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
}

fn status(status: u16, retry_after: Option<Duration>) -> DialFailure {
    DialFailure::Status {
        status,
        retry_after,
    }
}

const RA: Duration = Duration::from_secs(7);

/// Every row of the upgrade-failure table, with the class the row implies.
fn table() -> Vec<(&'static str, DialFailure, Class, Expect)> {
    use Expect::*;
    let fb = FallBackElseStop;
    vec![
        ("401", status(401, None), Class::Auth, Reauthenticate),
        ("403", status(403, None), Class::Rejected, fb),
        ("400", status(400, None), Class::Rejected, fb),
        ("404", status(404, None), Class::Rejected, fb),
        ("405", status(405, None), Class::Rejected, fb),
        ("426", status(426, None), Class::Rejected, fb),
        ("429+RA", status(429, Some(RA)), Class::RateLimited, RetryAfter),
        ("429", status(429, None), Class::Overload, Slow),
        ("503+RA", status(503, Some(RA)), Class::RateLimited, RetryAfter),
        ("503", status(503, None), Class::Transient, Backoff),
        ("500", status(500, None), Class::Transient, Backoff),
        ("502", status(502, None), Class::Transient, Backoff),
        ("504", status(504, None), Class::Transient, Backoff),
        ("599", status(599, None), Class::Transient, Backoff),
        ("dns", DialFailure::Dns("nx".into()), Class::Transient, Backoff),
        ("refused", DialFailure::Refused, Class::Transient, Backoff),
        ("reset", DialFailure::Reset, Class::Transient, Backoff),
        (
            "connect timeout",
            DialFailure::Timeout(DialPhase::Connect),
            Class::Transient,
            Backoff,
        ),
        (
            "handshake timeout",
            DialFailure::Timeout(DialPhase::Handshake),
            Class::Transient,
            Backoff,
        ),
        (
            "certificate",
            DialFailure::Certificate("unknown issuer".into()),
            Class::Certificate,
            StopNoFallback,
        ),
        (
            "other tls",
            DialFailure::Tls("alert".into()),
            Class::Transient,
            Backoff,
        ),
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

fn backoff(p: &Policy, seed: u64) -> Backoff {
    Backoff::new(p.config().backoff.clone(), seed)
}

fn first_failure() -> Budget {
    Budget {
        dials: 1,
        ..Budget::default()
    }
}

fn decide_dial(f: &DialFailure, budget: &Budget, p: &Policy, seed: u64) -> Decision {
    let class = classify_dial_failure(f);
    decide(class, None, budget, f.retry_after(), p, &mut backoff(p, seed))
}

fn decide_close(code: Option<u16>, budget: &Budget, p: &Policy, b: &mut Backoff) -> Decision {
    let over = p.override_for(code.unwrap_or(1005));
    decide(classify_close(code), over, budget, None, p, b)
}

#[test]
fn every_row_classifies_as_the_table_says() {
    for (name, failure, class, _) in table() {
        assert_eq!(classify_dial_failure(&failure), class, "{name}");
        if let DialFailure::Status {
            status,
            retry_after,
        } = failure
        {
            assert_eq!(classify_status(status, retry_after.is_some()), class, "{name}");
        }
    }
}

#[test]
fn every_row_decides_as_the_table_says_with_and_without_fallback() {
    let (auto, ws) = (policy(Transport::Auto), policy(Transport::Websocket));
    assert!(auto.fallback_available());
    assert!(!ws.fallback_available());
    // Default backoff: full jitter, base 200 ms, so a first retry waits at most 200 ms.
    let base = ms(200);
    for seed in 0..20 {
        for (name, failure, class, expect) in table() {
            for p in [&auto, &ws] {
                let d = decide_dial(&failure, &first_failure(), p, seed);
                let ctx = format!("{name}, fallback {}: {d:?}", p.fallback_available());
                match expect {
                    Expect::Backoff => assert!(
                        matches!(d, Decision::Retry { delay, basis: DelayBasis::Backoff } if delay <= base),
                        "{ctx}"
                    ),
                    Expect::Slow => assert!(
                        matches!(d, Decision::Retry { delay, .. } if delay >= s(5)),
                        "{ctx}"
                    ),
                    Expect::RetryAfter => assert_eq!(
                        d,
                        Decision::Retry {
                            delay: RA,
                            basis: DelayBasis::RetryAfter {
                                asked: RA,
                                capped: false
                            }
                        },
                        "{ctx}"
                    ),
                    Expect::Reauthenticate => assert_eq!(d, Decision::Reauthenticate, "{ctx}"),
                    Expect::FallBackElseStop if p.fallback_available() => {
                        assert_eq!(d, Decision::FallBack(Why::Class(class)), "{ctx}")
                    }
                    Expect::FallBackElseStop => assert_eq!(
                        d,
                        Decision::Stop {
                            why: Why::Class(class),
                            fallback_unavailable: true
                        },
                        "{ctx}"
                    ),
                    Expect::StopNoFallback => assert_eq!(
                        d,
                        Decision::Stop {
                            why: Why::Class(Class::Certificate),
                            fallback_unavailable: false
                        },
                        "{ctx}"
                    ),
                }
            }
        }
    }
}

#[test]
fn fallback_disabled_stops_like_websocket_only() {
    let p = policy_with(|c| c.fallback.enabled = false);
    assert!(!p.fallback_available());
    let d = decide_dial(&status(426, None), &first_failure(), &p, 1);
    let why = Why::Class(Class::Rejected);
    assert_eq!(
        d,
        Decision::Stop {
            why,
            fallback_unavailable: true
        }
    );
}

#[test]
fn certificate_never_falls_back_even_when_the_budget_is_spent() {
    let cert = DialFailure::Certificate("expired".into());
    for p in [policy(Transport::Auto), policy(Transport::Websocket)] {
        for dials in [1, 5, 100] {
            let budget = Budget {
                dials,
                ..Budget::default()
            };
            let d = decide_dial(&cert, &budget, &p, 3);
            assert!(
                matches!(d, Decision::Stop { fallback_unavailable: false, .. }),
                "{dials}: {d:?}"
            );
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
    let still = Decision::Stop {
        why: Why::StillUnauthorized,
        fallback_unavailable: false,
    };
    for p in [policy(Transport::Auto), policy(Transport::Websocket)] {
        assert_eq!(decide_dial(&status(401, None), &used, &p, 0), still);
        // Close codes 3000 and 3003 are the same auth class.
        for code in [3000, 3003] {
            assert_eq!(decide_close(Some(code), &used, &p, &mut backoff(&p, 0)), still);
        }
    }
}

#[test]
fn reauthentication_respects_the_attempt_budget() {
    let p = policy(Transport::Auto);
    let spent = Budget {
        dials: 5,
        ..Budget::default()
    };
    let want = Decision::FallBack(Why::Spent(Spent::Attempts { dials: 5, max: 5 }));
    assert_eq!(decide_dial(&status(401, None), &spent, &p, 0), want);
}

/// A policy without jitter (delay = base × 2^n), so the backoff is known exactly.
fn no_jitter(base: Duration, max_retry_after: Duration) -> Policy {
    policy_with(|c| {
        c.backoff.strategy = Strategy::None;
        c.backoff.base = base;
        c.delays.max_retry_after = max_retry_after;
    })
}

#[test]
fn retry_after_is_the_larger_of_itself_and_the_backoff_capped_by_max_retry_after() {
    // (base, max_retry_after, backoff steps already taken, Retry-After, delay, basis)
    let ra = |asked, capped| DelayBasis::RetryAfter { asked, capped };
    let cases = [
        (ms(200), s(120), 0, s(7), s(7), ra(s(7), false)),
        (ms(200), s(120), 0, s(300), s(120), ra(s(300), true)),
        (ms(200), s(120), 0, s(120), s(120), ra(s(120), false)),
        (ms(200), s(10), 0, s(11), s(10), ra(s(11), true)),
        (ms(200), s(120), 0, ms(50), ms(200), DelayBasis::Backoff),
        // base 1 s, three steps taken: the backoff is 8 s, larger than Retry-After 5 s.
        (s(1), s(120), 3, s(5), s(8), DelayBasis::Backoff),
        (s(1), s(120), 3, s(9), s(9), ra(s(9), false)),
    ];
    for (base, max_ra, steps, asked, delay, basis) in cases {
        let p = no_jitter(base, max_ra);
        for code in [429, 503] {
            let mut b = backoff(&p, 0);
            for _ in 0..steps {
                b.next_delay();
            }
            let f = status(code, Some(asked));
            let class = classify_dial_failure(&f);
            let d = decide(class, None, &first_failure(), f.retry_after(), &p, &mut b);
            assert_eq!(d, Decision::Retry { delay, basis }, "{code} asked {asked:?}");
        }
    }
}

#[test]
fn overload_1013_waits_at_least_overload_min() {
    for overload_min in [s(5), s(2), ms(300)] {
        let p = policy_with(|c| c.delays.overload_min = overload_min);
        for seed in 0..100 {
            let mut b = backoff(&p, seed);
            for dials in 1..5 {
                let budget = Budget {
                    dials,
                    ..Budget::default()
                };
                match decide_close(Some(1013), &budget, &p, &mut b) {
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
    assert_eq!((p.config().delays.restart_min, p.config().delays.restart_max), (lo, hi));
    let mut seen_distinct = std::collections::BTreeSet::new();
    for seed in 0..200 {
        let d = decide_close(Some(1012), &first_failure(), &p, &mut backoff(&p, seed));
        match d {
            Decision::Retry {
                delay,
                basis: DelayBasis::RestartWindow,
            } => {
                assert!(lo <= delay && delay <= hi, "{delay:?}");
                seen_distinct.insert(delay);
            }
            d => panic!("1012 should retry in the window, got {d:?}"),
        }
    }
    assert!(seen_distinct.len() > 100, "the window is randomized");
}

#[test]
fn attempt_budget_spent_falls_back_or_stops() {
    let spent = Why::Spent(Spent::Attempts { dials: 5, max: 5 });
    let transient = [
        DialFailure::Refused,
        DialFailure::Timeout(DialPhase::Handshake),
        status(502, None),
    ];
    for f in &transient {
        let under = Budget {
            dials: 4,
            ..Budget::default()
        };
        let at = Budget {
            dials: 5,
            ..Budget::default()
        };
        let (auto, ws) = (policy(Transport::Auto), policy(Transport::Websocket));
        assert!(matches!(decide_dial(f, &under, &auto, 0), Decision::Retry { .. }));
        assert_eq!(decide_dial(f, &at, &auto, 0), Decision::FallBack(spent));
        let stop = Decision::Stop {
            why: spent,
            fallback_unavailable: true,
        };
        assert_eq!(decide_dial(f, &at, &ws, 0), stop);
    }
}

#[test]
fn max_elapsed_spent_counts_the_next_delay() {
    let p = policy_with(|c| {
        c.backoff.strategy = Strategy::None; // first delay exactly 200 ms
        c.budget.max_elapsed = Some(s(10));
    });
    let at = |streak| Budget {
        dials: 2,
        streak,
        ..Budget::default()
    };
    let elapsed = |elapsed| Decision::FallBack(Why::Spent(Spent::Elapsed { elapsed, max: s(10) }));
    let d = |streak| decide_dial(&DialFailure::Reset, &at(streak), &p, 0);
    assert!(matches!(d(s(9)), Decision::Retry { delay, .. } if delay == ms(200)));
    assert!(matches!(d(ms(9_800)), Decision::Retry { .. }), "exactly 10 s is allowed");
    assert_eq!(d(ms(9_900)), elapsed(ms(10_100)));
    assert_eq!(d(s(11)), elapsed(s(11)));
}

#[test]
fn policy_and_protocol_closes_fall_back_whatever_the_budget() {
    for code in [1008, 1002, 1015, 999, 5000] {
        let class = classify_close(Some(code));
        for p in [policy(Transport::Auto), policy(Transport::Websocket)] {
            let d = decide_close(Some(code), &first_failure(), &p, &mut backoff(&p, 0));
            let want = if p.fallback_available() {
                Decision::FallBack(Why::Class(class))
            } else {
                Decision::Stop {
                    why: Why::Class(class),
                    fallback_unavailable: true,
                }
            };
            assert_eq!(d, want, "{code}");
        }
    }
}

#[test]
fn normal_close_waits_for_demand_only_when_stable() {
    let p = policy(Transport::Auto);
    let stable = Budget {
        dials: 1,
        was_stable: true,
        ..Budget::default()
    };
    let b = &mut backoff(&p, 0);
    assert_eq!(decide_close(Some(1000), &stable, &p, b), Decision::WaitForDemand);
    let d = decide_close(Some(1000), &first_failure(), &p, b);
    assert!(matches!(d, Decision::Retry { basis: DelayBasis::Backoff, .. }), "{d:?}");
    // Unstable 1000 counts as a failed attempt: it spends the budget like any other.
    let spent = Budget {
        dials: 5,
        ..Budget::default()
    };
    let d = decide_close(Some(1000), &spent, &p, b);
    assert!(matches!(d, Decision::FallBack(Why::Spent(Spent::Attempts { .. }))), "{d:?}");
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
    let d = |code| decide_close(Some(code), &first_failure(), &p, &mut b.clone());
    assert_eq!(d(4050), Decision::FallBack(Why::Override(Action::FallBack)));
    let stop = Decision::Stop {
        why: Why::Override(Action::Stop),
        fallback_unavailable: false,
    };
    assert_eq!(d(4500), stop);
    assert!(matches!(d(4001), Decision::Retry { delay, .. } if delay >= s(5)));
    // 1008 is never retried by default; the override makes it a plain retry.
    assert!(matches!(d(1008), Decision::Retry { basis: DelayBasis::Backoff, .. }));
    // Without an override, application codes retry with backoff.
    assert!(matches!(d(3500), Decision::Retry { basis: DelayBasis::Backoff, .. }));
}

#[test]
fn overrides_still_respect_the_attempt_budget() {
    let p = policy_with(|c| {
        c.close_codes.insert("0-65535".into(), Action::Retry);
    });
    let spent = Budget {
        dials: 5,
        ..Budget::default()
    };
    let d = decide_close(Some(1008), &spent, &p, &mut backoff(&p, 0));
    assert_eq!(d, Decision::FallBack(Why::Spent(Spent::Attempts { dials: 5, max: 5 })));
}
