//! Working-time figures of the SLA issue:
//! - severity-5 deadline computations per second on one core (target ≥ 1 M/s);
//! - working seconds between two instants;
//! - the same through the batch code path, parsing and formatting included.
//!
//! Run: `cargo bench --bench sla`. Instants are spread over 2026–2030 and
//! every hour of the week, so the year tables of several years are in use.

use std::hint::black_box;
use std::io::Cursor;

use chrono::{DateTime, Duration, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use supportd::cli::{Policy, sla::deadline_batch};
use supportd::sla::{Calendar, Severity, SlaPolicy};

fn instants(n: usize) -> Vec<DateTime<Utc>> {
    let start = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    // A step of 2 h 17 min 13 s visits every time of day and weekday.
    (0..n)
        .map(|i| start + Duration::seconds(8233 * i as i64 % (5 * 365 * 86_400)))
        .collect()
}

fn bench(c: &mut Criterion) {
    let cal = Calendar::contract();
    let policy = SlaPolicy::default();
    let received = instants(4096);
    // Build the year tables outside the measurement.
    for r in &received {
        policy.deadline(&cal, *r, Severity::Suggestion).unwrap();
    }

    let mut g = c.benchmark_group("sla");
    g.throughput(Throughput::Elements(received.len() as u64));
    g.bench_function("deadline_severity_5", |b| {
        b.iter(|| {
            for r in &received {
                black_box(
                    policy
                        .deadline(&cal, black_box(*r), Severity::Suggestion)
                        .unwrap(),
                );
            }
        })
    });
    g.bench_function("deadline_severity_1", |b| {
        b.iter(|| {
            for r in &received {
                black_box(
                    policy
                        .deadline(&cal, black_box(*r), Severity::Critical)
                        .unwrap(),
                );
            }
        })
    });
    g.bench_function("working_seconds_30_days", |b| {
        b.iter(|| {
            for r in &received {
                black_box(cal.working_seconds(*r, *r + Duration::days(30)).unwrap());
            }
        })
    });

    let lines: String = received
        .iter()
        .enumerate()
        .map(|(i, r)| format!("{},{}\n", r.to_rfc3339(), i % 5 + 1))
        .collect();
    let p = Policy::contract();
    g.bench_function("deadline_batch_lines", |b| {
        b.iter(|| {
            let mut out = Vec::with_capacity(lines.len());
            deadline_batch(&p, Cursor::new(lines.as_bytes()), &mut out, std::io::sink()).unwrap();
            black_box(out)
        })
    });
    g.finish();

    c.bench_function("calendar_first_use_of_a_year", |b| {
        b.iter(|| {
            let cal = Calendar::contract();
            black_box(
                policy
                    .deadline(&cal, received[0], Severity::Critical)
                    .unwrap(),
            )
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
