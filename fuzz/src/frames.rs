//! A reference reader of server-to-client WebSocket frames (RFC 6455 §5.2), written
//! plainly over a whole buffer, to compare `redial::testing::FrameScanner` (which reads
//! in chunks) against. It knows only frame boundaries and close payloads.

/// A complete close frame: `(code, reason)` as `FrameScanner` keeps them (at most 125
/// payload bytes; no code when the payload has fewer than two bytes).
pub type Close = (Option<u16>, Vec<u8>);

/// Every complete close frame in `bytes` (the bytes after the HTTP response), in order.
pub fn close_frames(bytes: &[u8]) -> Vec<Close> {
    let mut closes = Vec::new();
    let mut rest = bytes;
    while rest.len() >= 2 {
        let (b0, b1) = (rest[0], rest[1]);
        let masked = b1 & 0x80 != 0;
        let ext = match b1 & 0x7f {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let header = 2 + ext + if masked { 4 } else { 0 };
        if rest.len() < header {
            break;
        }
        let len = match ext {
            2 => u64::from(u16::from_be_bytes([rest[2], rest[3]])),
            8 => u64::from_be_bytes(rest[2..10].try_into().expect("8 bytes")),
            _ => u64::from(b1 & 0x7f),
        };
        let mask = masked.then(|| [rest[2 + ext], rest[3 + ext], rest[4 + ext], rest[5 + ext]]);
        let body = &rest[header..];
        if (body.len() as u64) < len {
            break;
        }
        let payload = &body[..len as usize];
        if b0 & 0x0f == 0x8 {
            let kept: Vec<u8> = payload
                .iter()
                .take(125)
                .enumerate()
                .map(|(i, b)| b ^ mask.map_or(0, |m| m[i % 4]))
                .collect();
            closes.push(match kept.len() {
                0 | 1 => (None, Vec::new()),
                _ => (
                    Some(u16::from_be_bytes([kept[0], kept[1]])),
                    kept[2..].to_vec(),
                ),
            });
        }
        rest = &body[len as usize..];
    }
    closes
}

/// One unmasked frame (for seeds): `fin`, `opcode`, then the payload with the shortest
/// length encoding.
pub fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![if fin { 0x80 } else { 0 } | (opcode & 0x0f)];
    match payload.len() {
        n @ 0..=125 => f.push(n as u8),
        n @ 126..=0xffff => {
            f.push(126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(payload);
    f
}

/// The HTTP response `FrameScanner` expects before the frames.
pub const UPGRADE_RESPONSE: &[u8] =
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
