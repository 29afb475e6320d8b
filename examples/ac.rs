use supportd::mail::{self, Settings, thread::NoLookup};
fn main() {
    let dir = std::env::args().nth(1).unwrap();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let raws: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    let settings = Settings::new(
        "support@helpdesk.example.net",
        "SS",
        &["anna@helpdesk.example.net".into()],
    );
    let at = "2026-11-25T10:00:00Z".parse().unwrap();
    let _ = mail::analyze(&raws[0], at, &settings, &NoLookup);
    let mut best = f64::MAX;
    let mut out = String::new();
    for _ in 0..3 {
        let t = std::time::Instant::now();
        for r in &raws {
            let a = mail::analyze(r, at, &settings, &NoLookup);
            out.clear();
            out.push_str(&serde_json::to_string(&a.report).unwrap());
        }
        best = best.min(t.elapsed().as_secs_f64());
    }
    let mut h = 0u64;
    for r in &raws {
        let a = mail::analyze(r, at, &settings, &NoLookup);
        for b in format!("{:?}", a.report).bytes() {
            h = h.wrapping_mul(31).wrapping_add(b as u64);
        }
    }
    println!("analyze best {:.3}s  report-hash {h:x}", best);
}
