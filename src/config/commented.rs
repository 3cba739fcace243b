//! A complete TOML rendering of a [`Config`] with a comment above every key, for people
//! to read and edit (`redial config` prints it). It parses back to the same `Config`.

use std::fmt::Write as _;

use super::Config;

/// Sections in file order, each with its comment.
const SECTIONS: &[(&str, &str)] = &[
    (
        "budget",
        "The retry budget: dials between two stable connections.",
    ),
    ("backoff", "The wait between dials."),
    (
        "delays",
        "Delays that some close codes and HTTP statuses impose.",
    ),
    ("timeouts", "Dial and close timeouts."),
    ("heartbeat", "Pings while the connection is idle."),
    (
        "fallback",
        "The HTTPS fallback, and the quiet return to WebSockets.",
    ),
    (
        "proxy",
        "The proxy both transports go through (an HTTP CONNECT tunnel, or SOCKS5; TLS to the \
         server runs inside it).",
    ),
    (
        "queue",
        "The bounded queue of messages waiting for an open connection; `send` fails at once \
         when it is full.",
    ),
    (
        "close_codes",
        "Per-code or per-range overrides of what follows a close: keys are a code (\"4001\") \
         or an inclusive range (\"4000-4099\"), and the narrowest range wins. Actions: retry, \
         retry_slow, retry_after_restart, reauthenticate, fall_back, stop, reconnect_lazily.",
    ),
];

/// Every key as `(section, key, comment)`; section `""` is the top level.
const KEYS: &[(&str, &str, &str)] = &[
    (
        "",
        "transport",
        "Which transport the client may use: \"auto\" (WebSockets first, the HTTPS fallback \
         when the policy says so, back to WebSockets by re-probing), \"websocket\" (never fall \
         back: a fall-back decision stops instead) or \"https\" (the fallback only).",
    ),
    (
        "",
        "seed",
        "Seed of the jitter RNG (an integer), for runs that repeat exactly; leave it out to \
         draw a fresh seed per client.",
    ),
    (
        "",
        "protocols",
        "WebSocket subprotocols offered on every dial (Sec-WebSocket-Protocol), in order of \
         preference, e.g. [\"chat.v2\", \"chat.v1\"]. The server must choose one of them: \
         one not offered, or none, fails the dial and the client stops (class \
         subprotocol_mismatch). Empty: none offered.",
    ),
    (
        "budget",
        "max_attempts",
        "Dials allowed between two stable connections, the first dial included.",
    ),
    (
        "budget",
        "max_elapsed",
        "Stop retrying once retrying would take longer than this since the first failed dial \
         of a streak; \"none\": no time limit.",
    ),
    (
        "budget",
        "min_uptime",
        "A connection is stable (and resets the budget, the backoff and the one \
         re-authentication) once open this long, or when it ends with a normal close (1000) \
         after server data arrived. A message alone does not make it stable.",
    ),
    (
        "budget",
        "stable_on_first_message",
        "The old rule, to measure old clients only (the codex-compat preset): the first server \
         message makes a connection stable, so a server that sends one message and closes is \
         redialed for ever.",
    ),
    (
        "backoff",
        "strategy",
        "How jitter is applied: \"none\", \"full\", \"equal\", \"decorrelated\" (as in AWS's \
         \"Exponential Backoff And Jitter\") or \"spread\" (the envelope times 1 ± spread).",
    ),
    (
        "backoff",
        "base",
        "The first envelope of the exponential backoff.",
    ),
    (
        "backoff",
        "factor",
        "Growth of the envelope per attempt (at least 1).",
    ),
    (
        "backoff",
        "cap",
        "The longest delay (at least base); \"none\": no cap (a day at most).",
    ),
    (
        "backoff",
        "spread",
        "For strategy = \"spread\": the relative spread, from 0 to 1 (0.1 is ±10 %).",
    ),
    (
        "delays",
        "restart_min",
        "Start of the window a retry after 1012 (service restart) is drawn from.",
    ),
    (
        "delays",
        "restart_max",
        "End of that window (at least restart_min).",
    ),
    (
        "delays",
        "overload_min",
        "The least delay after 1013 (try again later) or a 429 without Retry-After.",
    ),
    (
        "delays",
        "max_retry_after",
        "The longest Retry-After honoured; longer requests are shortened to this.",
    ),
    (
        "timeouts",
        "connect",
        "DNS, TCP connect and the TLS handshake.",
    ),
    (
        "timeouts",
        "handshake",
        "The HTTP upgrade request and its answer.",
    ),
    (
        "timeouts",
        "close_grace",
        "How long a graceful close waits for the server's close frame.",
    ),
    (
        "timeouts",
        "connection_attempt_delay",
        "Happy Eyeballs (RFC 8305): with several addresses for a host, the next attempt \
         starts this long after the previous one (at once when it fails); the first to \
         connect wins. At least 10ms.",
    ),
    (
        "heartbeat",
        "ping_interval",
        "Send a ping after this long without a frame from the server; \"none\": never.",
    ),
    (
        "heartbeat",
        "pong_timeout",
        "No frame this long after a ping means the connection is dead (treated like 1006).",
    ),
    (
        "fallback",
        "enabled",
        "Whether the client may fall back to HTTPS (it also needs a fallback URL).",
    ),
    (
        "fallback",
        "reprobe_after",
        "How long the fallback is sticky before one quiet WebSocket probe; \"none\": never \
         probe (stay on HTTPS for the rest of the session).",
    ),
    (
        "fallback",
        "reprobe_max",
        "Cap of the re-probe wait, which doubles after each failed probe (at least \
         reprobe_after).",
    ),
    (
        "fallback",
        "max_failures",
        "Fallback failures in a row (refused, timed out, 5xx, ...) after which the client \
         stops; each earlier one pauses the fallback for a backoff delay. A response's first \
         event (or a clean end) resets the count; 2xx headers alone do not.",
    ),
    (
        "fallback",
        "connect_timeout",
        "A fallback request's DNS and TCP connect.",
    ),
    (
        "fallback",
        "tls_timeout",
        "A fallback request's TLS handshake.",
    ),
    (
        "fallback",
        "headers_timeout",
        "From a fallback request written to its response's status and headers.",
    ),
    (
        "fallback",
        "idle_timeout",
        "The longest silence in a fallback response (before the first event and between \
         events; SSE comments count as activity).",
    ),
    (
        "fallback",
        "max_event_bytes",
        "Bytes of one SSE event (and of a response body without event breaks); a larger \
         one ends the response with an error.",
    ),
    (
        "fallback",
        "pool_idle_timeout",
        "How long a fallback connection may sit idle in the pool before it is closed \
         instead of reused.",
    ),
    (
        "fallback",
        "pool_max_idle",
        "Idle HTTP/1.1 fallback connections kept for reuse (an HTTP/2 connection is shared \
         and counts as one); 0: a new connection for every request.",
    ),
    (
        "fallback",
        "http2",
        "Offer HTTP/2 (ALPN h2) to the fallback server: one multiplexed connection for \
         every request. false: HTTP/1.1 only.",
    ),
    (
        "proxy",
        "url",
        "\"env\": HTTPS_PROXY (wss, https), HTTP_PROXY (ws, http), ALL_PROXY and NO_PROXY, \
         upper or lower case, as curl reads them; \"none\": connect directly; or a proxy URL, \
         used whatever the environment says: http:// (user:password@ for Basic \
         authentication), socks5:// (the client resolves names) or socks5h:// (the proxy \
         does; user:password@ for RFC 1929).",
    ),
    (
        "proxy",
        "no_proxy",
        "With a proxy URL: hosts reached directly, in NO_PROXY's syntax (names with their \
         subdomains, IP addresses, CIDR ranges, or * for all). With \"env\", NO_PROXY is read \
         instead.",
    ),
    ("queue", "max_messages", "Messages at most."),
    (
        "queue",
        "max_bytes",
        "Bytes at most (payload sizes added up).",
    ),
];

/// The widest comment line before wrapping.
const WIDTH: usize = 88;

/// Renders `config` as TOML with a `#` comment above every section and key.
///
/// Every field is written, optional durations that are off as `"none"`; an absent
/// `seed` is written as a commented-out example. [`Config::from_toml_str`] reads the
/// result back to an equal `Config`.
///
/// ```
/// use redial::config::{to_commented_toml, Config, Preset};
/// let config = Preset::CodexCompat.config();
/// let text = to_commented_toml(&config);
/// assert!(text.contains("# Dials allowed between two stable connections"));
/// assert_eq!(Config::from_toml_str(&text).unwrap(), config);
/// ```
pub fn to_commented_toml(config: &Config) -> String {
    let table = match toml::Value::try_from(config) {
        Ok(toml::Value::Table(t)) => t,
        // A Config always serializes to a table; fall back to the plain rendering.
        _ => return config.to_toml_string(),
    };
    let mut out = String::new();
    comment(
        &mut out,
        "redial reconnect policy. Durations are human (\"250ms\", \"30s\", \"5m\"); optional \
         ones also take \"none\". Unknown keys are refused.",
    );
    out.push('\n');
    write_keys(&mut out, "", &table);
    for (section, doc) in SECTIONS {
        out.push('\n');
        comment(&mut out, doc);
        let _ = writeln!(out, "[{section}]");
        match table.get(*section) {
            Some(toml::Value::Table(t)) => write_keys(&mut out, section, t),
            Some(other) => {
                let _ = writeln!(out, "# (not a table: {other})");
            }
            None => {}
        }
        if *section == "close_codes" && table.get(*section).is_none_or(is_empty_table) {
            out.push_str("# \"4000-4099\" = \"stop\"\n");
        }
    }
    out
}

fn is_empty_table(v: &toml::Value) -> bool {
    v.as_table().is_some_and(|t| t.is_empty())
}

/// Writes the documented keys of `section` in their documented order (the top level's
/// scalars only), then any key without a comment.
fn write_keys(out: &mut String, section: &str, table: &toml::Table) {
    let documented: Vec<&(&str, &str, &str)> =
        KEYS.iter().filter(|(s, _, _)| *s == section).collect();
    for (_, key, doc) in &documented {
        comment(out, doc);
        match table.get(*key) {
            Some(value) => {
                let _ = writeln!(out, "{} = {value}", toml_key(key));
            }
            None if *key == "seed" => out.push_str("# seed = 42\n"),
            None => {
                let _ = writeln!(out, "# {key} is not set");
            }
        }
    }
    let sections: Vec<&str> = SECTIONS.iter().map(|(s, _)| *s).collect();
    for (key, value) in table {
        let known = documented.iter().any(|(_, k, _)| k == key);
        let is_section = section.is_empty() && sections.contains(&key.as_str());
        if known || is_section {
            continue;
        }
        if section == "close_codes" {
            let action = value.as_str().unwrap_or_default();
            comment(out, &format!("Close codes {key}: {}.", action_doc(action)));
            let _ = writeln!(out, "{} = {value}", toml_key(key));
        } else {
            let _ = writeln!(out, "# (undocumented)\n{} = {value}", toml_key(key));
        }
    }
}

/// What a `close_codes` action does, in words.
fn action_doc(action: &str) -> &'static str {
    match action {
        "retry" => "retry with the backoff",
        "retry_slow" => "retry after at least delays.overload_min",
        "retry_after_restart" => "retry after a delay drawn from the restart window",
        "reauthenticate" => "ask for fresh credentials, then retry once",
        "fall_back" => "switch to the HTTPS fallback at once (stop when there is none)",
        "stop" => "stop",
        "reconnect_lazily" => "reconnect when a connection is next needed",
        _ => "an action",
    }
}

/// A key, bare when TOML allows it, quoted otherwise.
fn toml_key(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare && !key.chars().all(|c| c.is_ascii_digit() || c == '-') {
        key.to_string()
    } else {
        toml::Value::String(key.to_string()).to_string()
    }
}

/// Writes `text` as `#` lines of at most [`WIDTH`] characters.
fn comment(out: &mut String, text: &str) {
    let mut line = String::from("#");
    for word in text.split_whitespace() {
        if line.len() > 1 && line.len() + 1 + word.len() > WIDTH {
            out.push_str(&line);
            out.push('\n');
            line = String::from("#");
        }
        line.push(' ');
        line.push_str(word);
    }
    out.push_str(&line);
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Action;
    use crate::config::Preset;

    #[test]
    fn both_presets_read_back_equal() {
        for preset in Preset::ALL {
            let config = preset.config();
            let text = to_commented_toml(&config);
            let back = Config::from_toml_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
            assert_eq!(back, config, "{}", preset.name());
        }
    }

    #[test]
    fn every_key_has_a_comment_and_off_durations_say_none() {
        let mut config = Preset::CodexCompat.config();
        config.seed = Some(7);
        config.budget.max_elapsed = None;
        config.close_codes.insert("4001".into(), Action::Stop);
        let text = to_commented_toml(&config);
        assert!(!text.contains("(undocumented)"), "{text}");
        assert!(text.contains("cap = \"none\""), "{text}");
        assert!(text.contains("max_elapsed = \"none\""), "{text}");
        assert!(text.contains("seed = 7"), "{text}");
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let is_key = !line.starts_with('#') && !line.starts_with('[') && line.contains(" = ");
            if is_key {
                assert!(lines[i - 1].starts_with('#'), "no comment above {line:?}");
            }
        }
        assert_eq!(Config::from_toml_str(&text).unwrap(), config);
    }

    #[test]
    fn an_absent_seed_is_a_commented_example() {
        let text = to_commented_toml(&Config::default());
        assert!(text.contains("# seed = 42"), "{text}");
        assert!(
            text.contains("[close_codes]\n# \"4000-4099\" = \"stop\""),
            "{text}"
        );
    }
}
