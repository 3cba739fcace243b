//! The testkit servers, observed from raw clients: async-tungstenite over async-net (and
//! futures-rustls for TLS), and hyper over futures-rustls for the SSE server.
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_io::Timer;
use async_net::TcpStream;
use async_tungstenite::tungstenite::client::IntoClientRequest;
use async_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use async_tungstenite::tungstenite::{Bytes, Error, Message};
use async_tungstenite::WebSocketStream;
use futures_lite::{future, AsyncRead, AsyncWrite, StreamExt};
use futures_rustls::pki_types::ServerName;
use futures_rustls::TlsConnector;
use redial_testkit::{
    echo_responder, Act, Behavior, ConnInfo, Received, SseServer, TestCert, WsServer,
};

/// Fails the test instead of hanging when a future takes more than 10 s.
async fn within<T>(fut: impl Future<Output = T>) -> T {
    future::or(fut, async {
        Timer::after(Duration::from_secs(10)).await;
        panic!("timed out after 10 s");
    })
    .await
}

type Ws<S> = WebSocketStream<S>;

async fn connect(server: &WsServer) -> Result<Ws<TcpStream>, Error> {
    let tcp = TcpStream::connect(server.addr()).await?;
    async_tungstenite::client_async(server.url(), tcp)
        .await
        .map(|(ws, _)| ws)
}

async fn tls_stream(
    addr: std::net::SocketAddr,
    cert: &TestCert,
) -> impl AsyncRead + AsyncWrite + Unpin + Send {
    let tcp = TcpStream::connect(addr).await.expect("tcp connect");
    let name = ServerName::try_from("localhost").expect("server name");
    TlsConnector::from(cert.client_config())
        .connect(name, tcp)
        .await
        .expect("TLS handshake")
}

fn close(code: u16, reason: &str) -> Act {
    Act::Close {
        code: Some(code),
        reason: reason.to_string(),
    }
}

#[async_std::test]
async fn reject_gives_status_and_headers() {
    within(async {
        let server = WsServer::start(|conn: &ConnInfo| match conn.index {
            1 => Behavior::Reject {
                status: 401,
                headers: vec![],
            },
            2 => Behavior::Reject {
                status: 429,
                headers: vec![("Retry-After".into(), "1".into())],
            },
            3 => Behavior::Reject {
                status: 404,
                headers: vec![],
            },
            _ => Behavior::Reject {
                status: 426,
                headers: vec![("Upgrade".into(), "websocket".into())],
            },
        })
        .await
        .unwrap();
        for (status, header) in [
            (401, None),
            (429, Some(("retry-after", "1"))),
            (404, None),
            (426, Some(("upgrade", "websocket"))),
        ] {
            match connect(&server).await {
                Err(Error::Http(response)) => {
                    assert_eq!(response.status(), StatusCode::from_u16(status).unwrap());
                    if let Some((name, value)) = header {
                        assert_eq!(
                            response.headers().get(name),
                            Some(&HeaderValue::from_static(value))
                        );
                    }
                }
                other => panic!(
                    "expected Error::Http({status}), got {:?}",
                    other.map(|_| ())
                ),
            }
        }
        assert_eq!(server.connections(), 4);
        assert_eq!(server.upgrades(), 0);
    })
    .await;
}

#[async_std::test]
async fn close_with_and_without_code() {
    within(async {
        let server = WsServer::start(|conn: &ConnInfo| match conn.index {
            1 => Behavior::Accept(vec![close(1008, "")]),
            2 => Behavior::Accept(vec![close(4000, "app says bye")]),
            _ => Behavior::Accept(vec![Act::Close {
                code: None,
                reason: "ignored".into(),
            }]),
        })
        .await
        .unwrap();

        let mut ws = connect(&server).await.unwrap();
        match ws.next().await {
            Some(Ok(Message::Close(Some(frame)))) => {
                assert_eq!(frame.code, CloseCode::Policy);
                assert_eq!(frame.reason.as_str(), "");
            }
            other => panic!("expected a 1008 close, got {other:?}"),
        }
        assert!(
            ws.next().await.is_none(),
            "the stream ends after the close handshake"
        );

        ws = connect(&server).await.unwrap(); // drops the first client
        match ws.next().await {
            Some(Ok(Message::Close(Some(frame)))) => {
                assert_eq!(u16::from(frame.code), 4000);
                assert_eq!(frame.reason.as_str(), "app says bye");
            }
            other => panic!("expected a 4000 close, got {other:?}"),
        }

        // Dropping the second client without answering its close ends that connection too.
        ws = connect(&server).await.unwrap();
        match ws.next().await {
            Some(Ok(Message::Close(None))) => {}
            other => panic!("expected a close frame without code, got {other:?}"),
        }
        assert_eq!(server.upgrades(), 3);
        // A connection ends once the client has answered the close, or gone.
        server.wait_ended(2).await;
        drop(ws);
        server.wait_ended(3).await;
    })
    .await;
}

#[async_std::test]
async fn echo_round_trips_text_and_binary() {
    within(async {
        let server = WsServer::start(|_: &ConnInfo| Behavior::Accept(vec![Act::Echo]))
            .await
            .unwrap();
        let mut ws = connect(&server).await.unwrap();
        ws.send(Message::text("hello")).await.unwrap();
        assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("hello"));
        ws.send(Message::binary(vec![0u8, 1, 2, 255]))
            .await
            .unwrap();
        assert_eq!(
            ws.next().await.unwrap().unwrap(),
            Message::binary(vec![0u8, 1, 2, 255])
        );
        ws.send(Message::Ping(Bytes::from_static(b"hb")))
            .await
            .unwrap();
        assert_eq!(
            ws.next().await.unwrap().unwrap(),
            Message::Pong(Bytes::from_static(b"hb"))
        );
        assert_eq!(
            server.received(),
            vec![
                (1, Received::Text("hello".into())),
                (1, Received::Binary(vec![0, 1, 2, 255]))
            ]
        );
        ws.close(None).await.unwrap();
        while ws.next().await.is_some() {}
        server.wait_ended(1).await;
    })
    .await;
}

#[async_std::test]
async fn acts_play_in_order_then_fin_without_close_frame() {
    within(async {
        let server = WsServer::start(|_: &ConnInfo| {
            Behavior::Accept(vec![
                Act::Text("one".into()),
                Act::Wait(Duration::from_millis(20)),
                Act::Binary(vec![2]),
            ])
        })
        .await
        .unwrap();
        let mut ws = connect(&server).await.unwrap();
        assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("one"));
        assert_eq!(
            ws.next().await.unwrap().unwrap(),
            Message::binary(vec![2u8])
        );
        match ws.next().await {
            Some(Err(Error::Protocol(p))) => {
                assert!(format!("{p:?}").contains("ResetWithoutClosingHandshake"))
            }
            other => panic!("expected an abnormal end, got {other:?}"),
        }
    })
    .await;
}

#[async_std::test]
async fn respond_answers_each_text_message() {
    within(async {
        let server = WsServer::start(|_: &ConnInfo| {
            Behavior::Accept(vec![Act::Respond(Arc::new(|text: &str| {
                vec![text.to_uppercase(), "done".into()]
            }))])
        })
        .await
        .unwrap();
        let mut ws = connect(&server).await.unwrap();
        ws.send(Message::text("abc")).await.unwrap();
        assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("ABC"));
        assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("done"));
        assert_eq!(server.received(), vec![(1, Received::Text("abc".into()))]);
    })
    .await;
}

fn is_reset(err: &Error) -> bool {
    match err {
        Error::Io(io) => matches!(
            io.kind(),
            std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::BrokenPipe
                | std::io::ErrorKind::ConnectionAborted
        ),
        Error::Protocol(p) => format!("{p:?}").contains("ResetWithoutClosingHandshake"),
        _ => false,
    }
}

#[async_std::test]
async fn reset_act_gives_io_error() {
    within(async {
        let server = WsServer::start(|_: &ConnInfo| {
            Behavior::Accept(vec![Act::Text("x".into()), Act::Reset])
        })
        .await
        .unwrap();
        let mut ws = connect(&server).await.unwrap();
        // The text may or may not be read before the RST discards it.
        let mut end = ws.next().await;
        if let Some(Ok(Message::Text(_))) = end {
            end = ws.next().await;
        }
        match end {
            Some(Err(err)) => assert!(is_reset(&err), "expected a reset, got {err:?}"),
            other => panic!("expected a reset, got {other:?}"),
        }
    })
    .await;
}

#[async_std::test]
async fn reset_before_upgrade_fails_the_handshake() {
    within(async {
        let server = WsServer::start(|_: &ConnInfo| Behavior::ResetBeforeUpgrade)
            .await
            .unwrap();
        match connect(&server).await {
            Err(err) => assert!(is_reset(&err), "expected a reset, got {err:?}"),
            Ok(_) => panic!("the handshake must fail"),
        }
        assert_eq!((server.connections(), server.upgrades()), (1, 0));
    })
    .await;
}

/// A stalled handshake is never answered: the dial ends only when the server stops, and
/// then with an error (an answer would have completed it). A client that gives up is
/// noticed: the server ends that connection.
#[async_std::test]
async fn stall_handshake_never_answers() {
    within(async {
        let server = WsServer::start(|_: &ConnInfo| Behavior::StallHandshake)
            .await
            .unwrap();
        let (addr, url) = (server.addr(), server.url());
        let dial = async_std::task::spawn(async move {
            let tcp = TcpStream::connect(addr).await?;
            async_tungstenite::client_async(url, tcp).await.map(|_| ())
        });
        server.wait_connections(1).await;
        server.shutdown().await;
        let result = dial.await;
        assert!(
            result.is_err(),
            "the stalled handshake was answered: {result:?}"
        );

        let server = WsServer::start(|_: &ConnInfo| Behavior::StallHandshake)
            .await
            .unwrap();
        let (addr, url) = (server.addr(), server.url());
        let dial = async_std::task::spawn(async move {
            let tcp = TcpStream::connect(addr).await?;
            async_tungstenite::client_async(url, tcp).await.map(|_| ())
        });
        server.wait_connections(1).await;
        // The client goes away: the server notices and ends the connection.
        assert!(dial.cancel().await.is_none(), "the dial ended on its own");
        server.wait_ended(1).await;
        assert_eq!((server.connections(), server.upgrades()), (1, 0));
    })
    .await;
}

#[async_std::test]
async fn hold_answers_pings_and_records_messages() {
    within(async {
        let server = WsServer::start(|_: &ConnInfo| Behavior::Accept(vec![Act::Hold]))
            .await
            .unwrap();
        let mut ws = connect(&server).await.unwrap();
        ws.send(Message::Ping(Bytes::from_static(b"p")))
            .await
            .unwrap();
        assert_eq!(
            ws.next().await.unwrap().unwrap(),
            Message::Pong(Bytes::from_static(b"p"))
        );
        ws.send(Message::text("kept")).await.unwrap();
        server.wait_received(1).await;
        assert_eq!(server.received(), vec![(1, Received::Text("kept".into()))]);
    })
    .await;
}

#[async_std::test]
async fn mute_ignores_pings_until_the_server_stops() {
    within(async {
        let server = WsServer::start(|_: &ConnInfo| Behavior::Accept(vec![Act::Mute]))
            .await
            .unwrap();
        let mut ws = connect(&server).await.unwrap();
        ws.send(Message::Ping(Bytes::from_static(b"p")))
            .await
            .unwrap();
        // A muted connection reads nothing, so no event says the ping arrived: the server
        // is stopped once the connection is accepted, and nothing (no pong) may arrive
        // before the connection ends.
        server.wait_connections(1).await;
        let addr = server.addr();
        server.shutdown().await;
        match ws.next().await {
            Some(Err(_)) | None => {}
            Some(Ok(m)) => panic!("expected the connection to end (no pong), got {m:?}"),
        }
        assert!(
            TcpStream::connect(addr).await.is_err(),
            "the listener is closed"
        );
    })
    .await;
}

#[async_std::test]
async fn script_sees_headers_path_and_counters() {
    within(async {
        let seen: Arc<Mutex<Vec<ConnInfo>>> = Arc::default();
        let record = seen.clone();
        let server = WsServer::start(move |conn: &ConnInfo| {
            record.lock().unwrap().push(conn.clone());
            Behavior::Accept(vec![close(1000, "")])
        })
        .await
        .unwrap();
        for _ in 0..2 {
            let url = format!("ws://127.0.0.1:{}/chat?x=1", server.addr().port());
            let mut request = url.into_client_request().unwrap();
            request
                .headers_mut()
                .insert("x-test", HeaderValue::from_static("yes"));
            let tcp = TcpStream::connect(server.addr()).await.unwrap();
            let (mut ws, response) = async_tungstenite::client_async(request, tcp).await.unwrap();
            assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
            while ws.next().await.is_some() {}
        }
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.iter().map(|c| c.index).collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(seen[0].path, "/chat?x=1");
        assert_eq!(seen[0].header("X-Test"), Some("yes"));
        assert!(seen[0]
            .headers
            .iter()
            .any(|(n, v)| n == "upgrade" && v == "websocket"));
        assert_eq!((server.connections(), server.upgrades()), (2, 2));
        let times = server.accept_times();
        assert_eq!(times.len(), 2);
        assert!(times[0] <= times[1]);
    })
    .await;
}

#[test]
fn works_under_smol_block_on() {
    smol::block_on(within(async {
        let server = WsServer::start(|_: &ConnInfo| Behavior::Accept(vec![Act::Echo]))
            .await
            .unwrap();
        let mut ws = connect(&server).await.unwrap();
        ws.send(Message::text("smol")).await.unwrap();
        assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("smol"));
        drop(ws);
        server.wait_ended(1).await;
        server.shutdown().await;
    }));
}

#[async_std::test]
async fn dropping_the_server_closes_open_connections() {
    within(async {
        let server = WsServer::start(|_: &ConnInfo| Behavior::Accept(vec![Act::Hold]))
            .await
            .unwrap();
        let mut ws = connect(&server).await.unwrap();
        server.stop();
        match ws.next().await {
            Some(Err(_)) | None => {}
            Some(Ok(m)) => panic!("expected the connection to end, got {m:?}"),
        }
    })
    .await;
}

#[path = "testkit_servers/tls_sse.rs"]
mod tls_sse;
