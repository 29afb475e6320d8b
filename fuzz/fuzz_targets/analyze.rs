//! Any bytes through the whole analysis: it must return, never panic.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use supportd::mail::{self, Settings, thread::NoLookup};

static SETTINGS: LazyLock<Settings> = LazyLock::new(|| {
    let mut s = Settings::new("support@smartstock.cloud", "SS", &["anna@smartstock.cloud".to_string()]);
    s.token_key = Some(b"fuzz".to_vec());
    s
});

fuzz_target!(|data: &[u8]| {
    let at = chrono::DateTime::from_timestamp(1_764_061_200, 0).unwrap();
    let a = mail::analyze(data, at, &SETTINGS, &NoLookup);
    let _ = serde_json_len(&a);
});

fn serde_json_len(a: &mail::Analysis) -> usize {
    format!("{a:?}").len()
}
