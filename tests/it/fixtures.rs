//! Golden fixtures: every `fixtures/eml/<group>/<name>.eml` is analysed with
//! LF, CRLF and CR-only line endings and checked against the hand-written
//! expectations in `<name>.json` (a subset of `supportd inspect`'s JSON plus
//! the helper keys `text_contains`, `text_excludes`, `present`, `absent`).
//! A mismatch writes `<name>.failed` with the full analysis next to it.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde_json::Value;
use supportd::mail::{self, Settings, thread::NoLookup};

const GROUPS: [&str; 10] = [
    "customer",
    "reply",
    "consultant",
    "autoreply",
    "bounce",
    "feedback",
    "list",
    "loop",
    "malformed",
    "notmail",
];

fn settings() -> Settings {
    let mut s = Settings::new(
        "support@smartstock.cloud",
        "SS",
        &[
            "anna@smartstock.cloud".to_string(),
            "piotr@smartstock.cloud".to_string(),
        ],
    );
    s.form_senders = vec!["noreply@www.smartstock.cloud".into()];
    s.token_key = Some(b"fixture-key".to_vec());
    s.trusted_authserv_ids = vec!["mx.smartstock.cloud".into()];
    s
}

fn received(raw: &[u8]) -> DateTime<Utc> {
    mail::parse::topmost_received(raw).unwrap_or_else(|| "2026-11-25T10:00:00Z".parse().unwrap())
}

fn check(expect: &Value, got: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let text = got["text"].as_str().unwrap_or("");
    for (key, want) in expect.as_object().expect("expectations are an object") {
        match key.as_str() {
            "text_contains" => {
                for s in want.as_array().unwrap() {
                    if !text.contains(s.as_str().unwrap()) {
                        problems.push(format!("text lacks {s}"));
                    }
                }
            }
            "text_excludes" => {
                for s in want.as_array().unwrap() {
                    if text.contains(s.as_str().unwrap()) {
                        problems.push(format!("text still has {s}"));
                    }
                }
            }
            "present" | "absent" => {
                for f in want.as_array().unwrap() {
                    let present = got["fields"][f.as_str().unwrap()]["present"].as_bool();
                    if present != Some(key == "present") {
                        problems.push(format!("field {f} should be {key}"));
                    }
                }
            }
            _ => {
                if &got[key] != want {
                    problems.push(format!("{key}: expected {want}, got {}", got[key]));
                }
            }
        }
    }
    problems
}

fn fixtures() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/eml");
    let mut all = Vec::new();
    for group in GROUPS {
        let mut files: Vec<PathBuf> = std::fs::read_dir(root.join(group))
            .unwrap_or_else(|e| panic!("fixtures/eml/{group}: {e}"))
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        assert!(!files.is_empty(), "fixtures/eml/{group} holds no .eml");
        files.sort();
        all.extend(files);
    }
    all
}

fn crlf(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 40);
    for (i, b) in raw.iter().enumerate() {
        if *b == b'\n' && (i == 0 || raw[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(*b);
    }
    out
}

#[test]
fn golden_fixtures_match_with_lf_and_crlf() {
    let settings = settings();
    let files = fixtures();
    assert!(files.len() >= 60, "only {} fixtures", files.len());
    let mut failures = Vec::new();
    for path in &files {
        let lf = std::fs::read(path).unwrap();
        let expect: Value =
            serde_json::from_slice(&std::fs::read(path.with_extension("json")).unwrap()).unwrap();
        // Old Mac line endings: every line end one CR.
        let cr: Vec<u8> = crlf(&lf).into_iter().filter(|b| *b != b'\n').collect();
        for (ending, raw) in [("LF", lf.clone()), ("CRLF", crlf(&lf)), ("CR", cr)] {
            let analysis = mail::analyze(&raw, received(&raw), &settings, &NoLookup);
            let got = serde_json::to_value(&analysis).unwrap();
            let problems = check(&expect, &got);
            let failed = path.with_extension("failed");
            if problems.is_empty() {
                let _ = std::fs::remove_file(&failed);
            } else {
                std::fs::write(&failed, serde_json::to_string_pretty(&got).unwrap()).unwrap();
                failures.push(format!(
                    "{} ({ending}): {}",
                    path.display(),
                    problems.join("; ")
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
