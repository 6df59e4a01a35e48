//! SQLite behind [`Engine`]: SQL text, or a page-exact copy of the file
//! through the backup API, read from the database file itself.

use std::fs;
use std::io::{self, Read, Write};
use std::path::PathBuf;

use serde_json::{Value, json};

use super::sqlite;
use super::{Compress, DumpFormat, DumpJob, Dumped, Dumper, Engine};
use crate::cleanup;
use crate::cli::Ui;
use crate::error::{Error, IoContext, Result};
use crate::format::{Body, Format};
use crate::fsutil;
use crate::progress::Progress;
use crate::record::Source;

pub(super) struct SqliteEngine(pub PathBuf);

impl Engine for SqliteEngine {
    fn name(&self) -> &'static str {
        "sqlite"
    }

    fn dump_format(&self, choice: DumpFormat, compress: Compress) -> Result<Format> {
        let gzip = compress == Compress::Gzip;
        let body = match choice {
            DumpFormat::Sql => Body::Sql,
            DumpFormat::Native => Body::Sqlite,
            DumpFormat::Custom => {
                return Err(Error::usage(
                    "--format custom is for PostgreSQL, not sqlite",
                ));
            }
        };
        Ok(Format::new(body, gzip).expect("SQLite formats are written both ways"))
    }

    fn connect(&self, _exec: Option<&str>, _ui: &Ui) -> Result<Box<dyn Dumper>> {
        let db_path = &self.0;
        if !db_path.is_file() {
            return Err(Error::unavailable(format!(
                "cannot open SQLite database '{}': {}",
                db_path.display(),
                if db_path.exists() {
                    "not a regular file"
                } else {
                    "no such file"
                }
            )));
        }
        Ok(Box::new(SqliteDumper(db_path.clone())))
    }
}

struct SqliteDumper(PathBuf);

impl Dumper for SqliteDumper {
    fn default_name(&self) -> String {
        self.0
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "db".into())
    }

    fn dump(&mut self, job: DumpJob<'_>) -> Result<Dumped> {
        let db_path = &self.0;
        let (tables, raw_bytes) = match job.choice {
            DumpFormat::Native => {
                // The backup API writes a file: a scratch copy beside the
                // partial artifact, streamed into it, then removed.
                let copy = fsutil::partial_path(&job.beside.with_extension("native"));
                let _ = fs::remove_file(&copy);
                let c2 = copy.clone();
                let guard = cleanup::on_interrupt(move || {
                    let _ = fs::remove_file(&c2);
                });
                let res = (|| {
                    let tables = sqlite::backup_native(db_path, &copy)?;
                    let mut f = fs::File::open(&copy).with_path("read", &copy)?;
                    let raw = copy_with_progress(&mut f, job.out, job.progress)
                        .with_path("write", job.beside)?;
                    Ok::<_, Error>((tables, raw))
                })();
                guard.run_now();
                res?
            }
            _ => {
                let mut counting = ProgressWriter {
                    inner: job.out,
                    progress: job.progress,
                    bytes: 0,
                };
                let tables = sqlite::dump_sql(db_path, &mut counting)?;
                (tables, counting.bytes)
            }
        };
        Ok(Dumped { tables, raw_bytes })
    }

    fn source(&self, dumped: &Dumped) -> Value {
        let db_path = &self.0;
        let abs = std::path::absolute(db_path).unwrap_or_else(|_| db_path.clone());
        let mut source = Source {
            engine: "sqlite".into(),
            database: abs.to_string_lossy().into_owned(),
            host: Some(crate::sys::hostname()),
            tool: Some(format!(
                "lfb {} ({})",
                env!("CARGO_PKG_VERSION"),
                sqlite::library_version()
            )),
            tables: dumped.tables.clone(),
            ..Default::default()
        }
        .to_value();
        // A SQLite database is identified by its file's real path (symlinks
        // resolved): `lfb-restore --latest` matches targets by it.
        if let Some(m) = source.as_object_mut() {
            let real = fs::canonicalize(db_path).unwrap_or_else(|_| db_path.clone());
            m.insert("path".into(), json!(real.to_string_lossy()));
        }
        source
    }
}

/// Counts the bytes written through it (the uncompressed size) and reports
/// them to a progress bar.
struct ProgressWriter<'a> {
    inner: &'a mut dyn Write,
    progress: &'a mut Progress,
    bytes: u64,
}

impl Write for ProgressWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.progress.add(n as u64);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn copy_with_progress(r: &mut dyn Read, w: &mut dyn Write, p: &mut Progress) -> io::Result<u64> {
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0;
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        w.write_all(&buf[..n])?;
        total += n as u64;
        p.add(n as u64);
    }
}
