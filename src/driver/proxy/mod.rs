//! Proxies: which proxy a target goes through (set explicitly, or read from
//! `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY` as curl reads them), and the
//! tunnel through it: an HTTP proxy's `CONNECT`, or a SOCKS5 proxy's (`socks5`).

mod no_proxy;
pub(crate) mod socks5;
mod tunnel;

use std::fmt;

use crate::redact::redact_url;

pub use no_proxy::NoProxy;
pub(crate) use tunnel::tunnel;

/// curl's default proxy port.
pub(super) const DEFAULT_PROXY_PORT: u16 = 1080;

/// Which protocol a proxy speaks, from its URL's scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProxyScheme {
    /// `http://`: an HTTP `CONNECT` tunnel, Basic authentication from the user info.
    Http,
    /// `socks5://`: SOCKS5 (RFC 1928), the client resolves the target's name and asks
    /// for an address (Happy Eyeballs over the addresses, one proxy connection each).
    Socks5,
    /// `socks5h://`: SOCKS5, the proxy resolves the target's name.
    Socks5h,
}

impl ProxyScheme {
    /// `http`, `socks5` or `socks5h`.
    pub fn name(self) -> &'static str {
        match self {
            ProxyScheme::Http => "http",
            ProxyScheme::Socks5 => "socks5",
            ProxyScheme::Socks5h => "socks5h",
        }
    }
}

/// A proxy: its protocol, where it is and its credentials, if any (Basic for HTTP,
/// RFC 1929's user and password for SOCKS5). `Debug` and `Display` never show the
/// credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyUrl {
    scheme: ProxyScheme,
    host: String,
    port: u16,
    credentials: Option<(String, String)>,
    source: String,
}

impl ProxyUrl {
    /// Parse `http://[user[:password]@]host[:port][/]` (the scheme may be left out),
    /// `socks5://…` or `socks5h://…`. HTTPS and SOCKS4 proxies are refused with an
    /// error that says so.
    pub fn parse(text: &str) -> Result<ProxyUrl, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("the proxy URL is empty".into());
        }
        let full = match text.contains("://") {
            true => text.to_string(),
            false => format!("http://{text}"),
        };
        let url = url::Url::parse(&full).map_err(|e| format!("invalid proxy URL: {e}"))?;
        let scheme =
            match url.scheme() {
                "http" => ProxyScheme::Http,
                "socks5" => ProxyScheme::Socks5,
                "socks5h" => ProxyScheme::Socks5h,
                "https" => return Err(
                    "HTTPS proxies (TLS to the proxy) are not supported: use an http:// proxy URL"
                        .into(),
                ),
                s if s.starts_with("socks") => {
                    return Err(format!(
                        "{s}:// proxies are not supported: use socks5:// (the client resolves \
                     names) or socks5h:// (the proxy does)"
                    ))
                }
                s => {
                    return Err(format!(
                        "unsupported proxy scheme `{s}` (use http://, socks5:// or socks5h://)"
                    ))
                }
            };
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| "the proxy URL has no host".to_string())?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = match explicit_port(&full) {
            true => url.port_or_known_default().unwrap_or(DEFAULT_PROXY_PORT),
            false => DEFAULT_PROXY_PORT,
        };
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        };
        let credentials = (!url.username().is_empty() || url.password().is_some()).then(|| {
            (
                decode(url.username()),
                decode(url.password().unwrap_or_default()),
            )
        });
        Ok(ProxyUrl {
            scheme,
            host,
            port,
            credentials,
            source: "explicit".into(),
        })
    }

    /// The protocol it speaks.
    pub fn scheme(&self) -> ProxyScheme {
        self.scheme
    }

    /// The proxy's host name or IP address (without brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The proxy's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `host:port` (IPv6 addresses in brackets): how causes name the proxy.
    pub fn address(&self) -> String {
        match self.host.contains(':') {
            true => format!("[{}]:{}", self.host, self.port),
            false => format!("{}:{}", self.host, self.port),
        }
    }

    /// Whether the URL carries credentials (sent as Basic authentication to an HTTP
    /// proxy, as RFC 1929's user and password to a SOCKS5 one).
    pub fn has_credentials(&self) -> bool {
        self.credentials.is_some()
    }

    /// Where the proxy was set: the environment variable's name (`HTTPS_PROXY`, …) or
    /// `explicit`.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The user and password (percent-decoded), when the URL has them.
    pub(crate) fn credentials(&self) -> Option<(&str, &str)> {
        let (user, password) = self.credentials.as_ref()?;
        Some((user, password))
    }

    /// The `Proxy-Authorization` value, when the URL has credentials.
    pub(crate) fn authorization(&self) -> Option<String> {
        let (user, password) = self.credentials.as_ref()?;
        let pair = format!("{user}:{password}");
        Some(format!(
            "Basic {}",
            data_encoding::BASE64.encode(pair.as_bytes())
        ))
    }

    fn from(mut self, source: &str) -> ProxyUrl {
        self.source = source.to_string();
        self
    }
}

/// Whether the authority of `url` (which has a scheme) names a port.
fn explicit_port(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    match host_port.rsplit_once(':') {
        Some((host, port)) => {
            !port.is_empty()
                && port.bytes().all(|b| b.is_ascii_digit())
                && (!host.starts_with('[') || host.ends_with(']'))
        }
        None => false,
    }
}

impl fmt::Display for ProxyUrl {
    /// `http://host:port` (`socks5://`, `socks5h://`), with `<redacted>@` in front of
    /// the host when the URL has credentials ([`redact_url`]; the credentials
    /// themselves never enter the text).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let user_info = match self.credentials {
            Some(_) => "credentials@",
            None => "",
        };
        f.write_str(&redact_url(&format!(
            "{}://{user_info}{}",
            self.scheme.name(),
            self.address()
        )))
    }
}

impl fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProxyUrl({self} from {})", self.source)
    }
}

/// Which proxy each target goes through: none, one for every target, or the
/// environment's rules.
///
/// The rules, per target URL:
///
/// - `wss://` and `https://` targets use `https_proxy`, else `HTTPS_PROXY`, else
///   `all_proxy`, else `ALL_PROXY`;
/// - `ws://` and `http://` targets use `http_proxy`, else `HTTP_PROXY` (except in a CGI
///   environment, where `REQUEST_METHOD` is set and a request's `Proxy:` header could
///   have set it), else `all_proxy`, else `ALL_PROXY`;
/// - a host that `no_proxy` (else `NO_PROXY`) lists is reached directly ([`NoProxy`]);
/// - empty variables count as unset; a proxy URL without a scheme is `http://`, without
///   a port uses 1080 (curl's default).
///
/// HTTP proxies (`http://`) get a `CONNECT host:port` tunnel, with Basic authentication
/// from the URL's user info; the target's name goes into the CONNECT line and the proxy
/// resolves it. SOCKS5 proxies get RFC 1928's CONNECT, with RFC 1929's user and
/// password from the user info: `socks5h://` sends the name (the proxy resolves it),
/// `socks5://` resolves it in the client and races the addresses (Happy Eyeballs, one
/// proxy connection each). TLS to the target runs inside the tunnel with the client's
/// usual roots, verifier and server name.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ProxyRules {
    http: Option<ProxyUrl>,
    https: Option<ProxyUrl>,
    no_proxy: NoProxy,
}

impl ProxyRules {
    /// No proxy: every target is reached directly.
    pub fn none() -> ProxyRules {
        ProxyRules::default()
    }

    /// Every target through the proxy at `url` (`http://[user:password@]host[:port]`),
    /// whatever the environment says; [`ProxyRules::no_proxy`] adds exceptions.
    pub fn explicit(url: &str) -> Result<ProxyRules, String> {
        let proxy = ProxyUrl::parse(url)?;
        Ok(ProxyRules {
            http: Some(proxy.clone()),
            https: Some(proxy),
            no_proxy: NoProxy::default(),
        })
    }

    /// The same, with the hosts of `list` (curl's `NO_PROXY` syntax) reached directly.
    pub fn no_proxy(mut self, list: &str) -> ProxyRules {
        self.no_proxy = NoProxy::parse(list);
        self
    }

    /// The rules of the process environment.
    pub fn from_env() -> Result<ProxyRules, String> {
        ProxyRules::from_vars(|name| std::env::var(name).ok())
    }

    /// The rules of an environment given as a lookup (`|name| map.get(name).cloned()`):
    /// tests and embedders pass their own instead of the process's. An unusable proxy
    /// URL is an error naming its variable.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<ProxyRules, String> {
        let get = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let cgi = get("REQUEST_METHOD").is_some();
        let pick =
            |names: &[&str]| -> Result<Option<ProxyUrl>, String> {
                for name in names {
                    if *name == "HTTP_PROXY" && cgi {
                        continue;
                    }
                    if let Some(value) = get(name) {
                        return ProxyUrl::parse(&value).map(|p| Some(p.from(name))).map_err(|e| {
                        format!("{name}: {e} (set the proxy to \"none\" to ignore the environment)")
                    });
                    }
                }
                Ok(None)
            };
        let all = ["all_proxy", "ALL_PROXY"];
        let https = pick(&["https_proxy", "HTTPS_PROXY", all[0], all[1]])?;
        let http = pick(&["http_proxy", "HTTP_PROXY", all[0], all[1]])?;
        let no_proxy = get("no_proxy")
            .or_else(|| get("NO_PROXY"))
            .unwrap_or_default();
        Ok(ProxyRules {
            http,
            https,
            no_proxy: NoProxy::parse(&no_proxy),
        })
    }

    /// The rules a config's `[proxy]` section gives: the environment's (`"env"`, read
    /// from the process), none, or its URL with its `no_proxy` exceptions.
    pub fn from_config(config: &crate::config::ProxyConfig) -> Result<ProxyRules, String> {
        use crate::config::ProxySetting;
        match &config.url {
            ProxySetting::Env => ProxyRules::from_env(),
            ProxySetting::None => Ok(ProxyRules::none()),
            ProxySetting::Url(url) => ProxyRules::explicit(url)
                .map(|r| r.no_proxy(&config.no_proxy))
                .map_err(|e| format!("proxy.url: {e}")),
        }
    }

    /// The proxy a connection to `url` goes through, or `None` when it goes directly.
    pub fn for_url(&self, url: &url::Url) -> Option<&ProxyUrl> {
        let proxy = match url.scheme() {
            "wss" | "https" => self.https.as_ref(),
            _ => self.http.as_ref(),
        }?;
        let host = url.host_str().unwrap_or_default();
        (!self.no_proxy.matches(host)).then_some(proxy)
    }
}

impl fmt::Debug for ProxyRules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyRules")
            .field("http", &self.http)
            .field("https", &self.https)
            .field("no_proxy", &self.no_proxy)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn rules(vars: &[(&str, &str)]) -> Result<ProxyRules, String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ProxyRules::from_vars(|name| map.get(name).cloned())
    }

    fn via(rules: &ProxyRules, url: &str) -> Option<String> {
        let url = url::Url::parse(url).unwrap();
        rules
            .for_url(&url)
            .map(|p| format!("{} {}", p.address(), p.source()))
    }

    #[test]
    fn urls_parse_with_curls_defaults_and_refusals() {
        let p = ProxyUrl::parse("http://u%40corp:p%3Ass@proxy.corp:3128/").unwrap();
        assert_eq!((p.host(), p.port()), ("proxy.corp", 3128));
        assert_eq!(
            p.authorization().as_deref(),
            Some(format!("Basic {}", data_encoding::BASE64.encode(b"u@corp:p:ss")).as_str())
        );
        assert_eq!(p.to_string(), "http://<redacted>@proxy.corp:3128");
        assert!(!format!("{p:?}").contains("p:ss") && !format!("{p:?}").contains("corp:p"));
        assert_eq!(ProxyUrl::parse("proxy.corp").unwrap().port(), 1080);
        assert_eq!(ProxyUrl::parse("http://proxy.corp").unwrap().port(), 1080);
        assert_eq!(ProxyUrl::parse("http://proxy.corp:80").unwrap().port(), 80);
        assert_eq!(
            ProxyUrl::parse("[::1]:8080").unwrap().address(),
            "[::1]:8080"
        );
        assert_eq!(ProxyUrl::parse("http://[::1]").unwrap().port(), 1080);
        assert!(ProxyUrl::parse("http://user@p:1")
            .unwrap()
            .has_credentials());
        assert!(!ProxyUrl::parse("http://p:1").unwrap().has_credentials());
        assert!(ProxyUrl::parse("https://p:1")
            .unwrap_err()
            .contains("HTTPS proxies"));
        let socks = ProxyUrl::parse("socks5h://u:s%40cret@p").unwrap();
        assert_eq!(socks.scheme(), ProxyScheme::Socks5h);
        assert_eq!(
            (socks.port(), socks.credentials()),
            (1080, Some(("u", "s@cret")))
        );
        assert_eq!(socks.to_string(), "socks5h://<redacted>@p:1080");
        assert!(!format!("{socks:?}").contains("cret"));
        assert_eq!(
            ProxyUrl::parse("socks5://[::1]:9050").unwrap().to_string(),
            "socks5://[::1]:9050"
        );
        assert!(ProxyUrl::parse("socks4://p:1")
            .unwrap_err()
            .contains("socks4:// proxies are not supported: use socks5://"));
        assert!(ProxyUrl::parse("ftp://p:1").unwrap_err().contains("ftp"));
        assert!(ProxyUrl::parse(" ").unwrap_err().contains("empty"));
        assert!(ProxyUrl::parse("http://:8080").is_err());
    }

    #[test]
    fn each_scheme_reads_its_variables_in_curls_order() {
        let r = rules(&[
            ("HTTPS_PROXY", "http://upper-s:1"),
            ("https_proxy", "http://lower-s:1"),
            ("HTTP_PROXY", "http://upper-h:1"),
            ("ALL_PROXY", "http://all:1"),
        ])
        .unwrap();
        assert_eq!(via(&r, "wss://x.test/").unwrap(), "lower-s:1 https_proxy");
        assert_eq!(via(&r, "https://x.test/").unwrap(), "lower-s:1 https_proxy");
        assert_eq!(via(&r, "ws://x.test/").unwrap(), "upper-h:1 HTTP_PROXY");
        let r = rules(&[("HTTP_PROXY", "upper-h:1"), ("ALL_PROXY", "all:1")]).unwrap();
        assert_eq!(via(&r, "wss://x.test/").unwrap(), "all:1 ALL_PROXY");
        // In a CGI environment HTTP_PROXY may come from a request header: not used.
        let r = rules(&[
            ("HTTP_PROXY", "evil:1"),
            ("REQUEST_METHOD", "GET"),
            ("all_proxy", "all:1"),
        ])
        .unwrap();
        assert_eq!(via(&r, "ws://x.test/").unwrap(), "all:1 all_proxy");
        // Empty is unset.
        let r = rules(&[("https_proxy", ""), ("HTTPS_PROXY", "s:1")]).unwrap();
        assert_eq!(via(&r, "wss://x.test/").unwrap(), "s:1 HTTPS_PROXY");
        assert_eq!(via(&rules(&[]).unwrap(), "wss://x.test/"), None);
    }

    #[test]
    fn no_proxy_bypasses_and_bad_urls_name_their_variable() {
        let r = rules(&[
            ("HTTPS_PROXY", "p:1"),
            ("NO_PROXY", ".internal, 10.0.0.0/8, ::1"),
        ])
        .unwrap();
        assert_eq!(via(&r, "wss://api.internal/"), None);
        assert_eq!(via(&r, "wss://10.1.2.3:8443/"), None);
        assert_eq!(via(&r, "wss://[::1]:8443/"), None);
        assert!(via(&r, "wss://api.example/").is_some());
        assert!(via(&r, "wss://127.0.0.1/").is_some());
        let lower_wins = rules(&[
            ("HTTPS_PROXY", "p:1"),
            ("no_proxy", "a.test"),
            ("NO_PROXY", "*"),
        ])
        .unwrap();
        assert!(via(&lower_wins, "wss://b.test/").is_some());
        let e = rules(&[("ALL_PROXY", "socks4a://s:1080")]).unwrap_err();
        assert!(e.starts_with("ALL_PROXY: socks4a://"), "{e}");
        let r = rules(&[("ALL_PROXY", "socks5h://s:1080")]).unwrap();
        assert_eq!(via(&r, "wss://x.test/").unwrap(), "s:1080 ALL_PROXY");
        let explicit = ProxyRules::explicit("http://p:9")
            .unwrap()
            .no_proxy("skip.test");
        assert_eq!(via(&explicit, "ws://x.test/").unwrap(), "p:9 explicit");
        assert_eq!(via(&explicit, "https://skip.test/"), None);
        assert_eq!(via(&ProxyRules::none(), "wss://x.test/"), None);
    }
}
