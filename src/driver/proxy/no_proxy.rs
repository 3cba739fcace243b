//! `NO_PROXY` as curl reads it: a comma-separated list of host names, IP addresses and
//! CIDR ranges that bypass the proxy, or `*` alone for every host.
//!
//! - A name matches itself and every name under it, case-insensitively: `example.com`
//!   (or `.example.com`) matches `example.com` and `www.example.com`, not
//!   `notexample.com`. Trailing dots are ignored on both sides.
//! - When the target is an IP address, only IP entries match it: an address
//!   (`127.0.0.1`, `::1`, without brackets) or a CIDR range (`10.0.0.0/8`,
//!   `fe80::/10`). Names are never resolved to compare them.
//! - Blanks around an entry are skipped; several commas in a row are one. As in curl,
//!   the list ends at a blank that is not followed by a comma (`a b` is `a`).

use std::net::IpAddr;

/// A parsed `NO_PROXY` list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NoProxy {
    all: bool,
    entries: Vec<String>,
}

impl NoProxy {
    /// Parse a list (the value of `NO_PROXY`).
    pub fn parse(list: &str) -> NoProxy {
        if list.trim() == "*" {
            return NoProxy {
                all: true,
                entries: Vec::new(),
            };
        }
        let mut entries = Vec::new();
        let mut rest = list;
        loop {
            rest = rest.trim_start_matches(is_blank);
            let end = rest
                .find(|c: char| c == ',' || is_blank(c))
                .unwrap_or(rest.len());
            if end > 0 {
                entries.push(rest[..end].to_ascii_lowercase());
            }
            rest = rest[end..].trim_start_matches(is_blank);
            if !rest.starts_with(',') {
                break;
            }
            rest = rest.trim_start_matches(',');
        }
        NoProxy {
            all: false,
            entries,
        }
    }

    /// Whether the list is empty (nothing bypasses the proxy).
    pub fn is_empty(&self) -> bool {
        !self.all && self.entries.is_empty()
    }

    /// Whether `host` (a name, or an IP address without brackets) bypasses the proxy.
    pub fn matches(&self, host: &str) -> bool {
        if self.all {
            return true;
        }
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return false;
        }
        match host.parse::<IpAddr>() {
            Ok(ip) => self.entries.iter().any(|e| ip_matches(ip, e)),
            Err(_) => {
                let name = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
                self.entries.iter().any(|e| name_matches(&name, e))
            }
        }
    }
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

fn name_matches(name: &str, entry: &str) -> bool {
    let entry = entry.strip_suffix('.').unwrap_or(entry);
    let entry = entry.strip_prefix('.').unwrap_or(entry);
    if entry.is_empty() {
        return false;
    }
    name == entry
        || name
            .strip_suffix(entry)
            .is_some_and(|head| head.ends_with('.'))
}

/// An address or a CIDR range; bits 0 (or none) means the whole address, as in curl.
fn ip_matches(ip: IpAddr, entry: &str) -> bool {
    let (net, bits) = match entry.split_once('/') {
        Some((net, bits)) if !bits.is_empty() && bits.bytes().all(|b| b.is_ascii_digit()) => {
            match bits.parse::<u8>() {
                Ok(bits) => (net, bits),
                Err(_) => return false,
            }
        }
        Some(_) => return false,
        None => (entry, 0),
    };
    let Ok(net) = net.parse::<IpAddr>() else {
        return false;
    };
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => prefix_eq(&a.octets(), &n.octets(), bits),
        (IpAddr::V6(a), IpAddr::V6(n)) => prefix_eq(&a.octets(), &n.octets(), bits),
        _ => false,
    }
}

/// Whether the first `bits` bits of `a` and `b` are equal (0: all of them).
fn prefix_eq(a: &[u8], b: &[u8], bits: u8) -> bool {
    let total = a.len() * 8;
    let bits = match bits as usize {
        0 => total,
        n if n > total => return false,
        n => n,
    };
    let (bytes, rest) = (bits / 8, bits % 8);
    if a[..bytes] != b[..bytes] {
        return false;
    }
    rest == 0 || (a[bytes] ^ b[bytes]) & (0xffu8 << (8 - rest)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// curl's own cases (tests/unit/unit1614.c): host, list, whether it bypasses.
    const CURL: &[(&str, &str, bool)] = &[
        (
            "www.example.com",
            "localhost .example.com .example.de",
            false,
        ),
        (
            "www.example.com",
            "localhost,.example.com,.example.de",
            true,
        ),
        (
            "www.example.com.",
            "localhost,.example.com,.example.de",
            true,
        ),
        ("example.com", "localhost,.example.com,.example.de", true),
        ("example.com.", "localhost,.example.com,.example.de", true),
        (
            "www.example.com",
            "localhost,.example.com.,.example.de",
            true,
        ),
        (
            "www.example.com",
            "localhost,www.example.com.,.example.de",
            true,
        ),
        ("example.com", "localhost,example.com,.example.de", true),
        ("example.com.", "localhost,example.com,.example.de", true),
        ("nexample.com", "localhost,example.com,.example.de", false),
        ("www.example.com", "localhost,example.com,.example.de", true),
        ("127.0.0.1", "127.0.0.1,localhost", true),
        ("127.0.0.1", "127.0.0.1,localhost,", true),
        ("127.0.0.1", "127.0.0.1/8,localhost,", true),
        ("127.0.0.1", "127.0.0.1/28,localhost,", true),
        ("127.0.0.1", "127.0.0.1/31,localhost,", true),
        ("127.0.0.1", "localhost,127.0.0.1", true),
        ("localhost", "localhost,127.0.0.1", true),
        ("localhost", "127.0.0.1,localhost", true),
        ("foobar", "barfoo", false),
        ("foobar", "foobar", true),
        ("192.168.0.1", "foobar", false),
        ("192.168.0.1", "192.168.0.0/16", true),
        ("192.168.0.1", "192.168.0.0/16a", false),
        ("192.168.0.1", "192.168.0.0/16 ", true),
        ("192.168.0.1", "192.168.0.0/a16", false),
        ("192.168.0.1", "192.168.0.0/ 16", false),
        ("192.168.0.1", "192.168.0.0/24", true),
        ("192.168.0.1", "192.168.0.0/32", false),
        ("192.168.0.1", "192.168.0.1/32", true),
        ("192.168.0.1", "192.168.0.1/33", false),
        ("192.168.0.1", "192.168.0.0", false),
        ("192.168.1.1", "192.168.0.0/24", false),
        ("192.168.1.1", "192.168.0.0/33", false),
        ("192.168.1.1", "foo, bar, 192.168.0.0/24", false),
        ("192.168.1.1", "foo, bar, 192.168.0.0/16", true),
        ("::1", "foo, bar, 192.168.0.0/16", false),
        ("::1", "foo, bar, ::1/64", true),
        ("::1", "::1/64", true),
        ("::1", "::1/96", true),
        ("::1", "::1/129", false),
        ("::1", "::1/128", true),
        ("::1", "::1/127", true),
        ("::1", "::1/a127", false),
        ("::1", "::1/127a", false),
        ("::1", "::1/ 127", false),
        ("::1", "::1/127 ", true),
        ("::1", "::1/122", true),
        ("2001:db8:8000::1", "2001:db8::/65", false),
        ("2001:db8:8000::1", "2001:db8::/72", false),
        ("2001:db8::1", "2001:db8::/65", true),
        ("2001:db8::1", "2001:db8::/72", true),
        ("bar", "foo, bar, ::1/64", true),
        ("BAr", "foo, bar, ::1/64", true),
        ("BAr", "foo,,,,,              bar, ::1/64", true),
        ("www.example.com", "foo, .example.com", true),
        ("www.example.com", "www2.example.com, .example.net", false),
        ("example.com", ".example.com, .example.net", true),
        ("nonexample.com", ".example.com, .example.net", false),
    ];

    #[test]
    fn curls_cases() {
        for (host, list, bypass) in CURL {
            assert_eq!(
                NoProxy::parse(list).matches(host),
                *bypass,
                "{host} in {list:?}"
            );
        }
    }

    #[test]
    fn star_bracketed_hosts_and_empty_lists() {
        assert!(NoProxy::parse("*").matches("anything.example"));
        assert!(NoProxy::parse(" * ").matches("10.1.2.3"));
        // `*` is a wildcard only alone, as in curl.
        assert!(!NoProxy::parse("*, foo").matches("bar"));
        assert!(NoProxy::parse("::1").matches("[::1]"));
        assert!(NoProxy::parse("EXAMPLE.com").matches("api.Example.COM"));
        assert!(!NoProxy::parse("").matches("example.com"));
        assert!(NoProxy::parse("").is_empty());
        assert!(!NoProxy::parse("*").is_empty());
        assert!(!NoProxy::parse(".").matches("example.com"));
        // Names never match IP targets, nor IPs names.
        assert!(!NoProxy::parse("localhost").matches("127.0.0.1"));
        assert!(!NoProxy::parse("127.0.0.1").matches("localhost"));
        // A v4 range never matches a v6 target.
        assert!(!NoProxy::parse("0.0.0.0/1").matches("::1"));
        assert!(NoProxy::parse("10.0.0.0/8").matches("10.200.3.4"));
        assert!(!NoProxy::parse("10.0.0.0/8").matches("11.0.0.1"));
    }
}
