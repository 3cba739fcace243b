//! The close-code and handshake tables of `docs/`, computed by calling the policy.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use redial::config::Action;
use redial::config::{Policy, Preset};
use redial::core::{CloseReason, Failure};
use redial::policy::{
    classify_close, classify_reach_failure, classify_status, close_code_name, decide, fmt_duration,
    status_name, Backoff, Budget, Class, Decision, Phase, ProxyFailure, ReachFailure, SocksFailure,
    SubprotocolMismatch,
};
use serde_json::Value;

use crate::HEADER;

// ---------------------------------------------------------------- policy, shared

fn presets() -> Vec<(Preset, Policy)> {
    Preset::ALL
        .into_iter()
        .map(|p| (p, p.config().validate().expect("every preset validates")))
        .collect()
}

/// What `decide` makes of a failure of `class` under `policy`, as a phrase: the first
/// failure, then where it differs, on a stable connection (`after_open`), after
/// re-authenticating, and once the retry budget is spent.
fn decision(
    policy: &Policy,
    class: Class,
    code: Option<u16>,
    retry_after: Option<Duration>,
    after_open: bool,
) -> String {
    let over = code.and_then(|c| policy.override_for(c));
    let action = over.unwrap_or(class.default_action());
    let run = |dials: u32, reauth_used: bool, was_stable: bool| {
        let budget = Budget {
            dials,
            streak: Duration::ZERO,
            reauth_used,
            was_stable,
        };
        let mut backoff = Backoff::new(policy.config().backoff.clone(), 1);
        let d = decide(class, over, &budget, retry_after, policy, &mut backoff);
        describe(policy, action, retry_after, &d)
    };
    let first = run(1, false, false);
    let mut text = first.clone();
    if after_open {
        let stable = run(0, false, true);
        if stable != first {
            text = format!("{first} if the connection was not yet stable; {stable} if it was");
        }
    }
    let again = run(1, true, false);
    if again != first {
        let _ = write!(text, "; after re-authenticating: {again}");
    }
    let spent = run(policy.max_attempts(), false, false);
    if spent != first {
        let _ = write!(text, "; once the budget is spent: {spent}");
    }
    text
}

fn describe(
    policy: &Policy,
    action: Action,
    retry_after: Option<Duration>,
    d: &Decision,
) -> String {
    let c = &policy.config().delays;
    match d {
        Decision::Retry { .. } => {
            let base = match action {
                Action::RetryAfterRestart => format!(
                    "retry after a random delay in {}–{}",
                    fmt_duration(c.restart_min),
                    fmt_duration(c.restart_max)
                ),
                Action::RetrySlow => format!(
                    "retry with backoff, at least {}",
                    fmt_duration(c.overload_min)
                ),
                _ => "retry with backoff".to_string(),
            };
            match retry_after {
                Some(_) => format!(
                    "{base}, or after `Retry-After` when longer (at most {})",
                    fmt_duration(c.max_retry_after)
                ),
                None => base,
            }
        }
        Decision::Reauthenticate => {
            "ask the application to re-authenticate, then dial once more".into()
        }
        Decision::FallBack(_) => "fall back".into(),
        Decision::Stop {
            fallback_unavailable: true,
            ..
        } => "stop (no fallback available)".into(),
        Decision::Stop { .. } => "stop".into(),
        Decision::WaitForDemand => "wait until a connection is needed (Idle)".into(),
    }
}

fn range(first: u16, last: u16) -> String {
    if first == last {
        first.to_string()
    } else {
        format!("{first}–{last}")
    }
}

/// Runs of equal keys over `first..=last`, as `(first, last)` pairs.
fn runs<K: PartialEq>(first: u16, last: u16, key: impl Fn(u16) -> K) -> Vec<(u16, u16)> {
    let mut out: Vec<(u16, u16)> = Vec::new();
    let mut start = first;
    for code in first..=last {
        if code == last || key(code + 1) != key(start) {
            out.push((start, code));
            start = code.saturating_add(1);
        }
    }
    out
}

/// A Markdown table, built row by row.
pub struct Table(pub String);

impl Table {
    /// A table with `columns`, then one column per preset.
    pub fn new(columns: &[&str], presets: &[(Preset, Policy)]) -> Table {
        let mut names: Vec<String> = columns.iter().map(|c| c.to_string()).collect();
        names.extend(
            presets
                .iter()
                .map(|(p, _)| format!("`{}` preset", p.name())),
        );
        let rule = "|---".repeat(names.len());
        Table(format!("| {} |\n{rule}|\n", names.join(" | ")))
    }

    pub fn row(&mut self, cells: Vec<String>) {
        let _ = writeln!(self.0, "| {} |", cells.join(" | "));
    }
}

/// The class, its default action and the decision under each preset, as cells.
fn class_cells(
    presets: &[(Preset, Policy)],
    class: Class,
    code: Option<u16>,
    ra: Option<Duration>,
    after_open: bool,
) -> Vec<String> {
    let mut cells = vec![
        format!("`{class}`"),
        format!("`{}`", class.default_action()),
    ];
    cells.extend(
        presets
            .iter()
            .map(|(_, p)| decision(p, class, code, ra, after_open)),
    );
    cells
}

// ---------------------------------------------------------------- close codes

pub fn close_codes_md() -> String {
    let presets = presets();
    let mut md = format!("{HEADER}\n\n# Close codes\n\n");
    md.push_str(
        "How the core treats every close code a server can send (`redial::policy`). The \
         ranges come from calling `classify_close` on all 65,536 codes and grouping runs of \
         equal class (and equal preset overrides); the names from `close_code_name`. The \
         default action is `Class::default_action`; a config's `close_codes` table can \
         override it per code or range. The preset columns are what `decide` does under each \
         preset, for a close on the first dial and, where it differs, once the retry budget \
         is spent. A close before the connection is *stable* (open for `min_uptime`, or \
         ended by a 1000 close after server data: a finished exchange; a message alone is \
         not stability) counts as a failed attempt. The presets' settings \
         are compared in [handshake.md](handshake.md#presets).\n\n",
    );
    let mut table = Table::new(&["codes", "names", "class", "default action"], &presets);
    let key = |code: u16| {
        let overrides: Vec<Option<Action>> =
            presets.iter().map(|(_, p)| p.override_for(code)).collect();
        (classify_close(Some(code)), overrides)
    };
    for (first, last) in runs(0, u16::MAX, key) {
        let named = runs(first, last, close_code_name);
        let names: Vec<String> = match named[..] {
            [(a, _)] => vec![close_code_name(a).to_string()],
            _ => named
                .iter()
                .map(|(a, b)| format!("{} {}", range(*a, *b), close_code_name(*a)))
                .collect(),
        };
        let mut cells = vec![range(first, last), names.join("; ")];
        cells.extend(class_cells(
            &presets,
            classify_close(Some(first)),
            Some(first),
            None,
            true,
        ));
        table.row(cells);
    }
    md.push_str(&table.0);
    md.push_str(
        "\n## Endings without a status code\n\nThese are classified by the core \
         (`Failure::class`) and looked up in `close_codes` under the code `Failure::code` \
         gives them.\n\n",
    );
    let mut table = Table::new(
        &["ending", "code looked up", "class", "default action"],
        &presets,
    );
    let (z, reason) = (Duration::ZERO, CloseReason::default());
    let no_status = Failure::Closed {
        code: None,
        reason,
        class: classify_close(None),
        after_upgrade: z,
        received: false,
    };
    let dropped = Failure::Dropped {
        detail: String::new(),
        after_upgrade: z,
        received: false,
    };
    let endings = [
        ("close frame without a status code", no_status),
        ("connection dropped without a close frame", dropped),
        (
            "no pong after a ping",
            Failure::PongTimeout {
                waited: z,
                after_upgrade: z,
            },
        ),
    ];
    for (what, failure) in endings {
        let code = failure.code();
        let mut cells = vec![
            what.to_string(),
            code.map_or("none".into(), |c| c.to_string()),
        ];
        cells.extend(class_cells(&presets, failure.class(), code, None, true));
        table.row(cells);
    }
    md.push_str(&table.0);
    md
}

// ---------------------------------------------------------------- handshake

pub fn handshake_md() -> String {
    let presets = presets();
    let mut md = format!("{HEADER}\n\n# Handshake outcomes\n\n");
    md.push_str(
        "How the core treats a dial that did not reach an open WebSocket (`redial::policy`). \
         HTTP statuses 100–599 answering the upgrade are grouped into ranges of equal class \
         by `classify_status`, without and with a `Retry-After` header; the other failures \
         are classified by `classify_reach_failure`. The default action is \
         `Class::default_action` (`close_codes` overrides apply to close codes only, never \
         to handshakes). The preset columns are what `decide` does under each preset for a \
         failure of the first dial and, where it differs, after re-authenticating and once \
         the retry budget is spent.\n\n## HTTP statuses\n\n",
    );
    let columns = [
        "status",
        "`Retry-After`",
        "named statuses",
        "class",
        "default action",
    ];
    let mut table = Table::new(&columns, &presets);
    let key = |s: u16| (s / 100, classify_status(s, false), classify_status(s, true));
    for (first, last) in runs(100, 599, key) {
        let names: Vec<String> = (first..=last)
            .filter_map(|s| status_name(s).map(|n| format!("{s} {n}")))
            .collect();
        let names = if names.is_empty() {
            "—".to_string()
        } else {
            names.join(", ")
        };
        let cells = |ra: Option<Duration>| {
            class_cells(
                &presets,
                classify_status(first, ra.is_some()),
                None,
                ra,
                false,
            )
        };
        let (without, with) = (cells(None), cells(Some(Duration::from_secs(30))));
        let rows = if without == with {
            vec![("either", without)]
        } else {
            vec![("no", without), ("yes", with)]
        };
        for (ra, rest) in rows {
            let mut cells = vec![range(first, last), ra.to_string(), names.clone()];
            cells.extend(rest);
            table.row(cells);
        }
    }
    md.push_str(&table.0);
    md.push_str("\n## Other dial failures\n\n");
    let mut table = Table::new(
        &["failure", "the diagnosis reads", "class", "default action"],
        &presets,
    );
    for (name, failure) in dial_failures() {
        let mut cells = vec![name.to_string(), failure.to_string()];
        cells.extend(class_cells(
            &presets,
            classify_reach_failure(&failure),
            None,
            None,
            false,
        ));
        table.row(cells);
    }
    md.push_str(&table.0);
    md.push_str(&presets_md(&presets));
    md
}

/// One example of every kind of dial failure but an HTTP status, with a short name. The
/// match is exhaustive on purpose: a new kind of failure does not compile until it is
/// named here.
fn dial_failures() -> Vec<(&'static str, ReachFailure)> {
    use ReachFailure as F;
    let socks = |failure| F::Proxy {
        proxy: "socks.example:1080".into(),
        failure: Box::new(ProxyFailure::Socks(failure)),
    };
    let reply = |reply| SocksFailure::Reply {
        reply,
        target: "server.example:443".into(),
    };
    let all = [
        F::Dns("example.invalid".into()),
        F::Refused,
        F::Reset,
        F::Timeout(Phase::Connect),
        F::Timeout(Phase::Handshake),
        F::Tls("handshake alert".into()),
        F::Certificate("unknown issuer".into()),
        F::Io("broken pipe".into()),
        F::Redirect {
            status: 301,
            location: Some("wss://example.com/v2".into()),
        },
        F::Proxy {
            proxy: "proxy.example:3128".into(),
            failure: Box::new(ProxyFailure::Unreachable("connection refused".into())),
        },
        F::Proxy {
            proxy: "proxy.example:3128".into(),
            failure: Box::new(ProxyFailure::Malformed("invalid HTTP version".into())),
        },
        F::Proxy {
            proxy: "proxy.example:3128".into(),
            failure: Box::new(ProxyFailure::Status {
                status: 407,
                reason: Some("Proxy Authentication Required".into()),
            }),
        },
        F::Proxy {
            proxy: "proxy.example:3128".into(),
            failure: Box::new(ProxyFailure::Status {
                status: 401,
                reason: Some("Unauthorized".into()),
            }),
        },
        F::Proxy {
            proxy: "proxy.example:3128".into(),
            failure: Box::new(ProxyFailure::Status {
                status: 403,
                reason: Some("Filtered".into()),
            }),
        },
        F::Proxy {
            proxy: "proxy.example:3128".into(),
            // tinyproxy's answer when it cannot reach the server.
            failure: Box::new(ProxyFailure::Status {
                status: 500,
                reason: Some("Unable to connect".into()),
            }),
        },
        socks(SocksFailure::NoAcceptableMethod {
            offered_password: true,
        }),
        socks(SocksFailure::NoAcceptableMethod {
            offered_password: false,
        }),
        socks(SocksFailure::AuthFailed { status: 1 }),
        socks(SocksFailure::CredentialsTooLong),
        socks(reply(1)),
        socks(reply(2)),
        socks(reply(3)),
        socks(reply(4)),
        socks(reply(5)),
        socks(reply(6)),
        socks(reply(7)),
        socks(reply(8)),
        socks(reply(9)),
        socks(SocksFailure::Malformed(
            "not a SOCKS5 answer (version byte 0x48)".into(),
        )),
        F::Subprotocol(Box::new(SubprotocolMismatch {
            offered: vec!["chat.v2".into(), "chat.v1".into()],
            answered: Some("chat.v3".into()),
        })),
        F::Subprotocol(Box::new(SubprotocolMismatch {
            offered: vec!["chat.v2".into()],
            answered: None,
        })),
    ];
    let name = |f: &F| match f {
        F::Dns(_) => "DNS failure",
        F::Refused => "connection refused",
        F::Reset => "connection reset",
        F::Timeout(Phase::Connect) => "connect timeout",
        F::Timeout(Phase::Handshake) => "handshake timeout",
        // The fallback's own phases: a dial has none of them.
        F::Timeout(Phase::Tls | Phase::Headers | Phase::Idle) => "fallback timeout",
        F::Tls(_) => "TLS failure",
        F::Certificate(_) => "certificate rejected",
        F::Status { .. } => "HTTP status",
        F::Io(_) => "other I/O error",
        F::Redirect { .. } => "redirect (3xx), not followed",
        F::Subprotocol(m) if m.answered.is_some() => "subprotocol not offered",
        F::Subprotocol(_) => "no subprotocol, one required",
        F::Proxy { failure, .. } => match **failure {
            ProxyFailure::Unreachable(_) => "proxy unreachable",
            ProxyFailure::Malformed(_) => "proxy answer not HTTP",
            ProxyFailure::Status { status: 407, .. } => "proxy answered 407",
            ProxyFailure::Status { status: 401, .. } => "proxy answered 401",
            ProxyFailure::Status { status: 403, .. } => "proxy answered 403",
            ProxyFailure::Status { .. } => "proxy answered 5xx",
            ProxyFailure::Socks(SocksFailure::NoAcceptableMethod {
                offered_password: true,
            }) => "SOCKS5: no acceptable method (user and password offered)",
            ProxyFailure::Socks(SocksFailure::NoAcceptableMethod { .. }) => {
                "SOCKS5: no acceptable method (none offered)"
            }
            ProxyFailure::Socks(SocksFailure::AuthFailed { .. }) => "SOCKS5: authentication failed",
            ProxyFailure::Socks(SocksFailure::Malformed(_)) => "SOCKS5: answer not SOCKS5",
            ProxyFailure::Socks(SocksFailure::CredentialsTooLong) => {
                "SOCKS5: user or password over 255 bytes"
            }
            ProxyFailure::Socks(SocksFailure::Reply { reply, .. }) => match reply {
                1 => "SOCKS5 reply 1",
                2 => "SOCKS5 reply 2",
                3 => "SOCKS5 reply 3",
                4 => "SOCKS5 reply 4",
                5 => "SOCKS5 reply 5",
                6 => "SOCKS5 reply 6",
                7 => "SOCKS5 reply 7",
                8 => "SOCKS5 reply 8",
                _ => "SOCKS5 unassigned reply",
            },
        },
    };
    all.into_iter().map(|f| (name(&f), f)).collect()
}

/// The settings in which the presets differ, from their serialized configs.
fn presets_md(presets: &[(Preset, Policy)]) -> String {
    let flat: Vec<BTreeMap<String, String>> = presets
        .iter()
        .map(|(_, p)| {
            let mut out = BTreeMap::new();
            flatten(
                "",
                &serde_json::to_value(p.config()).expect("a config serializes"),
                &mut out,
            );
            out
        })
        .collect();
    let mut keys: Vec<&String> = flat.iter().flat_map(|m| m.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut md = String::from(
        "\n## Presets\n\nThe settings in which the presets differ (from their serialized \
         configs; absent means unset); all other settings are equal.\n\n",
    );
    let mut table = Table::new(&["setting"], presets);
    for key in keys {
        let values: Vec<&str> = flat
            .iter()
            .map(|m| m.get(key).map_or("absent", String::as_str))
            .collect();
        if values.iter().any(|v| *v != values[0]) {
            let mut cells = vec![format!("`{key}`")];
            cells.extend(values.iter().map(|v| format!("`{v}`")));
            table.row(cells);
        }
    }
    md.push_str(&table.0);
    md
}

fn flatten(prefix: &str, value: &Value, out: &mut BTreeMap<String, String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let plain = k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    && k.starts_with(|c: char| c.is_ascii_alphabetic());
                let k = if plain { k.clone() } else { format!("\"{k}\"") };
                let key = if prefix.is_empty() {
                    k
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        Value::String(s) => {
            out.insert(prefix.to_string(), s.clone());
        }
        other => {
            out.insert(prefix.to_string(), other.to_string());
        }
    }
}
