//! `supportd import` against its floor, in one run (issue 13). A bench
//! binary, not a test: it prints figures.
//!
//!   python3 gen_mails.py -n 10000 --seed 42 --tag-format '' --out /tmp/c10k
//!   SUPPORTD_CORPUS=/tmp/c10k cargo bench --bench import
//!
//! The floor: the same Maildir's files read and their raw bytes alone
//! written into SQLite with the durability supportd uses (WAL,
//! `synchronous=FULL`, 100 messages per transaction). Then `supportd import`
//! of the same Maildir into a fresh database (release binary, as users run
//! it). Runs alternate, `SUPPORTD_BENCH_RUNS` times each (default 3); the
//! medians and their ratio are printed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use rusqlite::{Connection, params};

const BIN: &str = env!("CARGO_BIN_EXE_supportd");

/// Messages per transaction, as step 1 commits them.
const PER_TRANSACTION: usize = 100;

fn files(corpus: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus.join("Maildir/new"))
        .expect("SUPPORTD_CORPUS/Maildir/new")
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

fn fresh(name: &str) -> PathBuf {
    let d = PathBuf::from(format!("/tmp/sd-bench-import-{name}"));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Seconds to write every file's bytes into a fresh SQLite database.
fn floor(files: &[PathBuf]) -> f64 {
    let dir = fresh("floor");
    let t = Instant::now();
    let mut conn = Connection::open(dir.join("floor.db")).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.pragma_update(None, "synchronous", "FULL").unwrap();
    conn.execute_batch("CREATE TABLE raw (id INTEGER PRIMARY KEY, bytes BLOB NOT NULL)")
        .unwrap();
    for chunk in files.chunks(PER_TRANSACTION) {
        let tx = conn.transaction().unwrap();
        {
            let mut st = tx
                .prepare_cached("INSERT INTO raw (bytes) VALUES (?1)")
                .unwrap();
            for f in chunk {
                st.execute(params![std::fs::read(f).unwrap()]).unwrap();
            }
        }
        tx.commit().unwrap();
    }
    drop(conn);
    t.elapsed().as_secs_f64()
}

/// Seconds `supportd import` takes on the Maildir, into a fresh database.
fn import(corpus: &Path) -> f64 {
    let dir = fresh("supportd");
    let t = Instant::now();
    let out = Command::new(BIN)
        .args(["--db", dir.join("s.db").to_str().unwrap(), "import"])
        .arg(corpus.join("Maildir"))
        .env_remove("SUPPORTD_CONFIG")
        .output()
        .unwrap();
    let secs = t.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("  {}", String::from_utf8_lossy(&out.stdout).trim());
    secs
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let Some(corpus) = std::env::var_os("SUPPORTD_CORPUS").map(PathBuf::from) else {
        eprintln!("set SUPPORTD_CORPUS to a gen_mails.py output folder (see the file's header)");
        return;
    };
    let runs: usize = std::env::var("SUPPORTD_BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    let files = files(&corpus);
    let n = files.len() as f64;
    let bytes: u64 = files.iter().map(|f| f.metadata().unwrap().len()).sum();
    println!(
        "corpus: {} messages, {:.1} MB, from {}",
        files.len(),
        bytes as f64 / 1e6,
        corpus.display()
    );
    let (mut floors, mut imports) = (Vec::new(), Vec::new());
    for run in 1..=runs {
        let f = floor(&files);
        let i = import(&corpus);
        println!(
            "run {run}: floor {f:.2} s ({:.0} msgs/s), supportd import {i:.2} s ({:.0} msgs/s)",
            n / f,
            n / i
        );
        floors.push(f);
        imports.push(i);
    }
    let (f, i) = (median(floors), median(imports));
    println!(
        "median: floor {:.0} msgs/s, supportd import {:.0} msgs/s = {:.0} % of the floor",
        n / f,
        n / i,
        100.0 * f / i
    );
}
