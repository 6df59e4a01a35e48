//! `kill -9` and SIGTERM at random points of every tool that writes.
//!
//! Each scenario is run once whole (to learn how long it takes and, for a
//! restore, what the target holds afterwards), then killed after a random
//! fraction of that time, each time on fresh state. After each kill:
//!
//! - every artifact in the store is checked independently of lfb (gzip,
//!   pg_restore, tar, sqlite3, the sidecar's SHA-256): one that fails but
//!   `lfb-verify --all` passes, or `lfb-guard` does not name, was "counted
//!   good";
//! - a restore target must hold exactly what it held before, or exactly
//!   the backup (anything else is "half-restored");
//! - a following `lfb-prune` (which takes the store lock) must not hang;
//! - no scratch database may be left on the server;
//! - every file in the store that is not an artifact or its sidecar (a
//!   partial, an orphan sidecar, anything) must be named by `lfb-guard`.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::fixtures::{self, Fixtures, SRC_DB, TARGET_SQL, install};
use crate::{Bins, Config, Report, Rng, SIGKILL, SIGTERM, new_store, run, run_and_signal};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    DumpPg,
    DumpSqlite,
    Archive,
    ArchiveConsume,
    RestorePlain,
    RestoreCustom,
    RestoreSqlite,
    RestoreFilesTo,
    Prune,
    VerifyRestoreTest,
}

const ALL: [Scenario; 10] = [
    Scenario::DumpPg,
    Scenario::DumpSqlite,
    Scenario::Archive,
    Scenario::ArchiveConsume,
    Scenario::RestorePlain,
    Scenario::RestoreCustom,
    Scenario::RestoreSqlite,
    Scenario::RestoreFilesTo,
    Scenario::Prune,
    Scenario::VerifyRestoreTest,
];

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::DumpPg => "lfb-dump postgres",
            Scenario::DumpSqlite => "lfb-dump sqlite",
            Scenario::Archive => "lfb-archive",
            Scenario::ArchiveConsume => "lfb-archive --consume",
            Scenario::RestorePlain => "lfb-restore plain",
            Scenario::RestoreCustom => "lfb-restore custom",
            Scenario::RestoreSqlite => "lfb-restore sqlite",
            Scenario::RestoreFilesTo => "lfb-restore --files-to",
            Scenario::Prune => "lfb-prune",
            Scenario::VerifyRestoreTest => "lfb-verify --restore-test",
        }
    }
    fn needs_pg(self) -> bool {
        matches!(
            self,
            Scenario::DumpPg
                | Scenario::RestorePlain
                | Scenario::RestoreCustom
                | Scenario::VerifyRestoreTest
        )
    }
}

/// What a restore writes to, to compare before and after.
#[derive(Debug, Clone)]
enum Target {
    None,
    Pg(String),
    Sqlite(PathBuf),
    Dir(PathBuf),
}

struct Prepared {
    cmd: Command,
    stdin: Option<Vec<u8>>,
    store: PathBuf,
    target: Target,
    /// With --consume: the dump that must survive unless archived.
    consumed: Option<PathBuf>,
    /// With prune: artifacts the policy keeps.
    must_keep: Vec<PathBuf>,
}

#[derive(Debug, Default)]
struct Counts {
    kills: usize,
    sigterm: usize,
    finished_before_signal: usize,
    incomplete_present: usize,
    counted_good_verify: usize,
    counted_good_guard: usize,
    half_restored: usize,
    stuck_locks: usize,
    scratch_dbs: usize,
    scratch_dirs: usize,
    unreported: usize,
    not_cleaned: usize,
    leftovers: usize,
    lost_dumps: usize,
    kept_deleted: usize,
}

pub fn section(
    cfg: &Config,
    bins: &Bins,
    fx: &Fixtures,
    report: &mut Report,
    log: &mut dyn FnMut(&str),
) {
    let mut rng = Rng(cfg.seed ^ 0x4B11);
    let mut c = Counts::default();
    let mut per_scenario = Vec::new();
    for s in ALL {
        if s.needs_pg() && fx.pg.is_none() {
            report.note("kills", format!("{}: skipped (no PostgreSQL)", s.name()));
            continue;
        }
        // Calibrate: a whole run, on fresh state.
        let p = prepare(s, bins, fx, 0);
        let before = target_fp(fx, &p.target);
        let mut cmd = p.cmd;
        let whole = run(&mut cmd, p.stdin.as_deref(), Duration::from_secs(600));
        if whole.code != Some(0) {
            report.note(
                "kills",
                format!(
                    "{}: the unkilled run failed (exit {:?}): {}",
                    s.name(),
                    whole.code,
                    first_line(&whole.stderr)
                ),
            );
        }
        let after = target_fp(fx, &p.target);
        let _ = before;
        let span = whole.elapsed.max(Duration::from_millis(20));
        log(&format!(
            "  {}: a whole run takes {:.2}s; {} kills",
            s.name(),
            span.as_secs_f64(),
            cfg.kills_per_scenario
        ));
        let mut n = 0;
        for i in 0..cfg.kills_per_scenario {
            let sig = if i % 2 == 0 { SIGKILL } else { SIGTERM };
            // Mostly inside the run, now and then right at its start.
            let frac = if rng.chance(10) {
                rng.below(50) as f64 / 1000.0
            } else {
                rng.below(1000) as f64 / 1000.0
            };
            let delay = span.mul_f64(frac * 1.05);
            kill_once(s, i + 1, sig, delay, &after, bins, fx, &mut c, report);
            n += 1;
        }
        per_scenario.push(format!("{} {n}", s.name()));
    }
    let sec = "kills";
    report.info(
        sec,
        "kills (SIGKILL + SIGTERM)",
        format!("{} ({} SIGTERM)", c.kills, c.sigterm),
    );
    report.info(sec, "per scenario", per_scenario.join(", "));
    report.info(
        sec,
        "runs that finished before the signal",
        c.finished_before_signal,
    );
    report.zero(
        sec,
        "incomplete artifacts counted good by lfb-verify --all",
        c.counted_good_verify,
    );
    report.zero(
        sec,
        "incomplete artifacts not flagged by lfb-guard",
        c.counted_good_guard,
    );
    report.zero(
        sec,
        "incomplete artifacts under a final name",
        c.incomplete_present,
    );
    report.zero(sec, "targets left half-restored", c.half_restored);
    report.zero(
        sec,
        "stuck locks (a following run hangs or finds the store locked)",
        c.stuck_locks,
    );
    report.zero(sec, "scratch databases left", c.scratch_dbs);
    report.info(
        sec,
        "scratch folders left in TMPDIR (outside the store)",
        c.scratch_dirs,
    );
    report.info(
        sec,
        "leftovers in the store (partials, orphan sidecars)",
        c.leftovers,
    );
    report.zero(sec, "leftovers not reported by lfb-guard", c.unreported);
    report.zero(
        sec,
        "leftovers a day old not removed by lfb-prune's housekeeping",
        c.not_cleaned,
    );
    report.zero(sec, "dumps lost by a killed --consume", c.lost_dumps);
    report.zero(
        sec,
        "artifacts a killed prune should have kept but deleted",
        c.kept_deleted,
    );
}

#[allow(clippy::too_many_arguments)]
fn kill_once(
    s: Scenario,
    i: usize,
    sig: i32,
    delay: Duration,
    after: &str,
    bins: &Bins,
    fx: &Fixtures,
    c: &mut Counts,
    report: &mut Report,
) {
    let p = prepare(s, bins, fx, i);
    let before = target_fp(fx, &p.target);
    let tmp = p.store.with_extension("tmp");
    let _ = fs::create_dir_all(&tmp);
    let mut cmd = p.cmd;
    cmd.env("TMPDIR", &tmp);
    let r = run_and_signal(
        &mut cmd,
        p.stdin.as_deref(),
        Some((delay, sig)),
        Duration::from_secs(300),
    );
    c.kills += 1;
    if sig == SIGTERM {
        c.sigterm += 1;
    }
    let what = format!(
        "{} #{i} ({} after {:.3}s)",
        s.name(),
        if sig == SIGKILL { "SIGKILL" } else { "SIGTERM" },
        delay.as_secs_f64()
    );
    if r.signal.is_none() && r.elapsed < delay {
        c.finished_before_signal += 1;
    }
    // Children a killed tool leaves (psql, pg_dump) may still be running.
    std::thread::sleep(Duration::from_millis(800));

    // The target.
    if !matches!(p.target, Target::None) {
        let now = settle(|| target_fp(fx, &p.target));
        if now != before && now != after {
            c.half_restored += 1;
            report.note(
                "kills",
                format!("{what}: target is neither as before nor the backup"),
            );
        }
    }
    // --consume: the dump is there, or in an archive that is whole.
    if let Some(dump) = &p.consumed
        && !dump.exists()
    {
        let archived = fs::read_dir(p.store.join("dev"))
            .map(|rd| {
                rd.flatten().any(|e| {
                    let n = e.file_name().to_string_lossy().into_owned();
                    n.contains("_full_")
                        && n.ends_with(".tar.gz")
                        && independent_ok(&e.path(), fx).is_ok()
                })
            })
            .unwrap_or(false);
        if !archived {
            c.lost_dumps += 1;
            report.note(
                "kills",
                format!("{what}: the dump was removed and no whole archive holds it"),
            );
        }
    }
    for k in &p.must_keep {
        if !k.exists() {
            c.kept_deleted += 1;
            report.note("kills", format!("{what}: {} was deleted", k.display()));
        }
    }

    store_checks(&what, &p.store, bins, fx, c, report);

    // Scratch databases on the server.
    if let Some(pg) = &fx.pg {
        // A killed tool's death watcher drops its scratch database a moment
        // after the kill (retrying while the server still sees the session).
        let query = "SELECT datname FROM pg_database WHERE datname NOT IN ('postgres','template0','template1','src') AND datname NOT LIKE 'target%'";
        let mut dbs = pg.psql("postgres", query);
        for _ in 0..15 {
            if dbs.trim().is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_secs(1));
            dbs = pg.psql("postgres", query);
        }
        for db in dbs.lines().filter(|l| !l.trim().is_empty()) {
            c.scratch_dbs += 1;
            report.note("kills", format!("{what}: scratch database {db} left"));
            let _ = pg.try_psql(
                "postgres",
                &format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)"),
            );
        }
    }
    // Scratch folders in its private TMPDIR.
    if let Ok(rd) = fs::read_dir(&tmp) {
        let n = rd.flatten().count();
        if n > 0 {
            c.scratch_dirs += n;
        }
    }
    let _ = fs::remove_dir_all(&tmp);
    let _ = fs::remove_dir_all(&p.store);
    if let Target::Dir(d) = &p.target {
        let _ = fs::remove_dir_all(d);
    }
}

/// Reads a fingerprint until it stops changing (a child of a killed tool
/// may still be writing), for up to ten seconds.
fn settle(mut f: impl FnMut() -> String) -> String {
    let mut last = f();
    for _ in 0..10 {
        std::thread::sleep(Duration::from_millis(700));
        let now = f();
        if now == last {
            return now;
        }
        last = now;
    }
    last
}

fn first_line(s: &str) -> String {
    s.lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .to_string()
}

/// The checks of a store after a kill.
fn store_checks(
    what: &str,
    store: &Path,
    bins: &Bins,
    fx: &Fixtures,
    c: &mut Counts,
    report: &mut Report,
) {
    // Artifacts and leftovers, by listing.
    let mut artifacts = Vec::new();
    let mut others = Vec::new();
    let Ok(rd) = fs::read_dir(store) else { return };
    for top in rd.flatten() {
        let name = top.file_name().to_string_lossy().into_owned();
        let p = top.path();
        if p.is_dir() {
            // The journal, and lfb-restore's per-target lock files: like
            // `.lfb.lock`, a lock file stays by design and holds nothing once
            // its process is gone (the kernel drops a dead process's flock),
            // which the stuck-lock checks below prove.
            if name == "logs" || name == ".lfb-locks" {
                continue;
            }
            for e in fs::read_dir(&p).into_iter().flatten().flatten() {
                let f = e.file_name().to_string_lossy().into_owned();
                let ep = e.path();
                if ep.is_dir() {
                    continue;
                }
                if is_artifact_name(&f) {
                    artifacts.push(ep);
                } else if let Some(base) = f.strip_suffix(".json")
                    && is_artifact_name(base)
                    && p.join(base).exists()
                {
                    // A sidecar with its artifact.
                } else {
                    others.push(ep);
                }
            }
        } else if name != ".lfb.lock" {
            others.push(p);
        }
    }
    c.leftovers += others.len();

    let verify = run(
        bins.cmd("lfb-verify").arg("--store").arg(store).args([
            "--all",
            "--checks",
            "checksum,decode,complete",
        ]),
        None,
        Duration::from_secs(300),
    );
    let good: Vec<String> = verify
        .records()
        .into_iter()
        .filter(|r| r["verify"]["ok"] == true)
        .filter_map(|r| r["path"].as_str().map(str::to_string))
        .collect();
    let guard = run(
        bins.cmd("lfb-guard").arg("--store").arg(store),
        None,
        Duration::from_secs(300),
    );
    for a in &artifacts {
        if let Err(why) = independent_ok(a, fx) {
            c.incomplete_present += 1;
            report.note(
                "kills",
                format!("{what}: {} is incomplete: {why}", a.display()),
            );
            let s = a.to_string_lossy();
            if good.iter().any(|g| g == s.as_ref()) {
                c.counted_good_verify += 1;
            }
            let file = a
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            if !guard.stdout.contains(&file) {
                c.counted_good_guard += 1;
            }
        }
    }
    for o in &others {
        if !guard.stdout.contains(o.to_string_lossy().as_ref()) {
            c.unreported += 1;
            report.note(
                "kills",
                format!("{what}: leftover {} not reported by lfb-guard", o.display()),
            );
        }
    }
    // Leftovers are cleaned by prune's housekeeping once a day old: age
    // them (by mtime, which is what housekeeping reads).
    let two_days_ago = std::time::SystemTime::now() - Duration::from_secs(2 * 86_400);
    for o in &others {
        if let Ok(f) = fs::File::options().write(true).open(o) {
            let _ = f.set_modified(two_days_ago);
        }
    }
    // A following run that takes the lock must not wait for a dead one.
    let next = run(
        bins.cmd("lfb-prune")
            .arg("--store")
            .arg(store)
            .args(["--all-envs", "--keep-last", "1000"]),
        None,
        Duration::from_secs(20),
    );
    if next.timed_out || next.stderr.contains("locked") {
        c.stuck_locks += 1;
        report.note("kills", format!("{what}: the store stayed locked"));
    }
    // A killed restore's target lock must be free for the next restore.
    for e in fs::read_dir(store.join(".lfb-locks"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let held = fs::File::open(e.path()).map(|f| f.try_lock().is_err());
        if held.unwrap_or(false) {
            c.stuck_locks += 1;
            report.note(
                "kills",
                format!("{what}: target lock {} still held", e.path().display()),
            );
        }
    }
    for o in &others {
        if o.exists() {
            c.not_cleaned += 1;
            report.note(
                "kills",
                format!("{what}: leftover {} not removed by lfb-prune", o.display()),
            );
        }
    }
}

fn is_artifact_name(f: &str) -> bool {
    let exts = [
        ".sql.gz",
        ".sql",
        ".dump",
        ".sqlite3.gz",
        ".sqlite3",
        ".tar.gz",
    ];
    exts.iter().any(|e| f.ends_with(e))
        && (f.contains("_db_")
            || f.contains("_full_")
            || f.contains("_backup_")
            || f.starts_with("pre_"))
}

/// Whether an artifact is whole, judged without lfb: the format's own
/// tools, and the sidecar's SHA-256 when there is one.
pub fn independent_ok(p: &Path, fx: &Fixtures) -> Result<(), String> {
    let f = p
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let side = PathBuf::from(format!("{}.json", p.display()));
    if let Ok(text) = fs::read_to_string(&side)
        && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
        && let Some(want) = v["sha256"].as_str()
        && crate::sha256_file(p) != want
    {
        return Err("SHA-256 differs from its sidecar".into());
    }
    let sh = |script: &str| -> Result<String, String> {
        let out = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg("sh")
            .arg(p)
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr)
                .lines()
                .next()
                .unwrap_or("failed")
                .to_string())
        }
    };
    if f.ends_with(".sql.gz") {
        sh("gzip -t \"$1\"")?;
        let tail = sh("gzip -dc \"$1\" | tail -c 400")?;
        if tail.contains("dump complete") || tail.trim_end().ends_with("COMMIT;") {
            Ok(())
        } else {
            Err("no end-of-dump trailer".into())
        }
    } else if f.ends_with(".tar.gz") {
        sh("gzip -t \"$1\" && tar -tzf \"$1\" >/dev/null").map(|_| ())
    } else if f.ends_with(".dump") {
        let Some(pg) = &fx.pg else { return Ok(()) };
        let bin = pg.bin_dir().join("pg_restore");
        let out = Command::new(bin)
            .args(["-f", "/dev/null"])
            .arg(p)
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr)
                .lines()
                .next()
                .unwrap_or("")
                .to_string())
        }
    } else if f.ends_with(".sqlite3.gz") {
        let r = sh(
            "t=$(mktemp) && gzip -dc \"$1\" > \"$t\" && sqlite3 \"$t\" 'PRAGMA integrity_check'; s=$?; rm -f \"$t\"; exit $s",
        )?;
        if r.trim() == "ok" { Ok(()) } else { Err(r) }
    } else if f.ends_with(".sqlite3") {
        let r = sh("sqlite3 \"$1\" 'PRAGMA integrity_check'")?;
        if r.trim() == "ok" { Ok(()) } else { Err(r) }
    } else {
        Ok(())
    }
}

fn target_fp(fx: &Fixtures, t: &Target) -> String {
    match t {
        Target::None => String::new(),
        Target::Pg(db) => fx
            .pg
            .as_ref()
            .map(|pg| fixtures::pg_fingerprint(pg, db))
            .unwrap_or_default(),
        Target::Sqlite(p) => fixtures::sqlite_fingerprint(p),
        // What a restore moves aside (NAME.before-restore-TIME, kept by
        // design) and its own staging folders are not the target's contents.
        Target::Dir(d) => crate::tree_fingerprint(d)
            .lines()
            .filter(|l| {
                let first = l.split('/').next().unwrap_or("");
                !first.contains(".before-restore-") && !first.contains(".lfb-extract.partial")
            })
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

/// Fresh state for run `i` of a scenario, and the command to run.
fn prepare(s: Scenario, bins: &Bins, fx: &Fixtures, i: usize) -> Prepared {
    let tag = format!("k{}-{i}", s as usize);
    let store = new_store(&fx.work, &format!("store-{tag}"));
    let mut p = Prepared {
        cmd: bins.cmd("lfb-dump"),
        stdin: None,
        store: store.clone(),
        target: Target::None,
        consumed: None,
        must_keep: Vec::new(),
    };
    let pg_url = |db: &str| fx.pg.as_ref().map(|pg| pg.url(db)).unwrap_or_default();
    match s {
        Scenario::DumpPg => {
            p.cmd.arg("--store").arg(&store).arg(pg_url(SRC_DB));
        }
        Scenario::DumpSqlite => {
            p.cmd.arg("--store").arg(&store).arg(&fx.sqlite);
        }
        Scenario::Archive | Scenario::ArchiveConsume => {
            let a = fx
                .artifact("pg sql.gz")
                .or_else(|| fx.artifact("sqlite sql.gz"))
                .expect("a dump");
            let (path, rec) = install(a, &store, "dev", true);
            p.cmd = bins.cmd("lfb-archive");
            p.cmd
                .current_dir(&fx.project)
                .arg("--store")
                .arg(&store)
                .args(["--media", "media"]);
            if s == Scenario::ArchiveConsume {
                p.cmd.arg("--consume");
                p.consumed = Some(path);
            }
            p.stdin = Some(format!("{rec}\n").into_bytes());
        }
        Scenario::RestorePlain | Scenario::RestoreCustom => {
            let pg = fx.pg.as_ref().expect("pg");
            let label = if s == Scenario::RestorePlain {
                "pg sql.gz"
            } else {
                "pg custom"
            };
            let a = fx.artifact(label).expect("pg artifact");
            let folder = if s == Scenario::RestoreCustom {
                "migrations"
            } else {
                "dev"
            };
            let (path, _) = install(a, &store, folder, true);
            let db = format!("target_{tag}").replace('-', "_");
            let _ = pg.try_psql(
                "postgres",
                &format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)"),
            );
            pg.create_db(&db);
            pg.psql(&db, TARGET_SQL);
            p.cmd = bins.cmd("lfb-restore");
            p.cmd
                .arg("--store")
                .arg(&store)
                .arg("-f")
                .arg(&path)
                .args(["-y", "--from", "src"])
                .arg(pg.url(&db));
            p.target = Target::Pg(db);
        }
        Scenario::RestoreSqlite => {
            let a = fx.artifact("sqlite sql.gz").expect("sqlite artifact");
            let (path, _) = install(a, &store, "dev", true);
            let target = store.with_extension("target.db");
            let _ = fs::remove_file(&target);
            let conn = rusqlite::Connection::open(&target).expect("target");
            conn.execute_batch("CREATE TABLE old (x); INSERT INTO old VALUES (1), (2);")
                .expect("seed");
            drop(conn);
            p.cmd = bins.cmd("lfb-restore");
            p.cmd
                .arg("--store")
                .arg(&store)
                .arg("-f")
                .arg(&path)
                .args(["-y", "--from", "app"])
                .arg(&target);
            p.target = Target::Sqlite(target);
        }
        Scenario::RestoreFilesTo => {
            let a = fx.artifact("full tar.gz").expect("archive");
            let (path, _) = install(a, &store, "dev", true);
            let dir = store.with_extension("files");
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(dir.join("media")).expect("files dir");
            fs::write(dir.join("media/old.txt"), "old").expect("old file");
            p.cmd = bins.cmd("lfb-restore");
            p.cmd
                .arg("--store")
                .arg(&store)
                .arg("-f")
                .arg(&path)
                .arg("--files-to")
                .arg(&dir)
                .args(["--files-only", "-y"]);
            p.target = Target::Dir(dir);
        }
        Scenario::Prune => {
            let dev = store.join("dev");
            fs::create_dir_all(&dev).expect("dev");
            let body = small_sqlite_dump();
            let sha = crate::sha_text_bytes(&body);
            let mut all = Vec::new();
            for k in 0..PRUNE_ARTIFACTS {
                let name = format!(
                    "small_db_hourly_2026{:02}{:02}T{:02}0000Z.sql.gz",
                    1 + k / 600,
                    1 + (k / 24) % 28,
                    k % 24
                );
                let path = dev.join(&name);
                fs::write(&path, &body).expect("artifact");
                let rec = serde_json::json!({
                    "schema": "lfb/1", "id": name.trim_end_matches(".sql.gz"), "kind": "db",
                    "env": "dev", "tag": "hourly", "path": path.to_string_lossy(),
                    "bytes": body.len(), "sha256": sha, "format": "sqlite+gzip",
                });
                let mut f = fs::File::create(format!("{}.json", path.display())).expect("sidecar");
                let _ = writeln!(f, "{rec}");
                all.push(path);
            }
            all.sort();
            p.must_keep = all[all.len() - 5..].to_vec();
            p.cmd = bins.cmd("lfb-prune");
            p.cmd.arg("--store").arg(&store).args([
                "--keep-last",
                "5",
                "--now",
                "2026-02-01T00:00:00Z",
            ]);
        }
        Scenario::VerifyRestoreTest => {
            let a = fx.artifact("pg sql.gz").expect("pg artifact");
            let (path, _) = install(a, &store, "dev", true);
            p.cmd = bins.cmd("lfb-verify");
            p.cmd
                .arg("--store")
                .arg(&store)
                .arg("--restore-test")
                .arg(&path);
        }
    }
    p
}

/// A whole, tiny SQLite SQL dump, gzipped.
/// Artifacts in the prune scenario: enough that deleting them takes a
/// while to kill in.
const PRUNE_ARTIFACTS: u32 = 600;

fn small_sqlite_dump() -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let _ = e.write_all(b"PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;\nCREATE TABLE t(x);\nINSERT INTO t VALUES(1);\nCOMMIT;\n");
    e.finish().unwrap_or_default()
}
