//! The dial hook ([`ClientBuilder::before_dial`](super::ClientBuilder::before_dial)):
//! headers and query computed before every dial, from where the client stands (the
//! last inbound id to resume from, a token refreshed since the last dial).

use std::sync::Arc;

use super::event::TransportKind;
use super::secret::Headers;
use super::target::Target;

/// What the dial hook is told.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DialContext {
    /// The transport about to be used: a WebSocket dial, or a fallback request.
    pub transport: TransportKind,
    /// With acknowledged delivery, the highest inbound id up to which every id was
    /// received: where a resumed stream starts (`None`: nothing received yet, or
    /// acknowledged delivery is off).
    pub resume_from: Option<u64>,
}

/// What the dial hook adds to one dial.
#[derive(Debug, Clone, Default)]
pub struct DialExtras {
    /// Headers, replacing the client's headers of the same names for this dial.
    pub headers: Headers,
    /// Query parameters of the WebSocket URL, replacing those of the same names (a
    /// fallback request keeps its URL: use headers there).
    pub query: Vec<(String, String)>,
}

impl DialExtras {
    /// Add a header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> DialExtras {
        self.headers.push(name, value);
        self
    }

    /// Add a query parameter.
    pub fn query(mut self, name: impl Into<String>, value: impl Into<String>) -> DialExtras {
        self.query.push((name.into(), value.into()));
        self
    }
}

/// The hook, as the driver keeps it.
pub(crate) type DialHook = Arc<dyn Fn(&DialContext) -> DialExtras + Send + Sync>;

/// `target` and `headers` with the hook's extras: the query's names replaced, then
/// appended; headers merged.
pub(crate) fn apply(target: &Target, headers: &Headers, extras: DialExtras) -> (Target, Headers) {
    let mut target = target.clone();
    if !extras.query.is_empty() {
        let kept: Vec<(String, String)> = target
            .url
            .query_pairs()
            .filter(|(k, _)| !extras.query.iter().any(|(n, _)| n == k))
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let mut pairs = target.url.query_pairs_mut();
        pairs.clear();
        pairs.extend_pairs(kept.iter().chain(extras.query.iter()));
        drop(pairs);
    }
    let mut headers = headers.clone();
    headers.merge(extras.headers);
    (target, headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_replaces_names_and_the_headers_merge() {
        let target = Target::parse("ws://127.0.0.1:1/s?last=1&keep=x").unwrap();
        let mut headers = Headers::default();
        headers.push("Authorization", "Bearer old");
        let extras = DialExtras::default()
            .query("last", "7")
            .header("Authorization", "Bearer new");
        let (t, h) = apply(&target, &headers, extras);
        assert_eq!(t.url.as_str(), "ws://127.0.0.1:1/s?keep=x&last=7");
        assert_eq!(
            h.iter().collect::<Vec<_>>(),
            [("Authorization", "Bearer new")]
        );
        let (t, _) = apply(&target, &headers, DialExtras::default());
        assert_eq!(t.url.as_str(), "ws://127.0.0.1:1/s?last=1&keep=x");
    }
}
