//! The mission, end to end, on whatever executor runs it: a loopback server that
//! answers the upgrade with 101 and closes at once with 1008, and an HTTPS+SSE fallback.
//! The client falls back after one dial, and a request is answered over HTTPS. Shared
//! by the `executors` example and `testkit/tests/driver_executors.rs`.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use futures_lite::StreamExt;
use redial::core::StateName;
use redial::driver::{ClientEvent, Driver, Message};
use redial::Event;
use redial_testkit::{echo_responder, Act, Behavior, SseServer, TestCert, WsServer};

/// What the mission's run saw.
#[derive(Debug)]
pub struct Outcome {
    /// WebSocket dials the server saw.
    pub dials: usize,
    /// The fall-back's cause, as the user reads it.
    pub fell_back: String,
    /// The request's response, item by item.
    pub response: Vec<String>,
    /// Requests the HTTPS fallback served.
    pub https_requests: usize,
    /// The client's state once the response was in.
    pub state: StateName,
}

/// A way to run the driver: spawn it on the executor at hand.
pub type Spawn = Box<dyn FnOnce(Pin<Box<dyn Future<Output = Option<String>> + Send>>)>;

/// Run the mission; `spawn` runs the driver's future on the executor under test.
pub async fn mission(spawn: Spawn) -> Outcome {
    let ws = WsServer::start(|_| {
        Behavior::Accept(vec![Act::Close {
            code: Some(1008),
            reason: String::new(),
        }])
    })
    .await
    .expect("a loopback WebSocket server");
    let cert = TestCert::localhost();
    let sse = SseServer::start(&cert, echo_responder)
        .await
        .expect("a loopback HTTPS server");
    let (client, driver): (_, Driver) = redial::driver::Client::builder(ws.url())
        .root_certificate(cert.cert_der.clone())
        .fallback_url(sse.url())
        .build()
        .expect("a valid client");
    let mut events = client.events();
    spawn(Box::pin(driver.run()));
    let fell_back = loop {
        match events.next().await {
            Some(ClientEvent::Core(Event::FellBack { cause })) => break cause.to_string(),
            Some(_) => {}
            None => panic!("the driver ended before falling back"),
        }
    };
    let stream = client
        .request(r#"{"input":"hello"}"#)
        .await
        .expect("the request is accepted");
    let response: Vec<String> = stream
        .map(|item| match item.expect("a response item") {
            Message::Text(t) => t,
            Message::Binary(b) => format!("{} bytes", b.len()),
        })
        .collect()
        .await;
    let state = client.state();
    let closing = client.close();
    futures_lite::future::or(closing, async {
        async_io::Timer::after(Duration::from_secs(10)).await;
        panic!("close() did not return");
    })
    .await;
    Outcome {
        dials: ws.connections(),
        fell_back,
        response,
        https_requests: sse.requests().len(),
        state,
    }
}
