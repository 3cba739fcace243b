//! For testing and fuzzing the driver (feature `testing`; not for applications): an
//! in-memory WebSocket peer to dial through a connector, and the scanner that finds the
//! raw close frame in what a server sent.

pub use crate::driver::memory_peer::MemoryPeer;
pub use crate::driver::raw_close::{FrameScanner, RawClose};
