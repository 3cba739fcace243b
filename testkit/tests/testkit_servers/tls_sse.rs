//! The TLS variant of the WebSocket server and the HTTPS+SSE server.

use super::*;

#[async_std::test]
async fn tls_server_accepts_and_rejects() {
    within(async {
        let cert = TestCert::localhost();
        let server = WsServer::start_tls(&cert, |conn: &ConnInfo| match conn.index {
            1 => Behavior::Accept(vec![Act::Text("over tls".into()), close(1001, "going")]),
            _ => Behavior::Reject {
                status: 403,
                headers: vec![],
            },
        })
        .await
        .unwrap();
        assert_eq!(
            server.url(),
            format!("wss://localhost:{}/", server.addr().port())
        );

        let tls = tls_stream(server.addr(), &cert).await;
        let (mut ws, _) = async_tungstenite::client_async(server.url(), tls)
            .await
            .unwrap();
        assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("over tls"));
        match ws.next().await {
            Some(Ok(Message::Close(Some(frame)))) => assert_eq!(frame.code, CloseCode::Away),
            other => panic!("expected a 1001 close, got {other:?}"),
        }

        let tls = tls_stream(server.addr(), &cert).await;
        match async_tungstenite::client_async(server.url(), tls).await {
            Err(Error::Http(response)) => assert_eq!(response.status(), StatusCode::FORBIDDEN),
            other => panic!("expected 403, got {:?}", other.map(|_| ())),
        }
        assert_eq!((server.connections(), server.upgrades()), (2, 1));
    })
    .await;
}

#[async_std::test]
async fn tls_server_echoes_stalls_and_resets() {
    within(async {
        let cert = TestCert::localhost();
        let server = WsServer::start_tls(&cert, |conn: &ConnInfo| match conn.index {
            1 => Behavior::Accept(vec![Act::Echo]),
            2 => Behavior::StallHandshake,
            _ => Behavior::ResetBeforeUpgrade,
        })
        .await
        .unwrap();

        let tls = tls_stream(server.addr(), &cert).await;
        let (mut ws, _) = async_tungstenite::client_async(server.url(), tls)
            .await
            .unwrap();
        ws.send(Message::binary(vec![7u8; 3])).await.unwrap();
        assert_eq!(
            ws.next().await.unwrap().unwrap(),
            Message::binary(vec![7u8; 3])
        );

        // The stalled dial runs beside the rest; it ends only when the server stops.
        let tls = tls_stream(server.addr(), &cert).await;
        let url = server.url();
        let stalled = async_std::task::spawn(async move {
            async_tungstenite::client_async(url, tls).await.map(|_| ())
        });
        server.wait_connections(2).await;

        let tls = tls_stream(server.addr(), &cert).await;
        match async_tungstenite::client_async(server.url(), tls).await {
            Err(err) => assert!(is_reset(&err), "expected a reset, got {err:?}"),
            Ok(_) => panic!("the handshake must fail"),
        }
        assert_eq!((server.connections(), server.upgrades()), (3, 1));
        assert_eq!(
            server.received(),
            vec![(1, Received::Binary(vec![7, 7, 7]))]
        );
        server.shutdown().await;
        let result = stalled.await;
        assert!(
            result.is_err(),
            "the stalled handshake was answered: {result:?}"
        );
    })
    .await;
}

use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::Request;
use smol_hyper::rt::FuturesIo;

async fn post(
    server: &SseServer,
    cert: &TestCert,
    method: &str,
    body: &str,
) -> (hyper::Response<Incoming>, Vec<String>) {
    let tls = tls_stream(server.addr(), cert).await;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(FuturesIo::new(tls))
        .await
        .unwrap();
    async_std::task::spawn(async move {
        let _ = conn.await;
    });
    let request = Request::builder()
        .method(method)
        .uri("/v1/responses")
        .header("host", format!("localhost:{}", server.addr().port()))
        .header("content-type", "application/json")
        .header("authorization", "Bearer test-token")
        .body(Full::new(bytes::Bytes::from(body.to_owned())))
        .unwrap();
    let mut response = sender.send_request(request).await.unwrap();
    let mut text = String::new();
    while let Some(frame) = response.body_mut().frame().await {
        if let Ok(data) = frame.unwrap().into_data() {
            text.push_str(std::str::from_utf8(&data).unwrap());
        }
    }
    let events = text
        .split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| e.strip_prefix("data: ").expect("a data line").to_owned())
        .collect();
    (response, events)
}

#[async_std::test]
async fn sse_server_streams_the_echo_responders_events() {
    within(async {
        let cert = TestCert::localhost();
        let server = SseServer::start(&cert, echo_responder).await.unwrap();
        assert_eq!(
            server.url(),
            format!("https://localhost:{}/v1/responses", server.addr().port())
        );
        let body = r#"{"input":"hello world"}"#;
        let (response, events) = post(&server, &cert, "POST", body).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        assert_eq!(events, echo_responder(body));
        assert!(events.len() >= 2);

        let requests = server.requests();
        assert_eq!(requests.len(), 1);
        assert_eq!(requests[0].1, body);
        assert!(requests[0]
            .0
            .iter()
            .any(|(n, v)| n == "authorization" && v == "Bearer test-token"));

        let (response, events) = post(&server, &cert, "GET", "").await;
        assert_eq!(response.status(), 405);
        assert!(events.is_empty());
        assert_eq!(server.requests().len(), 1, "only POSTs are recorded");
        server.shutdown().await;
    })
    .await;
}

#[test]
fn echo_responder_echoes_the_body_in_deltas() {
    let events = echo_responder("héllo wörld!");
    let (last, deltas) = events.split_last().unwrap();
    assert_eq!(last, r#"{"type":"response.completed"}"#);
    assert!(!deltas.is_empty() && deltas.len() <= 3);
    let joined: String = deltas
        .iter()
        .map(|e| {
            let v: serde_json::Value = serde_json::from_str(e).unwrap();
            assert_eq!(v["type"], "response.output_text.delta");
            v["delta"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(joined, "héllo wörld!");
    assert_eq!(
        echo_responder(""),
        vec![r#"{"type":"response.completed"}"#.to_string()]
    );
}
