//! Message-analysis figures of the message-understanding issue, on the
//! inputs committed under `fixtures/bench/`:
//! - a typical 5 KB request in English (target ≤ 100 µs);
//! - a typical request in Polish, ISO-8859-2 quoted-printable (≤ 100 µs);
//! - a 5 MB message with a PNG (≤ 20 ms).
//!
//! Run: `cargo bench --bench mail`.

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use supportd::mail::{self, Settings, thread::NoLookup};

fn bench(c: &mut Criterion) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/bench");
    let settings = Settings::new(
        "support@smartstock.cloud",
        "SS",
        &["anna@smartstock.cloud".into()],
    );
    let at = "2026-11-25T10:00:00Z".parse().unwrap();
    let mut g = c.benchmark_group("analyze");
    for name in [
        "request-en.eml",
        "request-pl-iso8859-2.eml",
        "request-5mb-png.eml",
    ] {
        let raw = std::fs::read(dir.join(name)).unwrap();
        // Sanity: the bench inputs are what they claim to be.
        let a = mail::analyze(&raw, at, &settings, &NoLookup);
        assert_eq!(a.kind.as_str(), "new", "{name}");
        g.bench_function(name, |b| {
            b.iter(|| black_box(mail::analyze(black_box(&raw), at, &settings, &NoLookup)))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
