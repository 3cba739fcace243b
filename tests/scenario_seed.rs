//! The mission: 101, then 1008 with an empty reason. One dial and a fallback under the
//! default policy; six dials and ≈6.2 s of backoff under codex-compat.

mod support;

use std::time::Duration;

use redial::core::Event;
use redial::core::StateName;
use redial::sim::Scenario;
use support::{dial_times, json_lines, retry_delays};

#[test]
fn default_policy_dials_once_then_falls_back_naming_1008() {
    for seed in 0..20 {
        let sim = Scenario::Seed.run(seed);
        assert_eq!(dial_times(&sim), [Duration::ZERO], "seed {seed}");
        assert!(retry_delays(&sim).is_empty());
        assert_eq!(sim.core().state(), StateName::FellBack);
        let cause = sim.core().last_cause().unwrap().to_string();
        assert!(cause.contains("1008 (policy violation)"), "{cause}");
        assert!(cause.contains("empty reason"), "{cause}");
        assert!(cause.contains("3 ms after the upgrade"), "{cause}");
        assert!(cause.contains("before any server message"), "{cause}");
        assert!(!cause.contains("normal"), "{cause}");
    }
}

#[test]
fn default_policy_json_lines_show_one_dial_and_a_fell_back_with_code_1008() {
    let lines = json_lines(&Scenario::Seed.run(3));
    let dials: Vec<_> = lines.iter().filter(|l| l["event"] == "dial").collect();
    assert_eq!(dials.len(), 1);
    let fell: Vec<_> = lines.iter().filter(|l| l["event"] == "fell_back").collect();
    assert_eq!(fell.len(), 1);
    assert_eq!(fell[0]["code"], 1008);
    assert_eq!(fell[0]["class"], "policy");
    assert_eq!(fell[0]["transport"], "https");
    assert_eq!(fell[0]["reason"], "");
    assert!(fell[0]["t_ms"].as_u64().unwrap() < 50);
}

#[test]
fn codex_compat_dials_six_times_with_about_six_seconds_of_backoff() {
    for seed in 0..20 {
        let sim = Scenario::SeedCodex.run(seed);
        assert_eq!(dial_times(&sim).len(), 6, "seed {seed}");
        let delays = retry_delays(&sim);
        assert_eq!(delays.len(), 5);
        // 200 ms × 2 with ±10 % jitter and no cap: 200, 400, 800, 1600, 3200 ms.
        for (i, d) in delays.iter().enumerate() {
            let envelope = 200.0 * 2f64.powi(i as i32);
            let ms = d.as_secs_f64() * 1000.0;
            assert!((envelope * 0.9..=envelope * 1.1).contains(&ms), "{i}: {ms}");
        }
        let total: Duration = delays.iter().sum();
        assert!(
            (5.58..=6.82).contains(&total.as_secs_f64()),
            "total backoff {total:?}"
        );
        assert_eq!(sim.core().state(), StateName::FellBack);
        let fell_back = sim
            .events()
            .find_map(|(t, e)| matches!(e, Event::FellBack { .. }).then_some(t))
            .unwrap();
        assert!(fell_back >= total, "fell back at {fell_back:?}");
        let cause = sim.core().last_cause().unwrap().to_string();
        assert!(cause.contains("1008 (policy violation)"), "{cause}");
        assert!(cause.contains("6 of 6 dials failed"), "{cause}");
    }
}

#[test]
fn default_is_far_faster_to_fall_back_than_codex_compat() {
    let at = |s: Scenario| {
        s.run(9)
            .events()
            .find_map(|(t, e)| matches!(e, Event::FellBack { .. }).then_some(t))
            .unwrap()
    };
    let (fast, slow) = (at(Scenario::Seed), at(Scenario::SeedCodex));
    assert!(fast * 100 < slow, "{fast:?} vs {slow:?}");
}
