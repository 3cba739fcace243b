//! Drive the sans-IO core through a scripted server in virtual time and print what it
//! does: `cargo run --example simulate -- seed [--json]`.

use std::process::ExitCode;

use clap::Parser;
use redial::policy::fmt_duration;
use redial::sim::Scenario;
use serde_json::json;

/// Simulate redial's reconnect core against a scripted server, in virtual time.
#[derive(Parser)]
struct Args {
    /// The scenario: seed, seed-codex, flapping, restart, retry-after, reauth, reprobe,
    /// overload, silent (or `list`).
    scenario: String,
    /// Print one JSON object per event (docs/design.md, "The command-line tool's event lines").
    #[arg(long)]
    json: bool,
    /// Seed of the jitter RNG.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.scenario == "list" {
        for s in Scenario::ALL {
            println!("{:<12} {}", s.name(), s.description());
        }
        return ExitCode::SUCCESS;
    }
    let scenario: Scenario = match args.scenario.parse() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("simulate: {e}");
            return ExitCode::from(2);
        }
    };
    let sim = scenario.run(args.seed);
    if !args.json {
        println!("scenario {}: {}", scenario.name(), scenario.description());
    }
    for (t, event) in sim.events() {
        if args.json {
            println!("{}", event.to_json(t));
        } else {
            println!("{:>10}  {:<16} {event}", fmt_duration(t), event.kind());
        }
    }
    let state = sim.core().state();
    let cause = sim
        .core()
        .last_cause()
        .map(|c| c.to_string())
        .unwrap_or_default();
    if args.json {
        let line = json!({
            "t_ms": sim.elapsed().as_millis() as u64,
            "event": "diagnosis",
            "to": state.name(),
            "attempt": sim.dials(),
            "cause": cause,
        });
        println!("{line}");
    } else {
        println!(
            "\nafter {} of virtual time: {} dial(s), state {state}\ncause: {cause}",
            fmt_duration(sim.elapsed()),
            sim.dials()
        );
    }
    ExitCode::SUCCESS
}
