//! What the client commands share: their options, the config (file or preset), headers,
//! extra CA certificates, and building and starting the client.

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_rustls::pki_types::pem::PemObject;
use futures_rustls::pki_types::CertificateDer;
use futures_rustls::rustls::RootCertStore;
use redial::config::ProxySetting;
use redial::config::{Config, Preset};
use redial::driver::{BuildError, Client, ClientBuilder, Events, ProxyRules};

use crate::exit::CliError;

/// Options of every command that dials.
#[derive(clap::Args, Debug, Clone)]
pub struct ConnOpts {
    /// A request header for the upgrade and the fallback, as 'Name: value' (repeatable).
    #[arg(long = "header", short = 'H', value_name = "'K: V'", value_parser = parse_header)]
    pub headers: Vec<(String, String)>,
    /// Also trust this CA certificate (a PEM or DER file).
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// Go through this proxy (http://, socks5:// or socks5h://[user:password@]host:port),
    /// or "none" to
    /// connect directly; without it, HTTPS_PROXY, HTTP_PROXY, ALL_PROXY and NO_PROXY are
    /// read (or the config's [proxy] section).
    #[arg(long, value_name = "URL", value_parser = parse_proxy)]
    pub proxy: Option<ProxySetting>,
    /// Offer this WebSocket subprotocol (Sec-WebSocket-Protocol; repeatable, in order of
    /// preference; replaces the config's `protocols`). The server must choose one of
    /// them, or the dial fails and the client stops.
    #[arg(long = "protocol", value_name = "NAME")]
    pub protocols: Vec<String>,
}

/// `--proxy`'s parser: `none`, `env`, or a usable http://, socks5:// or socks5h:// proxy URL.
fn parse_proxy(s: &str) -> Result<ProxySetting, String> {
    let setting = ProxySetting::from(s.to_string());
    if let ProxySetting::Url(url) = &setting {
        ProxyRules::explicit(url)?;
    }
    Ok(setting)
}

/// Which proxy a connection to `url` goes through under `config` (after `--proxy`),
/// shown without credentials: `http://host:port (from HTTPS_PROXY)`, or `none`.
pub fn proxy_shown(url: &str, config: &Config) -> Result<String, CliError> {
    let rules = ProxyRules::from_config(&config.proxy).map_err(CliError::usage)?;
    let Ok(url) = url::Url::parse(url) else {
        return Ok("none".into());
    };
    Ok(match rules.for_url(&url) {
        Some(p) => format!("{p} (from {})", p.source()),
        None => "none".into(),
    })
}

/// The policy options of `connect` and `echo`.
#[derive(clap::Args, Debug, Clone)]
pub struct PolicyOpts {
    /// The reconnect policy from a TOML file (`redial config` prints one), or JSON
    /// when the name ends in .json.
    #[arg(long, value_name = "FILE", conflicts_with = "preset")]
    pub config: Option<PathBuf>,
    /// A named policy: default or codex-compat.
    #[arg(long, value_name = "NAME", value_parser = parse_preset)]
    pub preset: Option<Preset>,
}

/// `--preset`'s parser.
pub fn parse_preset(s: &str) -> Result<Preset, String> {
    s.parse::<Preset>().map_err(|e| e.to_string())
}

/// A duration such as `250ms`, `2s` or `1m`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim()).map_err(|e| format!("{e} (use e.g. 500ms, 2s, 1m)"))
}

/// `Name: value`.
fn parse_header(s: &str) -> Result<(String, String), String> {
    let (name, value) = s
        .split_once(':')
        .ok_or_else(|| "expected 'Name: value'".to_string())?;
    let name = name.trim();
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !valid {
        return Err(format!("invalid header name {name:?}"));
    }
    Ok((name.to_string(), value.trim().to_string()))
}

/// The config the options ask for: the file, the preset, or the default; validated.
pub fn load_config(opts: &PolicyOpts) -> Result<Config, CliError> {
    let config = match (&opts.config, opts.preset) {
        (Some(path), _) => read_config(path)?,
        (None, Some(preset)) => preset.config(),
        (None, None) => Config::default(),
    };
    check(&config, opts.config.as_deref())?;
    Ok(config)
}

fn read_config(path: &Path) -> Result<Config, CliError> {
    let shown = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::config(format!("cannot read config file {shown}: {e}")))?;
    let parsed = if path
        .extension()
        .is_some_and(|x| x.eq_ignore_ascii_case("json"))
    {
        Config::from_json_str(&text)
    } else {
        Config::from_toml_str(&text)
    };
    parsed.map_err(|e| CliError::config(format!("{shown}: {e}")))
}

/// Validates `config` (a clone), naming the file when it came from one.
pub fn check(config: &Config, file: Option<&Path>) -> Result<(), CliError> {
    config
        .clone()
        .validate()
        .map(|_| ())
        .map_err(|e| match file {
            Some(path) => CliError::config(format!("{}: {e}", path.display())),
            None => CliError::config(e.to_string()),
        })
}

/// The certificates of a PEM or DER file, each checked to be a usable trust anchor.
pub fn read_ca(path: &Path) -> Result<Vec<Vec<u8>>, CliError> {
    let shown = path.display();
    let bytes = std::fs::read(path)
        .map_err(|e| CliError::usage(format!("cannot read --ca file {shown}: {e}")))?;
    let ders: Vec<Vec<u8>> = if bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        CertificateDer::pem_slice_iter(&bytes)
            .map(|c| c.map(|c| c.to_vec()))
            .collect::<Result<_, _>>()
            .map_err(|e| CliError::usage(format!("--ca file {shown}: invalid PEM: {e}")))?
    } else {
        vec![bytes]
    };
    if ders.is_empty() {
        return Err(CliError::usage(format!(
            "--ca file {shown} holds no CERTIFICATE"
        )));
    }
    let mut roots = RootCertStore::empty();
    for der in &ders {
        roots
            .add(CertificateDer::from(der.clone()))
            .map_err(|e| CliError::usage(format!("--ca file {shown}: not a certificate: {e}")))?;
    }
    Ok(ders)
}

/// `config` with `--proxy` applied (it wins over the config's `[proxy]` section).
pub fn with_proxy(mut config: Config, conn: &ConnOpts) -> Config {
    if let Some(proxy) = &conn.proxy {
        config.proxy.url = proxy.clone();
        config.proxy.no_proxy = String::new();
    }
    config
}

/// A builder for `url` with `config` (after `--proxy`), the headers and the extra CA
/// certificates.
pub fn builder(url: &str, config: Config, conn: &ConnOpts) -> Result<ClientBuilder, CliError> {
    let mut b = Client::builder(url).config(with_proxy(config, conn));
    for (name, value) in &conn.headers {
        b = b.header(name.clone(), value.clone());
    }
    if !conn.protocols.is_empty() {
        b = b.protocols(conn.protocols.iter().cloned());
    }
    if let Some(path) = &conn.ca {
        for der in read_ca(path)? {
            b = b.root_certificate(der);
        }
    }
    Ok(b)
}

/// Builds the client, subscribes to its events before anything happens, and runs the
/// driver on async-std.
pub fn start(builder: ClientBuilder) -> Result<(Client, Events), CliError> {
    let (client, driver) = builder.build().map_err(|e| match e {
        BuildError::Config(e) => CliError::config(e.to_string()),
        BuildError::Url(e) => CliError::usage(e),
        BuildError::Tls(e) => CliError::usage(e),
        BuildError::Proxy(e) => CliError::usage(format!("proxy: {e}")),
        e => CliError::usage(e.to_string()),
    })?;
    let events = client.events();
    async_std::task::spawn(driver.run());
    Ok((client, events))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_parse_and_refuse() {
        assert_eq!(
            parse_header("Authorization: Bearer x:y").unwrap(),
            ("Authorization".into(), "Bearer x:y".into())
        );
        assert!(parse_header("no colon").is_err());
        assert!(parse_header("bad name: v").is_err());
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert!(parse_duration("soon").is_err());
    }
}
