//! Deadlines and working time against the independent oracle in
//! `tests/oracle/sla_oracle.py` (zoneinfo, Oudin's Easter, a naive day walk).

use std::process::Command;

#[test]
fn batch_answers_match_the_independent_oracle() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/oracle/sla_oracle.py");
    let out = Command::new("python3")
        .args([script, crate::util::bin(), "3000", "2026"])
        .output()
        .expect("python3 is needed by the test suite (the README's test command installs it)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("6000 cases, 0 mismatches"), "{stdout}");
}
