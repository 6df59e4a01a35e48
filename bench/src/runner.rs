//! Running a comparison: is the lfb tool there at all, prepare its data,
//! warm up, then the timed runs — lfb and the baselines alternating, one run
//! of each per round — each checked for correctness before it counts.
//!
//! Nothing here panics on a missing or failing tool: a tool that is not
//! built (missing binary, a stub with no `--version`, flags missing from its
//! `--help`, or "not available yet" at run time) is reported as
//! "n/a (not built)"; one that fails or produces a wrong result is reported
//! as failed, and the other commands of the comparison still run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use lfb_tests::mariadb::MariaDb;
use lfb_tests::pg::PgServer;

use crate::checks;
use crate::comparisons::{Check, Comparison, Data, Role};
use crate::data::{self, Shape, scale_tag};
use crate::measure::{self, Run, Samples};

/// What became of one command of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    Ok,
    /// The lfb tool is not there yet; the reason says how we know.
    NotBuilt(String),
    /// It ran but failed, or produced a wrong result.
    Failed(String),
    /// It could not be run (its data could not be prepared).
    Skipped(String),
}

#[derive(Debug, Clone)]
pub struct VariantResult {
    pub status: Status,
    pub samples: Samples,
}

/// The results of one comparison at one scale.
#[derive(Debug)]
pub struct Outcome {
    pub comparison: &'static Comparison,
    pub scale: f64,
    /// What the data was, for the report ("dump 251 MB", "100000 artifacts").
    pub data_note: String,
    pub variants: Vec<VariantResult>,
}

/// Data prepared for a comparison at a scale.
#[derive(Debug, Clone, Default)]
pub struct Prepared {
    pub vars: Vec<(String, String)>,
    /// Exact rows per table of the ledger.
    pub tables: Vec<(String, u64)>,
    /// PostgreSQL database name, for checks that query the server.
    pub pg_db: Option<String>,
    /// Regular files in the media tree.
    pub media_files: u64,
    /// Artifacts in the store.
    pub store_artifacts: u64,
    pub note: String,
}

/// The throwaway PostgreSQL server and what was generated in it.
pub struct PgState {
    pub server: PgServer,
    /// Databases generated, by scale tag.
    ledgers: BTreeMap<String, String>,
    /// lfb-dump artifacts of them, by scale tag.
    artifacts: BTreeMap<String, Result<PathBuf, String>>,
}

/// The throwaway MariaDB server and what was generated in it.
pub struct MyState {
    pub server: MariaDb,
    ledgers: BTreeMap<String, String>,
    artifacts: BTreeMap<String, Result<PathBuf, String>>,
}

/// Everything the runs share.
pub struct Ctx {
    pub bin: PathBuf,
    pub data_dir: PathBuf,
    pub work: PathBuf,
    pub runs: usize,
    pub warmup: bool,
    pg: Option<Result<PgState, String>>,
    my: Option<Result<MyState, String>>,
    moto: Option<Result<Moto, String>>,
    restore_seq: u64,
}

/// A moto S3 server on 127.0.0.1 with the bucket `lfb-bench`, stopped on drop.
pub struct Moto {
    child: std::process::Child,
    port: u16,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl std::fmt::Debug for Moto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Moto(port {})", self.port)
    }
}

fn start_moto(work: &Path) -> Result<Moto, String> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    std::fs::create_dir_all(work).map_err(|e| e.to_string())?;
    let log = std::fs::File::create(work.join("moto.log")).map_err(|e| e.to_string())?;
    let child = Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(|e| format!("moto_server (pip install 'moto[server]'): {e}"))?;
    let moto = Moto { child, port };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if std::time::Instant::now() > deadline {
            return Err("moto_server did not start".into());
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let made = Command::new("python3")
        .arg("-c")
        .arg(format!(
            "import boto3; boto3.client('s3', endpoint_url='http://127.0.0.1:{port}', \
             region_name='us-east-1', aws_access_key_id='bench', aws_secret_access_key='bench')\
             .create_bucket(Bucket='lfb-bench')"
        ))
        .status()
        .map_err(|e| e.to_string())?;
    if !made.success() {
        return Err("cannot create the bench bucket (boto3)".into());
    }
    Ok(moto)
}

impl Ctx {
    pub fn new(root: PathBuf, bin: PathBuf, runs: usize, warmup: bool) -> Ctx {
        Ctx {
            data_dir: root.join("bench/data"),
            work: root.join("bench/work"),
            bin,
            runs,
            warmup,
            pg: None,
            my: None,
            moto: None,
            restore_seq: 0,
        }
    }

    /// Variables every command gets.
    fn base_vars(&self) -> Vec<(String, String)> {
        let scratch_store = self.work.join("scratch-store");
        vec![
            ("LFB".into(), self.bin.to_string_lossy().into_owned()),
            // lfb tools never write into the user's own store from here.
            (
                "LFB_STORE".into(),
                scratch_store.to_string_lossy().into_owned(),
            ),
            ("LFB_ENV".into(), "dev".into()),
        ]
    }

    /// The PostgreSQL server, started on first use.
    pub fn pg(&mut self) -> Result<&mut PgState, String> {
        if self.pg.is_none() {
            crate::log("starting a throwaway PostgreSQL server ...");
            let started = match PgServer::start("lfb-bench") {
                Some(server) => Ok(PgState {
                    server,
                    ledgers: BTreeMap::new(),
                    artifacts: BTreeMap::new(),
                }),
                None => Err("PostgreSQL server programs are not installed".to_string()),
            };
            self.pg = Some(started);
        }
        match self.pg.as_mut().expect("set above") {
            Ok(pg) => Ok(pg),
            Err(e) => Err(e.clone()),
        }
    }

    /// The MariaDB server, started on first use.
    pub fn my(&mut self) -> Result<&mut MyState, String> {
        if self.my.is_none() {
            crate::log("starting a throwaway MariaDB server ...");
            let started = match MariaDb::start("lfb-bench") {
                Some(server) => Ok(MyState {
                    server,
                    ledgers: BTreeMap::new(),
                    artifacts: BTreeMap::new(),
                }),
                None => Err("MariaDB server programs are not installed".to_string()),
            };
            self.my = Some(started);
        }
        match self.my.as_mut().expect("set above") {
            Ok(my) => Ok(my),
            Err(e) => Err(e.clone()),
        }
    }

    /// The MariaDB server, when it was started.
    pub fn my_started(&self) -> Option<&MyState> {
        self.my.as_ref().and_then(|r| r.as_ref().ok())
    }

    fn my_vars(&mut self, scale: f64) -> Result<Vec<(String, String)>, String> {
        let tag = scale_tag(scale);
        let my = self.my()?;
        let db = match my.ledgers.get(&tag) {
            Some(db) => db.clone(),
            None => {
                let db = format!("ledger_{tag}");
                crate::log(&format!("generating MariaDB database {db} ..."));
                let started = std::time::Instant::now();
                data::mariadb::generate(&my.server, &db, &Shape::at(scale))?;
                let counts = data::mariadb::count_rows(&my.server, &db)?;
                let want: Vec<(String, u64)> = Shape::at(scale)
                    .tables()
                    .into_iter()
                    .map(|(t, n)| (t.trim_start_matches("public.").to_string(), n))
                    .collect();
                if counts != want {
                    return Err(format!("{db}: unexpected row counts {counts:?}"));
                }
                crate::log(&format!(
                    "generated {db} in {:.1} s",
                    started.elapsed().as_secs_f64()
                ));
                my.ledgers.insert(tag.clone(), db.clone());
                db
            }
        };
        Ok(vec![
            (
                "MYSQL_ARGS".into(),
                format!(
                    "--no-defaults --socket={} --user=root",
                    my.server.socket().display()
                ),
            ),
            ("MYDB".into(), db.clone()),
            ("MY_URL".into(), my.server.url(&db)),
        ])
    }

    /// An lfb-dump artifact of the MariaDB ledger at `scale` (made once).
    fn my_artifact(&mut self, scale: f64, vars: &[(String, String)]) -> Result<PathBuf, String> {
        let tag = scale_tag(scale);
        if let Some(done) = self.my()?.artifacts.get(&tag) {
            return done.clone();
        }
        let dir = self.work.join("artifacts");
        let path = dir.join(format!("mariadb_ledger_{tag}.sql.gz"));
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_file(lfb_core::store::sidecar_path(&path));
        let mut all = self.base_vars();
        all.extend_from_slice(vars);
        all.push(("OUT".into(), path.to_string_lossy().into_owned()));
        crate::log(&format!("making the lfb-dump artifact {}", path.display()));
        let made = measure::run_script(
            r#""$LFB/lfb-dump" -q -o "$OUT" "$MY_URL""#,
            &all,
            &dir.join("run"),
        )
        .map_err(|e| e.to_string())
        .and_then(|run| {
            if run.code == 0 {
                Ok(path.clone())
            } else {
                Err(format!(
                    "lfb-dump could not make the artifact: {}",
                    run.error_line()
                ))
            }
        });
        self.my()?.artifacts.insert(tag, made.clone());
        made
    }

    /// The PostgreSQL server, when it was started.
    pub fn pg_started(&self) -> Option<&PgState> {
        self.pg.as_ref().and_then(|r| r.as_ref().ok())
    }

    fn pg_vars(&mut self, scale: f64) -> Result<(Vec<(String, String)>, String), String> {
        let tag = scale_tag(scale);
        let pg = self.pg()?;
        let db = match pg.ledgers.get(&tag) {
            Some(db) => db.clone(),
            None => {
                let db = format!("ledger_{tag}");
                crate::log(&format!("generating PostgreSQL database {db} ..."));
                let started = std::time::Instant::now();
                data::pg::generate(&pg.server, &db, &Shape::at(scale))?;
                let counts = data::pg::count_rows(&pg.server, &db)?;
                if counts != Shape::at(scale).tables() {
                    return Err(format!("{db}: unexpected row counts {counts:?}"));
                }
                crate::log(&format!(
                    "generated {db} in {:.1} s",
                    started.elapsed().as_secs_f64()
                ));
                pg.ledgers.insert(tag.clone(), db.clone());
                db
            }
        };
        let mut cmd = Command::new("true");
        pg.server.apply_env(&mut cmd);
        let mut vars: Vec<(String, String)> = cmd
            .get_envs()
            .filter_map(|(k, v)| {
                Some((
                    k.to_string_lossy().into_owned(),
                    v?.to_string_lossy().into_owned(),
                ))
            })
            .collect();
        vars.push((
            "PGBIN".into(),
            pg.server.bin_dir().to_string_lossy().into_owned(),
        ));
        vars.push(("PGDB".into(), db.clone()));
        vars.push(("PG_URL".into(), pg.server.url(&db)));
        Ok((vars, db))
    }

    /// An lfb-dump artifact of the ledger at `scale` (made once, untimed).
    fn pg_artifact(&mut self, scale: f64, vars: &[(String, String)]) -> Result<PathBuf, String> {
        let tag = scale_tag(scale);
        if let Some(done) = self.pg()?.artifacts.get(&tag) {
            return done.clone();
        }
        let dir = self.work.join("artifacts");
        let path = dir.join(format!("ledger_{tag}.sql.gz"));
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_file(lfb_core::store::sidecar_path(&path));
        let mut all = self.base_vars();
        all.extend_from_slice(vars);
        all.push(("OUT".into(), path.to_string_lossy().into_owned()));
        crate::log(&format!("making the lfb-dump artifact {}", path.display()));
        let made = measure::run_script(
            r#""$LFB/lfb-dump" -q -o "$OUT" "$PG_URL""#,
            &all,
            &dir.join("run"),
        )
        .map_err(|e| e.to_string())
        .and_then(|run| {
            if run.code == 0 {
                Ok(path.clone())
            } else {
                Err(format!(
                    "lfb-dump could not make the artifact: {}",
                    run.error_line()
                ))
            }
        });
        self.pg()?.artifacts.insert(tag, made.clone());
        made
    }

    /// Generates (or finds cached) the data `data` at `scale`.
    pub fn prepare(&mut self, data: Data, scale: f64) -> Result<Prepared, String> {
        let tag = scale_tag(scale);
        let v = data::GENERATOR_VERSION;
        let mut p = Prepared {
            vars: self.base_vars(),
            tables: Shape::at(scale).tables(),
            ..Default::default()
        };
        match data {
            Data::PgLedger | Data::PgArtifact => {
                let (vars, db) = self.pg_vars(scale)?;
                p.vars.extend(vars.iter().cloned());
                p.pg_db = Some(db);
                if data == Data::PgArtifact {
                    let art = self.pg_artifact(scale, &vars)?;
                    p.note = format!(
                        "artifact {}",
                        crate::report::bytes(data::tree_bytes(&art) as f64)
                    );
                    p.vars
                        .push(("ART".into(), art.to_string_lossy().into_owned()));
                } else {
                    p.note = format!("{} transactions", Shape::at(scale).transactions);
                }
            }
            Data::MyLedger | Data::MyArtifact => {
                let vars = self.my_vars(scale)?;
                p.vars.extend(vars.iter().cloned());
                if data == Data::MyArtifact {
                    let art = self.my_artifact(scale, &vars)?;
                    p.note = format!(
                        "artifact {}",
                        crate::report::bytes(data::tree_bytes(&art) as f64)
                    );
                    p.vars
                        .push(("ART".into(), art.to_string_lossy().into_owned()));
                } else {
                    p.note = format!("{} transactions", Shape::at(scale).transactions);
                }
            }
            Data::SqliteLedger => {
                let path = self
                    .data_dir
                    .join(format!("sqlite-ledger-s{tag}-v{v}.sqlite3"));
                let shape = Shape::at(scale);
                data::ensure(&path, "the SQLite ledger", |tmp| {
                    data::sqlite::generate(tmp, &shape)
                })?;
                p.note = format!(
                    "database file {}",
                    crate::report::bytes(data::tree_bytes(&path) as f64)
                );
                p.vars
                    .push(("SQLITE_DB".into(), path.to_string_lossy().into_owned()));
            }
            Data::Media => {
                let path = self.data_dir.join(format!("media-s{tag}-v{v}"));
                data::ensure(&path, "the media tree", |tmp| {
                    data::media::generate(tmp, scale)
                })?;
                p.media_files = checks::count_files(&path);
                p.note = format!(
                    "{} files, {}",
                    p.media_files,
                    crate::report::bytes(data::tree_bytes(&path) as f64)
                );
                p.vars
                    .push(("MEDIA".into(), path.to_string_lossy().into_owned()));
            }
            Data::CopyArtifact => {
                // "2": the artifact has its sidecar (older caches have none).
                let path = self.data_dir.join(format!("copy-store2-s{tag}-v{v}"));
                let bytes = ((300u64 << 20) as f64 * scale) as u64;
                let bytes = bytes.max(1 << 20);
                data::ensure(&path, "the lfb-copy artifact", |tmp| {
                    random_artifact(tmp, bytes)
                })?;
                if self.moto.is_none() {
                    crate::log("starting a moto S3 server ...");
                    self.moto = Some(start_moto(&self.work.join("moto")));
                }
                let port = match self.moto.as_ref().expect("set above") {
                    Ok(m) => m.port,
                    Err(e) => return Err(e.clone()),
                };
                let art = path.join("prod/bench_db_manual_20261127T020000Z.sql.gz");
                p.note = format!("artifact {}", crate::report::bytes(bytes as f64));
                let endpoint = format!("http://127.0.0.1:{port}");
                p.vars.extend([
                    ("CSTORE".into(), path.to_string_lossy().into_owned()),
                    ("CART".into(), art.to_string_lossy().into_owned()),
                    ("AWS_ACCESS_KEY_ID".into(), "bench".into()),
                    ("AWS_SECRET_ACCESS_KEY".into(), "bench".into()),
                    ("AWS_REGION".into(), "us-east-1".into()),
                    ("AWS_DEFAULT_REGION".into(), "us-east-1".into()),
                    ("LFB_S3_ENDPOINT".into(), endpoint.clone()),
                    ("AWS_ENDPOINT_URL".into(), endpoint),
                    (
                        "XDG_STATE_HOME".into(),
                        self.work.join("state").to_string_lossy().into_owned(),
                    ),
                ]);
            }
            Data::Store(full) => {
                let n = ((full as f64 * scale).round() as u64).max(30);
                let path = self.data_dir.join(format!("store-{n}-v{v}"));
                data::ensure(&path, &format!("a store of {n} artifacts"), |tmp| {
                    data::store::generate(tmp, n)
                })?;
                p.store_artifacts = data::store::count_artifacts(&path);
                p.note = format!("{} artifacts", p.store_artifacts);
                p.vars
                    .push(("STORE".into(), path.to_string_lossy().into_owned()));
            }
        }
        Ok(p)
    }

    fn next_restore_db(&mut self) -> String {
        self.restore_seq += 1;
        format!("bench_restore_{}", self.restore_seq)
    }
}

/// Why the lfb tool of `c` cannot be measured, if it cannot.
pub fn unavailable(ctx: &Ctx, c: &Comparison) -> Option<String> {
    let exe = ctx.bin.join(c.tool);
    if !exe.is_file() {
        return Some(format!("no {} binary", c.tool));
    }
    let version = Command::new(&exe).arg("--version").output();
    match version {
        Ok(o) if o.status.success() && !o.stdout.is_empty() => {}
        _ => return Some(format!("{} is a stub (no --version)", c.tool)),
    }
    let help = Command::new(&exe)
        .arg("--help")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let missing: Vec<&str> = c
        .flags
        .iter()
        .copied()
        .filter(|f| !help.contains(f))
        .collect();
    if !missing.is_empty() {
        return Some(format!(
            "{} has no {} (update the bench entry)",
            c.tool,
            missing.join(", ")
        ));
    }
    None
}

/// Runs comparison `c` at `scale`.
pub fn run_comparison(ctx: &mut Ctx, c: &'static Comparison, scale: f64) -> Outcome {
    let mut out = Outcome {
        comparison: c,
        scale,
        data_note: String::new(),
        variants: c
            .variants
            .iter()
            .map(|_| VariantResult {
                status: Status::Ok,
                samples: Samples::default(),
            })
            .collect(),
    };
    crate::log(&format!("== {} (scale {scale})", c.title));
    if let Some(why) = unavailable(ctx, c) {
        crate::log(&format!("{}: n/a (not built): {why}", c.tool));
        out.variants[0].status = Status::NotBuilt(why);
        if c.variants.len() == 1 {
            return out;
        }
    }
    let prepared = match ctx.prepare(c.data, scale) {
        Ok(p) => p,
        Err(e) => {
            crate::log(&format!("cannot prepare the data: {e}"));
            for v in &mut out.variants {
                if v.status == Status::Ok {
                    v.status = Status::Skipped(e.clone());
                }
            }
            return out;
        }
    };
    out.data_note = prepared.note.clone();
    let dir = ctx
        .work
        .join(format!("{}-s{}", c.id, data::scale_tag(scale)));
    if out.variants[0].status == Status::Ok
        && let Err(e) = checks::sanity(ctx, c, &prepared, &dir)
    {
        out.variants[0].status = Status::Failed(e);
    }
    let warm = ctx.warmup && c.warmup;
    for round in 0..ctx.runs + usize::from(warm) {
        let timed = !warm || round > 0;
        for (i, variant) in c.variants.iter().enumerate() {
            if out.variants[i].status != Status::Ok {
                continue;
            }
            let label = if timed {
                format!("run {}/{}", round + 1 - usize::from(warm), ctx.runs)
            } else {
                "warm-up".to_string()
            };
            crate::log(&format!("  {label}: {}", variant.shown));
            match run_once(ctx, c, &prepared, i, &dir) {
                Ok((run, bytes)) => {
                    crate::log(&format!(
                        "    {:.2} s, CPU {:.2} s, RSS {:.1} MiB{}",
                        run.wall.as_secs_f64(),
                        run.cpu.as_secs_f64(),
                        run.max_rss_kib as f64 / 1024.0,
                        bytes
                            .map(|b| format!(", {}", crate::report::bytes(b as f64)))
                            .unwrap_or_default()
                    ));
                    if timed {
                        out.variants[i].samples.push(&run, bytes);
                    }
                }
                Err(status) => {
                    crate::log(&format!("    {status:?}"));
                    out.variants[i].status = status;
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    out
}

/// One run of variant `i`: fresh folder, run, size, check, clean up.
fn run_once(
    ctx: &mut Ctx,
    c: &Comparison,
    p: &Prepared,
    i: usize,
    dir: &Path,
) -> Result<(Run, Option<u64>), Status> {
    let variant = &c.variants[i];
    if let Some(program) = variant.needs
        && !crate::bounds::which(program)
    {
        return Err(Status::Skipped(format!(
            "{program} is not installed (apt-get install {program})"
        )));
    }
    let run_dir = dir.join(format!("v{i}"));
    let _ = std::fs::remove_dir_all(&run_dir);
    std::fs::create_dir_all(&run_dir).map_err(|e| Status::Failed(e.to_string()))?;
    let mut vars = p.vars.clone();
    let out_path = variant.out.map(|o| run_dir.join(o));
    if let Some(o) = &out_path {
        vars.push(("OUT".into(), o.to_string_lossy().into_owned()));
    }
    let newdb =
        matches!(c.check, Check::Restore | Check::RestoreTest).then(|| ctx.next_restore_db());
    let mariadb = c.data == Data::MyArtifact;
    if let Some(db) = &newdb {
        if mariadb {
            let my = ctx.my().map_err(Status::Skipped)?;
            drop_my_db(&my.server, db);
            vars.push(("NEWDB".into(), db.clone()));
            vars.push(("NEWDB_URL".into(), my.server.url(db)));
        } else {
            let pg = ctx.pg().map_err(Status::Skipped)?;
            drop_db(&pg.server, db);
            vars.push(("NEWDB".into(), db.clone()));
            vars.push(("NEWDB_URL".into(), pg.server.url(db)));
        }
    }
    let result = (|| {
        let run = measure::run_script(variant.script, &vars, &run_dir)
            .map_err(|e| Status::Failed(format!("cannot run: {e}")))?;
        let ok_code = run.code == 0 || (c.check == Check::Guard && run.code == 1);
        if !ok_code {
            let line = run.error_line();
            if variant.role == Role::Lfb && run.stderr.contains("not available yet") {
                return Err(Status::NotBuilt(line));
            }
            if run.code == 127 {
                return Err(Status::Skipped(format!("not installed: {line}")));
            }
            return Err(Status::Failed(format!("exit {}: {line}", run.code)));
        }
        let bytes = out_path
            .as_ref()
            .map(|o| std::fs::metadata(o).map(|m| m.len()).unwrap_or(0));
        let check = checks::Run {
            ctx: &*ctx,
            comparison: c,
            variant,
            prepared: p,
            run: &run,
            out: out_path.as_deref(),
            newdb: newdb.as_deref(),
        };
        checks::check(&check).map_err(|e| Status::Failed(format!("check failed: {e}")))?;
        Ok((run, bytes))
    })();
    if let Some(db) = &newdb {
        if mariadb {
            if let Ok(my) = ctx.my() {
                drop_my_db(&my.server, db);
            }
        } else if let Ok(pg) = ctx.pg() {
            drop_db(&pg.server, db);
        }
    }
    let _ = std::fs::remove_dir_all(&run_dir);
    result
}

fn drop_db(server: &PgServer, db: &str) {
    let _ = server.try_psql(
        "postgres",
        &format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE);",
            lfb_tests::pg::quote_ident(db)
        ),
    );
}

fn drop_my_db(server: &MariaDb, db: &str) {
    let _ = server.try_sql(
        None,
        &format!(
            "DROP DATABASE IF EXISTS {};",
            lfb_tests::mariadb::quote_ident(db)
        ),
    );
}

/// A store folder with one artifact of `bytes` incompressible bytes.
fn random_artifact(dir: &Path, bytes: u64) -> Result<(), String> {
    use sha2::Digest;
    use std::io::Write;
    let prod = dir.join("prod");
    std::fs::create_dir_all(&prod).map_err(|e| e.to_string())?;
    let path = prod.join("bench_db_manual_20261127T020000Z.sql.gz");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).map_err(|e| e.to_string())?);
    let mut sha = sha2::Sha256::new();
    let mut x = 0x2545_f491_4f6c_dd1d_u64;
    let mut left = bytes;
    while left > 0 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let n = left.min(8) as usize;
        f.write_all(&x.to_le_bytes()[..n])
            .map_err(|e| e.to_string())?;
        sha.update(&x.to_le_bytes()[..n]);
        left -= n as u64;
    }
    f.flush().map_err(|e| e.to_string())?;
    // The sidecar lfb-dump would have written: lfb-copy takes the file's
    // SHA-256 from it, as it does for every artifact lfb made.
    let time = lfb_core::chrono::DateTime::parse_from_rfc3339("2026-11-27T02:00:00Z")
        .expect("a valid time")
        .with_timezone(&lfb_core::chrono::Utc);
    let record = lfb_core::Record::new(
        "bench_db_manual_20261127T020000Z",
        lfb_core::Kind::Db,
        "prod",
        "manual",
        &path,
        time,
        bytes,
        &lfb_core::digest::hex(&sha.finalize()),
        "sql+gzip",
    );
    let mut line = record.to_line();
    line.push('\n');
    std::fs::write(lfb_core::store::sidecar_path(&path), line).map_err(|e| e.to_string())
}
