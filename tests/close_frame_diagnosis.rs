//! What a received close frame is called and what it decides, pinned on the inputs the
//! fuzz targets (`fuzz/`, docs/fuzzing.md) once failed on: add one here for each new
//! crash of the core's close handling, with the minimised input and what it showed. (The
//! driver's, on a hostile server's bytes, are in testkit/tests/close_frame_order.rs.)

use std::time::{Duration, Instant};

use redial::config::Config;
use redial::core::{CloseReason, Core, Failure, Input, StateName};
use redial::policy::{classify_close, Class};

/// `close_frame`, payload `[0x03, 0xee]` (1006, empty reason). The target's own check
/// was wrong: "(abnormal closure)" contains "normal closure". Kept to pin the sentence:
/// 1006 is named abnormal, never normal, and is transient.
#[test]
fn close_frame_1006_is_named_abnormal_not_normal() {
    let payload = [0x03u8, 0xee];
    let code = Some(u16::from_be_bytes([payload[0], payload[1]]));
    assert_eq!(classify_close(code), Class::Transient);
    let failure = Failure::Closed {
        code,
        reason: CloseReason::from_bytes(&payload[2..]),
        class: classify_close(code),
        after_upgrade: Duration::from_millis(3),
        received: false,
    };
    let sentence = failure.to_string();
    assert!(
        sentence.contains("with 1006 (abnormal closure), empty reason"),
        "{sentence}"
    );
    assert!(!sentence.contains("(normal closure)"), "{sentence}");
    assert!(!sentence.contains("closed normally"), "{sentence}");
}

/// The mission's close frame, the first seed of `close_frame`, through a core.
#[test]
fn close_frame_mission_1008_falls_back_and_names_the_code() {
    let t0 = Instant::now();
    let mut core = Core::new(Config::default().validate().unwrap(), 1);
    core.handle_input(t0, Input::Start);
    core.handle_input(t0 + Duration::from_millis(2), Input::DialSucceeded);
    core.handle_input(
        t0 + Duration::from_millis(5),
        Input::PeerClosed {
            code: Some(u16::from_be_bytes([0x03, 0xf0])),
            reason: vec![],
        },
    );
    while core.poll_output().is_some() {}
    assert_eq!(core.state(), StateName::FellBack);
    let cause = core.last_cause().unwrap().to_string();
    assert!(
        cause.contains("1008 (policy violation), empty reason, 3 ms after the upgrade"),
        "{cause}"
    );
}
