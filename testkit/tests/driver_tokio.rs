//! The driver on tokio's own runtime (redial's `tokio` feature): tokio's TCP, resolver,
//! timers and spawner, on a multi-thread and on a current-thread runtime. Each test runs
//! on both flavours: messages both ways through a spawned `Client` and an in-task
//! `Connection`, a reconnect after a restart (the backoff timer), a dead connection
//! found by the heartbeat (the ping and pong timers), and a client built outside the
//! runtime and handed its handle.

mod driver_support;

use std::time::Duration;

use driver_support::{close_in_time, fast_default, until_kind, until_state, within};
use futures_util::{SinkExt, StreamExt};
use redial::core::{Event, Failure, StateName};
use redial::driver::{default_runtime, Client, Connection, Incoming, Message, TokioRuntime};
use redial_testkit::{Act, Behavior, WsServer};

const LIMIT: Duration = Duration::from_secs(20);

/// Run `test` on a multi-thread and on a current-thread tokio runtime.
fn on_both<F, Fut>(test: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let multi = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a multi-thread runtime");
    multi.block_on(test());
    let current = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime");
    current.block_on(test());
}

/// A spawned client of `ws` with short timeouts, on the runtime at hand (tokio's).
fn spawned(ws: &WsServer) -> Client {
    fast(ws).spawn().expect("a valid client")
}

fn fast(ws: &WsServer) -> redial::driver::ClientBuilder {
    Client::builder(ws.url()).config(fast_default())
}

/// An echo server, and an in-task connection to it on the runtime at hand.
async fn echo_connection() -> (WsServer, Connection) {
    let ws = WsServer::start(|_| Behavior::Accept(vec![Act::Echo]))
        .await
        .unwrap();
    let conn = fast(&ws).connection().expect("a valid client");
    (ws, conn)
}

fn text(m: Message) -> String {
    match m {
        Message::Text(t) => t,
        Message::Binary(b) => panic!("a binary message of {} bytes", b.len()),
    }
}

#[test]
fn inside_a_tokio_runtime_the_default_runtime_is_tokios_and_outside_it_async_io() {
    let outside = format!("{:?}", default_runtime().expect("async-io is on"));
    assert!(outside.contains("AsyncIoRuntime"), "{outside}");
    on_both(|| async {
        let inside = format!("{:?}", default_runtime().expect("tokio is on"));
        assert!(inside.contains("TokioRuntime"), "{inside}");
    });
}

#[test]
fn a_spawned_client_echoes_in_order() {
    on_both(|| async {
        let ws = WsServer::start(|_| Behavior::Accept(vec![Act::Echo]))
            .await
            .unwrap();
        let client = spawned(&ws);
        let mut messages = client.messages();
        for i in 0..50 {
            client
                .send(format!("m{i}"))
                .await
                .expect("room in the queue");
        }
        let got: Vec<Message> =
            within(LIMIT, "50 echoes", messages.by_ref().take(50).collect()).await;
        let want: Vec<String> = (0..50).map(|i| format!("m{i}")).collect();
        assert_eq!(got.into_iter().map(text).collect::<Vec<_>>(), want);
        close_in_time(&client).await;
        assert_eq!(ws.connections(), 1);
    });
}

#[test]
fn an_in_task_connection_echoes_in_order() {
    on_both(|| async {
        let (_ws, mut conn) = echo_connection().await;
        for i in 0..20 {
            within(LIMIT, "send", conn.send(format!("c{i}").into()))
                .await
                .expect("sent");
        }
        let mut got = Vec::new();
        while got.len() < 20 {
            let m = within(LIMIT, "an echo", conn.next())
                .await
                .expect("the connection goes on");
            got.push(text(m.message));
        }
        let want: Vec<String> = (0..20).map(|i| format!("c{i}")).collect();
        assert_eq!(got, want);
        within(LIMIT, "close", conn.close()).await.expect("closed");
    });
}

#[test]
fn a_restart_is_followed_by_a_reconnect_on_tokios_timers() {
    on_both(|| async {
        let ws = WsServer::start(|c| match c.index {
            1 => Behavior::Accept(vec![Act::Close {
                code: Some(1012),
                reason: "restarting".into(),
            }]),
            _ => Behavior::Accept(vec![Act::Echo]),
        })
        .await
        .unwrap();
        let client = spawned(&ws);
        let mut events = client.events();
        let mut messages = client.messages();
        let seen = until_kind(&mut events, "retry").await;
        assert!(
            seen.iter()
                .any(|e| matches!(e, Event::Closed { failure } if failure.code() == Some(1012))),
            "{seen:#?}"
        );
        until_kind(&mut events, "connected").await;
        client.send("after").await.expect("room");
        let echo = within(LIMIT, "the echo", messages.next()).await.unwrap();
        assert_eq!(text(echo), "after");
        assert_eq!(ws.connections(), 2);
        close_in_time(&client).await;
    });
}

#[test]
fn a_mute_server_is_found_dead_by_the_heartbeat() {
    on_both(|| async {
        let ws = WsServer::start(|c| match c.index {
            1 => Behavior::Accept(vec![Act::Mute]),
            _ => Behavior::Accept(vec![Act::Hold]),
        })
        .await
        .unwrap();
        let client = spawned(&ws);
        let mut events = client.events();
        let seen = until_kind(&mut events, "closed").await;
        let pong_timeout = seen.iter().any(|e| {
            matches!(e, Event::Closed { failure } if matches!(failure, Failure::PongTimeout { .. }))
        });
        assert!(pong_timeout, "{seen:#?}");
        assert_eq!(seen.iter().filter(|e| e.kind() == "connected").count(), 1);
        until_state(&mut events, StateName::Open).await;
        assert_eq!(ws.connections(), 2);
        close_in_time(&client).await;
    });
}

#[test]
fn a_client_built_outside_the_runtime_runs_on_the_handle_it_was_given() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let ws = async_io::block_on(WsServer::start(|_| Behavior::Accept(vec![Act::Echo]))).unwrap();
    // Built on a thread with no runtime: the handle says where its sockets and timers
    // live, and the driver is spawned there.
    let client = fast(&ws)
        .runtime(TokioRuntime::with_handle(runtime.handle().clone()))
        .spawn()
        .expect("a valid client");
    let mut messages = client.messages();
    async_io::block_on(async {
        client.send("hello").await.expect("room");
        let echo = within(LIMIT, "the echo", messages.next()).await.unwrap();
        assert_eq!(text(echo), "hello");
        close_in_time(&client).await;
    });
}

#[test]
fn an_in_task_connection_sinks_a_batch_and_reads_it_back() {
    on_both(|| async {
        let (_ws, mut conn) = echo_connection().await;
        for i in 0..10 {
            conn.feed(Message::Text(format!("b{i}")))
                .await
                .expect("fed");
        }
        within(LIMIT, "flush", conn.flush()).await.expect("flushed");
        let got: Vec<Incoming> = within(LIMIT, "10 echoes", conn.by_ref().take(10).collect()).await;
        let want: Vec<String> = (0..10).map(|i| format!("b{i}")).collect();
        let got: Vec<String> = got.into_iter().map(|i| text(i.message)).collect();
        assert_eq!(got, want);
        within(LIMIT, "close", conn.close()).await.expect("closed");
    });
}

/// The read buffer bounds each read, not a message: with the smallest one (a size of 0
/// is taken as 1 KiB), a 100 KiB message arrives whole, on both flavours.
#[test]
fn a_small_read_buffer_still_receives_a_large_message_whole() {
    on_both(|| async {
        let big = "y".repeat(100 * 1024);
        let sent = big.clone();
        let ws =
            WsServer::start(move |_| Behavior::Accept(vec![Act::Text(sent.clone()), Act::Hold]))
                .await
                .unwrap();
        let client = fast(&ws)
            .read_buffer_size(0)
            .spawn()
            .expect("a valid client");
        let mut messages = client.messages();
        let got = within(LIMIT, "the large message", messages.next())
            .await
            .unwrap();
        assert_eq!(text(got), big);
        close_in_time(&client).await;
    });
}

/// Issue 27 on tokio's runtime: through a SOCKS5 proxy (`socks5h://` with credentials,
/// and `socks5://`), offering subprotocols; the server's choice reaches the connection.
#[test]
fn socks5_and_subprotocols_work_on_tokio_too() {
    use redial::driver::ProxyRules;
    use redial_testkit::{SocksAct, SocksProxy};
    on_both(|| async {
        let ws = WsServer::start(|_| Behavior::AcceptWith {
            headers: vec![("Sec-WebSocket-Protocol".into(), "chat.v1".into())],
            acts: vec![Act::Echo],
        })
        .await
        .unwrap();
        let with_password = SocksProxy::with_credentials("alice", "pw").await.unwrap();
        let plain = SocksProxy::start(|_| SocksAct::Relay).await.unwrap();
        for url in [
            with_password.url_with("socks5h", "alice", "pw"),
            plain.url("socks5"),
        ] {
            let mut conn = fast(&ws)
                .proxy(ProxyRules::explicit(&url).unwrap())
                .protocols(["chat.v2", "chat.v1"])
                .connection()
                .expect("a valid client");
            within(LIMIT, "send", conn.send("through socks".into()))
                .await
                .expect("sent");
            let echoed = within(LIMIT, "the echo", conn.next()).await.expect("open");
            assert_eq!(text(echoed.message), "through socks");
            assert_eq!(conn.protocol(), Some("chat.v1"), "{url}");
        }
        assert_eq!(with_password.requests().len(), 1);
        assert_eq!(plain.requests().len(), 1);
    });
}
