//! Any header text through the Authentication-Results parser and the
//! trust and verdict rules.
#![no_main]

use libfuzzer_sys::fuzz_target;
use supportd::mail::auth;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(a) = auth::parse(text) {
        // One result per `;`-separated group at most.
        assert!(a.results.len() <= text.matches(';').count());
    }
    // As headers in any order: the rules never panic.
    let headers: Vec<(String, String)> = text
        .split('\n')
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let trusted = auth::trusted(&headers, &["mx.smartstock.cloud".to_string()]);
    let _ = auth::dmarc_fail(&trusted, "smartstock.cloud");
});
