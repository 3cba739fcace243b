//! The driver under async-std, smol and tokio (multi-thread and current-thread; on
//! tokio the client takes tokio's runtime by default, its TCP and timers): the
//! mission end to end (one dial, the fall-back naming 1008, the request answered over
//! HTTPS), with the driver spawned and with an in-task `Connection` polled by the
//! executor's `block_on`. The scenario is the `executors` example's
//! (`examples/executors/mission.rs`).

#[path = "../examples/executors/mission.rs"]
mod mission;

use mission::{mission, mission_in_task, Outcome};
use redial::core::StateName;

fn check(outcome: &Outcome) {
    assert_eq!(outcome.dials, 1, "{outcome:?}");
    assert!(outcome.fell_back.contains("1008"), "{outcome:?}");
    assert_eq!(outcome.https_requests, 1, "{outcome:?}");
    assert_eq!(outcome.state, StateName::FellBack, "{outcome:?}");
    let last = outcome.response.last().map(String::as_str).unwrap_or("");
    assert!(last.contains("response.completed"), "{outcome:?}");
}

#[test]
fn the_mission_under_async_std() {
    check(&async_std::task::block_on(mission(Box::new(|driver| {
        async_std::task::spawn(driver);
    }))));
}

#[test]
fn the_mission_under_smol() {
    check(&smol::block_on(mission(Box::new(|driver| {
        smol::spawn(driver).detach()
    }))));
}

#[test]
fn the_mission_under_tokio_multi_thread() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    check(&runtime.block_on(mission(Box::new(|driver| {
        tokio::spawn(driver);
    }))));
}

#[test]
fn the_mission_under_tokio_current_thread() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    check(&runtime.block_on(mission(Box::new(|driver| {
        tokio::spawn(driver);
    }))));
}

#[test]
fn the_mission_in_task_under_async_std() {
    check(&async_std::task::block_on(mission_in_task()));
}

#[test]
fn the_mission_in_task_under_smol() {
    check(&smol::block_on(mission_in_task()));
}

#[test]
fn the_mission_in_task_under_tokio_multi_thread() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    check(&runtime.block_on(mission_in_task()));
}

#[test]
fn the_mission_in_task_under_tokio_current_thread() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    check(&runtime.block_on(mission_in_task()));
}
