//! The driver over an in-memory peer (the fuzz target `hostile_server` uses the same
//! path): every ending is a defined state with a cause.

use std::time::Duration;

use futures_lite::StreamExt;
use redial::driver::{Client, ClientEvent};
use redial::testing::MemoryPeer;
use redial::{Event, Preset, StateName};

fn run(after_upgrade: Vec<u8>) -> (Option<String>, Vec<Event>) {
    let mut c = Preset::Default.config();
    c.budget.max_attempts = 1;
    c.timeouts.connect = Duration::from_millis(200);
    c.timeouts.handshake = Duration::from_millis(200);
    let (client, driver) = Client::builder("ws://peer.invalid/")
        .config(c)
        .max_message_size(64 * 1024, 16 * 1024)
        .connector(move |_| {
            let peer = MemoryPeer::new(after_upgrade.clone());
            async move { Ok(peer) }
        })
        .build()
        .unwrap();
    let mut events = client.events();
    // Every case ends within its timeouts (200 ms each, one attempt); a driver that
    // spins without ending fails here instead of hanging.
    let guard = async {
        async_io::Timer::after(Duration::from_secs(10)).await;
        panic!("the driver did not end within 10 s");
    };
    let cause = futures_lite::future::block_on(futures_lite::future::or(driver.run(), guard));
    drop(client);
    let seen = futures_lite::future::block_on(async {
        let mut v = Vec::new();
        while let Some(ClientEvent::Core(e)) = events.next().await {
            v.push(e);
        }
        v
    });
    (cause, seen)
}

fn last_state(events: &[Event]) -> Option<StateName> {
    events.iter().rev().find_map(|e| match e {
        Event::StateChanged { to, .. } => Some(*to),
        _ => None,
    })
}

#[test]
fn a_1008_close_frame_from_memory_stops_with_the_cause() {
    let (cause, events) = run(vec![0x88, 0x02, 0x03, 0xf0]);
    assert_eq!(last_state(&events), Some(StateName::Stopped));
    let cause = cause.unwrap();
    assert!(cause.contains("1008 (policy violation)"), "{cause}");
}

#[test]
fn garbage_after_the_upgrade_ends_with_a_cause() {
    for bytes in [
        vec![0xff; 40],
        vec![0x81, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        vec![],
    ] {
        let (cause, events) = run(bytes);
        assert_eq!(last_state(&events), Some(StateName::Stopped));
        assert!(!cause.unwrap().is_empty());
    }
}

#[test]
fn an_oversized_message_is_refused_within_the_limit() {
    // A 1 MiB binary frame against a 16 KiB frame limit.
    let mut frame = vec![0x82, 127];
    frame.extend_from_slice(&(1u64 << 20).to_be_bytes());
    frame.extend(std::iter::repeat_n(0u8, 1 << 20));
    let (cause, events) = run(frame);
    assert_eq!(last_state(&events), Some(StateName::Stopped));
    let cause = cause.unwrap();
    assert!(cause.contains("dropped"), "{cause}");
}
