//! `redial echo`: text and binary messages go back to the server; a 1000 close ends it
//! with exit 0.

mod cli_support;

use std::time::Duration;

use cli_support::*;
use redial_testkit::{Act, Behavior, Received, WsServer};

#[async_std::test]
async fn text_and_binary_round_trip_until_a_normal_close() {
    let ws = WsServer::start(|_| {
        Behavior::Accept(vec![
            Act::Text("hello".into()),
            Act::Binary(vec![0, 1, 2, 255]),
            // Room for the echoes before the close; the server keeps reading after it.
            Act::Wait(Duration::from_millis(500)),
            Act::Close {
                code: Some(1000),
                reason: "done".into(),
            },
        ])
    })
    .await
    .unwrap();
    let (_dir, config) = fast_config();
    let mut cmd = redial();
    cmd.args(["echo", "--json", &ws.url(), "--config"])
        .arg(&config);
    let out = run(cmd).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        ws.received(),
        vec![
            (1, Received::Text("hello".into())),
            (1, Received::Binary(vec![0, 1, 2, 255])),
        ]
    );
    let lines = json_lines(&out);
    let messages = of_kind(&lines, "message");
    assert_eq!(messages.len(), 2, "{lines:#?}");
    assert_eq!(messages[0]["text"], "hello");
    assert_eq!(messages[0]["transport"], "websocket");
    assert_eq!(messages[1]["binary_len"], 4);
    let closed = of_kind(&lines, "closed");
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0]["code"], 1000);
    let diagnosis = of_kind(&lines, "diagnosis");
    assert_eq!(diagnosis[0]["echoed"], 2);
    assert_eq!(ws.connections(), 1);
}

#[async_std::test]
async fn a_dropped_connection_is_redialed_and_echoing_goes_on() {
    let ws = WsServer::start(|conn| {
        let wait = Act::Wait(Duration::from_millis(500));
        if conn.index == 1 {
            Behavior::Accept(vec![Act::Text("first".into()), wait, Act::Reset])
        } else {
            let close = Act::Close {
                code: Some(1000),
                reason: String::new(),
            };
            Behavior::Accept(vec![Act::Text("second".into()), wait, close])
        }
    })
    .await
    .unwrap();
    let (_dir, config) = fast_config();
    let mut cmd = redial();
    cmd.args(["echo", "--json", &ws.url(), "--config"])
        .arg(&config);
    let out = run(cmd).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // The first connection never reads (it waits, then resets), so only the second
    // one's echo can be seen on the server.
    assert_eq!(ws.received(), vec![(2, Received::Text("second".into()))]);
    let lines = json_lines(&out);
    let texts: Vec<&str> = of_kind(&lines, "message")
        .iter()
        .filter_map(|m| m["text"].as_str())
        .collect();
    assert_eq!(texts, ["first", "second"]);
    assert_eq!(of_kind(&lines, "dial").len(), 2, "{lines:#?}");
    assert_eq!(of_kind(&lines, "closed")[0]["code"], 1006);
    assert_eq!(of_kind(&lines, "retry").len(), 1);
}
