//! How URLs are shown: the one redaction of the crate. Causes, events, logs, `Debug`
//! output, config errors and the `redial` command line all show a URL through
//! [`redact_url`], so a password or a token in a URL is never printed, whichever way
//! the URL came in (a builder, a config file, the environment, a command-line flag).
//!
//! It works on text, without the driver's URL parser, so that the core build (without
//! default features) has it too, and it is careful with text that is *not* a valid URL:
//! a rejected value is exactly what gets echoed in an error message.

/// What replaces a hidden part.
const HIDDEN: &str = "<redacted>";

/// `url` as it may be shown: its user info (user name and password) replaced by
/// `<redacted>`, its query by `?<redacted>`, its fragment left out; the scheme, host,
/// port and path kept as written.
///
/// Text that is not a valid URL is shown without whatever could be user info: without a
/// `scheme://`, the text up to its last `@` is user info (`user:pw@host:1` is how a
/// proxy is often written); when the part where a host and port belong cannot be one
/// (`http://user:pa/ss@host`, `http://user:secret`, a port past 65535), it is hidden
/// whole, up to the last `@` if there is one. Applying it twice changes nothing.
///
/// ```
/// use redial::redact::redact_url;
/// assert_eq!(
///     redact_url("wss://user:hunter2@api.test:8443/v1?token=sk-1"),
///     "wss://<redacted>@api.test:8443/v1?<redacted>"
/// );
/// assert_eq!(redact_url("user:s3cret@proxy:99999"), "<redacted>@proxy:99999");
/// assert_eq!(redact_url("http://user:pa/ss@proxy:3128"), "http://<redacted>@proxy:3128");
/// assert_eq!(redact_url("http://proxy:3128/a@b"), "http://proxy:3128/a@b");
/// ```
pub fn redact_url(url: &str) -> String {
    let text = url.trim();
    let (scheme, rest) = text.split_at(scheme_len(text));
    // The authority ends at the path, query or fragment (a backslash counts as a
    // slash, as the URL standard reads it after `http:` and the like).
    let end = rest.find(['/', '\\', '?', '#']).unwrap_or(rest.len());
    let hidden_to = match rest[..end].rfind('@') {
        Some(at) => Some(at),
        None if plausible_host_port(&rest[..end]) => None,
        // Not a host and port: a password that held a `/`, `?` or `#`, or one with no
        // host after it. Hide up to the last `@`, or the whole authority.
        None => Some(rest.rfind('@').unwrap_or(end)),
    };
    let mut shown = String::with_capacity(text.len());
    shown.push_str(scheme);
    let rest = match hidden_to {
        Some(i) => {
            shown.push_str(HIDDEN);
            &rest[i..]
        }
        None => rest,
    };
    match rest.find(['?', '#']) {
        Some(i) => {
            shown.push_str(&rest[..i]);
            if rest[i..].starts_with('?') {
                shown.push('?');
                shown.push_str(HIDDEN);
            }
        }
        None => shown.push_str(rest),
    }
    shown
}

/// `text` with every URL in it shown as [`redact_url`] shows it, for messages that
/// quote what they were given (an argument, a line of a config file). A URL here is a
/// run of non-space characters with `://` or `@` in it, quotes and brackets around it
/// left as they were.
///
/// ```
/// use redial::redact::redact_urls_in;
/// assert_eq!(
///     redact_urls_in("unexpected argument 'socks5://u:pw@p:1080' found"),
///     "unexpected argument 'socks5://<redacted>@p:1080' found"
/// );
/// assert_eq!(
///     redact_urls_in("line 2 (`url = \"u:pw@p:3128\" x`): expected newline"),
///     "line 2 (`url = \"<redacted>@p:3128\" x`): expected newline"
/// );
/// ```
pub fn redact_urls_in(text: &str) -> String {
    const OPENING: &[char] = &['\'', '"', '`', '(', '[', '{'];
    const CLOSING: &[char] = &['\'', '"', '`', ')', ']', '}', ',', ';', ':', '.'];
    let mut shown = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        let space = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let word = &rest[..space];
        let inner = word.trim_start_matches(OPENING).trim_end_matches(CLOSING);
        match inner.contains("://") || inner.contains('@') {
            true => {
                let before = word.len() - word.trim_start_matches(OPENING).len();
                shown.push_str(&word[..before]);
                shown.push_str(&redact_url(inner));
                shown.push_str(&word[before + inner.len()..]);
            }
            false => shown.push_str(word),
        }
        let next = rest[space..]
            .find(|c: char| !c.is_whitespace())
            .map_or(rest.len(), |i| space + i);
        shown.push_str(&rest[space..next]);
        rest = &rest[next..];
    }
    shown
}

/// The length of `scheme://` (or `scheme:\\`, or with one slash) at the start of
/// `text`, or 0: whatever comes before the first colon counts as the scheme when a slash
/// or a backslash follows that colon (`user:pw@host` has none; `1x://` is not a valid
/// scheme, but what follows it is still an authority that may hold a password).
fn scheme_len(text: &str) -> usize {
    let Some(colon) = text.find(':') else {
        return 0;
    };
    let slashes = text[colon + 1..]
        .chars()
        .take_while(|c| matches!(c, '/' | '\\'))
        .count();
    match slashes {
        0 => 0,
        n => colon + 1 + n,
    }
}

/// Whether `authority` (with no `@`) can be a host with an optional port: a bracketed
/// IPv6 address or a name without a colon, then nothing or `:` and a port of at most
/// five digits no greater than 65535.
fn plausible_host_port(authority: &str) -> bool {
    let port = match authority.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((_, "")) => return true,
            Some((_, after)) => match after.strip_prefix(':') {
                Some(port) => port,
                None => return false,
            },
            None => return false,
        },
        None => match authority.split_once(':') {
            Some((_, port)) => port,
            None => return true,
        },
    };
    port.is_empty() || (port.bytes().all(|b| b.is_ascii_digit()) && port.parse::<u16>().is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_info_queries_and_fragments_are_hidden() {
        let cases = [
            (
                "wss://user:hunter2@example.test:8443/v1?token=abc",
                "wss://<redacted>@example.test:8443/v1?<redacted>",
            ),
            ("http://u@p:1", "http://<redacted>@p:1"),
            ("http://:pw@p:1/", "http://<redacted>@p:1/"),
            ("http://a:b@c@p:1/x", "http://<redacted>@p:1/x"),
            ("https://h.test/x#frag", "https://h.test/x"),
            ("https://h.test/x?q#frag", "https://h.test/x?<redacted>"),
            ("https://h.test/x#f?q", "https://h.test/x"),
            ("http://[::1]:8080/", "http://[::1]:8080/"),
            ("http://u:p@[::1]:8080", "http://<redacted>@[::1]:8080"),
            ("p:1", "p:1"),
            ("proxy.corp", "proxy.corp"),
            ("a:b@p:1", "<redacted>@p:1"),
            (" http://u:p@h:1 ", "http://<redacted>@h:1"),
            ("HTTP://U:P@H", "HTTP://<redacted>@H"),
            ("", ""),
        ];
        for (url, shown) in cases {
            assert_eq!(redact_url(url), shown, "{url}");
            assert_eq!(redact_url(shown), shown, "twice: {url}");
        }
    }

    #[test]
    fn an_at_sign_after_a_valid_authority_is_part_of_the_path() {
        assert_eq!(redact_url("http://p:1/x@y"), "http://p:1/x@y");
        assert_eq!(
            redact_url("wss://api.test/users/@me"),
            "wss://api.test/users/@me"
        );
    }

    #[test]
    fn text_that_is_not_a_url_loses_whatever_could_be_a_password() {
        let cases = [
            // A password with a slash, a question mark or a hash, not percent-encoded.
            ("http://user:pa/ss@host:3128", "http://<redacted>@host:3128"),
            ("http://user:pa?ss@host:3128", "http://<redacted>@host:3128"),
            (
                "http://user:pa#ss@host:3128/x",
                "http://<redacted>@host:3128/x",
            ),
            // No host after the password.
            ("http://user:s3cret", "http://<redacted>"),
            ("http://user:s3cret/x", "http://<redacted>/x"),
            ("http://user:123456", "http://<redacted>"),
            // A bad port with user info: only the user info goes.
            (
                "http://user:s3cret@host:99999",
                "http://<redacted>@host:99999",
            ),
            (
                "socks5://user:s3cret@host:1080",
                "socks5://<redacted>@host:1080",
            ),
            // Without slashes, `http:` is not a scheme: the URL standard would read
            // the user info after it.
            ("http:user:s3cret@host", "<redacted>@host"),
            ("http:\\\\user:s3cret@host", "http:\\\\<redacted>@host"),
            ("[::1", "<redacted>"),
            ("h:1:2", "<redacted>"),
            ("1x://u:s3cret@h", "1x://<redacted>@h"),
        ];
        for (url, shown) in cases {
            assert_eq!(redact_url(url), shown, "{url}");
            assert!(!shown.contains("s3cret") && !shown.contains("ss@"));
            assert_eq!(redact_url(shown), shown, "twice: {url}");
        }
    }

    #[test]
    fn urls_in_text_are_redacted_in_place() {
        let cases = [
            (
                "a 'wss://u:p@h/x?t' and (http://h:1/y) end",
                "a 'wss://<redacted>@h/x?<redacted>' and (http://h:1/y) end",
            ),
            ("no url: a:b, c", "no url: a:b, c"),
            ("proxy a:s3cret@p:1, then", "proxy <redacted>@p:1, then"),
            (
                "`url = \"http://u:s3cret@h:1`): x",
                "`url = \"http://<redacted>@h:1`): x",
            ),
            ("x:// \t ://u:s3cret@h\n", "x:// \t ://<redacted>@h\n"),
            ("", ""),
            ("  ", "  "),
        ];
        for (text, shown) in cases {
            assert_eq!(redact_urls_in(text), shown, "{text}");
            assert_eq!(redact_urls_in(shown), shown, "twice: {text}");
        }
    }
}
