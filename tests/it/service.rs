//! supportd as a service: the daemon as a child process, as systemd runs
//! it. Shutdown in a burst, reload, the notify socket (READY, STATUS,
//! WATCHDOG), a second instance, backups while ingesting, `check-config`,
//! and the unit file.

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::mailserver::Daemon;
use crate::scheduler::Desk;
use crate::util::TempDir;

const WAIT: Duration = Duration::from_secs(30);

fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !check() {
        assert!(Instant::now() < deadline, "{what}: not within {WAIT:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn ticket_count(d: &Desk, db: Option<&Path>) -> usize {
    let mut args: Vec<&str> = Vec::new();
    if let Some(db) = db {
        args.extend(["--db", db.to_str().unwrap()]);
    }
    args.extend(["tickets", "list", "--state", "all", "--json"]);
    let r = d.supportd(&args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    serde_json::from_str::<Value>(&r.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .len()
}

fn request(d: &Desk, i: u32) {
    d.customer(
        "Mon, 23 Nov 2026 10:00:00 +0100",
        &format!("Customer {i} <c{i}@shop{i}.example>"),
        &format!("Stock report {i} shows zero"),
        "The stock report shows zero since 08:15 today; we restarted the app.",
    );
}

#[test]
fn sigterm_during_a_burst_of_500_mails_stops_within_10_s_and_a_restart_loses_nothing() {
    let d = Desk::new("svc-burst");
    let mut daemon = Daemon::start_with(&d.dir.0, &[]);
    daemon.wait_log("supportd running");
    for i in 0..200 {
        request(&d, i);
    }
    // Mid-burst: some applied, some not yet.
    wait_until("some tickets", || ticket_count(&d, None) > 0);
    let t = Instant::now();
    daemon.signal(libc::SIGTERM);
    for i in 200..500 {
        request(&d, i);
    }
    let status = daemon.wait(Duration::from_secs(10));
    assert!(
        status.is_some_and(|s| s.success()),
        "exit 0 within 10 s: {status:?} after {:?}\n{}",
        t.elapsed(),
        daemon.log()
    );
    let stopped_at = ticket_count(&d, None);
    let mut daemon = Daemon::start_with(&d.dir.0, &[]);
    wait_until("500 tickets after the restart", || {
        ticket_count(&d, None) == 500
    });
    wait_until("every acknowledgement sent", || {
        d.outbox()
            .iter()
            .filter(|m| m.template == "acknowledgement" && m.state == "sent")
            .count()
            == 500
    });
    // Each request acknowledged once: 500 acknowledgement files, no more.
    let files = std::fs::read_dir(d.dir.0.join("var/outbox"))
        .unwrap()
        .filter(|e| {
            std::fs::read_to_string(e.as_ref().unwrap().path())
                .unwrap()
                .contains("thank you for your report")
        })
        .count();
    assert_eq!(files, 500);
    assert_eq!(
        std::fs::read_dir(d.dir.0.join("var/inbox/new"))
            .unwrap()
            .count(),
        0,
        "every message left new/"
    );
    daemon.signal(libc::SIGTERM);
    assert!(
        daemon
            .wait(Duration::from_secs(10))
            .is_some_and(|s| s.success())
    );
    eprintln!("stopped with {stopped_at} of 500 tickets; the restart did the rest");
}

#[test]
fn a_second_instance_refuses_to_start_and_names_the_first() {
    let d = Desk::new("svc-second");
    let first = Daemon::start_with(&d.dir.0, &[]);
    first.wait_log("supportd running");
    let r = d.supportd(&["run", "--once"]);
    assert_ne!(r.code, 0);
    assert!(
        r.stderr.contains("already running")
            && r.stderr.contains(&format!("pid {}", first.child.id())),
        "{}",
        r.stderr
    );
    // Read-only commands still work next to it.
    assert_eq!(d.supportd(&["tickets", "list"]).code, 0);
}

#[test]
fn sighup_reloads_and_a_broken_config_keeps_the_running_one() {
    let d = Desk::new("svc-reload");
    let daemon = Daemon::start_with(&d.dir.0, &[]);
    daemon.wait_log("supportd running");
    let config = d.dir.0.join("config.toml");
    let good = std::fs::read_to_string(&config).unwrap();

    // A broken file: the daemon says why and goes on with the old config.
    std::fs::write(&config, good.replace("[consultants]", "[consultants")).unwrap();
    daemon.signal(libc::SIGHUP);
    daemon.wait_log("the new configuration is not usable; the running one stays");
    assert!(daemon.log().contains("config.toml:"), "{}", daemon.log());
    request(&d, 1);
    wait_until("the request is acknowledged", || {
        std::fs::read_dir(d.dir.0.join("var/outbox"))
            .map(|entries| {
                entries.flatten().any(|e| {
                    std::fs::read_to_string(e.path())
                        .is_ok_and(|t| t.contains("thank you for your report"))
                })
            })
            .unwrap_or(false)
    });

    // A new consultant list applies at once; a new outbox folder waits for
    // a restart, and the log says so.
    std::fs::write(
        &config,
        good.replace(
            "addresses = [\"anna@smartstock.cloud\", \"piotr@smartstock.cloud\"]",
            "addresses = [\"zofia@smartstock.cloud\"]",
        )
        .replace("dir = \"var/outbox\"", "dir = \"var/elsewhere\""),
    )
    .unwrap();
    daemon.signal(libc::SIGHUP);
    daemon.wait_log("SIGHUP: configuration reloaded");
    assert!(
        daemon
            .log()
            .contains("[transport] changed; it takes effect after a restart"),
        "{}",
        daemon.log()
    );
    request(&d, 2);
    wait_until("the new consultant is notified", || {
        d.outbox().iter().any(|m| {
            m.template == "consultant-notification"
                && m.to == ["zofia@smartstock.cloud"]
                && m.state == "sent"
        })
    });
    assert!(!d.dir.0.join("var/elsewhere").exists());
}

/// A test NOTIFY_SOCKET: what systemd would receive.
struct NotifySocket {
    sock: UnixDatagram,
    path: PathBuf,
}

impl NotifySocket {
    fn new(dir: &Path) -> NotifySocket {
        let path = dir.join("notify.sock");
        let sock = UnixDatagram::bind(&path).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        NotifySocket { sock, path }
    }

    /// Messages received within `limit`, with when each came.
    fn read_for(&self, limit: Duration) -> Vec<(Instant, String)> {
        let deadline = Instant::now() + limit;
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        while Instant::now() < deadline {
            if let Ok(n) = self.sock.recv(&mut buf) {
                out.push((
                    Instant::now(),
                    String::from_utf8_lossy(&buf[..n]).into_owned(),
                ));
            }
        }
        out
    }

    /// Reads until a message contains `what`; all messages read.
    fn read_until(&self, what: &str) -> Vec<(Instant, String)> {
        let deadline = Instant::now() + WAIT;
        let mut out = Vec::new();
        while !out
            .iter()
            .any(|(_, m): &(Instant, String)| m.contains(what))
        {
            assert!(Instant::now() < deadline, "no {what:?} in {out:?}");
            out.extend(self.read_for(Duration::from_millis(100)));
        }
        out
    }
}

#[test]
fn ready_status_and_watchdog_with_the_imap_server_down() {
    let dir = TempDir::new("svc-notify");
    // An IMAP server that is not there: a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    dir.write(
        "config.toml",
        &format!(
            "[consultants]\naddresses = [\"anna@smartstock.cloud\"]\n[store]\npath = \"var/supportd.db\"\n\
             [source]\nkind = \"imap\"\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\nuser = \"support\"\n\
             password-env = \"SUPPORTD_TEST_PASSWORD\"\ntimeout-secs = 2\n[transport]\nkind = \"dir\"\ndir = \"var/outbox\"\n"
        ),
    );
    let notify = NotifySocket::new(&dir.0);
    let started = Instant::now();
    let daemon = Daemon::start_with(
        &dir.0,
        &[
            ("NOTIFY_SOCKET", notify.path.to_str().unwrap()),
            ("WATCHDOG_USEC", "1000000"),
            ("SUPPORTD_TEST_PASSWORD", "x"),
        ],
    );
    let got = notify.read_until("READY=1");
    let ready = got.iter().find(|(_, m)| m.contains("READY=1")).unwrap().0;
    eprintln!("READY=1 {:?} after the start", ready - started);
    let more = notify.read_until("mailbox failing");
    let pings = got
        .iter()
        .chain(&more)
        .filter(|(_, m)| m.contains("WATCHDOG=1"))
        .count();
    assert!(pings >= 2, "watchdog pings while healthy: {got:?} {more:?}");
    // The status that says so (an earlier one may say "not polled yet").
    let status = more
        .iter()
        .rfind(|(_, m)| m.contains("STATUS=") && m.contains("mailbox failing"))
        .unwrap()
        .1
        .clone();
    assert!(
        status.contains("mailbox failing") && status.contains("outbox 0 waiting"),
        "{status}"
    );
    assert!(
        daemon.log().contains("IMAP source failed"),
        "{}",
        daemon.log()
    );
}

#[test]
fn the_watchdog_pings_stop_when_a_worker_wedges() {
    let d = Desk::new("svc-wedge");
    let notify = NotifySocket::new(&d.dir.0);
    let daemon = Daemon::start_with(
        &d.dir.0,
        &[
            ("NOTIFY_SOCKET", notify.path.to_str().unwrap()),
            ("WATCHDOG_USEC", "1000000"),
        ],
    );
    notify.read_until("WATCHDOG=1");
    d.receive(
        "Mon, 23 Nov 2026 10:00:00 +0100",
        "From: x@y.example\nSubject: wedge\nX-Supportd-Test-Wedge: ingest\n\nbody\n",
    );
    daemon.wait_log("withholding the watchdog ping");
    assert!(
        daemon.log().contains("worker=\"ingest\""),
        "{}",
        daemon.log()
    );
    // What was sent before the wedge, still in the socket.
    notify.read_for(Duration::from_millis(200));
    // Two watchdog intervals without a ping: systemd would restart it.
    let after = notify.read_for(Duration::from_secs(2));
    assert!(
        !after.iter().any(|(_, m)| m.contains("WATCHDOG=1")),
        "{after:?}"
    );
}

#[test]
fn a_backup_taken_while_ingesting_holds_every_committed_ticket() {
    let d = Desk::new("svc-backup");
    let daemon = Daemon::start_with(&d.dir.0, &[]);
    daemon.wait_log("supportd running");
    for i in 0..300 {
        request(&d, i);
    }
    wait_until("ingest under way", || ticket_count(&d, None) >= 50);
    let committed = ticket_count(&d, None);
    let backup = d.dir.0.join("backup.db");
    let r = d.supportd(&["db", "backup", backup.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let after = ticket_count(&d, None);
    let copied = ticket_count(&d, Some(&backup));
    assert!(
        committed <= copied && copied <= after,
        "committed before {committed}, in the copy {copied}, after {after}"
    );
    assert!(
        r.stdout.contains(&format!("{copied} tickets")),
        "{}",
        r.stdout
    );
    // The copy is whole: its tickets are 1..=N, each with its message.
    let r = d.supportd(&[
        "--db",
        backup.to_str().unwrap(),
        "tickets",
        "show",
        &format!("SS-{copied}"),
        "--json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let last: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(last["messages"].as_array().unwrap().len(), 1);
    let r = d.supportd(&["--db", backup.to_str().unwrap(), "db", "check"]);
    assert_eq!(r.code, 0, "{} {}", r.stdout, r.stderr);
    assert!(r.stdout.trim_end().ends_with(": ok"), "{}", r.stdout);
}

#[test]
fn check_config_names_the_line_of_each_mistake() {
    let dir = TempDir::new("svc-check");
    let base =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml"))
            .unwrap();
    let line_of = |needle: &str| {
        base.lines()
            .position(|l| l.starts_with(needle))
            .unwrap_or_else(|| panic!("{needle} not in config.example.toml"))
            + 1
    };
    // (what is changed, replaced by, the line the error must name)
    let table: Vec<(&str, &str, usize)> = vec![
        (
            "address = \"support@smartstock.cloud\"",
            "address = \"support-at-smartstock\"",
            line_of("address = "),
        ),
        (
            "ticket-prefix = \"SS\"",
            "ticket-prefix = \"ss1\"",
            line_of("ticket-prefix"),
        ),
        (
            "default-language = \"pl\"",
            "default-language = \"de\"",
            line_of("default-language"),
        ),
        (
            "auth = \"token\"",
            "auth = \"password\"",
            line_of("auth = "),
        ),
        (
            "timezone = \"Europe/Warsaw\"",
            "timezone = \"Europe/Warsawa\"",
            line_of("timezone"),
        ),
        (
            "hours = \"09:00-17:00\"",
            "hours = \"17:00-09:00\"",
            line_of("hours = "),
        ),
        (
            "weekdays = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\"]",
            "weekdays = [\"mon\", \"fun\"]",
            line_of("weekdays"),
        ),
        (
            "closed-days = []",
            "closed-days = [\"2026-13-01\"]",
            line_of("closed-days"),
        ),
        (
            "reminders = [0.5, 0.8]",
            "reminders = [0.5, 1.8]",
            line_of("reminders"),
        ),
        (
            "max-message-mb = 25",
            "max-message-mb = -1",
            line_of("max-message-mb"),
        ),
        (
            "kind = \"maildir\"",
            "kind = \"pop3\"",
            line_of("kind = \"maildir\""),
        ),
        // A TOML syntax error, with its line too.
        ("[calendar]", "[calendar", line_of("[calendar]")),
    ];
    for (from, to, line) in table {
        assert!(base.contains(from), "{from}");
        dir.write("config.toml", &base.replacen(from, to, 1));
        let r = check_config(&dir);
        assert_eq!(r.code, 78, "{to}: {}", r.stdout);
        assert!(
            r.stderr.contains(&format!("config.toml:{line}:")),
            "{to}: expected line {line}: {}",
            r.stderr
        );
    }
}

/// `supportd --config DIR/config.toml check-config`.
fn check_config(dir: &TempDir) -> crate::util::Run {
    crate::util::run(
        &[
            "--config",
            dir.0.join("config.toml").to_str().unwrap(),
            "check-config",
        ],
        "",
    )
}

#[test]
fn check_config_finds_what_only_the_world_can_say() {
    let dir = TempDir::new("svc-check-world");
    std::fs::create_dir_all(dir.0.join("templates/en")).unwrap();
    dir.write(
        "templates/en/closure.txt",
        "Subject: x\n{{ ticket_number }}\n",
    );
    dir.write(
        "config.toml",
        "[support]\ntemplates-dir = \"templates\"\n[consultants]\naddresses = [\"anna@smartstock.cloud\"]\n\
         token-key-file = \"missing/token-key\"\n[store]\npath = \"/proc/no/supportd.db\"\n\
         [transport]\nkind = \"smtp\"\nhost = \"127.0.0.1\"\nport = 25\ntls = \"none\"\nuser = \"support\"\n\
         password-env = \"SUPPORTD_NO_SUCH_VARIABLE\"\n",
    );
    let r = check_config(&dir);
    assert_eq!(r.code, 78, "{}", r.stdout);
    let lines: Vec<&str> = r.stderr.lines().collect();
    for what in [
        "unknown variable(s) ticket_number",
        "token-key-file",
        "/proc/no",
        "SUPPORTD_NO_SUCH_VARIABLE",
    ] {
        assert_eq!(
            lines.iter().filter(|l| l.contains(what)).count(),
            1,
            "one line for {what}: {}",
            r.stderr
        );
    }
}

#[test]
fn check_config_online_logs_in_to_the_servers() {
    use crate::mailserver::{MailServer, PASSWORD, supportd_env};
    let ms = MailServer::start();
    let dir = TempDir::new("svc-check-online");
    dir.write("config.toml", &ms.supportd_config("implicit", "submission"));
    let (code, out, err) = supportd_env(&dir.0, &["check-config", "--online"], &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("IMAP localhost:") && out.contains("logged in"),
        "{out}"
    );
    assert!(
        out.contains("SMTP localhost:") && out.contains("STARTTLS, logged in"),
        "{out}"
    );
    // A wrong password: one line per server, exit 78.
    let (code, out, err) = crate::mailserver::supportd_env(
        &dir.0,
        &["check-config", "--online"],
        &[("SUPPORTD_TEST_PASSWORD", "wrong")],
    );
    assert_eq!(code, 78, "{out}");
    assert!(
        err.contains("[source]") && err.contains("[transport]"),
        "{err}"
    );
    assert!(!err.contains(PASSWORD) && !err.contains("wrong"), "{err}");
}

#[test]
fn the_unit_file_passes_systemd_analyze_verify() {
    let unit = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd/supportd.service"),
    )
    .unwrap();
    for key in [
        "Type=notify",
        "WatchdogSec=",
        "User=supportd",
        "StateDirectory=supportd",
        "ConfigurationDirectory=supportd",
        "LoadCredential=imap-password:",
        "LoadCredential=smtp-password:",
        "LoadCredential=token-key:",
        "Restart=on-failure",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "MemoryDenyWriteExecute=yes",
        "SystemCallFilter=@system-service",
    ] {
        assert!(unit.contains(key), "the unit lacks {key}");
    }
    let dir = TempDir::new("svc-unit");
    // verify wants the binary it names to exist: point it at ours.
    let path = dir.write(
        "supportd.service",
        &unit.replace("/usr/local/bin/supportd", crate::util::bin()),
    );
    let out = Command::new("systemd-analyze")
        .args(["verify", path.to_str().unwrap()])
        .output()
        .expect("systemd-analyze (scripts/dev-setup installs systemd)");
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !text.contains("supportd.service:"),
        "{text}"
    );
}

#[test]
fn a_fatal_error_exits_non_zero_with_its_reason() {
    let d = Desk::new("svc-fatal");
    // A database that cannot be opened (its folder cannot be created).
    let r = d.supportd(&["--db", "/proc/supportd/supportd.db", "run"]);
    assert_ne!(r.code, 0);
    assert!(
        r.stderr
            .contains("cannot create the database folder /proc/supportd"),
        "{}",
        r.stderr
    );
    // A database written by a newer supportd: no migration, no start.
    let db = d.dir.0.join("newer.db");
    rusqlite::Connection::open(&db)
        .unwrap()
        .pragma_update(None, "user_version", 999)
        .unwrap();
    let r = d.supportd(&["--db", db.to_str().unwrap(), "run"]);
    assert_ne!(r.code, 0);
    assert!(
        r.stderr.contains("schema version 999, newer than"),
        "{}",
        r.stderr
    );
}
