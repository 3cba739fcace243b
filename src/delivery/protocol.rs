//! The delivery seam ([`Protocol`]): how an application protocol numbers what it sends,
//! acknowledges what it received, and marks its own messages with ids; and a ready
//! protocol for servers that have none ([`JsonEnvelope`]).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Ack, Seq};

/// Acknowledgements read from one inbound message, at most this many selective ones
/// (a hostile peer's longer list is cut, and said so).
pub const MAX_ACKS_PER_MESSAGE: usize = 256;

/// What an inbound message says, as a [`Protocol`] reads it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Inbound {
    /// The acknowledgements it carries, of the client's sequence numbers.
    pub acks: Vec<Ack>,
    /// Its own id, when the peer numbers its messages (for duplicates and resuming).
    pub id: Option<u64>,
    /// What to hand to the application; `None` for a message that only carries
    /// acknowledgements.
    pub payload: Option<String>,
    /// It carried more selective acknowledgements than [`MAX_ACKS_PER_MESSAGE`]; the rest
    /// were ignored.
    pub truncated: bool,
}

/// How an application protocol carries acknowledged delivery. redial assigns the
/// sequence numbers and keeps the books ([`Outbox`](super::Outbox),
/// [`Inbox`](super::Inbox)); the protocol says how they appear on the wire.
pub trait Protocol: Send + Sync + std::fmt::Debug + 'static {
    /// The text message to send for the application's `text`, numbered `seq`.
    fn wrap(&self, seq: Seq, text: &str) -> String;

    /// Read an inbound text message.
    fn read(&self, text: &str) -> Inbound;

    /// The message that acknowledges every inbound id up to `upto`, if the protocol
    /// acknowledges what the client received.
    fn ack(&self, upto: u64) -> Option<String>;
}

/// A small ready protocol of JSON envelopes, for servers that have no acknowledgements
/// of their own:
///
/// - client → server: `{"seq": 7, "text": "…"}` (the application's text as a JSON
///   string), and `{"ack": 12}` (every server message up to id 12 received);
/// - server → client: `{"seq": 12, "text": "…"}`, and acknowledgements `{"ack": 7}`
///   (every client message up to 7, cumulative) and `{"sack": [9, 10]}` (these ones),
///   which may ride on a message (`{"seq": 13, "text": "…", "ack": 7}`).
///
/// An inbound message that is not such an envelope is handed to the application as it
/// is, with no id. Numbers are unsigned 64-bit and start at 1 on both sides: 0 means
/// "none" (`{"ack": 0}` acknowledges nothing, and a message numbered 0 is dropped as a
/// duplicate, and reported). Anything that is not such a number is ignored.
///
/// The client writes its acknowledgements on the WebSocket only. Over the HTTPS
/// fallback it cannot speak without a request, so the server learns where the client
/// stands from the `Last-Event-ID` header (the last SSE `id:` the client saw) or from
/// what a dial hook (`ClientBuilder::before_dial`) adds; and the server's
/// own messages reach the client only in the responses to the client's POSTs.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonEnvelope;

/// An outbound envelope, written without building a JSON tree.
#[derive(Serialize)]
struct Outbound<'a> {
    seq: u64,
    text: &'a str,
}

/// An inbound envelope's fields, each read leniently: a number of another kind (negative,
/// fractional, a string) is ignored, not an error; other fields are ignored.
#[derive(Deserialize)]
struct Fields {
    #[serde(default)]
    seq: Option<Value>,
    #[serde(default)]
    text: Option<Value>,
    #[serde(default)]
    ack: Option<Value>,
    #[serde(default)]
    sack: Option<Value>,
}

impl Protocol for JsonEnvelope {
    fn wrap(&self, seq: Seq, text: &str) -> String {
        let envelope = Outbound { seq: seq.0, text };
        serde_json::to_string(&envelope).expect("a string and a number always serialize")
    }

    fn read(&self, text: &str) -> Inbound {
        let plain = || Inbound {
            payload: Some(text.to_owned()),
            ..Inbound::default()
        };
        // Not an object (or not JSON): not an envelope. (A struct would also be read
        // from an array, by position.)
        if !text.trim_start().starts_with('{') {
            return plain();
        }
        let Ok(fields) = serde_json::from_str::<Fields>(text) else {
            return plain();
        };
        let known = [&fields.seq, &fields.text, &fields.ack, &fields.sack];
        if known.iter().all(|f| f.is_none()) {
            return plain();
        }
        let mut inbound = Inbound {
            id: fields.seq.as_ref().and_then(Value::as_u64),
            payload: match fields.text {
                Some(Value::String(s)) => Some(s),
                _ => None,
            },
            ..Inbound::default()
        };
        if let Some(n) = fields.ack.as_ref().and_then(Value::as_u64) {
            inbound.acks.push(Ack::UpTo(Seq(n)));
        }
        if let Some(Value::Array(list)) = &fields.sack {
            inbound.truncated = list.len() > MAX_ACKS_PER_MESSAGE;
            inbound.acks.extend(
                list.iter()
                    .take(MAX_ACKS_PER_MESSAGE)
                    .filter_map(Value::as_u64)
                    .map(|n| Ack::One(Seq(n))),
            );
        }
        inbound
    }

    fn ack(&self, upto: u64) -> Option<String> {
        Some(format!(r#"{{"ack":{upto}}}"#))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_envelope_wraps_text_as_a_json_string_with_its_number() {
        let wrapped = JsonEnvelope.wrap(Seq(7), "say \"hi\"\n");
        let v: Value = serde_json::from_str(&wrapped).unwrap();
        assert_eq!(v, json!({ "seq": 7, "text": "say \"hi\"\n" }));
        assert_eq!(JsonEnvelope.ack(12).unwrap(), r#"{"ack":12}"#);
    }

    #[test]
    fn the_envelope_reads_acknowledgements_ids_and_payloads() {
        let r = JsonEnvelope.read(r#"{"seq": 13, "text": "hello", "ack": 7, "sack": [9, 10]}"#);
        assert_eq!(r.id, Some(13));
        assert_eq!(r.payload.as_deref(), Some("hello"));
        assert_eq!(
            r.acks,
            [Ack::UpTo(Seq(7)), Ack::One(Seq(9)), Ack::One(Seq(10))]
        );
        assert!(!r.truncated);
        let only_ack = JsonEnvelope.read(r#"{"ack": 3}"#);
        assert_eq!(only_ack.payload, None);
        assert_eq!(only_ack.acks, [Ack::UpTo(Seq(3))]);
    }

    #[test]
    fn anything_else_is_handed_on_as_it_is() {
        for text in [
            "plain text",
            "[1, 2]",
            r#"{"type": "response.completed"}"#,
            "{",
        ] {
            let r = JsonEnvelope.read(text);
            assert_eq!(r.payload.as_deref(), Some(text));
            assert_eq!((r.id, r.acks.len()), (None, 0));
        }
    }

    #[test]
    fn hostile_numbers_are_ignored_or_bounded() {
        let r =
            JsonEnvelope.read(r#"{"seq": -1, "ack": 1.5, "sack": ["x", 18446744073709551615]}"#);
        assert_eq!(r.id, None);
        assert_eq!(r.acks, [Ack::One(Seq(u64::MAX))]);
        let many: Vec<u64> = (1..=1000).collect();
        let r = JsonEnvelope.read(&json!({ "sack": many }).to_string());
        assert_eq!(r.acks.len(), MAX_ACKS_PER_MESSAGE);
        assert!(r.truncated);
    }
}
