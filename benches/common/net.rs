//! Loopback clients for the driver benchmarks: redial's, and raw async-tungstenite
//! (`client_async` over an async-net TCP stream, no-delay as redial sets it).

use std::net::SocketAddr;
use std::time::Duration;

use async_net::TcpStream;
use async_tungstenite::tungstenite::Message as WsMessage;
use async_tungstenite::WebSocketStream;
use futures_lite::StreamExt;
use redial::config::Config;
use redial::core::Event;
use redial::core::StateName;
use redial::driver::{Client, ClientBuilder, ClientEvent, Connection, Events};

/// A raw async-tungstenite client.
pub type RawWs = WebSocketStream<TcpStream>;

/// Connect a raw async-tungstenite client to `addr` (`ws://` upgrade of `/`).
pub async fn raw_connect(addr: SocketAddr) -> RawWs {
    let tcp = TcpStream::connect(addr).await.expect("loopback connect");
    let _ = tcp.set_nodelay(true);
    let url = format!("ws://{addr}/");
    let (ws, _) = async_tungstenite::client_async(url, tcp)
        .await
        .expect("loopback upgrade");
    ws
}

/// The next data message of a raw client (pings and pongs are skipped).
pub async fn raw_next(ws: &mut RawWs) -> WsMessage {
    loop {
        match ws.next().await {
            Some(Ok(m @ (WsMessage::Text(_) | WsMessage::Binary(_)))) => return m,
            Some(Ok(WsMessage::Close(_))) | None => panic!("the server closed"),
            Some(Ok(_)) => continue,
            Some(Err(e)) => panic!("raw client: {e}"),
        }
    }
}

/// The default policy without pings (nothing but the benchmark's own traffic; raw
/// clients send none either). `REDIAL_BENCH_PINGS=1` keeps the default 20 s pings, to
/// see what re-arming the ping timer on every received message costs.
pub fn quiet() -> Config {
    let mut c = Config::default();
    if std::env::var_os("REDIAL_BENCH_PINGS").is_none() {
        c.heartbeat.ping_interval = None;
    }
    c
}

/// Build, subscribe, spawn the driver on async-std, and wait until Open (10 s at most).
pub async fn redial_open(builder: ClientBuilder) -> (Client, Events) {
    let (client, driver) = builder.build().expect("a valid client");
    let mut events = client.events();
    async_std::task::spawn(driver.run());
    let opened = super::within(
        Duration::from_secs(10),
        until_state(&mut events, StateName::Open),
    );
    assert!(opened.await.is_some(), "redial client did not open");
    (client, events)
}

/// Wait for the next state change to `state`.
pub async fn until_state(events: &mut Events, state: StateName) {
    while let Some(e) = events.next().await {
        if let ClientEvent::Core(Event::StateChanged { to, .. }) = e {
            if to == state {
                return;
            }
        }
    }
    panic!("the event stream ended");
}

/// Poll an in-task connection until it is Open (10 s at most).
pub async fn connection_open(mut conn: Connection) -> Connection {
    let mut events = conn.events();
    let polled = async {
        while conn.next().await.is_some() {}
        panic!("the connection ended before it opened");
    };
    let opened = futures_lite::future::or(polled, until_state(&mut events, StateName::Open));
    assert!(
        super::within(Duration::from_secs(10), opened)
            .await
            .is_some(),
        "redial connection did not open"
    );
    conn
}
