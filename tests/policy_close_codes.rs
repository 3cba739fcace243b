//! Close-code classification, table-driven from docs/design.md's "Default policy" table.
//!
//! Every expectation here is written from the design's table (and RFC 6455 / the IANA
//! registry for names), never copied from the code under test.

use redial::config::Action;
use redial::policy::{classify_close, close_code_name, Class};

/// One row of docs/design.md's close-code table: the codes it lists, their class and
/// the default action its "default decision" column describes.
struct Row {
    codes: &'static [u16],
    class: Class,
    action: Action,
}

/// The close-code table, row by row, as docs/design.md writes it.
const TABLE: &[Row] = &[
    // 1000 normal | done | reconnect when next needed (lazily)
    Row {
        codes: &[1000],
        class: Class::Done,
        action: Action::ReconnectLazily,
    },
    // 1001, 1005, 1006, 1011, 1014 | transient | retry with backoff
    Row {
        codes: &[1001, 1005, 1006, 1011, 1014],
        class: Class::Transient,
        action: Action::Retry,
    },
    // 1012 | restart | retry after a randomized delay
    Row {
        codes: &[1012],
        class: Class::Restart,
        action: Action::RetryAfterRestart,
    },
    // 1013 | overload | retry with a longer backoff
    Row {
        codes: &[1013],
        class: Class::Overload,
        action: Action::RetrySlow,
    },
    // 1008 | policy | no retry: fall back at once, else stop
    Row {
        codes: &[1008],
        class: Class::Policy,
        action: Action::FallBack,
    },
    // 1002, 1003, 1007, 1009, 1010, 1015, <1000, 1004, 1016–2999, ≥5000 | protocol
    Row {
        codes: &[
            1002, 1003, 1007, 1009, 1010, 1015, 0, 1, 500, 999, 1004, 1016, 1500, 2000, 2999, 5000,
            6000, 65534, 65535,
        ],
        class: Class::Protocol,
        action: Action::FallBack,
    },
    // 3000 unauthorized, 3003 forbidden | auth | re-authenticate once
    Row {
        codes: &[3000, 3003],
        class: Class::Auth,
        action: Action::Reauthenticate,
    },
    // other 3000–3999, 4000–4999 | application | default: retry with backoff
    Row {
        codes: &[3001, 3002, 3004, 3500, 3999, 4000, 4001, 4500, 4999],
        class: Class::Application,
        action: Action::Retry,
    },
];

#[test]
fn every_row_of_the_close_code_table() {
    for row in TABLE {
        for &code in row.codes {
            let class = classify_close(Some(code));
            assert_eq!(class, row.class, "close code {code}");
            assert_eq!(
                class.default_action(),
                row.action,
                "default action for close code {code} ({class})"
            );
        }
    }
}

#[test]
fn the_table_names_every_class_a_close_code_can_have() {
    // Classes a close code can never produce (they describe dial failures only).
    let dial_only = [
        Class::RateLimited,
        Class::Rejected,
        Class::Certificate,
        Class::ProxyAuth,
        Class::SubprotocolMismatch,
        Class::ProxyUnsupported,
    ];
    for class in Class::ALL {
        let in_table = TABLE.iter().any(|r| r.class == class);
        assert_eq!(in_table, !dial_only.contains(&class), "{class}");
    }
}

#[test]
fn class_boundaries() {
    let cases: &[(Option<u16>, Class)] = &[
        (Some(0), Class::Protocol),
        (Some(999), Class::Protocol),
        (Some(1000), Class::Done),
        (Some(1015), Class::Protocol),
        (Some(1016), Class::Protocol),
        (Some(2999), Class::Protocol),
        (Some(3000), Class::Auth),
        (Some(3001), Class::Application),
        (Some(3002), Class::Application),
        (Some(3003), Class::Auth),
        (Some(3004), Class::Application),
        (Some(3999), Class::Application),
        (Some(4000), Class::Application),
        (Some(4999), Class::Application),
        (Some(5000), Class::Protocol),
        (Some(65535), Class::Protocol),
        // A close frame without a status code is reported as 1005 (no status): transient.
        (None, Class::Transient),
    ];
    for &(code, class) in cases {
        assert_eq!(classify_close(code), class, "close code {code:?}");
    }
    assert_eq!(classify_close(None), classify_close(Some(1005)));
}

#[test]
fn never_retried_over_websockets_after_policy_or_protocol() {
    // Invariant 3: policy and protocol classes never retry over WebSockets by default.
    for class in [Class::Policy, Class::Protocol] {
        assert!(!class.default_action().retries(), "{class}");
    }
    for class in [
        Class::Transient,
        Class::Restart,
        Class::Overload,
        Class::Application,
    ] {
        assert!(class.default_action().retries(), "{class}");
    }
}

/// The classification of every `u16`, written out as ranges from docs/design.md.
const REFERENCE: &[(u16, u16, Class)] = &[
    (0, 999, Class::Protocol),      // must never be on the wire
    (1000, 1000, Class::Done),      // normal closure
    (1001, 1001, Class::Transient), // going away
    (1002, 1004, Class::Protocol),  // protocol error, unsupported data, reserved
    (1005, 1006, Class::Transient), // no status, abnormal closure
    (1007, 1007, Class::Protocol),  // invalid payload data
    (1008, 1008, Class::Policy),    // policy violation
    (1009, 1010, Class::Protocol),  // message too big, mandatory extension
    (1011, 1011, Class::Transient), // internal error
    (1012, 1012, Class::Restart),   // service restart
    (1013, 1013, Class::Overload),  // try again later
    (1014, 1014, Class::Transient), // bad gateway
    (1015, 2999, Class::Protocol),  // TLS handshake (never sent), then unassigned
    (3000, 3000, Class::Auth),      // unauthorized
    (3001, 3002, Class::Application),
    (3003, 3003, Class::Auth), // forbidden
    (3004, 4999, Class::Application),
    (5000, 65535, Class::Protocol), // must never be on the wire
];

fn reference(code: u16) -> Class {
    REFERENCE
        .iter()
        .find(|(first, last, _)| (*first..=*last).contains(&code))
        .map(|r| r.2)
        .expect("the reference covers every u16")
}

#[test]
fn the_reference_ranges_are_contiguous_and_cover_every_u16() {
    assert_eq!(REFERENCE.first().unwrap().0, 0);
    assert_eq!(REFERENCE.last().unwrap().1, u16::MAX);
    for pair in REFERENCE.windows(2) {
        assert!(pair[0].0 <= pair[0].1, "{:?}", (pair[0].0, pair[0].1));
        assert_eq!(u32::from(pair[0].1) + 1, u32::from(pair[1].0));
    }
}

#[test]
fn all_65536_codes_agree_with_the_reference() {
    let mut mismatches = Vec::new();
    for code in 0..=u16::MAX {
        let (got, want) = (classify_close(Some(code)), reference(code));
        if got != want {
            mismatches.push((code, got, want));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} mismatches, first: {:?}",
        mismatches.len(),
        &mismatches[..mismatches.len().min(10)]
    );
}

#[test]
fn all_65536_codes_agree_with_the_table_rows() {
    // The reference and the table say the same thing for every listed code.
    for row in TABLE {
        for &code in row.codes {
            assert_eq!(reference(code), row.class, "reference vs table for {code}");
        }
    }
}

#[test]
fn registered_codes_have_their_names() {
    // Names from RFC 6455 §7.4.1 and the IANA WebSocket close code registry (3000, 3003),
    // as words the name must contain (case-insensitive).
    let cases: &[(u16, &[&str])] = &[
        (1000, &["normal"]),
        (1001, &["going away"]),
        (1002, &["protocol"]),
        (1003, &["unsupported"]),
        (1004, &["reserved"]),
        (1005, &["no status"]),
        (1006, &["abnormal"]),
        (1007, &["invalid", "payload"]),
        (1008, &["policy violation"]),
        (1009, &["too big"]),
        (1010, &["extension"]),
        (1011, &["internal"]),
        (1012, &["restart"]),
        (1013, &["try again later"]),
        (1014, &["bad gateway"]),
        (1015, &["tls"]),
        (3000, &["unauthorized"]),
        (3003, &["forbidden"]),
    ];
    for &(code, words) in cases {
        let name = close_code_name(code).to_lowercase();
        for word in words {
            assert!(name.contains(word), "{code}: {name:?} lacks {word:?}");
        }
    }
}

#[test]
fn named_codes_have_distinct_names() {
    let named = [
        1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014,
        1015, 3000, 3003,
    ];
    let mut names: Vec<&str> = named.iter().map(|&c| close_code_name(c)).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), named.len(), "{names:?}");
}

#[test]
fn only_1000_is_called_normal() {
    // "Never 'closed normally' for a code that was not 1000."
    for code in 0..=u16::MAX {
        let name = close_code_name(code).to_lowercase();
        assert!(!name.is_empty(), "{code} has an empty name");
        // As a word: 1006 is rightly "abnormal".
        let normal = name
            .split(|c: char| !c.is_alphanumeric())
            .any(|w| w == "normal");
        assert_eq!(normal, code == 1000, "{code}: {name:?}");
    }
}

#[test]
fn unnamed_ranges_share_one_description_per_range() {
    // Codes of one unassigned/range row are described alike, and differently from the
    // application range, so a diagnosis can tell them apart.
    let ranges: &[(u16, u16)] = &[
        (0, 999),
        (1016, 2999),
        (3004, 3999),
        (4000, 4999),
        (5000, 65535),
    ];
    for &(first, last) in ranges {
        let name = close_code_name(first);
        for code in first..=last {
            assert_eq!(close_code_name(code), name, "{code} vs {first}");
        }
    }
    assert_ne!(close_code_name(3500), close_code_name(4500));
    assert_ne!(close_code_name(2000), close_code_name(4500));
    assert!(close_code_name(4500).to_lowercase().contains("application"));
}
