//! Reading a server's HTTP answer, for the upgrade and the fallback alike: a
//! redirect's `Location` as causes show it, and `Retry-After`.

use std::time::{Duration, SystemTime};

use super::secret::Redacted;

/// A redirect's `Location` as causes show it: resolved against the URL asked, without
/// credentials or query; `None` without the header. (The upgrade's and the fallback's.)
pub(crate) fn shown_location(base: &url::Url, headers: &http::HeaderMap) -> Option<String> {
    let location = String::from_utf8_lossy(headers.get(http::header::LOCATION)?.as_bytes());
    Some(match base.join(location.trim()) {
        Ok(u) => Redacted(&u).to_string(),
        Err(_) => "(not a URL)".to_string(),
    })
}

/// A response's `Retry-After`, parsed (see [`parse_retry_after`]).
pub(crate) fn retry_after_of(headers: &http::HeaderMap) -> Option<Duration> {
    let value = headers.get(http::header::RETRY_AFTER)?.to_str().ok()?;
    parse_retry_after(value, SystemTime::now())
}

/// Parse a `Retry-After` value: delay-seconds or an HTTP-date (relative to `now`).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after("2", now), Some(Duration::from_secs(2)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(90));
        assert_eq!(
            parse_retry_after(&later, now),
            Some(Duration::from_secs(90))
        );
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(90));
        assert_eq!(parse_retry_after(&earlier, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn locations_are_resolved_and_lose_their_secrets() {
        let base = url::Url::parse("wss://api.test:8443/v1/ws").unwrap();
        let shown = |location: &str| {
            let mut headers = http::HeaderMap::new();
            headers.insert(http::header::LOCATION, location.parse().unwrap());
            shown_location(&base, &headers).expect("a Location")
        };
        assert_eq!(
            shown("/v2/ws?token=sk-1"),
            "wss://api.test:8443/v2/ws?<redacted>"
        );
        assert_eq!(
            shown("https://u:pw@other.test/x"),
            "https://<redacted>@other.test/x"
        );
        assert_eq!(shown("http://[::1"), "(not a URL)");
        assert_eq!(shown_location(&base, &http::HeaderMap::new()), None);
    }
}
