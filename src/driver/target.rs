//! Where to dial: a `ws`, `wss`, `http` or `https` URL split once into host, port and
//! whether TLS applies, for both transports.

use super::secret::Redacted;

/// Where to dial, parsed once from the URL.
#[derive(Clone)]
pub(crate) struct Target {
    pub url: url::Url,
    pub host: String,
    pub port: u16,
    pub tls: bool,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", Redacted(&self.url))
    }
}

impl Target {
    /// Parse a `ws://`, `wss://`, `http://` or `https://` URL.
    pub(crate) fn parse(url: &str) -> Result<Target, String> {
        let url = url::Url::parse(url).map_err(|e| format!("invalid URL: {e}"))?;
        let tls = match url.scheme() {
            "wss" | "https" => true,
            "ws" | "http" => false,
            other => {
                return Err(format!(
                    "unsupported URL scheme `{other}` (use ws, wss, http or https)"
                ))
            }
        };
        let host = url
            .host_str()
            .ok_or_else(|| "the URL has no host".to_string())?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = url
            .port_or_known_default()
            .unwrap_or(if tls { 443 } else { 80 });
        Ok(Target {
            url,
            host,
            port,
            tls,
        })
    }

    /// The same URL with a WebSocket scheme.
    pub(crate) fn ws_url(&self) -> String {
        let mut u = self.url.clone();
        let scheme = if self.tls { "wss" } else { "ws" };
        if u.set_scheme(scheme).is_err() {
            return self.url.to_string();
        }
        u.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_and_refuse() {
        let t = Target::parse("wss://user:pw@example.test/v1?key=k").unwrap();
        assert!(t.tls);
        assert_eq!((t.host.as_str(), t.port), ("example.test", 443));
        assert!(!format!("{t:?}").contains("pw"));
        assert_eq!(Target::parse("ws://[::1]:9000/").unwrap().host, "::1");
        assert!(Target::parse("ftp://x/").unwrap_err().contains("scheme"));
        assert!(Target::parse("not a url").is_err());
    }
}
