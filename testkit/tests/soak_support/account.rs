//! The soak's account: how the server treats each connection, what each client did,
//! and the check of every message at the end.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redial_testkit::{Act, Behavior};

use super::ConnLogs;

/// The dial budget of every soak client.
pub const MAX_ATTEMPTS: u32 = 8;

/// How the server treats one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// "hi", read for a while, then close with this code.
    Serve(u16),
    /// "hi", read for a while, then reset the TCP connection.
    ServeThenReset,
    /// 101, then close with 1001 at once.
    AcceptClose,
    /// 101, then end the TCP connection at once without a close frame (1006).
    AcceptDrop,
    StallHandshake,
    ResetBeforeUpgrade,
}

impl Kind {
    pub fn pick(rng: &mut fastrand::Rng) -> Kind {
        match rng.u32(0..100) {
            0..=16 => Kind::Serve(1001),
            17..=28 => Kind::ServeThenReset,
            29..=38 => Kind::Serve(1011),
            39..=47 => Kind::Serve(1012),
            48..=56 => Kind::Serve(1013),
            57..=71 => Kind::Serve(4000),
            72..=80 => Kind::AcceptClose,
            81..=87 => Kind::AcceptDrop,
            88..=93 => Kind::StallHandshake,
            _ => Kind::ResetBeforeUpgrade,
        }
    }

    pub fn behavior(self, rng: &mut fastrand::Rng) -> Behavior {
        let close = |code| Act::Close {
            code: Some(code),
            reason: String::new(),
        };
        let hold = Act::HoldFor(Duration::from_millis(rng.u64(300..3000)));
        match self {
            Kind::Serve(code) => Behavior::Accept(vec![Act::Text("hi".into()), hold, close(code)]),
            Kind::ServeThenReset => {
                Behavior::Accept(vec![Act::Text("hi".into()), hold, Act::Reset])
            }
            Kind::AcceptClose => Behavior::Accept(vec![close(1001)]),
            Kind::AcceptDrop => Behavior::Accept(vec![]),
            Kind::StallHandshake => Behavior::StallHandshake,
            Kind::ResetBeforeUpgrade => Behavior::ResetBeforeUpgrade,
        }
    }

    /// Whether the server lets go without reading the connection to its end.
    pub fn may_discard(self) -> bool {
        matches!(self, Kind::ServeThenReset | Kind::AcceptDrop)
    }
}

/// What the server's script recorded about a connection.
pub struct ServerConn {
    pub client: u32,
    pub port: u16,
    pub kind: Kind,
}

/// What one logical client did (over all its `Client`s: a new one after giving up).
#[derive(Default)]
pub struct ClientLog {
    /// Messages given to `send` (numbered 1..=sent).
    pub sent: u32,
    /// Messages handed back: `send`'s error or `ClientEvent::Undelivered`.
    pub handed_back: Vec<u32>,
    /// The connections, as the tracker saw them.
    pub conns: ConnLogs,
    /// The most dials seen between two stable connections.
    pub max_dials_between_stable: u32,
    /// `Client`s built (a new one after giving up).
    pub clients: u32,
}

/// The figures of a run.
pub struct Report {
    /// Messages given to `send`.
    pub messages: u64,
    received: u64,
    handed_back: u64,
    discarded_by_server: HashMap<String, u64>,
    clients_built: u64,
    max_dials: u32,
    kinds: HashMap<Kind, u64>,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut kinds: Vec<_> = self.kinds.iter().collect();
        kinds.sort();
        let mut lost: Vec<_> = self.discarded_by_server.iter().collect();
        lost.sort();
        write!(
            f,
            "{} messages sent, {} received once, {} handed back, 0 lost by the driver, 0 duplicated; \
             written but discarded by the server's own abrupt end: {lost:?}; \
             {} Client(s) built, max {} dials between stable connections (budget {MAX_ATTEMPTS}); \
             connections by kind: {kinds:?}",
            self.messages, self.received, self.handed_back, self.clients_built, self.max_dials
        )
    }
}

/// Checks every message of every client; panics on a message lost by the driver, a
/// duplicate, or a loss the server's behaviour does not explain.
pub fn account(
    logs: &[Arc<Mutex<ClientLog>>],
    server_conns: &HashMap<usize, ServerConn>,
    received: &HashMap<usize, Vec<u32>>,
    accepted: &[Instant],
    restarts: &[Instant],
) -> Report {
    let mut r = Report {
        messages: 0,
        received: 0,
        handed_back: 0,
        discarded_by_server: HashMap::new(),
        clients_built: 0,
        max_dials: 0,
        kinds: HashMap::new(),
    };
    for c in server_conns.values() {
        *r.kinds.entry(c.kind).or_default() += 1;
    }
    // Upgraded server connections of each client, in accept order.
    let mut by_client: HashMap<u32, Vec<usize>> = HashMap::new();
    let mut indexes: Vec<_> = server_conns.keys().copied().collect();
    indexes.sort();
    for i in indexes {
        let c = &server_conns[&i];
        if c.behavior_accepts() {
            by_client.entry(c.client).or_default().push(i);
        }
    }
    // A restart cuts the connections accepted before it (even if, the executor being
    // busy, one runs a little further first). One lives at most ~3 s of holding plus
    // its close: a restart within 10 s of its accept may have cut it.
    let cut_by_restart = |index: usize| {
        let at = accepted[index - 1];
        restarts
            .iter()
            .any(|&t| t >= at && t - at < Duration::from_secs(10))
    };
    for (id, log) in logs.iter().enumerate() {
        let log = log.lock().unwrap();
        let n = log.sent as usize;
        r.messages += n as u64;
        r.clients_built += u64::from(log.clients);
        r.max_dials = r.max_dials.max(log.max_dials_between_stable);
        assert!(
            log.max_dials_between_stable <= MAX_ATTEMPTS,
            "client {id} over budget"
        );
        let (mut written, mut got, mut back) =
            (vec![0u8; n + 1], vec![0u8; n + 1], vec![0u8; n + 1]);
        for &s in &log.handed_back {
            back[s as usize] += 1;
        }
        let mut server = by_client
            .get(&(id as u32))
            .map(Vec::as_slice)
            .unwrap_or(&[])
            .iter();
        for conn in log.conns.lock().unwrap().iter() {
            let conn = conn.lock().unwrap();
            for &s in &conn.written {
                written[s as usize] += 1;
            }
            if !conn.upgraded {
                assert!(conn.written.is_empty(), "client {id} wrote before a 101");
                continue;
            }
            // The server connection of this one: the next upgraded one from its port.
            let Some(&index) = server
                .by_ref()
                .find(|&&i| server_conns[&i].port == conn.port)
            else {
                panic!("client {id}: no server connection for port {}", conn.port)
            };
            let sc = &server_conns[&index];
            let on_server = received.get(&index).map(Vec::as_slice).unwrap_or(&[]);
            assert!(
                conn.written.starts_with(on_server),
                "client {id}, server connection {index}: received {on_server:?} is not a prefix of written {:?}",
                conn.written
            );
            let missing = &conn.written[on_server.len()..];
            if !missing.is_empty() {
                assert!(
                    sc.kind.may_discard() || cut_by_restart(index),
                    "client {id}: {missing:?} written on connection {index} ({:?}), which the server read to its end, never arrived",
                    sc.kind
                );
                let why = if sc.kind.may_discard() {
                    format!("{:?}", sc.kind)
                } else {
                    "restart".into()
                };
                *r.discarded_by_server.entry(why).or_default() += missing.len() as u64;
            }
            for &s in on_server {
                got[s as usize] += 1;
            }
        }
        for s in 1..=n {
            let (w, g, b) = (written[s], got[s], back[s]);
            assert!(w <= 1, "client {id}: message {s} written {w} times");
            assert!(g <= 1, "client {id}: message {s} received {g} times");
            assert!(b <= 1, "client {id}: message {s} handed back {b} times");
            assert!(
                w + b == 1,
                "client {id}: message {s} written {w} and handed back {b} times"
            );
            r.received += u64::from(g);
            r.handed_back += u64::from(b);
        }
    }
    let total: usize = received.values().map(Vec::len).sum();
    assert_eq!(
        r.received, total as u64,
        "messages received on unmatched connections"
    );
    r
}

impl ServerConn {
    fn behavior_accepts(&self) -> bool {
        !matches!(self.kind, Kind::StallHandshake | Kind::ResetBeforeUpgrade)
    }
}
