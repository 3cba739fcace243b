//! A loopback SOCKS5 proxy (RFC 1928, RFC 1929) for tests: it records every CONNECT
//! request (a name or an address), can require a user and password, and a script can
//! make it answer any reply code, refuse every authentication method, or relay.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use async_net::TcpStream;
use futures_lite::{AsyncReadExt, AsyncWriteExt};

use super::lifecycle::{self, lock, Changes, Running};

/// What a CONNECT request asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocksTarget {
    /// A host name, for the proxy to resolve (`socks5h://`).
    Name(String, u16),
    /// An address the client resolved (`socks5://`).
    Addr(SocketAddr),
}

/// One SOCKS5 CONNECT request as the proxy received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocksRequest {
    /// Which one, from 1.
    pub index: usize,
    /// The target asked for.
    pub target: SocksTarget,
    /// The user and password the client authenticated with, if it did.
    pub credentials: Option<(String, String)>,
}

/// What the proxy does with a CONNECT request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocksAct {
    /// Connect to the target (resolving a name itself) and relay; reply 5 (connection
    /// refused) when it cannot.
    Relay,
    /// Reply with this code (1–255) and close.
    Reply(u8),
}

type Script = Arc<dyn Fn(&SocksRequest) -> SocksAct + Send + Sync>;

#[derive(Default)]
struct Record {
    requests: Mutex<Vec<SocksRequest>>,
    connections: Mutex<usize>,
    changes: Changes,
}

/// How the proxy authenticates.
#[derive(Clone)]
enum Auth {
    /// No authentication.
    None,
    /// RFC 1929: only this user and password.
    Password(String, String),
    /// Accept no method at all (method `0xFF`).
    Refuse,
}

/// A SOCKS5 proxy on `127.0.0.1`, port chosen by the system. Dropping it stops it.
pub struct SocksProxy {
    addr: SocketAddr,
    record: Arc<Record>,
    _running: Running,
}

impl fmt::Debug for SocksProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SocksProxy")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl SocksProxy {
    /// A proxy without authentication that asks `script` about each CONNECT.
    pub async fn start(
        script: impl Fn(&SocksRequest) -> SocksAct + Send + Sync + 'static,
    ) -> std::io::Result<SocksProxy> {
        SocksProxy::scripted(Auth::None, Arc::new(script)).await
    }

    /// A relaying proxy that accepts only this user and password (RFC 1929; status 1
    /// to any other).
    pub async fn with_credentials(user: &str, password: &str) -> std::io::Result<SocksProxy> {
        let auth = Auth::Password(user.into(), password.into());
        SocksProxy::scripted(auth, Arc::new(|_: &SocksRequest| SocksAct::Relay)).await
    }

    /// A proxy that accepts none of the authentication methods offered (`0xFF`).
    pub async fn refusing_every_method() -> std::io::Result<SocksProxy> {
        SocksProxy::scripted(Auth::Refuse, Arc::new(|_: &SocksRequest| SocksAct::Relay)).await
    }

    async fn scripted(auth: Auth, script: Script) -> std::io::Result<SocksProxy> {
        let (listener, addr) = lifecycle::bind_loopback().await?;
        let record = Arc::new(Record::default());
        let task_record = record.clone();
        let running = lifecycle::spawn_accept_loop(listener, move |tcp| {
            let (record, script, auth) = (task_record.clone(), script.clone(), auth.clone());
            async move {
                *lock(&record.connections) += 1;
                let _ = serve(tcp, record, script, auth).await;
            }
        });
        Ok(SocksProxy {
            addr,
            record,
            _running: running,
        })
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `SCHEME://127.0.0.1:PORT` (`socks5` or `socks5h`).
    pub fn url(&self, scheme: &str) -> String {
        format!("{scheme}://{}", self.addr)
    }

    /// `SCHEME://USER:PASSWORD@127.0.0.1:PORT` (user and password percent-encoded).
    pub fn url_with(&self, scheme: &str, user: &str, password: &str) -> String {
        let enc = |s: &str| {
            percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
        };
        format!("{scheme}://{}:{}@{}", enc(user), enc(password), self.addr)
    }

    /// Every CONNECT request received, in order.
    pub fn requests(&self) -> Vec<SocksRequest> {
        lock(&self.record.requests).clone()
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        *lock(&self.record.connections)
    }
}

async fn serve(
    mut client: TcpStream,
    record: Arc<Record>,
    script: Script,
    auth: Auth,
) -> std::io::Result<()> {
    let mut head = [0u8; 2];
    client.read_exact(&mut head).await?;
    let mut methods = vec![0u8; usize::from(head[1])];
    client.read_exact(&mut methods).await?;
    let credentials = match auth {
        Auth::Refuse => return client.write_all(&[5, 0xff]).await,
        Auth::None if methods.contains(&0) => {
            client.write_all(&[5, 0]).await?;
            None
        }
        Auth::None => return client.write_all(&[5, 0xff]).await,
        Auth::Password(user, password) => {
            if !methods.contains(&2) {
                return client.write_all(&[5, 0xff]).await;
            }
            client.write_all(&[5, 2]).await?;
            let (u, p) = read_password(&mut client).await?;
            let ok = (u.as_str(), p.as_str()) == (user.as_str(), password.as_str());
            client.write_all(&[1, if ok { 0 } else { 1 }]).await?;
            if !ok {
                return Ok(());
            }
            Some((u, p))
        }
    };
    let mut request = [0u8; 4];
    client.read_exact(&mut request).await?;
    if request[1] != 1 {
        return reply(&mut client, 7).await;
    }
    let target = match request[3] {
        1 => {
            let mut a = [0u8; 6];
            client.read_exact(&mut a).await?;
            let ip = IpAddr::from([a[0], a[1], a[2], a[3]]);
            SocksTarget::Addr(SocketAddr::new(ip, u16::from_be_bytes([a[4], a[5]])))
        }
        4 => {
            let mut a = [0u8; 18];
            client.read_exact(&mut a).await?;
            let octets: [u8; 16] = a[..16].try_into().expect("16 bytes");
            let port = u16::from_be_bytes([a[16], a[17]]);
            SocksTarget::Addr(SocketAddr::new(IpAddr::from(octets), port))
        }
        3 => {
            let mut len = [0u8; 1];
            client.read_exact(&mut len).await?;
            let mut name = vec![0u8; usize::from(len[0]) + 2];
            client.read_exact(&mut name).await?;
            let port = u16::from_be_bytes([name[name.len() - 2], name[name.len() - 1]]);
            name.truncate(name.len() - 2);
            SocksTarget::Name(String::from_utf8_lossy(&name).into_owned(), port)
        }
        _ => return reply(&mut client, 8).await,
    };
    let request = {
        let mut requests = lock(&record.requests);
        let request = SocksRequest {
            index: requests.len() + 1,
            target,
            credentials,
        };
        requests.push(request.clone());
        request
    };
    record.changes.notify();
    match script(&request) {
        SocksAct::Reply(code) => reply(&mut client, code).await,
        SocksAct::Relay => {
            let server = match &request.target {
                SocksTarget::Name(host, port) => TcpStream::connect((host.as_str(), *port)).await,
                SocksTarget::Addr(addr) => TcpStream::connect(*addr).await,
            };
            let Ok(server) = server else {
                return reply(&mut client, 5).await;
            };
            reply(&mut client, 0).await?;
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

/// RFC 1929's request: version, user, password.
async fn read_password(client: &mut TcpStream) -> std::io::Result<(String, String)> {
    let mut version_len = [0u8; 2];
    client.read_exact(&mut version_len).await?;
    let mut user = vec![0u8; usize::from(version_len[1])];
    client.read_exact(&mut user).await?;
    let mut len = [0u8; 1];
    client.read_exact(&mut len).await?;
    let mut password = vec![0u8; usize::from(len[0])];
    client.read_exact(&mut password).await?;
    let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
    Ok((text(user), text(password)))
}

/// A reply with `code`, bound to 0.0.0.0:0.
async fn reply(client: &mut TcpStream, code: u8) -> std::io::Result<()> {
    client.write_all(&[5, code, 0, 1, 0, 0, 0, 0, 0, 0]).await?;
    client.flush().await
}
