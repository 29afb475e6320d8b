//! Service figures (issue 7). A bench binary, not a test: it prints figures.
//!
//!   python3 gen_mails.py -n 12000 --seed 7 --tag-format '' --attachment-rate 0.9 \
//!       --attachment-kb 100 --no-mbox --out /tmp/c1g
//!   SUPPORTD_CORPUS=/tmp/c1g cargo bench --bench service
//!
//! Imports the corpus into a database of about 1 GB (once; kept in
//! /tmp/sd-bench-service), then starts `supportd run` ten times on it with
//! a NOTIFY_SOCKET of its own and measures the time from the start of the
//! process to READY=1 (each start after a clean SIGTERM stop), and the
//! resident memory of the idle daemon after 20 s.

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_supportd");

fn status_kb(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

fn main() {
    let dir = PathBuf::from("/tmp/sd-bench-service");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("config.toml"),
        "[consultants]\naddresses = [\"anna@smartstock.cloud\"]\n[store]\npath = \"var/supportd.db\"\n",
    )
    .unwrap();
    let db = dir.join("var/supportd.db");
    if !db.exists() {
        let corpus = std::env::var_os("SUPPORTD_CORPUS").expect("SUPPORTD_CORPUS");
        let t = Instant::now();
        let out = Command::new(BIN)
            .args(["--config", "config.toml", "import"])
            .arg(Path::new(&corpus).join("Maildir"))
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!("imported in {:.1} s", t.elapsed().as_secs_f64());
    }
    let size = std::fs::metadata(&db).unwrap().len();
    let sock_path = dir.join("notify.sock");
    let _ = std::fs::remove_file(&sock_path);
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(5)))
        .unwrap();
    let mut times = Vec::new();
    let mut rss = 0;
    let mut hwm = 0;
    for run in 0..10 {
        let t = Instant::now();
        let mut child = Command::new(BIN)
            .args(["--config", "config.toml", "run"])
            .current_dir(&dir)
            .env("NOTIFY_SOCKET", &sock_path)
            .env("SUPPORTD_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let mut buf = [0u8; 4096];
        loop {
            if let Ok(n) = sock.recv(&mut buf)
                && String::from_utf8_lossy(&buf[..n]).contains("READY=1")
            {
                break;
            }
            assert!(t.elapsed() < Duration::from_secs(30), "no READY=1");
        }
        times.push(t.elapsed().as_secs_f64() * 1e3);
        if run == 9 {
            std::thread::sleep(Duration::from_secs(20));
            rss = status_kb(child.id(), "VmRSS:");
            hwm = status_kb(child.id(), "VmHWM:");
        }
        unsafe_kill(child.id());
        let status = child.wait().unwrap();
        assert!(status.success());
    }
    times.sort_by(f64::total_cmp);
    println!(
        "start to READY=1 with a {:.2} GB database: median {:.1} ms, max {:.1} ms (10 starts after clean stops)",
        size as f64 / 1e9,
        times[5],
        times[9]
    );
    println!(
        "idle RSS after 20 s: {:.1} MB (peak {:.1} MB)",
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0
    );
}

fn unsafe_kill(pid: u32) {
    Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
}
