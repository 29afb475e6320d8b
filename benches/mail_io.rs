//! Mail I/O figures against the test harness's real Dovecot and Postfix
//! (issue 5). A bench binary, not a test: it prints figures.
//!
//!   python3 gen_mails.py -n 10000 --seed 42 --tag-format '' --out /tmp/c10k
//!   SUPPORTD_CORPUS=/tmp/c10k cargo bench --bench mail_io
//!
//! Phases: IMAP ingest of the corpus (`run --once`, IMAP source) against
//! `supportd import` of the same Maildir, with the raw `UID FETCH` rate as
//! context; sending rate to the loopback Postfix; SMTP-send-to-INBOX
//! latency of the acknowledgement with IDLE; `deliver` rate, sequential and
//! 4 at a time, with the daemon running. Needs root (the mail servers).

#[allow(dead_code)]
#[path = "../tests/it/mailserver.rs"]
mod mailserver;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use mailserver::{CUSTOMERS, Daemon, MailServer, PASSWORD, SUPPORT, request};

const BIN: &str = env!("CARGO_BIN_EXE_supportd");

/// `supportd ARGS` in `dir`, which must succeed; its stdout.
fn supportd(dir: &Path, args: &[&str]) -> String {
    let (code, out, err) = mailserver::supportd(dir, args);
    assert_eq!(code, 0, "supportd {args:?}: {err}");
    out
}

fn fresh(name: &str) -> PathBuf {
    let d = PathBuf::from(format!("/tmp/sd-bench-{name}"));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The seconds `run --once` reports for a phase ("fetch 1.23 s").
fn phase(out: &str, name: &str) -> f64 {
    let at = out.find(&format!("{name} ")).expect(name) + name.len() + 1;
    out[at..]
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

fn corpus_files(corpus: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus.join("Maildir/new"))
        .expect("SUPPORTD_CORPUS/Maildir/new")
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn main() {
    let Some(corpus) = std::env::var_os("SUPPORTD_CORPUS").map(PathBuf::from) else {
        eprintln!("set SUPPORTD_CORPUS to a gen_mails.py output folder (see the file's header)");
        return;
    };
    let files = corpus_files(&corpus);
    let n = files.len();
    let ms = MailServer::start();
    println!("corpus: {n} messages from {}", corpus.display());

    // --- IMAP ingest ----------------------------------------------------
    // Fill support's INBOX the way LMTP would: files in its Maildir's new/.
    let maildir = ms.dir.join("mail/smartstock.test/support/Maildir");
    for sub in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(maildir.join(sub)).unwrap();
    }
    for (i, f) in files.iter().enumerate() {
        std::fs::copy(
            f,
            maildir.join(format!("new/{}.M{i}.bench", 1_700_000_000 + i)),
        )
        .unwrap();
    }
    Command::new("chown")
        .args(["-R", "mail:mail"])
        .arg(ms.dir.join("mail"))
        .status()
        .unwrap();
    assert_eq!(ms.count(SUPPORT, "INBOX"), n);

    // Context: the raw UID FETCH rate of a bare client, batches of 200.
    let raw_rate = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let tcp = tokio::net::TcpStream::connect(("127.0.0.1", ms.ports.imap))
                .await
                .unwrap();
            let mut c = async_imap::Client::new(tcp);
            c.read_response().await.unwrap();
            let mut s = c
                .login(SUPPORT, PASSWORD)
                .await
                .map_err(|(e, _)| e)
                .unwrap();
            s.examine("INBOX").await.unwrap();
            let mut uids: Vec<u32> = s.uid_search("ALL").await.unwrap().into_iter().collect();
            uids.sort_unstable();
            let t = Instant::now();
            let mut bytes = 0usize;
            for chunk in uids.chunks(200) {
                let set = chunk
                    .iter()
                    .map(|u| u.to_string())
                    .collect::<Vec<_>>()
                    .join(",");
                let f: Vec<_> = s
                    .uid_fetch(set, "(UID RFC822.SIZE INTERNALDATE BODY.PEEK[])")
                    .await
                    .unwrap()
                    .try_collect()
                    .await
                    .unwrap();
                bytes += f
                    .iter()
                    .map(|x| x.body().map_or(0, <[u8]>::len))
                    .sum::<usize>();
            }
            let secs = t.elapsed().as_secs_f64();
            s.logout().await.ok();
            println!(
                "raw UID FETCH: {} messages, {:.1} MB in {secs:.2} s = {:.0} messages/s",
                uids.len(),
                bytes as f64 / 1e6,
                uids.len() as f64 / secs
            );
            uids.len() as f64 / secs
        });
    let _ = raw_rate;

    let imap_dir = fresh("imap");
    let cfg = ms.supportd_config("none", "plain").replace(
        "[transport]\nkind = \"smtp\"",
        "[transport]\nkind = \"dir\"\ndir = \"var/outbox\"\n[unused]\nkind = \"smtp\"",
    );
    let cfg = cfg[..cfg.find("[unused]").unwrap()].to_string();
    std::fs::write(imap_dir.join("config.toml"), &cfg).unwrap();
    let t = Instant::now();
    let (code, out, err) =
        mailserver::supportd_env(&imap_dir, &["run", "--once"], &[("SUPPORTD_LOG", "debug")]);
    assert_eq!(code, 0, "{err}");
    let total = t.elapsed().as_secs_f64();
    for line in err.lines().filter(|l| l.contains("IMAP sync")) {
        println!("  {line}");
    }
    let imap_secs = phase(&out, "ingest");
    println!("run --once (IMAP): {}", out.trim());
    assert_eq!(ms.count(SUPPORT, "Processed"), n, "all moved");

    let import_dir = fresh("import");
    // The same config: the same consultants get the same notifications.
    std::fs::write(import_dir.join("config.toml"), &cfg).unwrap();
    let t = Instant::now();
    supportd(
        &import_dir,
        &["import", "--send", corpus.join("Maildir").to_str().unwrap()],
    );
    let import_secs = t.elapsed().as_secs_f64();
    println!(
        "IMAP ingest (fetch + store, then step 2 while the server moves): {n} in {imap_secs:.2} s = {:.0} messages/s (whole run --once incl. writing mail files {total:.2} s)",
        n as f64 / imap_secs
    );
    println!(
        "import --send of the same Maildir: {import_secs:.2} s = {:.0} messages/s; IMAP/import = {:.0} %",
        n as f64 / import_secs,
        100.0 * import_secs / imap_secs
    );

    // --- Sending ----------------------------------------------------------
    for concurrency in [1, 4] {
        let d = fresh(&format!("send{concurrency}"));
        let cfg = format!(
            "[support]\naddress = \"{SUPPORT}\"\n[store]\npath = \"var/supportd.db\"\n\
             [limits]\nauto-per-recipient-per-hour = 1000000\nauto-per-domain-per-hour = 1000000\n\
             [transport]\nkind = \"smtp\"\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\nconcurrency = {concurrency}\n",
            ms.ports.smtp
        );
        std::fs::write(d.join("config.toml"), cfg).unwrap();
        // 1,000 customer requests to customer addresses of the test domains.
        let inbox = d.join("requests");
        std::fs::create_dir_all(inbox.join("new")).unwrap();
        for i in 0..1000 {
            let c = CUSTOMERS[i % 2];
            std::fs::write(
                inbox.join(format!("new/{}.{i:04}.bench", 1_700_000_000 + i)),
                request(
                    c,
                    &format!("Send bench {i}"),
                    &format!("sb{concurrency}-{i}@acme.test"),
                    "It fails.\n",
                ),
            )
            .unwrap();
        }
        supportd(&d, &["import", "--send", inbox.to_str().unwrap()]);
        let out = supportd(&d, &["run", "--once"]);
        let secs = phase(&out, "send");
        let sent: f64 = out
            .split("mail sent ")
            .nth(1)
            .unwrap()
            .split(',')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        println!(
            "sending, concurrency {concurrency}: {sent} mails in {secs:.2} s = {:.0} mails/s",
            sent / secs
        );
    }

    // --- Acknowledgement latency with IDLE ---------------------------------
    let d = fresh("latency");
    std::fs::write(
        d.join("config.toml"),
        ms.supportd_config("implicit", "plain")
            + "\n[limits]\nauto-per-recipient-per-hour = 100000\nauto-per-domain-per-hour = 100000\n",
    )
    .unwrap();
    let daemon = Daemon::start(&d);
    let customer = CUSTOMERS[1];
    let mut latencies = Vec::new();
    let before = ms.count(customer, "INBOX");
    for i in 0..60 {
        let msg = request(
            customer,
            &format!("Latency {i}"),
            &format!("lat-{i}@acme.test"),
            "Slow.\n",
        );
        let t = Instant::now();
        ms.send(customer, &[SUPPORT], &msg);
        while ms.count(customer, "INBOX") < before + i + 1 {
            assert!(
                t.elapsed() < Duration::from_secs(60),
                "no acknowledgement\n{}",
                daemon.log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        latencies.push(t.elapsed().as_secs_f64());
    }
    latencies.sort_by(f64::total_cmp);
    println!(
        "SMTP send -> acknowledgement in INBOX (IDLE), {} requests: median {:.2} s, p99 {:.2} s, max {:.2} s",
        latencies.len(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.last().unwrap()
    );
    drop(daemon);

    // --- Pipe mode ------------------------------------------------------------
    let d = fresh("pipe");
    std::fs::write(
        d.join("config.toml"),
        "[store]\npath = \"var/supportd.db\"\n",
    )
    .unwrap();
    let daemon = Daemon::start(&d);
    let pipe_files: Vec<&PathBuf> = files.iter().take(1000).collect();
    let deliver = |f: &Path| {
        let out = Command::new(BIN)
            .args(["--config", "config.toml", "deliver"])
            .current_dir(&d)
            .stdin(std::fs::File::open(f).unwrap())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "deliver {}: {}",
            f.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let t = Instant::now();
    for f in &pipe_files[..500] {
        deliver(f);
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "deliver, one process per message, sequential: 500 in {secs:.2} s = {:.0} messages/s",
        500.0 / secs
    );
    let t = Instant::now();
    std::thread::scope(|s| {
        for part in pipe_files[500..].chunks(125) {
            let deliver = &deliver;
            s.spawn(move || {
                for f in part {
                    deliver(f);
                }
            });
        }
    });
    let secs = t.elapsed().as_secs_f64();
    println!(
        "deliver, 4 processes at a time: 500 in {secs:.2} s = {:.0} messages/s",
        500.0 / secs
    );
    drop(daemon);
}
