//! `supportd inspect` as a user runs it: files, stdin, exit codes, `--db`.

use crate::util::{TempDir, run};
use supportd::mail::token;
use supportd::store::Store;

fn consultant_mail(mac: &str) -> String {
    format!(
        "From: Anna <anna@smartstock.cloud>\nTo: support+SS-7.{mac}@smartstock.cloud\nSubject: Re: [SS-7] Export\n\
         Message-ID: <c1@smartstock.cloud>\nDate: Wed, 25 Nov 2026 09:59:00 +0100\n\n#accept\nOn it.\n"
    )
}

#[test]
fn db_key_authenticates_consultant_tokens() {
    let dir = TempDir::new("inspect-db");
    let db = dir.0.join("supportd.db");
    let key = Store::open(&db).unwrap().token_key(None).unwrap();
    let good = dir.write(
        "good.eml",
        &consultant_mail(&token::consultant_mac(
            &key,
            "SS-7",
            "anna@smartstock.cloud",
        )),
    );
    let forged = dir.write(
        "forged.eml",
        &consultant_mail(&token::consultant_mac(
            b"guess",
            "SS-7",
            "anna@smartstock.cloud",
        )),
    );
    let args = |file: &std::path::Path, db: bool| {
        let mut v = vec![
            "inspect".to_string(),
            "--consultant".into(),
            "anna@smartstock.cloud".into(),
            file.display().to_string(),
        ];
        if db {
            v.splice(
                0..0,
                [
                    "--db".to_string(),
                    dir.0.join("supportd.db").display().to_string(),
                ],
            );
        }
        v
    };
    let verdict = |file: &std::path::Path, db: bool| {
        let a = args(file, db);
        let r = run(&a.iter().map(String::as_str).collect::<Vec<_>>(), "");
        assert_eq!(r.code, 0, "{}", r.stderr);
        let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        assert_eq!(v["kind"], "consultant_command");
        assert_eq!(v["commands"][0]["name"], "accept");
        v["authenticated"].clone()
    };
    assert_eq!(verdict(&good, true), serde_json::Value::Bool(true));
    assert_eq!(verdict(&forged, true), serde_json::Value::Bool(false));
    assert_eq!(verdict(&good, false), serde_json::Value::Null);
}

#[test]
fn several_files_and_an_unreadable_one() {
    let dir = TempDir::new("inspect-files");
    let a = dir.write(
        "a.eml",
        "From: a@b.example\nSubject: Export fails\n\nThe export fails since this morning.\n",
    );
    let r = run(
        &[
            "inspect",
            a.to_str().unwrap(),
            "/nonexistent/x.eml",
            a.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(r.code, 1);
    assert_eq!(r.stdout.lines().count(), 2);
    assert!(
        r.stderr.contains("cannot read /nonexistent/x.eml"),
        "{}",
        r.stderr
    );
    let stdin = run(
        &["inspect", "-"],
        "From: a@b.example\nSubject: hi\n\nhello\n",
    );
    assert_eq!((stdin.code, stdin.stdout.lines().count()), (0, 1));
}
