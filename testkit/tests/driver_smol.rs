//! The driver runs under smol as well as async-std: an echo round trip.

mod driver_support;

use std::time::Duration;

use driver_support::*;
use futures_lite::StreamExt;
use redial::driver::Message;
use redial_testkit::{Act, Behavior, TestCert, WsServer};

#[test]
fn echo_round_trip_under_smol() {
    smol::block_on(async {
        let ws = WsServer::start(|_| Behavior::Accept(vec![Act::Echo]))
            .await
            .unwrap();
        let cert = TestCert::localhost();
        let (client, driver) = builder(&ws, &cert, fast_default()).build().unwrap();
        // Taken before the driver runs: echoes that came first would be discarded.
        let mut messages = client.messages();
        smol::spawn(driver.run()).detach();
        client.try_send("ping over smol").unwrap();
        client.try_send(vec![0u8, 1, 2, 255]).unwrap();
        let got: Vec<Message> = within(Duration::from_secs(10), "echoes", async {
            let mut v = Vec::new();
            while v.len() < 2 {
                v.push(messages.next().await.unwrap());
            }
            v
        })
        .await;
        assert_eq!(
            got,
            [
                Message::from("ping over smol"),
                Message::Binary(vec![0, 1, 2, 255])
            ]
        );
        within(Duration::from_secs(5), "close", client.close()).await;
    });
}
