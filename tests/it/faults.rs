//! When something breaks underneath: the database deleted, replaced or
//! damaged, a second path to it, a full disk, read-only media, a Maildir
//! file still being written, a relay that refuses everything, an IMAP move
//! cut off, and held mail. What ops see (exit codes, log lines, metrics)
//! and what customers get.

use std::path::Path;
use std::time::Duration;

use crate::mailserver::{
    CONSULTANTS, CUSTOMERS, Daemon, MailServer, SUPPORT, request, supportd, supportd_env,
};
use crate::scheduler::{Desk, FULL_REPORT};
use crate::util::TempDir;

const WAIT: Duration = Duration::from_secs(30);

fn wait_until(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + limit;
    while !check() {
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|l| {
            l.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn tickets(dir: &Path) -> i64 {
    rusqlite::Connection::open(dir.join("var/supportd.db"))
        .and_then(|c| c.query_row("SELECT COUNT(*) FROM tickets", [], |r| r.get(0)))
        .unwrap_or(-1)
}

fn request_on(d: &Desk, i: u32) {
    d.customer(
        "Mon, 23 Nov 2026 10:00:00 +0100",
        &format!("Customer {i} <c{i}@shop{i}.example>"),
        &format!("Problem number {i}"),
        FULL_REPORT,
    );
}

/// The text of every file the dir transport wrote.
fn outbox_text(dir: &Path) -> String {
    files(&dir.join("var/outbox"))
        .iter()
        .map(|f| std::fs::read_to_string(dir.join("var/outbox").join(f)).unwrap_or_default())
        .collect()
}

#[test]
fn a_deleted_database_stops_the_daemon_and_nothing_is_answered_into_the_void() {
    let d = Desk::new("fault-deleted");
    let mut daemon = Daemon::start(&d.dir.0);
    daemon.wait_log("supportd running");
    for i in 0..20 {
        request_on(&d, i);
    }
    wait_until(WAIT, "20 tickets", || tickets(&d.dir.0) == 20);
    let before: Vec<(String, String)> = files(&d.dir.0.join("var/outbox"))
        .into_iter()
        .map(|f| {
            let text = std::fs::read_to_string(d.dir.0.join("var/outbox").join(&f)).unwrap();
            (f, text)
        })
        .collect();
    let acks = |text: &str| text.matches("thank you for your report").count();
    wait_until(WAIT, "20 acknowledgements", || {
        acks(&outbox_text(&d.dir.0)) == 20
    });

    // A cleanup script removes the database while the daemon runs.
    for f in ["supportd.db", "supportd.db-wal", "supportd.db-shm"] {
        let _ = std::fs::remove_file(d.dir.0.join("var").join(f));
    }
    for i in 100..200 {
        request_on(&d, i);
    }
    let status = daemon.wait(Duration::from_secs(20));
    assert!(
        status.is_some_and(|s| !s.success()),
        "exit non-zero: {status:?}\n{}",
        daemon.log()
    );
    assert!(daemon.log().contains("was deleted"), "{}", daemon.log());
    // None of the 100 was taken from the Maildir or answered.
    assert_eq!(files(&d.dir.0.join("var/inbox/new")).len(), 100);
    let text = outbox_text(&d.dir.0);
    for i in 100..200 {
        assert!(
            !text.contains(&format!("Problem number {i}")),
            "{i} was answered"
        );
    }

    // A restart would create an empty database: refused, with the way out.
    let r = d.supportd(&["run", "--once"]);
    assert_ne!(r.code, 0);
    assert!(
        r.stderr.contains("an earlier one was there") && r.stderr.contains("--new-database"),
        "{}",
        r.stderr
    );
    assert!(
        !d.dir.0.join("var/supportd.db").exists(),
        "nothing was created"
    );
    // Starting afresh on purpose: tickets from 1 again, no file overwritten.
    let r = d.supportd(&["run", "--once", "--new-database"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for (f, text) in &before {
        let now = std::fs::read_to_string(d.dir.0.join("var/outbox").join(f)).unwrap();
        assert_eq!(&now, text, "{f} was overwritten");
    }
    assert!(
        files(&d.dir.0.join("var/outbox"))
            .iter()
            .any(|f| f.ends_with(".2.eml"))
    );
}

#[test]
fn a_replaced_database_file_stops_the_daemon() {
    let d = Desk::new("fault-replaced");
    let mut daemon = Daemon::start(&d.dir.0);
    daemon.wait_log("supportd running");
    request_on(&d, 1);
    wait_until(WAIT, "one ticket", || tickets(&d.dir.0) == 1);
    // A copy moved over the path (a restore without a stop).
    let db = d.dir.0.join("var/supportd.db");
    let copy = d.dir.0.join("copy.db");
    std::fs::copy(&db, &copy).unwrap();
    std::fs::rename(&copy, &db).unwrap();
    request_on(&d, 2);
    let status = daemon.wait(Duration::from_secs(20));
    assert!(
        status.is_some_and(|s| !s.success()),
        "{status:?}\n{}",
        daemon.log()
    );
    assert!(
        daemon.log().contains("replaced by another file"),
        "{}",
        daemon.log()
    );
}

#[test]
fn a_damaged_database_is_refused_with_sqlites_findings_and_the_way_out() {
    let d = Desk::new("fault-damaged");
    for i in 0..60 {
        request_on(&d, i);
    }
    d.run("2026-11-23T09:00:05Z");
    let db = d.dir.0.join("var/supportd.db");
    // Checkpoint the log into the file, then write 20 KB of noise into its
    // middle.
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
        .unwrap();
    let len = std::fs::metadata(&db).unwrap().len();
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut f = std::fs::OpenOptions::new().write(true).open(&db).unwrap();
        f.seek(SeekFrom::Start(len / 2)).unwrap();
        let mut noise = crate::util::Seeded::new("damage");
        let bytes: Vec<u8> = (0..20_000).map(|_| noise.below(256) as u8).collect();
        f.write_all(&bytes).unwrap();
    }
    let r = d.supportd(&["run", "--once"]);
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert!(
        r.stderr.contains("is damaged") && r.stderr.contains("restore the last backup"),
        "{}",
        r.stderr
    );
    let check = d.supportd(&["db", "check"]);
    assert_eq!(check.code, 1, "{}", check.stderr);
    let findings: Vec<&str> = check
        .stdout
        .lines()
        .filter(|l| !l.ends_with(": ok"))
        .collect();
    assert!(
        !findings.is_empty(),
        "db check lists what SQLite found: {}",
        check.stdout
    );
}

#[test]
fn one_instance_per_database_whatever_the_path() {
    let d = Desk::new("fault-lock");
    let mut daemon = Daemon::start(&d.dir.0);
    daemon.wait_log("supportd running");
    let db = d.dir.0.join("var/supportd.db");
    // A hard link and a symlinked folder: other names of the same file.
    std::fs::hard_link(&db, d.dir.0.join("var/hard.db")).unwrap();
    std::os::unix::fs::symlink(d.dir.0.join("var"), d.dir.0.join("alias")).unwrap();
    for other in ["var/hard.db", "alias/supportd.db"] {
        let path = d.dir.0.join(other);
        let r = d.supportd(&["--db", path.to_str().unwrap(), "run", "--once"]);
        assert_ne!(r.code, 0, "{other}: {}", r.stdout);
        assert!(
            r.stderr.contains("already running"),
            "{other}: {}",
            r.stderr
        );
    }
    daemon.stop();
}

#[test]
fn a_file_still_being_written_into_new_waits_until_it_is_whole() {
    let d = Desk::new("fault-partial");
    let raw = format!(
        "From: Jan <jan@acme.example>\nTo: support@smartstock.cloud\nSubject: Big log\n\
         Message-ID: <big-1@acme.example>\n\n{FULL_REPORT}\n{}\n",
        "log line\n".repeat(50_000)
    );
    let path = d.dir.0.join("var/inbox/new/1790000000.M1.partial");
    let (first, rest) = raw.as_bytes().split_at(300);
    std::fs::write(&path, first).unwrap();
    let out = d.run("2026-11-23T09:00:05Z");
    assert!(
        out.starts_with("fetched 0;"),
        "a growing file is left alone: {out}"
    );
    // The copy finishes; two seconds later it is read, whole.
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    f.write_all(rest).unwrap();
    f.set_modified(std::time::SystemTime::now() - Duration::from_secs(3))
        .unwrap();
    drop(f);
    let out = d.run("2026-11-23T09:00:10Z");
    assert!(out.starts_with("fetched 1;"), "{out}");
    let size: i64 = rusqlite::Connection::open(d.dir.0.join("var/supportd.db"))
        .unwrap()
        .query_row("SELECT raw_size FROM messages", [], |r| r.get(0))
        .unwrap();
    assert_eq!(size as usize, raw.len());
}

#[test]
fn held_acknowledgements_go_out_when_the_hour_allows_and_a_burst_of_people_is_not_held() {
    let d = Desk::with_config(
        "fault-held",
        "[limits]\nauto-per-recipient-per-hour = 2\nauto-per-domain-per-hour = 5\n",
    );
    // Sixty people of one company write in during an outage (well over the
    // domain limit of 5), and one of them three times.
    for i in 0..60 {
        d.customer(
            "Mon, 23 Nov 2026 10:00:00 +0100",
            &format!("Person {i} <p{i}@bigcorp.example>"),
            &format!("Outage report {i}"),
            FULL_REPORT,
        );
    }
    for n in 0..2 {
        d.customer(
            "Mon, 23 Nov 2026 10:01:00 +0100",
            "Person 0 <p0@bigcorp.example>",
            &format!("Another problem {n}"),
            FULL_REPORT,
        );
    }
    d.run("2026-11-23T09:05:00Z");
    let acks = d.new_mails();
    let acks: Vec<_> = acks
        .iter()
        .filter(|m| m.template == "acknowledgement")
        .collect();
    assert_eq!(acks.len(), 62);
    let held: Vec<_> = acks.iter().filter(|m| m.state == "held").collect();
    assert_eq!(held.len(), 1, "only p0's third acknowledgement waits");
    assert_eq!(held[0].to, ["p0@bigcorp.example"]);
    // outbox list says when it goes: an hour after p0's first one. (The
    // consultants' notifications beyond their hourly 30 are held too, for
    // good: their next mail sums them up.)
    let held_ack = |d: &Desk| -> serde_json::Value {
        let list = d.supportd(&["outbox", "list", "--held", "--json"]);
        let rows: serde_json::Value = serde_json::from_str(&list.stdout).unwrap();
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["template"] == "acknowledgement")
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(held_ack(&d)["next_attempt_at"], "2026-11-23T10:05:01Z");
    // Before then it stays; then it goes by itself.
    d.run("2026-11-23T09:40:00Z");
    assert_eq!(held_ack(&d)["next_attempt_at"], "2026-11-23T10:05:01Z");
    let out = d.run("2026-11-23T10:05:02Z");
    assert!(out.contains("mail sent 1"), "{out}");
    assert!(held_ack(&d).is_null(), "the acknowledgement went");
    let sent = d
        .outbox()
        .into_iter()
        .filter(|m| m.template == "acknowledgement" && m.to == ["p0@bigcorp.example"])
        .filter(|m| m.state == "sent")
        .count();
    assert_eq!(sent, 3);
}

#[test]
fn a_relay_that_refuses_everything_fails_no_mail_and_ops_are_told() {
    let ms = MailServer::start();
    let dir = TempDir::new("fault-relay");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = ms.supportd_config("implicit", "submission").replace(
        "[transport]\n",
        "[transport]\nretry-initial-secs = 1\nretry-max-secs = 2\n",
    ) + &format!("\n[metrics]\nlisten = \"127.0.0.1:{port}\"\n");
    dir.write("config.toml", &cfg);
    ms.submission_refuses(true);
    // check-config --online finds it before any mail is at stake.
    let (code, out, err) = supportd(&dir.0, &["check-config", "--online"]);
    assert_ne!(code, 0, "{out}");
    assert!(
        err.contains("refuses mail from") || out.contains("refuses mail from"),
        "{out}{err}"
    );

    let customer = CUSTOMERS[0];
    ms.send(
        customer,
        &[SUPPORT],
        &request(
            customer,
            "Scanner offline",
            "relay-1@acme.test",
            "Since 08:00 the scanner is offline.\n",
        ),
    );
    let mut daemon = Daemon::start(&dir.0);
    daemon.wait_log("the mail server refuses mail");
    let metrics = http_get(port, "/metrics");
    assert!(
        metrics.contains("supportd_fault{area=\"transport\",kind=\"refusing\"} 1"),
        "{metrics}"
    );
    // Fixed: everything goes out by itself, nothing failed for good.
    ms.submission_refuses(false);
    ms.wait_for(customer, "INBOX", WAIT, "the acknowledgement", |m| {
        m.subject().is_some_and(|s| s.contains("[SS-1]"))
    });
    for c in CONSULTANTS {
        ms.wait_for(c, "INBOX", WAIT, "the notification", |m| {
            m.subject().is_some_and(|s| s.contains("[SS-1]"))
        });
    }
    daemon.wait_log("the mail server accepts mail again");
    daemon.stop();
    let (_, failed, _) = supportd(&dir.0, &["outbox", "list", "--failed", "--json"]);
    assert_eq!(failed.trim(), "[]");
    // One line per round for the three mails it kept, not one per mail.
    let log = daemon.log();
    assert!(
        log.lines()
            .any(|l| l.contains("mail deferred") && l.contains("mails=3")),
        "{log}"
    );
}

fn http_get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn a_move_cut_off_after_the_copy_leaves_no_duplicate_in_the_processed_folder() {
    let ms = MailServer::start();
    let dir = TempDir::new("fault-move");
    dir.write("config.toml", &ms.supportd_config("implicit", "plain"));
    for i in 0..5 {
        let c = CUSTOMERS[i % 2];
        ms.send(
            c,
            &[SUPPORT],
            &request(
                c,
                &format!("Cut {i}"),
                &format!("cut-{i}@acme.test"),
                "The export fails.\n",
            ),
        );
    }
    assert_eq!(ms.wait_count(SUPPORT, "INBOX", 5, WAIT), 5);
    // The connection is lost after the server copied the messages.
    let (code, _, err) = supportd_env(
        &dir.0,
        &["run", "--once"],
        &[("SUPPORTD_TEST_CUT_MOVE", "1")],
    );
    assert_ne!(code, 0, "{err}");
    assert!(err.contains("lost during the move"), "{err}");
    assert_eq!(ms.count(SUPPORT, "Processed"), 5);
    assert_eq!(ms.count(SUPPORT, "INBOX"), 5);
    // The next pass finds the copies there and only removes the originals.
    let (code, _, err) = supportd(&dir.0, &["run", "--once"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(ms.count(SUPPORT, "INBOX"), 0);
    assert_eq!(ms.count(SUPPORT, "Processed"), 5, "no copy twice");
    assert_eq!(tickets(&dir.0), 5);
}

/// Runs a shell command as root; whether it worked.
fn root(cmd: &str) -> bool {
    std::process::Command::new("sh")
        .args(["-c", cmd])
        .status()
        .is_ok_and(|s| s.success())
}

/// Unmounts on drop, so a failing test leaves no mount behind.
struct Mount(std::path::PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = root(&format!("umount -l {}", self.0.display()));
    }
}

#[test]
fn a_full_disk_is_said_in_so_many_words_and_passes_by_itself() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let d = Desk::with_config(
        "fault-full",
        &format!("[metrics]\nlisten = \"127.0.0.1:{port}\"\n"),
    );
    let var = d.dir.0.join("var");
    // A small filesystem of its own for var/ (the test runs as root).
    assert!(
        root(&format!(
            "mount -t tmpfs -o size=24m tmpfs {}",
            var.display()
        )),
        "mount a tmpfs (the fault tests run as root)"
    );
    let _mount = Mount(var.clone());
    for sub in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(var.join("inbox").join(sub)).unwrap();
    }
    let mut daemon = Daemon::start(&d.dir.0);
    daemon.wait_log("supportd running");
    for i in 0..5 {
        request_on(&d, i);
    }
    wait_until(WAIT, "5 tickets", || tickets(&d.dir.0) == 5);
    // Twenty more wait in tmp/; then the disk fills up; then they arrive.
    let staged: Vec<std::path::PathBuf> = (0..20)
        .map(|i| {
            let p = var.join(format!("inbox/tmp/full-{i}"));
            std::fs::write(
                &p,
                format!(
                    "From: C <full{i}@shop.example>\nTo: support@smartstock.cloud\nSubject: Full {i}\n\
                     Message-ID: <full-{i}@shop.example>\n\n{FULL_REPORT}\n"
                ),
            )
            .unwrap();
            p
        })
        .collect();
    let filler = var.join("filler");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&filler).unwrap();
        let block = vec![0u8; 64 * 1024];
        while f.write_all(&block).is_ok() {}
        let _ = f.sync_all();
    }
    for p in &staged {
        let name = p.file_name().unwrap();
        std::fs::rename(p, var.join("inbox/new").join(name)).unwrap();
    }
    daemon.wait_log("database or disk is full");
    let metrics = http_get(port, "/metrics");
    assert!(
        metrics.contains("supportd_fault{area=\"database\",kind=\"disk_full\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("supportd_store_errors_total{kind=\"disk_full\"}"),
        "{metrics}"
    );
    // Space again: everything is taken, once, by itself.
    std::fs::remove_file(&filler).unwrap();
    wait_until(WAIT, "25 tickets", || tickets(&d.dir.0) == 25);
    wait_until(WAIT, "the fault clears", || {
        !http_get(port, "/metrics").contains("area=\"database\"")
    });
    daemon.stop();
    // Each ticket was logged once, after its commit.
    let opened = daemon.log().matches("ticket opened").count();
    assert_eq!(opened, 25, "{}", daemon.log());
}

#[test]
fn tickets_and_db_check_read_a_database_on_read_only_media() {
    let d = Desk::new("fault-readonly");
    request_on(&d, 1);
    d.run("2026-11-23T09:00:05Z");
    let ro = d.dir.0.join("ro");
    std::fs::create_dir_all(&ro).unwrap();
    assert!(
        root(&format!(
            "mount --bind {} {} && mount -o remount,ro,bind {}",
            d.dir.0.join("var").display(),
            ro.display(),
            ro.display()
        )),
        "bind-mount read-only (the fault tests run as root)"
    );
    let _mount = Mount(ro.clone());
    let db = ro.join("supportd.db");
    let list = d.supportd(&["--db", db.to_str().unwrap(), "tickets", "list"]);
    assert_eq!(list.code, 0, "{}", list.stderr);
    assert!(list.stdout.contains("SS-1"), "{}", list.stdout);
    assert!(
        list.stderr.contains("cannot be written"),
        "says why: {}",
        list.stderr
    );
    let check = d.supportd(&["--db", db.to_str().unwrap(), "db", "check"]);
    assert_eq!(check.code, 0, "{}{}", check.stdout, check.stderr);
    assert!(check.stdout.contains(": ok"), "{}", check.stdout);
}
