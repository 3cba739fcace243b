//! `redial demo [SCENARIO]`: a server that accepts the upgrade and closes with 1008, and
//! other misbehaving servers, played through the
//! real driver against loopback servers, then a summary table.

use redial::policy::fmt_duration;
use redial_testkit::TestCert;

use crate::demo_run::{play, Report};
use crate::demo_scenarios::Scenario;
use crate::exit::{self, CliError};
use crate::output::{bad, good, heading};
use crate::term::{self, Stream};

/// Play the policy close (101, then 1008) under `default` and `codex-compat` side
/// by side, then a service restart, a 429 with Retry-After, a return from the
/// fallback, both transports behind a proxy, and acknowledged delivery across a reset
/// ("10 sent, 10 resent, 0 lost"), through the real driver against loopback servers;
/// then a summary.
///
/// Times (`t_ms` with --json) count from the start of each scenario; with --json every
/// line also has `scenario` and `preset`, and each scenario ends with a `diagnosis`
/// line. Exit 0 when every scenario ended as expected, 1 otherwise.
#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Play only this scenario.
    #[arg(value_enum)]
    scenario: Option<Scenario>,
}

/// The width of the scenario label in timeline lines.
const LABEL: usize = 14;

/// Runs the demo; exit 0 when every scenario ended as expected.
pub async fn run(args: DemoArgs, json: bool) -> Result<u8, CliError> {
    let cert = TestCert::localhost();
    let say = |text: &str| {
        if !json {
            term::line(Stream::Stdout, text);
        }
    };
    let label = |s: Scenario| format!("{:<LABEL$}", s.name());
    say(&format!(
        "{h}redial demo{h:#}: loopback servers on 127.0.0.1 (WebSocket, and HTTPS+SSE with a \
         certificate made just now); every scenario sends through the real driver.",
        h = heading()
    ));
    let mut reports = Vec::new();
    let scenarios: Vec<Scenario> = match args.scenario {
        Some(one) => vec![one],
        None => {
            say("");
            header(
                json,
                Scenario::PolicyClose,
                "both presets at once, side by side",
            );
            let (a, b) = futures_lite::future::zip(
                play(
                    Scenario::PolicyClose,
                    &cert,
                    json,
                    label(Scenario::PolicyClose),
                ),
                play(
                    Scenario::PolicyCloseOldClient,
                    &cert,
                    json,
                    label(Scenario::PolicyCloseOldClient),
                ),
            )
            .await;
            let (a, b) = (a?, b?);
            if !json {
                side_by_side(&a, &b);
            }
            reports.extend([a, b]);
            Scenario::ALL[2..].to_vec()
        }
    };
    for scenario in scenarios {
        say("");
        header(json, scenario, scenario.preset().name());
        reports.push(play(scenario, &cert, json, label(scenario)).await?);
    }
    if !json {
        summary(&reports);
    }
    let all_ok = reports.iter().all(Report::ok);
    if !all_ok {
        let failed: Vec<&str> = reports
            .iter()
            .filter(|r| !r.ok())
            .map(|r| r.scenario.name())
            .collect();
        term::line(
            Stream::Stderr,
            &format!(
                "redial: demo scenario(s) did not end as expected: {}",
                failed.join(", ")
            ),
        );
    }
    Ok(if all_ok { exit::OK } else { exit::RUNTIME })
}

fn header(json: bool, scenario: Scenario, preset: &str) {
    if json {
        return;
    }
    let h = heading();
    term::line(
        Stream::Stdout,
        &format!(
            "{h}▶ {} ({preset}){h:#}: {}",
            scenario.name(),
            scenario.story()
        ),
    );
}

fn told(r: &Report) -> &str {
    r.outcome
        .as_ref()
        .map_or("(no outcome)", |o| o.told.as_str())
}

fn outcome_after(r: &Report) -> String {
    r.outcome
        .as_ref()
        .map_or("—".to_string(), |o| fmt_duration(o.at))
}

fn transport(r: &Report) -> &'static str {
    r.response.map_or("none", |t| t.name())
}

/// The policy-close server under both presets, column by column.
fn side_by_side(a: &Report, b: &Report) {
    let h = heading();
    let rows = [
        ("", "default".to_string(), "codex-compat".to_string()),
        ("dials", a.dials.to_string(), b.dials.to_string()),
        ("time to fallback", outcome_after(a), outcome_after(b)),
        ("response over", transport(a).into(), transport(b).into()),
    ];
    let lines = [
        String::new(),
        format!("{h}A server that accepts, then closes with 1008: redial and the old client, side by side{h:#}"),
    ]
    .into_iter()
    .chain(
        rows.iter()
            .map(|(k, x, y)| format!("  {k:<18} {x:<16} {y}")),
    )
    .chain([
        "  what the user is told:".to_string(),
        format!("    default       {}", told(a)),
        format!("    codex-compat  {}", told(b)),
        "  (the CLI in the bug report told its user \"Connection closed normally\")".to_string(),
    ]);
    for line in lines {
        term::line(Stream::Stdout, &line);
    }
}

/// The table after all scenarios.
fn summary(reports: &[Report]) {
    let h = heading();
    term::line(Stream::Stdout, "");
    term::line(Stream::Stdout, &format!("{h}Summary{h:#}"));
    term::line(
        Stream::Stdout,
        &format!(
            "  {:<14} {:<13} {:>5}  {:>10}  {:<19} {:<9}  {:<3} what the user is told",
            "scenario", "preset", "dials", "outcome at", "outcome", "response", "ok"
        ),
    );
    for r in reports {
        let (mark, style) = if r.ok() {
            ("✓", good())
        } else {
            ("✗", bad())
        };
        let what = r.outcome.as_ref().map_or("not reached", |o| o.what);
        let mut line = format!(
            "  {:<14} {:<13} {:>5}  {:>10}  {:<19} {:<9}  {style}{mark:<3}{style:#} {}",
            r.scenario.name(),
            r.scenario.preset().name(),
            r.dials,
            outcome_after(r),
            what,
            transport(r),
            told(r)
        );
        if !r.ok() {
            line.push_str(&format!(" [{}]", r.problems.join("; ")));
        }
        term::line(Stream::Stdout, &line);
    }
}
