//! Redaction: header values, URL credentials and query strings never reach `Debug`,
//! events or logs.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::redact::redact_url;

/// A URL shown without its credentials or query ([`redact_url`]).
pub(crate) struct Redacted<'a>(pub &'a url::Url);

impl fmt::Display for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact_url(self.0.as_str()))
    }
}

/// Request headers whose values are never shown.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Headers(pub(crate) Vec<(String, String)>);

impl Headers {
    /// Add a header.
    pub fn push(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.push((name.into(), value.into()));
    }

    /// Replace every header named like one in `fresh` (case-insensitive), add the rest.
    pub fn merge(&mut self, fresh: Headers) {
        for (name, value) in fresh.0 {
            self.0.retain(|(n, _)| !n.eq_ignore_ascii_case(&name));
            self.0.push((name, value));
        }
    }

    /// Names and values, for the dialer.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }
}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(n, _)| (n, "<redacted>")))
            .finish()
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Headers {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Headers {
        Headers(
            iter.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

/// Async re-authentication: returns fresh headers (e.g. `Authorization`), or `None`
/// when it could not.
pub type ReauthFn =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Option<Headers>> + Send>> + Send + Sync>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_and_queries_are_hidden() {
        let u = url::Url::parse("wss://user:hunter2@example.test:8443/v1?token=abc").unwrap();
        let shown = Redacted(&u).to_string();
        assert_eq!(shown, "wss://<redacted>@example.test:8443/v1?<redacted>");
        let mut h = Headers::default();
        h.push("Authorization", "Bearer sk-secret");
        assert!(!format!("{h:?}").contains("sk-secret"));
        h.merge([("authorization", "Bearer fresh")].into_iter().collect());
        assert_eq!(
            h.iter().collect::<Vec<_>>(),
            [("authorization", "Bearer fresh")]
        );
    }
}
