//! What a WebSocket client wrote, read back from its bytes: for tests that must know
//! which messages left the client in full, whatever the server then did with them.

/// Follows client-to-server bytes: the HTTP request, then masked frames. Keeps at most
/// 64 payload bytes of a frame (the tests' messages are shorter).
#[derive(Debug, Default)]
pub struct ClientFrames {
    /// Bytes of "\r\n\r\n" matched; 4 once the request has ended.
    request_end: usize,
    header: Vec<u8>,
    /// Payload bytes still to come, whether the frame is text, its mask, bytes seen.
    payload: Option<(u64, bool, [u8; 4], usize)>,
    text: Vec<u8>,
}

impl ClientFrames {
    /// Feeds bytes as written; `on_text` gets each complete, unmasked text payload.
    pub fn feed(&mut self, mut bytes: &[u8], mut on_text: impl FnMut(&[u8])) {
        while !bytes.is_empty() {
            if self.request_end < 4 {
                let b = bytes[0];
                bytes = &bytes[1..];
                let want = b"\r\n\r\n"[self.request_end];
                self.request_end = if b == want {
                    self.request_end + 1
                } else {
                    usize::from(b == b'\r')
                };
                continue;
            }
            if let Some((left, text, mask, seen)) = self.payload {
                let take = left.min(bytes.len() as u64) as usize;
                if text {
                    for (i, b) in bytes[..take].iter().enumerate() {
                        if self.text.len() < 64 {
                            self.text.push(b ^ mask[(seen + i) % 4]);
                        }
                    }
                }
                bytes = &bytes[take..];
                let left = left - take as u64;
                self.payload = Some((left, text, mask, seen + take));
                if left == 0 {
                    self.payload = None;
                    if text {
                        on_text(&self.text);
                    }
                    self.text.clear();
                }
                continue;
            }
            self.header.push(bytes[0]);
            bytes = &bytes[1..];
            let h = &self.header;
            if h.len() < 2 {
                continue;
            }
            let ext = match h[1] & 0x7f {
                126 => 2,
                127 => 8,
                _ => 0,
            };
            let mask_len = if h[1] & 0x80 != 0 { 4 } else { 0 };
            if h.len() < 2 + ext + mask_len {
                continue;
            }
            let len = match ext {
                2 => u64::from(u16::from_be_bytes([h[2], h[3]])),
                8 => u64::from_be_bytes(h[2..10].try_into().unwrap()),
                _ => u64::from(h[1] & 0x7f),
            };
            let mut mask = [0; 4];
            if mask_len == 4 {
                mask.copy_from_slice(&h[2 + ext..6 + ext]);
            }
            // A final text frame (the driver does not fragment its messages).
            let text = h[0] == 0x81;
            self.header.clear();
            self.payload = Some((len, text, mask, 0));
            if len == 0 {
                self.payload = None;
                if text {
                    on_text(&[]);
                }
            }
        }
    }
}
