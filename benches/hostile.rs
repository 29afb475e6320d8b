//! The security issue's bounded-work figures:
//! - the slowest `supportd inspect` over the hostile inputs of about 1 MB
//!   (`tests/common/hostile.rs`; target ≤ 1 s each, process start included);
//! - building one mail to 20,000 recipients (target ≤ 1 s).
//!
//! Run: `cargo bench --bench hostile`.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[path = "../tests/common/hostile.rs"]
mod hostile;

/// Runs `supportd inspect -` on `raw`; its wall time.
fn inspect(raw: &[u8]) -> Duration {
    let t = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_supportd"))
        .args(["inspect", "-"])
        .env_remove("SUPPORTD_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run supportd");
    child.stdin.take().unwrap().write_all(raw).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    t.elapsed()
}

fn main() {
    // `cargo test --benches` runs benches once as tests: nothing to time.
    if std::env::args().any(|a| a == "--test") {
        return;
    }
    let mut rows: Vec<(&str, usize, Duration)> = hostile::inputs()
        .into_iter()
        .map(|(name, raw)| {
            // The best of three: the figure is the work, not the machine's noise.
            let t = (0..3).map(|_| inspect(&raw)).min().unwrap();
            (name, raw.len(), t)
        })
        .collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.2));
    println!(
        "supportd inspect over {} hostile inputs (best of 3 each):",
        rows.len()
    );
    for (name, size, t) in &rows {
        println!(
            "  {name:<24} {:>5} KB  {:>7.3} s",
            size / 1024,
            t.as_secs_f64()
        );
    }
    let (name, _, slowest) = rows[0];
    println!(
        "slowest: {name}, {:.3} s (target <= 1 s)",
        slowest.as_secs_f64()
    );

    let to: Vec<String> = (0..20_000).map(|i| format!("r{i}@acme.test")).collect();
    let m = mail_to(&to);
    let t = (0..3)
        .map(|_| {
            let t = Instant::now();
            let bytes = supportd::outbox::render::render(&m, None).expect("renders");
            std::hint::black_box(bytes);
            t.elapsed()
        })
        .min()
        .unwrap();
    println!(
        "building one mail to {} recipients: {:.3} s (target <= 1 s)",
        to.len(),
        t.as_secs_f64()
    );
}

/// An outgoing mail (as the store hands it to the sender) to `to`.
fn mail_to(to: &[String]) -> supportd::store::Outgoing {
    let at = "2026-11-23T09:00:00Z".parse().unwrap();
    let headers = [
        (
            "From",
            "Smartstock Support <support@smartstock.test>".to_string(),
        ),
        ("To", to.join(", ")),
        ("Subject", "Re: [SS-7] Zażółć gęślą jaźń".to_string()),
        ("Auto-Submitted", "auto-replied".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    supportd::store::Outgoing {
        id: 42,
        ticket: Some(7),
        template: "consultant-reply".into(),
        envelope_from: "support+bounce-42.abcdefabcdef@smartstock.test".into(),
        recipients: to.to_vec(),
        message_id: "SS-7.42.abcdef@smartstock.test".into(),
        headers,
        body: Some("Dzień dobry,\nprzyjęliśmy zgłoszenie.\n".into()),
        attach: None,
        file: None,
        attempts: 0,
        created_at: at,
        retry_from: at,
    }
}
