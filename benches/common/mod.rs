//! What the benchmarks share: where results go, quick mode, small statistics, the
//! machine's load, and time limits.
#![allow(dead_code)]

pub mod net;
pub mod stamps;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// Where criterion keeps its estimates (set explicitly, so the reports can find them).
pub fn criterion_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/criterion"))
}

/// Criterion's median (and its 95 % interval), in ns, for the benchmark at
/// `<criterion_dir>/<id>` (`group/function[/parameter]`); `null` when absent.
pub fn criterion_median(id: &str) -> Value {
    let path = criterion_dir().join(id).join("new/estimates.json");
    let read = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok());
    match read {
        Some(v) => json!({
            "median_ns": v["median"]["point_estimate"],
            "low_ns": v["median"]["confidence_interval"]["lower_bound"],
            "high_ns": v["median"]["confidence_interval"]["upper_bound"],
        }),
        None => Value::Null,
    }
}

/// A criterion configured for a shared 2-core machine: short warm-up and measurement
/// (`warm`, `measure` seconds; halved or less in quick mode), then the command line.
pub fn criterion(warm: f64, measure: f64, samples: usize) -> criterion::Criterion {
    let scale = if quick() { 0.4 } else { 1.0 };
    criterion::Criterion::default()
        .output_directory(&criterion_dir())
        .warm_up_time(Duration::from_secs_f64(warm * scale))
        .measurement_time(Duration::from_secs_f64(measure * scale))
        .sample_size(samples)
        .configure_from_args()
}

/// Whether criterion was asked only to list benchmarks or to run some other
/// benchmark (a filter given on the command line that none of `ids` matches; give
/// every benchmark id of the binary, `group/function[/parameter]`).
pub fn skipped(ids: &[&str]) -> bool {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        return true;
    }
    // Criterion's options that take a value; anything else not starting with '-' is a
    // filter.
    const VALUED: [&str; 9] = [
        "--profile-time",
        "--save-baseline",
        "--baseline",
        "--load-baseline",
        "--measurement-time",
        "--warm-up-time",
        "--sample-size",
        "--output-format",
        "--color",
    ];
    let filters: Vec<&String> = args
        .iter()
        .enumerate()
        .filter(|(i, a)| {
            !a.starts_with('-') && (*i == 0 || !VALUED.contains(&args[i - 1].as_str()))
        })
        .map(|(_, a)| a)
        .collect();
    // A filter is a regular expression over `group/function[/parameter]`; a loose
    // match (either contains the other, `$` and `^` dropped) will do here.
    let matches = |f: &str| {
        let f = f.trim_start_matches('^').trim_end_matches('$');
        ids.iter().any(|id| id.contains(f) || f.contains(id))
    };
    !filters.is_empty() && !filters.iter().any(|f| matches(f))
}

/// Where each benchmark writes its figures as JSON (`<name>.json`), for
/// `scripts/bench-report`: `$REDIAL_BENCH_OUT`, else `target/redial-bench`.
pub fn out_dir() -> PathBuf {
    match std::env::var_os("REDIAL_BENCH_OUT") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../target/redial-bench"
        )),
    }
}

/// Write `value` to `<out_dir>/<name>.json` and say where.
pub fn write_result(name: &str, value: &Value) {
    let dir = out_dir();
    let path = dir.join(format!("{name}.json"));
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    match std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, text)) {
        Ok(()) => println!("{name}: figures written to {}", path.display()),
        Err(e) => eprintln!("{name}: could not write {}: {e}", path.display()),
    }
}

/// `REDIAL_BENCH_QUICK=1`: fewer rounds (for a smoke run; the report uses full runs).
pub fn quick() -> bool {
    std::env::var("REDIAL_BENCH_QUICK").is_ok_and(|v| v == "1")
}

/// `full` normally, `small` in quick mode.
pub fn rounds(full: usize, small: usize) -> usize {
    if quick() {
        small
    } else {
        full
    }
}

/// The 1-, 5- and 15-minute load averages (other work on the machine skews timings).
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// CPU time this thread has run (`/proc/thread-self/schedstat`, ns), when readable:
/// a rate per CPU-second does not depend on what else the machine runs.
pub fn thread_cpu() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// CPU time of every thread of this process (`/proc/self/task/*/schedstat`, ns), when
/// readable: with wall time, it tells work from waiting.
pub fn process_cpu() -> Option<Duration> {
    let mut total = 0u64;
    for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let text = std::fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
        total += text
            .split_whitespace()
            .next()
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0);
    }
    Some(Duration::from_nanos(total))
}

/// Median of `xs` (sorted in place); 0 when empty.
pub fn median(xs: &mut [f64]) -> f64 {
    percentile(xs, 50.0)
}

/// The `p`-th percentile of `xs` (sorted in place, nearest rank); 0 when empty.
pub fn percentile(xs: &mut [f64], p: f64) -> f64 {
    if xs.is_empty() {
        return 0.0;
    }
    xs.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * (xs.len() - 1) as f64).round() as usize;
    xs[rank.min(xs.len() - 1)]
}

/// Microseconds as f64.
pub fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Fails loudly when a benchmark runs past its budget (every loop is bounded).
pub struct Deadline {
    end: Instant,
    what: &'static str,
}

impl Deadline {
    pub fn new(what: &'static str, limit: Duration) -> Deadline {
        Deadline {
            end: Instant::now() + limit,
            what,
        }
    }

    /// Whether time is up.
    pub fn passed(&self) -> bool {
        Instant::now() >= self.end
    }

    /// Panic when time is up.
    pub fn check(&self) {
        assert!(!self.passed(), "{}: time limit exceeded", self.what);
    }
}

/// Run `fut` for at most `limit`; `None` when it did not finish.
pub async fn within<T>(limit: Duration, fut: impl std::future::Future<Output = T>) -> Option<T> {
    futures_lite::future::or(async { Some(fut.await) }, async {
        async_io::Timer::after(limit).await;
        None
    })
    .await
}
