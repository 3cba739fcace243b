//! The WebSocket upgrade over a reached host ([`reach`](super::reach)): the request
//! with the application's headers, and the server's answer mapped to the core's
//! [`ReachFailure`] (a status, a redirect, an I/O failure).

use std::sync::{Arc, Mutex};

use async_tungstenite::tungstenite::client::IntoClientRequest;
use async_tungstenite::tungstenite::error::ProtocolError;
use async_tungstenite::tungstenite::handshake::client::Response;
use async_tungstenite::tungstenite::http::HeaderValue;
use async_tungstenite::tungstenite::protocol::WebSocketConfig;
use async_tungstenite::tungstenite::Error as WsError;
use async_tungstenite::WebSocketStream;

use super::answer::{retry_after_of, shown_location};
use super::network::io_failure;
use super::raw_close::{CloseSniffer, FrameScanner};
use super::reach::MaybeTls;
use super::secret::Headers;
use super::subprotocol;
use super::target::Target;
use crate::policy::ReachFailure;

/// The socket the WebSocket runs over, with the raw close-frame scanner.
pub(super) type Io = CloseSniffer<MaybeTls>;
/// An open WebSocket.
pub(super) type Ws = WebSocketStream<Io>;

/// Run the WebSocket upgrade over a connected stream, offering `protocols` (none: the
/// application's own `Sec-WebSocket-Protocol`, if it set one).
pub(super) async fn handshake(
    target: &Target,
    stream: MaybeTls,
    headers: &Headers,
    protocols: &[String],
    config: WebSocketConfig,
) -> Result<(Ws, Arc<Mutex<FrameScanner>>), ReachFailure> {
    let mut request = target
        .ws_url()
        .into_client_request()
        .map_err(|e| ReachFailure::Io(format!("invalid upgrade request: {e}")))?;
    for (name, value) in headers.iter() {
        let name = async_tungstenite::tungstenite::http::HeaderName::from_bytes(name.as_bytes())
            .map_err(|e| ReachFailure::Io(format!("invalid header name {name:?}: {e}")))?;
        let value = HeaderValue::from_str(value)
            .map_err(|_| ReachFailure::Io(format!("invalid value for header {name}")))?;
        // A `Host` of the application's replaces the URL's; other names may repeat.
        if name == async_tungstenite::tungstenite::http::header::HOST {
            request.headers_mut().insert(name, value);
        } else {
            request.headers_mut().append(name, value);
        }
    }
    subprotocol::offer(request.headers_mut(), protocols)?;
    let offered = subprotocol::offered(request.headers());
    let (io, scanner) = CloseSniffer::new(stream);
    match async_tungstenite::client_async_with_config(request, io, Some(config)).await {
        Ok((ws, _response)) => Ok((ws, scanner)),
        Err(WsError::Http(response)) => Err(status_failure(target, &response)),
        Err(WsError::Protocol(ProtocolError::SecWebSocketSubProtocolError(_))) => {
            Err(subprotocol::mismatch(offered, &scanner))
        }
        Err(WsError::Io(e)) => Err(io_failure(&e)),
        Err(e) => Err(ReachFailure::Io(e.to_string())),
    }
}

fn status_failure(target: &Target, response: &Response) -> ReachFailure {
    let status = response.status().as_u16();
    if (300..400).contains(&status) {
        let location = shown_location(&target.url, response.headers());
        return ReachFailure::Redirect { status, location };
    }
    ReachFailure::Status {
        status,
        retry_after: retry_after_of(response.headers()),
    }
}
