//! A loopback HTTP proxy that opens `CONNECT` tunnels, for tests, the demo and
//! benchmarks: it counts tunnels, can require Basic credentials, and can answer a
//! status of the script's choice (407, 403, 502, …, with a reason phrase of its own if
//! asked) or never answer at all.

use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use async_net::TcpStream;
use futures_lite::{AsyncReadExt, AsyncWriteExt};

use super::lifecycle::{self, lock, Changes, Running};

/// One CONNECT request as the proxy received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectRequest {
    /// Which one, from 1.
    pub index: usize,
    /// The request target: `host:port` as the client wrote it (a name is not resolved
    /// by the client).
    pub target: String,
    /// The `Proxy-Authorization` header, if any.
    pub authorization: Option<String>,
}

/// What the proxy does with a CONNECT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxyAct {
    /// Open the tunnel (or answer 502 when the target cannot be reached).
    Tunnel,
    /// Answer with this status (and its standard reason phrase) and close.
    Answer(u16),
    /// Answer with this status line's status and reason phrase and close: a proxy's own
    /// words, as tinyproxy answers `500 Unable to connect` or `401 Unauthorized`.
    AnswerWith {
        /// The status.
        status: u16,
        /// The reason phrase, as sent.
        reason: String,
    },
    /// Read the request and never answer.
    Stall,
}

type Script = Arc<dyn Fn(&ConnectRequest) -> ProxyAct + Send + Sync>;

#[derive(Default)]
struct Record {
    requests: Mutex<Vec<ConnectRequest>>,
    tunnels: Mutex<usize>,
    changes: Changes,
}

/// An HTTP CONNECT proxy on `127.0.0.1`, port chosen by the system. Dropping it stops
/// it: the listener and every tunnel close.
pub struct ConnectProxy {
    addr: SocketAddr,
    record: Arc<Record>,
    running: Running,
}

impl fmt::Debug for ConnectProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectProxy")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl ConnectProxy {
    /// A proxy that tunnels every CONNECT.
    pub async fn start() -> std::io::Result<ConnectProxy> {
        ConnectProxy::scripted(None, |_| ProxyAct::Tunnel).await
    }

    /// A proxy that asks `script` what to do with each CONNECT.
    pub async fn start_with(
        script: impl Fn(&ConnectRequest) -> ProxyAct + Send + Sync + 'static,
    ) -> std::io::Result<ConnectProxy> {
        ConnectProxy::scripted(None, script).await
    }

    /// A proxy that tunnels only for these Basic credentials, answering 407 (with
    /// `Proxy-Authenticate: Basic`) to any other CONNECT.
    pub async fn with_credentials(user: &str, password: &str) -> std::io::Result<ConnectProxy> {
        let expected = format!(
            "Basic {}",
            data_encoding::BASE64.encode(format!("{user}:{password}").as_bytes())
        );
        ConnectProxy::scripted(Some(expected), |_| ProxyAct::Tunnel).await
    }

    async fn scripted(
        credentials: Option<String>,
        script: impl Fn(&ConnectRequest) -> ProxyAct + Send + Sync + 'static,
    ) -> std::io::Result<ConnectProxy> {
        let (listener, addr) = lifecycle::bind_loopback().await?;
        let record = Arc::new(Record::default());
        let script: Script = Arc::new(script);
        let task_record = record.clone();
        let running = lifecycle::spawn_accept_loop(listener, move |tcp| {
            let (record, script, credentials) =
                (task_record.clone(), script.clone(), credentials.clone());
            async move {
                let _ = serve(tcp, record, script, credentials).await;
            }
        });
        Ok(ConnectProxy {
            addr,
            record,
            running,
        })
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://USER:PASSWORD@127.0.0.1:PORT` (user and password percent-encoded).
    pub fn url_with(&self, user: &str, password: &str) -> String {
        let enc = |s: &str| {
            percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
        };
        format!("http://{}:{}@{}", enc(user), enc(password), self.addr)
    }

    /// Every CONNECT received, in order.
    pub fn requests(&self) -> Vec<ConnectRequest> {
        lock(&self.record.requests).clone()
    }

    /// Tunnels opened (answered 200) so far.
    pub fn tunnels(&self) -> usize {
        *lock(&self.record.tunnels)
    }

    /// Waits until at least `n` CONNECTs have been received. No timeout: wrap it in one.
    pub async fn wait_requests(&self, n: usize) {
        let record = &self.record;
        record
            .changes
            .wait_until(|| lock(&record.requests).len() >= n)
            .await;
    }

    /// Stops the proxy and waits until the listener and every tunnel are closed.
    pub async fn shutdown(self) {
        self.running.shutdown().await;
    }
}

async fn serve(
    mut client: TcpStream,
    record: Arc<Record>,
    script: Script,
    credentials: Option<String>,
) -> std::io::Result<()> {
    let Some(head) = read_head(&mut client).await? else {
        return Ok(());
    };
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Request::new(&mut headers);
    let complete = matches!(parsed.parse(&head), Ok(httparse::Status::Complete(_)));
    if !complete || parsed.method != Some("CONNECT") {
        return answer(&mut client, 400, "").await;
    }
    let target = parsed.path.unwrap_or_default().to_string();
    let authorization = parsed
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("proxy-authorization"))
        .map(|h| String::from_utf8_lossy(h.value).into_owned());
    let request = {
        let mut requests = lock(&record.requests);
        let request = ConnectRequest {
            index: requests.len() + 1,
            target,
            authorization,
        };
        requests.push(request.clone());
        request
    };
    record.changes.notify();
    if credentials.is_some() && request.authorization != credentials {
        return answer(
            &mut client,
            407,
            "Proxy-Authenticate: Basic realm=\"testkit\"\r\n",
        )
        .await;
    }
    match script(&request) {
        ProxyAct::Answer(status) => answer(&mut client, status, "").await,
        ProxyAct::AnswerWith { status, reason } => {
            answer_with(&mut client, status, &reason, "").await
        }
        ProxyAct::Stall => {
            std::future::pending::<()>().await;
            Ok(())
        }
        ProxyAct::Tunnel => {
            // The proxy resolves the name, as a real one does.
            let Ok(server) = TcpStream::connect(request.target.as_str()).await else {
                return answer(&mut client, 502, "").await;
            };
            client
                .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                .await?;
            *lock(&record.tunnels) += 1;
            record.changes.notify();
            let (mut from_client, mut to_client) = (client.clone(), client);
            let (mut from_server, mut to_server) = (server.clone(), server);
            let up = async {
                let _ = futures_lite::io::copy(&mut from_client, &mut to_server).await;
                let _ = to_server.shutdown(std::net::Shutdown::Write);
            };
            let down = async {
                let _ = futures_lite::io::copy(&mut from_server, &mut to_client).await;
                let _ = to_client.shutdown(std::net::Shutdown::Write);
            };
            futures_lite::future::zip(up, down).await;
            Ok(())
        }
    }
}

async fn answer(client: &mut TcpStream, status: u16, extra: &str) -> std::io::Result<()> {
    let reason = redial::policy::status_name(status).unwrap_or("Status");
    answer_with(client, status, reason, extra).await
}

async fn answer_with(
    client: &mut TcpStream,
    status: u16,
    reason: &str,
    extra: &str,
) -> std::io::Result<()> {
    let text = format!(
        "HTTP/1.1 {status} {reason}\r\n{extra}Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
    client.write_all(text.as_bytes()).await?;
    client.flush().await
}

/// The request head, read a byte at a time up to its blank line (16 KiB at most).
async fn read_head(client: &mut TcpStream) -> std::io::Result<Option<Vec<u8>>> {
    let mut head = Vec::with_capacity(256);
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if client.read(&mut byte).await? == 0 || head.len() > 16 * 1024 {
            return Ok(None);
        }
        head.push(byte[0]);
    }
    Ok(Some(head))
}
