//! The mission, end to end, on whatever executor runs it: a loopback server that
//! answers the upgrade with 101 and closes at once with 1008, and an HTTPS+SSE fallback.
//! The client falls back after one dial, and a request is answered over HTTPS. Shared
//! by the `executors` example and `testkit/tests/driver_executors.rs`.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use redial::core::Event;
use redial::core::StateName;
use redial::driver::{Client, ClientBuilder, ClientEvent, Driver, Message};
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

impl Outcome {
    /// What the servers saw, with what the client said.
    fn of(
        ws: &WsServer,
        sse: &SseServer,
        fell_back: String,
        response: Vec<String>,
        state: StateName,
    ) -> Outcome {
        Outcome {
            dials: ws.connections(),
            fell_back,
            response,
            https_requests: sse.requests().len(),
            state,
        }
    }
}

/// A way to run the driver: spawn it on the executor at hand.
pub type Spawn = Box<dyn FnOnce(Pin<Box<dyn Future<Output = Option<String>> + Send>>)>;

/// The mission's two servers: the WebSocket server that closes with 1008 at once, and
/// the HTTPS+SSE fallback that echoes.
async fn servers() -> (WsServer, SseServer, TestCert) {
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
    (ws, sse, cert)
}

fn builder(ws: &WsServer, sse: &SseServer, cert: &TestCert) -> ClientBuilder {
    Client::builder(ws.url())
        .root_certificate(cert.cert_der.clone())
        .fallback_url(sse.url())
}

/// Fail loudly rather than hang when `what` takes longer than ten seconds.
async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    futures_lite::future::or(future, async {
        async_io::Timer::after(Duration::from_secs(10)).await;
        panic!("{what} did not finish within 10 s");
    })
    .await
}

/// Run the mission; `spawn` runs the driver's future on the executor under test.
pub async fn mission(spawn: Spawn) -> Outcome {
    let (ws, sse, cert) = servers().await;
    let (client, driver): (_, Driver) = builder(&ws, &sse, &cert).build().expect("a valid client");
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
    within("close()", client.close()).await;
    Outcome::of(&ws, &sse, fell_back, response, state)
}

/// The mission with the client driven in the caller's task: a [`Connection`](redial::driver::Connection) (a
/// `Stream` of incoming messages and a `Sink` of outgoing ones) that the executor polls
/// like any future; nothing is spawned.
pub async fn mission_in_task() -> Outcome {
    let (ws, sse, cert) = servers().await;
    let mut conn = builder(&ws, &sse, &cert)
        .connection()
        .expect("a valid client");
    let mut events = conn.events();
    // The connection does its work while it is polled: read from it until its events
    // say it fell back.
    let fell_back = {
        let reading = async {
            while conn.next().await.is_some() {}
            panic!("the connection ended before falling back");
        };
        let fell_back = async {
            loop {
                match events.next().await {
                    Some(ClientEvent::Core(Event::FellBack { cause })) => break cause.to_string(),
                    Some(_) => {}
                    None => panic!("the connection ended before falling back"),
                }
            }
        };
        within(
            "the fall-back",
            futures_lite::future::or(fell_back, reading),
        )
        .await
    };
    // `send` returns once the fallback's server has answered the message's POST.
    within("send", conn.send(r#"{"input":"hello"}"#.into()))
        .await
        .expect("the message is accepted");
    let mut response = Vec::new();
    while !response
        .last()
        .is_some_and(|item: &String| item.contains("response.completed"))
    {
        let item = within("a response item", conn.next())
            .await
            .expect("the connection goes on");
        response.push(match item.message {
            Message::Text(t) => t,
            Message::Binary(b) => format!("{} bytes", b.len()),
        });
    }
    let state = conn.state();
    within("close", conn.close())
        .await
        .expect("a graceful close");
    Outcome::of(&ws, &sse, fell_back, response, state)
}
