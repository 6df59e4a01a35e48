//! Test support for the end-to-end tests of lfb: paths of the built `lfb-*`
//! binaries, running them and capturing their output (with NDJSON record
//! parsing), fresh store folders, checks with the real `gzip` and `sha256sum`,
//! and throwaway database servers ([`pg::PgServer`], [`mariadb::MariaDb`]) that
//! live in a temporary folder, listen on a Unix socket only, and are stopped
//! and removed when dropped.
//!
//! Database tests skip (printing a `SKIPPED` line) when the server programs are
//! not installed, unless `LFB_REQUIRE_DB=1`, in which case they fail.
//!
//! ```ignore
//! use lfb_tests::{bin, pg::PgServer, run, store};
//!
//! #[test]
//! fn dump_postgres() {
//!     let Some(pg) = PgServer::start("dump_postgres") else { return };
//!     pg.create_db("shop");
//!     pg.psql("shop", "CREATE TABLE t (x int); INSERT INTO t VALUES (1);");
//!     let store = store();
//!     let out = run(std::process::Command::new(bin("lfb-dump"))
//!         .arg("--store").arg(store.path())
//!         .arg(pg.url("shop")));
//!     let records = out.assert_ok().records();
//!     assert_eq!(records.len(), 1);
//! }
//! ```
//!
//! Things to know:
//! - `bin()` finds binaries built by `cargo build --workspace` (or `cargo test
//!   --workspace`); `cargo test -p lfb-tests` alone does not build them.
//! - Server folders go under `/tmp` (or `LFB_DB_TMPDIR`), never `TMPDIR`, so
//!   that socket paths stay under 107 bytes and the `postgres` OS user can
//!   reach them when the tests run as root.
//! - Nothing listens on TCP. A PostgreSQL server's port only names its socket
//!   (`SOCKETDIR/.s.PGSQL.PORT`) and is never 5432, so a tool that drops the
//!   socket folder fails instead of reaching the system server.
//! - MariaDB clients must get `--no-defaults` (first) or an explicit
//!   `--socket`: `/etc/mysql/my.cnf` points at the system server.
//! - A server is stopped when dropped, also when the test panics; a watchdog
//!   process stops it and removes its folder if the test process dies first.

pub mod mariadb;
pub mod pg;

use std::ffi::OsStr;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Path of a built lfb binary (e.g. `"lfb-dump"`) in the cargo target folder
/// this test binary lives in (`current_exe()` is `target/<profile>/deps/<test>-<hash>`,
/// binaries are in `target/<profile>/`).
///
/// Panics with a clear message when the binary is missing: `cargo test -p lfb-tests`
/// does not build the other packages' binaries; run `cargo build --workspace`
/// (or `cargo test --workspace`) first.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe() of the test binary");
    let mut dir = exe
        .parent()
        .expect("test binary has a parent folder")
        .to_path_buf();
    if dir.file_name() == Some(OsStr::new("deps")) {
        dir.pop();
    }
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    if !path.is_file() {
        panic!(
            "binary `{name}` not found at {}: run `cargo build --workspace` first \
             (with the same CARGO_TARGET_DIR and profile as the tests)",
            path.display()
        );
    }
    path
}

/// True when `LFB_REQUIRE_DB=1`: database tests must fail instead of skipping.
pub fn require_db() -> bool {
    std::env::var_os("LFB_REQUIRE_DB").is_some_and(|v| v == "1")
}

/// Skip helper: prints `SKIPPED <test>: <reason>` to stderr and returns `None`,
/// or panics with the reason when [`require_db()`] is true.
///
/// ```ignore
/// let Some(pg) = PgServer::start("my_test") else { return };
/// ```
pub fn skip<T>(test: &str, reason: &str) -> Option<T> {
    skip_if_allowed(require_db(), test, reason)
}

/// [`skip()`] with the "required" flag passed in: panics when `required`,
/// else prints the `SKIPPED` line and returns `None`.
pub fn skip_if_allowed<T>(required: bool, test: &str, reason: &str) -> Option<T> {
    if required {
        panic!("{test}: {reason} (LFB_REQUIRE_DB=1, so this test fails instead of skipping)");
    }
    eprintln!("SKIPPED {test}: {reason}");
    None
}

/// A fresh, empty store folder, removed when dropped.
pub fn store() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("lfb-store-")
        .tempdir()
        .expect("create a temporary store folder");
    // A store folder is private, as lfb makes it (tempfile's mode is not
    // guaranteed to be 0700).
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .expect("chmod the store folder");
    dir
}

/// What a finished program did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// Exit code; `128 + signal` when the program was killed by a signal.
    pub code: i32,
    /// Standard output (lossy UTF-8).
    pub stdout: String,
    /// Standard error (lossy UTF-8).
    pub stderr: String,
}

impl Output {
    /// Parses stdout as NDJSON: one JSON object per line (blank lines are
    /// ignored). Panics naming the line when one is malformed or not an object.
    pub fn records(&self) -> Vec<serde_json::Value> {
        parse_ndjson(&self.stdout)
    }

    /// True when the exit code is 0.
    pub fn success(&self) -> bool {
        self.code == 0
    }

    /// Panics (quoting stdout and stderr) unless the exit code is 0.
    #[track_caller]
    pub fn assert_ok(&self) -> &Self {
        self.assert_code(0)
    }

    /// Panics (quoting stdout and stderr) unless the exit code is `code`.
    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "expected exit code {code}, got {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }
}

/// Parses NDJSON text: one JSON object per non-blank line. Panics naming the
/// line (number and text) when one is malformed or not an object.
pub fn parse_ndjson(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            let value: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| {
                panic!("stdout line {} is not valid JSON ({e}): {line}", i + 1)
            });
            assert!(
                value.is_object(),
                "stdout line {} is JSON but not an object: {line}",
                i + 1
            );
            value
        })
        .collect()
}

/// Runs a command to completion with stdin from `/dev/null`, capturing stdout
/// and stderr. Panics only when the program cannot be started.
pub fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null());
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    to_output(out)
}

/// Like [`run()`], but feeds `input` to the program's stdin.
pub fn run_with_input(cmd: &mut Command, input: impl AsRef<[u8]>) -> Output {
    let out = output_with_input(cmd, input.as_ref())
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    to_output(out)
}

fn to_output(out: std::process::Output) -> Output {
    Output {
        code: exit_code(out.status),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn exit_code(status: std::process::ExitStatus) -> i32 {
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(-1)
}

/// Spawns `cmd` with piped stdio, writes `input` to its stdin from a thread
/// (so a large input cannot deadlock against a full stdout pipe), and waits.
pub(crate) fn output_with_input(
    cmd: &mut Command,
    input: &[u8],
) -> std::io::Result<std::process::Output> {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        // A program may exit without reading all its input; that is its business.
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output();
    let _ = writer.join();
    out
}

/// Asserts that `gzip -t` accepts the file.
#[track_caller]
pub fn gzip_test(path: impl AsRef<Path>) {
    let path = path.as_ref();
    let out = run(Command::new("gzip").arg("-t").arg(path));
    assert!(
        out.success(),
        "gzip -t {} failed (exit {}): {}",
        path.display(),
        out.code,
        out.stderr
    );
}

/// SHA-256 of a file in lowercase hex, computed by the real `sha256sum`.
#[track_caller]
pub fn sha256sum(path: impl AsRef<Path>) -> String {
    let path = path.as_ref();
    let out = run(Command::new("sha256sum").arg("--").arg(path));
    assert!(
        out.success(),
        "sha256sum {} failed (exit {}): {}",
        path.display(),
        out.code,
        out.stderr
    );
    let hex = out.stdout.split_whitespace().next().unwrap_or_default();
    // A file name with a backslash or newline makes sha256sum prefix the line with `\`.
    let hex = hex.trim_start_matches('\\').to_string();
    assert!(
        hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()),
        "unexpected sha256sum output: {}",
        out.stdout
    );
    hex
}

/// Percent-encodes everything but RFC 3986 unreserved characters, for URL
/// user names, passwords, database names and query values (socket paths).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// True when this process runs as root (effective uid 0): the owner of
/// `/proc/self` is the effective uid; without `/proc`, the owner of a file
/// just created.
pub fn is_root() -> bool {
    static ROOT: OnceLock<bool> = OnceLock::new();
    *ROOT.get_or_init(|| {
        if let Ok(meta) = std::fs::metadata("/proc/self") {
            return meta.uid() == 0;
        }
        let file = tempfile::tempfile().expect("create a temporary file");
        file.metadata().expect("metadata of a temporary file").uid() == 0
    })
}

/// Where server folders go: `LFB_DB_TMPDIR` when set, else `/tmp` (short, so
/// socket paths stay under the 107-byte limit, and traversable by the
/// `postgres`/`mysql` users, which a `TMPDIR` under `/root` would not be).
pub(crate) fn server_tmp_base() -> PathBuf {
    if let Some(dir) = std::env::var_os("LFB_DB_TMPDIR") {
        return PathBuf::from(dir);
    }
    let tmp = Path::new("/tmp");
    if tmp.is_dir() {
        tmp.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}

/// A unique temporary folder for a server, named after the test (shortened and
/// sanitised so socket paths stay short).
pub(crate) fn server_tempdir(kind: &str, test_name: &str) -> tempfile::TempDir {
    let short: String = test_name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .take(24)
        .collect();
    tempfile::Builder::new()
        .prefix(&format!("lfb-{kind}-{short}-"))
        .tempdir_in(server_tmp_base())
        .unwrap_or_else(|e| panic!("create a temporary folder for {kind}: {e}"))
}

/// Panics with advice when a Unix socket path exceeds the 107-byte limit.
pub(crate) fn check_socket_path(path: &Path) {
    let len = path.as_os_str().len();
    assert!(
        len <= 107,
        "Unix socket path {} is {len} bytes, over the 107-byte limit: \
         set LFB_DB_TMPDIR to a shorter folder",
        path.display()
    );
}

/// Finds `name` in `PATH`, or among `extra` folders (e.g. `/usr/sbin`, which
/// is not always in a test's `PATH`).
pub(crate) fn find_program(name: &str, extra: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(extra.iter().map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

pub(crate) fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.mode() & 0o111 != 0)
}

/// Reads a log file for a panic message (its last 8 KiB), or says it is unreadable.
pub(crate) fn read_log(path: &Path) -> String {
    match std::fs::read(path) {
        Ok(bytes) => {
            let tail = &bytes[bytes.len().saturating_sub(8192)..];
            String::from_utf8_lossy(tail).into_owned()
        }
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}

/// Polls `ready` every 50 ms until it returns true or `timeout` passes.
pub(crate) fn wait_until(timeout: Duration, mut ready: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if ready() {
            return true;
        }
        if start.elapsed() >= timeout {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Quotes a string for `sh`.
pub(crate) fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// A detached shell that cleans up after the test process if it dies without
/// running `Drop` (killed, `process::exit`, a server kept in a `static`): once
/// the test process is gone, it runs `cleanup` (stop the server, remove its
/// folder). Dropping the watchdog kills it.
pub(crate) struct Watchdog {
    child: Option<Child>,
}

impl Watchdog {
    /// `cleanup` is a `sh` script fragment.
    pub(crate) fn spawn(cleanup: &str) -> Watchdog {
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done\n{cleanup}\n",
            pid = std::process::id()
        );
        let child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group: a Ctrl-C on `cargo test` does not kill it.
            .process_group(0)
            .spawn()
            .ok();
        Watchdog { child }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// True while the process exists and is not a zombie (an orphaned server that
/// exited may stay a zombie when PID 1 does not reap, as in some containers).
pub fn process_alive(pid: u32) -> bool {
    if let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // "PID (COMM) STATE ...": COMM may hold spaces and parentheses.
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next());
        return !matches!(state, Some("Z") | Some("X") | None);
    }
    if Path::new("/proc/self/stat").exists() {
        return false;
    }
    Command::new("kill")
        .args(["-0", &pid.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Sends a signal (`"QUIT"`, `"KILL"`...) with `kill`, ignoring failures.
pub(crate) fn kill(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// The first 4000 bytes of a text (SQL in a panic message).
pub(crate) fn shorten(text: &str) -> String {
    const MAX: usize = 4000;
    if text.len() <= MAX {
        return text.to_string();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} bytes in all)", &text[..end], text.len())
}
