//! `socks5_reply`: the client's side of a SOCKS5 handshake (RFC 1928, RFC 1929) against
//! a hostile proxy that sends arbitrary bytes. The first byte picks the case (bit 0:
//! with user and password; bit 1: the target by name rather than by address); the rest
//! is everything the proxy sends. Asserts: no panic and no hang (the handshake reads
//! only what each step announces, from a finite input); a failure renders as a
//! non-empty sentence that never shows the password, and has a class; the same input
//! twice gives the same result; success needs at least the smallest whole exchange.

#![no_main]

use libfuzzer_sys::fuzz_target;
use redial::policy::classify_proxy_failure;
use redial::testing::socks5_against;

fuzz_target!(|data: &[u8]| {
    let Some((&case, replies)) = data.split_first() else {
        return;
    };
    let (credentials, name) = (case & 1 != 0, case & 2 != 0);
    let first = socks5_against(replies, credentials, name);
    assert_eq!(
        first,
        socks5_against(replies, credentials, name),
        "not deterministic"
    );
    match first {
        // Method choice (2), reply head (4), the shortest bound address (IPv4 + port, or
        // an empty name: 1 + 2).
        Ok(()) => assert!(replies.len() >= 2 + 4 + 3, "{replies:?}"),
        Err(failure) => {
            let shown = failure.to_string();
            assert!(!shown.trim().is_empty(), "{failure:?}");
            assert!(!shown.contains("secret"), "the password shows: {shown}");
            let _ = classify_proxy_failure(&failure);
        }
    }
});
