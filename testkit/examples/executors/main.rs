//! The driver on any executor: the mission (101, then 1008; an HTTPS fallback) end to
//! end on loopback, under the executor named on the command line.
//!
//! `cargo run --example executors -- async-std|smol|tokio|tokio-current-thread [in-task]`
//!
//! The driver is one future (`Driver::run`) that needs nothing from the executor but
//! being polled. Its sockets and timers come from its runtime: under tokio (redial's
//! `tokio` feature, which this example turns on), tokio's own; under async-std and smol,
//! async-io's, which runs its own reactor thread when the executor does not drive it.
//! With `in-task`, nothing is spawned: the client is a `Connection` (`Stream` + `Sink`)
//! polled by the executor's `block_on`.

mod mission;

use std::process::ExitCode;

use mission::{mission, mission_in_task, Outcome};

fn main() -> ExitCode {
    let executor = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "async-std".into());
    let in_task = match std::env::args().nth(2).as_deref() {
        None => false,
        Some("in-task") => true,
        Some(other) => {
            eprintln!("unknown mode {other}: in-task, or nothing for a spawned driver");
            return ExitCode::from(64);
        }
    };
    let outcome: Outcome = match executor.as_str() {
        "async-std" if in_task => async_std::task::block_on(mission_in_task()),
        "async-std" => async_std::task::block_on(mission(Box::new(|driver| {
            async_std::task::spawn(driver);
        }))),
        "smol" if in_task => smol::block_on(mission_in_task()),
        "smol" => smol::block_on(mission(Box::new(|driver| smol::spawn(driver).detach()))),
        "tokio" | "tokio-current-thread" => {
            let runtime = match executor.as_str() {
                "tokio" => tokio::runtime::Builder::new_multi_thread()
                    .enable_all()
                    .build(),
                _ => tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build(),
            }
            .expect("a tokio runtime");
            if in_task {
                runtime.block_on(mission_in_task())
            } else {
                runtime.block_on(mission(Box::new(|driver| {
                    tokio::spawn(driver);
                })))
            }
        }
        other => {
            eprintln!("unknown executor {other}: async-std, smol, tokio or tokio-current-thread");
            return ExitCode::from(64);
        }
    };
    println!("executor      {executor}");
    println!(
        "client        {}",
        if in_task {
            "in-task Connection"
        } else {
            "spawned Driver"
        }
    );
    println!("dials         {}", outcome.dials);
    println!("fell back     {}", outcome.fell_back);
    println!("over HTTPS    {} request(s)", outcome.https_requests);
    for item in &outcome.response {
        println!("response      {item}");
    }
    println!("state         {}", outcome.state);
    ExitCode::SUCCESS
}
