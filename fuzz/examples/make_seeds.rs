//! Writes the committed seed corpus, `fuzz/seeds/<target>/`:
//!
//! ```text
//! cargo run --manifest-path fuzz/Cargo.toml --example make_seeds
//! ```
//!
//! Seeds are small and named after what they encode; the fuzzer's own corpus lives in a
//! temporary directory (see `scripts/fuzz`) so that these stay few.

use std::fs;
use std::path::Path;

use redial::config::Preset;
use redial_fuzz::case::{encode, KNOB_BYTES};
use redial_fuzz::frames::frame;

// Step bytes: dt, then the wild input kinds of `redial_fuzz::case`.
const DEADLINE: u8 = 0x00;
const fn ms(n: u8) -> u8 {
    0x80 | (n & 31)
}
const START: u8 = 0xF0;
const PROGRESS: u8 = 0xF1;
const SUCCEEDED: u8 = 0xF2;
const FAILED: u8 = 0xF3;
const CLOSE: u8 = 0xF4;
const RECEIVED: u8 = 0xF6;
const USER_CLOSE: u8 = 0xF8;
const REAUTH: u8 = 0xFB;
const TIMEOUT: u8 = 0xFC;
/// `extra` of a close with the raw code in the argument and an empty reason.
const RAW_CODE: u8 = 1;
/// `extra` of a failure: an HTTP status from the argument, Retry-After in seconds × 3
/// from the high byte.
const STATUS_RA: u8 = 0x10 | 0x08 | (3 << 5);
const STATUS: u8 = 0x10 | 0x08;

type Steps = Vec<(u8, u8, u16, u8)>;

fn knobs(f: impl FnOnce(&mut [u8; KNOB_BYTES])) -> [u8; KNOB_BYTES] {
    let mut k = [0u8; KNOB_BYTES];
    f(&mut k);
    k
}

/// 101, then close 1008 with an empty reason 3 ms later.
fn mission() -> Steps {
    vec![
        (ms(0), START, 0, 0),
        (ms(1), PROGRESS, 0, 0),
        (ms(1), SUCCEEDED, 0, 0),
        (ms(3), CLOSE, 1008, RAW_CODE),
    ]
}

fn core_sequence() -> Vec<(&'static str, Vec<u8>)> {
    let default = knobs(|_| {});
    let codex = knobs(|k| k[0] = 3);
    // The mission, then the quiet re-probe 5 minutes later reaches a healthy server.
    let mut reprobe = mission();
    reprobe.extend([
        (DEADLINE, TIMEOUT, 0, 1),
        (ms(2), SUCCEEDED, 0, 0),
        (ms(5), RECEIVED, 0, 0),
        (ms(5), USER_CLOSE, 0, 0),
        (ms(5), CLOSE, 1000, RAW_CODE),
    ]);
    // The mission under codex-compat: every close retried, six dials, then the fallback.
    let mut codex_steps = mission();
    for _ in 0..6 {
        codex_steps.extend([
            (DEADLINE, TIMEOUT, 0, 0),
            (ms(2), SUCCEEDED, 0, 0),
            (ms(3), CLOSE, 1008, RAW_CODE),
        ]);
    }
    // Flapping: accepted, then 1001 2 ms later, until the budget is spent.
    let mut flapping = vec![(ms(0), START, 0, 0)];
    for _ in 0..6 {
        flapping.extend([
            (ms(2), SUCCEEDED, 0, 0),
            (ms(2), CLOSE, 1001, RAW_CODE),
            (DEADLINE, TIMEOUT, 0, 1),
        ]);
    }
    // 429 with Retry-After 6 s, 401 and re-authentication, 1012 then 1013.
    let mixed = vec![
        (ms(0), START, 0, 0),
        (ms(5), FAILED, u16::from_le_bytes([6, 2]), STATUS_RA),
        (DEADLINE, TIMEOUT, 0, 0),
        (ms(5), FAILED, 401, STATUS),
        (ms(5), REAUTH, 0, 1),
        (ms(5), SUCCEEDED, 0, 0),
        (ms(5), RECEIVED, 0, 0),
        (ms(5), CLOSE, 1012, RAW_CODE),
        (DEADLINE, TIMEOUT, 0, 0),
        (ms(5), SUCCEEDED, 0, 0),
        (ms(5), CLOSE, 1013, RAW_CODE),
        (DEADLINE, TIMEOUT, 0, 0),
    ];
    // Driver-like picks only (kinds below 0xF0), deadlines and small steps.
    let driver: Steps = (0..40u8)
        .map(|i| {
            (
                if i % 3 == 0 { DEADLINE } else { ms(i) },
                i.wrapping_mul(37) % 0xF0,
                1008,
                i,
            )
        })
        .collect();
    vec![
        ("mission-default", encode(&default, &mission())),
        ("mission-reprobe", encode(&default, &reprobe)),
        ("mission-codex-compat", encode(&codex, &codex_steps)),
        ("flapping-1001", encode(&default, &flapping)),
        (
            "retry-after-reauth-restart-overload",
            encode(&default, &mixed),
        ),
        ("driver-picks", encode(&default, &driver)),
    ]
}

fn close_frame() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("mission-1008-empty", vec![0x03, 0xf0]),
        ("1000-normal", b"\x03\xe8bye".to_vec()),
        ("1014-bad-gateway", b"\x03\xf6upstream down".to_vec()),
        ("3000-unauthorized", b"\x0b\xb8token expired".to_vec()),
        ("no-code", vec![]),
        ("one-byte", vec![0x03]),
        ("4001-not-utf8", b"\x0f\xa1bad \xff\xfe \xc3".to_vec()),
        (
            "1001-long-reason",
            [&b"\x03\xe9"[..], &[b'r'; 200]].concat(),
        ),
    ]
}

fn config() -> Vec<(String, Vec<u8>)> {
    let mut seeds: Vec<(String, Vec<u8>)> = Preset::ALL
        .iter()
        .map(|p| {
            (
                format!("preset-{}.toml", p.name()),
                p.config().to_toml_string().into_bytes(),
            )
        })
        .collect();
    let codex = Preset::CodexCompat.config();
    seeds.extend([
        (
            "preset-codex-compat.json".to_string(),
            serde_json::to_vec_pretty(&codex).expect("json"),
        ),
        (
            "invalid-cap.toml".to_string(),
            b"[backoff]\nbase = \"1s\"\ncap = \"1ms\"\n".to_vec(),
        ),
        (
            "ranges.toml".to_string(),
            b"[close_codes]\n\"4000-4099\" = \"stop\"\n\"1008\" = \"retry\"\n".to_vec(),
        ),
        ("empty.json".to_string(), b"{}".to_vec()),
    ]);
    seeds
}

fn hostile_server() -> Vec<(&'static str, Vec<u8>)> {
    let text = frame(true, 0x1, b"hi");
    let ping = frame(true, 0x9, b"p");
    let close_1008 = frame(true, 0x8, &[0x03, 0xf0]);
    let close_1014 = frame(true, 0x8, b"\x03\xf6bad gateway");
    let fragments = [
        frame(false, 0x1, b"hel"),
        frame(false, 0x0, b"lo "),
        ping.clone(),
        frame(true, 0x0, b"world"),
    ]
    .concat();
    let mut oversized = vec![0x82, 127];
    oversized.extend_from_slice(&(1u64 << 40).to_be_bytes());
    oversized.extend_from_slice(&[0; 16]);
    vec![
        ("mission-1008", close_1008.clone()),
        ("text-then-1014", [text.clone(), close_1014].concat()),
        (
            "fragments-ping-close",
            [fragments, close_1008.clone()].concat(),
        ),
        (
            "two-closes",
            [frame(true, 0x8, b"\x03\xe9"), close_1008].concat(),
        ),
        (
            "stable-then-1000",
            [text, frame(true, 0x8, b"\x03\xe8")].concat(),
        ),
        ("oversized-claim", oversized),
        ("garbage", vec![0xff; 40]),
        ("eof", vec![]),
    ]
}

/// `socks5_reply`: a case byte (bit 0: credentials, bit 1: by name), then the proxy's
/// bytes.
fn socks5_reply() -> Vec<(&'static str, Vec<u8>)> {
    let reply = |code: u8| vec![5, code, 0, 1, 0, 0, 0, 0, 0, 0];
    let with = |case: u8, parts: &[&[u8]]| [&[case][..], &parts.concat()].concat();
    vec![
        ("ok-no-auth", with(2, &[&[5, 0], &reply(0)])),
        ("ok-password", with(3, &[&[5, 2], &[1, 0], &reply(0)])),
        (
            "ok-bound-name",
            with(2, &[&[5, 0], &[5, 0, 0, 3, 3, b'a', b'b', b'c', 0, 80]]),
        ),
        (
            "ok-bound-ipv6",
            with(0, &[&[5, 0], &[5, 0, 0, 4], &[0; 18]]),
        ),
        ("auth-failed", with(3, &[&[5, 2], &[1, 2]])),
        ("no-acceptable", with(1, &[&[5, 0xff]])),
        ("refused", with(2, &[&[5, 0], &reply(5)])),
        ("command-not-supported", with(2, &[&[5, 0], &reply(7)])),
        (
            "http-answer",
            with(2, &[b"HTTP/1.1 400 Bad Request\r\n\r\n"]),
        ),
        ("eof", vec![2]),
    ]
}

fn write<N: AsRef<str>>(target: &str, seeds: Vec<(N, Vec<u8>)>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("seeds")
        .join(target);
    fs::create_dir_all(&dir).expect("seeds dir");
    for (name, bytes) in seeds {
        fs::write(dir.join(name.as_ref()), bytes).expect("seed written");
    }
    println!("wrote {}", dir.display());
}

fn main() {
    write("core_sequence", core_sequence());
    write("close_frame", close_frame());
    write("config", config());
    write("hostile_server", hostile_server());
    write("socks5_reply", socks5_reply());
}
