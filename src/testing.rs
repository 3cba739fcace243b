//! For testing and fuzzing the driver (feature `testing`; not for applications): an
//! in-memory WebSocket peer to dial through a connector, and the scanner that finds the
//! raw close frame in what a server sent.

pub use crate::driver::memory_peer::MemoryPeer;
pub use crate::driver::raw_close::{FrameScanner, RawClose};

/// Run the client's side of a SOCKS5 handshake (to `server.test:443` by name, or to
/// `127.0.0.1:443` by address; with user and password or without) against a proxy that
/// sends `replies`, whatever they are: for the fuzz target of hostile SOCKS5 replies.
pub fn socks5_against(
    replies: &[u8],
    credentials: bool,
    name: bool,
) -> Result<(), crate::policy::ProxyFailure> {
    crate::driver::proxy::socks5::against(replies, credentials, name)
}
