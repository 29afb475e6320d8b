//! Bad input never panics and always gives a result: truncated messages, NUL
//! bytes, 10,000 nested parts, a 50 MB attachment, invalid charsets, header
//! lines of 1 MB. Each case also goes through the `inspect` binary, which
//! must print one JSON line and exit 0.

use std::io::Write;
use std::process::{Command, Stdio};

use supportd::mail::{self, Settings, classify::Kind, thread::NoLookup};

#[path = "../common/hostile.rs"]
mod set;

fn cases() -> Vec<(&'static str, Vec<u8>)> {
    let mut nested = String::from("From: a@b.example\r\nSubject: nested\r\n");
    for i in 0..10_000 {
        nested.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\n"
        ));
    }
    nested.push_str("Content-Type: text/plain\r\n\r\ndeep text\r\n");

    let mut big = b"From: a@b.example\r\nTo: support@smartstock.cloud\r\nSubject: big\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\nsee attachment\r\n--x\r\nContent-Type: image/png; name=big.png\r\nContent-Disposition: attachment; filename=big.png\r\nContent-Transfer-Encoding: base64\r\n\r\n".to_vec();
    let line = b"iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==AAAA\r\n";
    while big.len() < 50 * 1024 * 1024 {
        big.extend_from_slice(line);
    }
    big.extend_from_slice(b"--x--\r\n");

    let long_header = format!(
        "From: a@b.example\r\nX-Long: {}\r\nSubject: {}\r\n\r\nbody\r\n",
        "x".repeat(1 << 20),
        "s".repeat(1 << 20)
    );
    let full = b"From: Jan <jan@x.example>\r\nTo: support@smartstock.cloud\r\nSubject: Truncated\r\nContent-Type: multipart/alternative; boundary=\"q\"\r\n\r\n--q\r\nContent-Type: text/plain; charset=iso-8859-2\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nB=B3=B9d=\r\n".to_vec();
    let mut out = vec![
        ("empty", Vec::new()),
        ("nul-only", vec![0u8; 4096]),
        ("nul-in-headers", b"From: a\0b@c.example\r\nSub\0ject: x\0y\r\n\r\nbo\0dy".to_vec()),
        ("nested-10000", nested.into_bytes()),
        ("attachment-50mb", big),
        ("header-line-1mb", long_header.into_bytes()),
        ("invalid-charset", b"From: a@b.example\r\nSubject: =?bogus-9?B?!!!?=\r\nContent-Type: text/plain; charset=bogus-9\r\nContent-Transfer-Encoding: base64\r\n\r\n\xff\xfe\xfd".to_vec()),
        ("binary-junk", (0..65_536u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect()),
        ("boundary-never-closed", b"Content-Type: multipart/mixed; boundary=z\r\n\r\n--z\r\n--z\r\n--z\r\n".to_vec()),
    ];
    // Inputs the fuzzer found (tests/it/regressions).
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/regressions");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        out.push(("fuzz-regression", std::fs::read(path).unwrap()));
    }
    for cut in [1, 17, 60, 120, 200, full.len() - 1] {
        out.push(("truncated", full[..cut.min(full.len())].to_vec()));
    }
    out
}

#[test]
fn hostile_input_gives_a_result() {
    let settings = Settings::new("support@smartstock.cloud", "SS", &[]);
    let at = "2026-11-25T10:00:00Z".parse().unwrap();
    for (name, raw) in cases() {
        let a = mail::analyze(&raw, at, &settings, &NoLookup);
        // Nothing here is ours, a bounce or a list: it is a request with a
        // requester, or no mail at all (quarantined, no ticket). The
        // fuzzer's finds may be anything; they only must not panic.
        let expected = match name {
            "empty" | "nul-only" | "binary-junk" | "boundary-never-closed" => Some(Kind::NotMail),
            "nested-10000" | "attachment-50mb" | "header-line-1mb" | "invalid-charset" => {
                Some(Kind::New)
            }
            _ => None,
        };
        if let Some(kind) = expected {
            assert_eq!(a.kind, kind, "{name}");
        }
        if name != "fuzz-regression" {
            assert!(
                matches!(a.kind, Kind::New | Kind::NotMail),
                "{name}: {:?}",
                a.kind
            );
            assert!(
                a.kind != Kind::New || a.requester.address.contains('@'),
                "{name}: a request from {:?}",
                a.requester
            );
        }
        let json = serde_json::to_value(&a).unwrap();
        assert_eq!(json["kind"], a.kind.as_str(), "{name}");
        if name == "attachment-50mb" {
            assert_eq!(a.attachments.len(), 1);
            assert!(
                a.attachments[0].size > 35 * 1024 * 1024,
                "{}",
                a.attachments[0].size
            );
            assert!(a.fields.screenshots.present);
        }
    }
}

#[test]
fn inspect_prints_one_line_for_each_hostile_input() {
    for (name, raw) in cases().into_iter().filter(|(n, _)| *n != "attachment-50mb") {
        let mut child = Command::new(crate::util::bin())
            .args(["inspect", "-"])
            .env_remove("SUPPORTD_CONFIG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&raw).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        assert_eq!(text.lines().count(), 1, "{name}");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert!(
            name == "fuzz-regression" || v["kind"] == "new" || v["kind"] == "not_mail",
            "{name}: {}",
            v["kind"]
        );
    }
}

/// The 1 MB hostile set (its speed is `benches/hostile.rs`'s business):
/// each is a request from its sender or not mail, never a crash, and keeps
/// what a desk needs (a one-line subject, a bounded list of copies).
#[test]
fn the_one_megabyte_hostile_set_gives_requests() {
    let settings = Settings::new("support@smartstock.cloud", "SS", &[]);
    let at = "2026-11-25T10:00:00Z".parse().unwrap();
    for (name, raw) in set::inputs() {
        let a = mail::analyze(&raw, at, &settings, &NoLookup);
        assert!(
            matches!(a.kind, Kind::New | Kind::NotMail),
            "{name}: {:?}",
            a.kind
        );
        assert_eq!(a.requester.address, "a@b.example", "{name}");
        assert!(
            !a.subject.contains('\n') && a.subject.chars().count() <= 250,
            "{name}"
        );
        assert!(a.copied.len() <= 100, "{name}: {} copied", a.copied.len());
    }
}
