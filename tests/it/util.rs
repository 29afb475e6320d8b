//! Helpers shared by the integration tests.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Path of the binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_supportd")
}

/// What a run printed and how it ended.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `supportd ARGS` with `stdin`, without any ambient config.
pub fn run(args: &[&str], stdin: &str) -> Run {
    run_env(args, stdin, &[])
}

/// Runs `supportd ARGS` with extra environment variables.
pub fn run_env(args: &[&str], stdin: &str, env: &[(&str, &Path)]) -> Run {
    let mut cmd = Command::new(bin());
    cmd.args(args)
        .env_remove("SUPPORTD_CONFIG")
        // Test fault headers (X-Supportd-Test-*) work only with this set.
        .env("SUPPORTD_TEST_FAULTS", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn supportd");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().unwrap();
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8(stdout).unwrap(),
        stderr: String::from_utf8(stderr).unwrap(),
    }
}

/// A fresh empty folder under the target directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // Kept after a failure, to look at.
        if std::thread::panicking() {
            eprintln!("kept {} for inspection", self.0.display());
            return;
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A seeded random source for tests that pick random instants: the seed is
/// `SUPPORTD_TEST_SEED` when set, else drawn, and printed, so a failure can
/// be replayed exactly (splitmix64, enough for choosing pauses).
pub struct Seeded {
    pub seed: u64,
    state: u64,
}

impl Seeded {
    pub fn new(test: &str) -> Seeded {
        let seed = std::env::var("SUPPORTD_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| getrandom::u64().expect("the OS random source"));
        eprintln!("{test}: seed {seed} (replay with SUPPORTD_TEST_SEED={seed})");
        Seeded { seed, state: seed }
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % n
    }
}

/// The envelope sender of outgoing mail `id` in the database `db` (it
/// carries the row's MAC, so a delivery report must name it whole).
pub fn envelope(db: &Path, id: i64) -> String {
    rusqlite::Connection::open(db)
        .unwrap()
        .query_row(
            "SELECT envelope_from FROM outbox WHERE id = ?1",
            [id],
            |r| r.get(0),
        )
        .unwrap()
}

/// Base64 (RFC 4648, with padding) of a text, as mail encodes it.
pub fn b64(s: &str) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = s.as_bytes();
    let mut out = String::new();
    for chunk in b.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, c)| n | (*c as u32) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
