//! The `[proxy]` section: which proxy (HTTP or SOCKS5) both transports go through.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::redact::redact_url;

/// Where the proxy comes from: the environment, nowhere, or this URL.
///
/// Written as a string: `"env"`, `"none"`, or an `http://[user:password@]host[:port]`,
/// `socks5://…` or `socks5h://…` URL. `Debug` hides the URL's credentials.
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum ProxySetting {
    /// `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY` (upper or lower case), as
    /// curl reads them.
    #[default]
    Env,
    /// No proxy, whatever the environment says.
    None,
    /// This proxy for every target but those `proxy.no_proxy` lists, whatever the
    /// environment says.
    Url(String),
}

impl From<String> for ProxySetting {
    fn from(s: String) -> ProxySetting {
        match s.trim() {
            "env" => ProxySetting::Env,
            "none" => ProxySetting::None,
            _ => ProxySetting::Url(s),
        }
    }
}

impl From<ProxySetting> for String {
    fn from(p: ProxySetting) -> String {
        match p {
            ProxySetting::Env => "env".into(),
            ProxySetting::None => "none".into(),
            ProxySetting::Url(u) => u,
        }
    }
}

impl fmt::Debug for ProxySetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProxySetting::Env => f.write_str("Env"),
            ProxySetting::None => f.write_str("None"),
            ProxySetting::Url(u) => write!(f, "Url({:?})", redact_url(u)),
        }
    }
}

/// The proxy of both transports.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProxyConfig {
    /// `"env"` (the default), `"none"`, or an `http://`, `socks5://` or `socks5h://`
    /// proxy URL.
    pub url: ProxySetting,
    /// With an explicit `url`: hosts reached directly, in curl's `NO_PROXY` syntax
    /// (names with their subdomains, IP addresses, CIDR ranges, `*`). With `"env"`, the
    /// `NO_PROXY` variable is read instead.
    pub no_proxy: String,
}

/// Why a proxy URL is unusable, or `None` for one the driver can speak to: `http://`
/// (or no scheme), `socks5://` or `socks5h://`, a host, a port of digits within 1–65535.
pub(crate) fn proxy_url_problem(url: &str) -> Option<String> {
    let url = url.trim();
    let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
    match scheme.to_ascii_lowercase().as_str() {
        "http" | "socks5" | "socks5h" => {}
        "https" => {
            return Some(
                "must be an http://, socks5:// or socks5h:// proxy (TLS to the proxy is not \
                 supported)"
                    .into(),
            )
        }
        s if s.starts_with("socks") => {
            return Some(format!(
                "must be a socks5:// or socks5h:// proxy ({s}:// is not supported)"
            ))
        }
        s => {
            return Some(format!(
                "must be an http://, socks5:// or socks5h:// proxy URL, \"env\" or \"none\", \
                 got scheme `{s}`"
            ))
        }
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = match host_port.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((h, p)) => (h, p.strip_prefix(':')),
            None => return Some("has an unclosed `[` in its host".into()),
        },
        None => match host_port.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host_port, None),
        },
    };
    if host.is_empty() {
        return Some("must name the proxy's host (http://host:port)".into());
    }
    match port.map(|p| p.parse::<u16>()) {
        Some(Ok(0) | Err(_)) => Some("must have a port between 1 and 65535".into()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_never_show_in_debug() {
        let p = ProxySetting::from("http://alice:s3cret@proxy:3128/".to_string());
        let shown = format!("{p:?}");
        assert_eq!(shown, r#"Url("http://<redacted>@proxy:3128/")"#);
        let p = ProxySetting::from("socks5://alice:s3cret@proxy:99999?k=v".to_string());
        assert_eq!(
            format!("{p:?}"),
            r#"Url("socks5://<redacted>@proxy:99999?<redacted>")"#
        );
    }
}
