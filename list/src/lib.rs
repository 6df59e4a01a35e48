//! lfb-list: the store's inventory.
//!
//! Replaces `ls` of the backup folder. One line per artifact, newest first,
//! with what `ls` cannot tell: which environment, database and tag it
//! belongs to, how old it is, and whether (and when) it last passed
//! verification. On a terminal it prints a table with totals per
//! environment and name; in a pipe it prints each artifact's record, so
//! `lfb-list --tag hourly | lfb-verify` checks exactly what was listed.
//!
//! Listing reads every sidecar once into a small summary (serde picks out
//! the few fields the table needs), so 100,000 artifacts list in well under
//! a second and a few tens of MiB; the full record of an artifact is read
//! again only when it is printed as a record.

pub mod remote;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Parser;
use lfb_core::chrono::{DateTime, NaiveDate, Utc};
use lfb_core::cli::{StoreArgs, ToolCli, Ui, Verbosity, parse_duration_arg};
use lfb_core::naming;
use lfb_core::ndjson::RecordWriter;
use lfb_core::store::{self, ArtifactFiles, FileId, LineRef, LineSpill};
use lfb_core::units::{format_duration, format_size};
use lfb_core::{Kind, Result, Store};

/// The store's inventory: a table for people, records for pipes.
#[derive(Parser, Debug)]
#[command(
    name = "lfb-list",
    version,
    about = "List the backup store's artifacts: a table for people, records for pipes",
    long_about = "List the artifacts of the backup store, newest first: environment, name, \
tag, kind, creation time, age, size, and the latest verification (passed, FAILED or never, \
and when).\n\n\
On a terminal the list is a table followed by totals per environment and name. When \
stdout is not a terminal (a pipe, a file) each artifact's record is printed as one JSON \
line instead, so the list feeds the other tools: lfb-list --tag hourly | lfb-verify. \
Each sidecar is read once: the record lines wait in a temporary file in $TMPDIR, \
unlinked as it is made, until they are printed (with no usable $TMPDIR the sidecars are \
read again).\n\n\
Without --env every environment is listed. --env ENV lists the ENV folder and the \
pre-migration backups of ENV in migrations/, as every lfb tool counts them. The store is \
only read: a store or environment that does not exist is an error (exit 2), and filters \
that match nothing say which values do exist.\n\n\
Exit status: 0 listed (possibly nothing), 2 bad arguments or an unreadable store.",
    after_help = "Examples:\n  \
lfb-list                                   every artifact, newest first\n  \
lfb-list -e prod --tag hourly --since 1d   yesterday's hourly prod backups\n  \
lfb-list --unverified | lfb-verify         check what was never checked\n  \
lfb-list --format json | jq -r 'select(.bytes < 10240) | .path'"
)]
pub struct Cli {
    /// Only artifacts of this database / base name (as in the file name)
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// Only artifacts with this tag (hourly, daily, pre-migration, …)
    #[arg(long, value_name = "TAG")]
    pub tag: Option<String>,

    /// Only this kind: db (database dumps) or full (archive bundles)
    #[arg(long, value_enum, value_name = "KIND")]
    pub kind: Option<KindArg>,

    /// Only artifacts newer than this: an age (36h, 7d) or a date (2026-11-01)
    #[arg(long, value_name = "AGE|DATE", value_parser = parse_since)]
    pub since: Option<Since>,

    /// Only artifacts whose latest verification passed
    #[arg(long, conflicts_with_all = ["failed", "unverified"])]
    pub verified: bool,

    /// Only artifacts whose latest verification failed
    #[arg(long, conflicts_with = "unverified")]
    pub failed: bool,

    /// Only artifacts never verified (no verify section in their sidecar)
    #[arg(long)]
    pub unverified: bool,

    /// Output: table, json (one record per line) [default: table on a terminal, else json]
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<Format>,

    /// Also show each artifact's path (table)
    #[arg(short, long)]
    pub long: bool,

    #[command(flatten)]
    pub store: StoreArgs,

    #[command(flatten)]
    pub verbosity: Verbosity,
}

impl ToolCli for Cli {
    fn verbosity(&self) -> Verbosity {
        self.verbosity
    }
}

/// Kinds for `--kind`.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum KindArg {
    /// Database dumps
    Db,
    /// Archive bundles
    Full,
}

/// Output formats for `--format`.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Aligned columns and totals, for people
    Table,
    /// One JSON record per line, for pipes
    Json,
}

/// `--since`: an age back from now, or a calendar date (UTC midnight).
#[derive(Debug, Clone, Copy)]
pub enum Since {
    Age(std::time::Duration),
    Date(DateTime<Utc>),
}

fn parse_since(s: &str) -> std::result::Result<Since, String> {
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(Since::Date(
            d.and_hms_opt(0, 0, 0).expect("midnight").and_utc(),
        ));
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(Since::Date(t.with_timezone(&Utc)));
    }
    parse_duration_arg(s)
        .map(Since::Age)
        .map_err(|e| format!("{e} (or a date such as 2026-11-01)"))
}

/// What the listing keeps of one artifact.
#[derive(Debug, Clone)]
pub struct Entry {
    pub path: PathBuf,
    pub env: String,
    pub name: String,
    pub tag: String,
    pub kind: Kind,
    pub created: DateTime<Utc>,
    pub bytes: Option<u64>,
    pub verified: Verified,
    /// The sidecar is missing: the record is derived from the file name.
    pub derived: bool,
    /// Its record line in the listing's spill, when it was kept there.
    pub line: Option<LineRef>,
}

/// The latest verification of an artifact, as its sidecar remembers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verified {
    Never,
    Passed(Option<DateTime<Utc>>),
    Failed(Option<DateTime<Utc>>),
}

fn parse_time(s: Option<&str>) -> Option<DateTime<Utc>> {
    s.and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// Runs lfb-list.
pub fn run(cli: Cli, ui: &Ui) -> Result<u8> {
    lfb_core::sys::return_large_buffers();
    if let Some(location) = lfb_core::remote::location(&cli.store)? {
        return remote::run(cli, location, ui);
    }
    let store = cli.store.store()?;
    store.require_existing()?;
    if let Some(tag) = &cli.tag {
        lfb_core::cli::check_tag(tag)?;
    }
    let env = match &cli.store.env {
        Some(e) => Some(store::resolve_env(Some(e))?),
        None => None,
    };
    if let Some(e) = &env {
        store.require_env(e)?;
    }
    let table = match cli.format {
        Some(f) => f == Format::Table,
        None => std::io::stdout().is_terminal(),
    };
    // Records are printed from the lines read with the sidecars (a table
    // needs none of them).
    let inv = Inventory::read(&store, !table)?;
    let now = Utc::now();
    let filtered = env.is_some()
        || cli.name.is_some()
        || cli.tag.is_some()
        || cli.kind.is_some()
        || cli.since.is_some()
        || cli.verified
        || cli.failed
        || cli.unverified;
    let mut shown: Vec<u32> = (0..inv.listed.len() as u32)
        .filter(|&i| !filtered || keep(&cli, env.as_deref(), &inv.entry(i as usize), now))
        .collect();
    // Newest first; ties by the path's bytes.
    let rank = inv.path_rank();
    shown.sort_unstable_by(|&a, &b| {
        let (la, lb) = (&inv.listed[a as usize], &inv.listed[b as usize]);
        lb.created
            .cmp(&la.created)
            .then_with(|| rank(b).cmp(&rank(a)))
    });
    if shown.is_empty() && !inv.listed.is_empty() {
        let tags = inv.listed.iter().map(|l| inv.words[l.tag as usize].clone());
        let names = inv.listed.iter().map(|l| inv.files.name(l.file).name);
        explain_empty(&cli, &tags.collect(), &names.collect(), ui);
    }
    if table {
        let rows: Vec<Entry> = shown.iter().map(|&i| inv.entry(i as usize)).collect();
        let rows: Vec<&Entry> = rows.iter().collect();
        print_table(&rows, now, cli.long);
        print_totals(&rows);
    } else {
        print_records(&inv, &shown)?;
        ui.debug(format!("{} artifacts listed", shown.len()));
    }
    Ok(0)
}

/// What the listing keeps of one artifact of a folder store: about 80
/// bytes, with its file name in [`Inventory::files`] (a store of 400,000
/// artifacts is held whole; an [`Entry`], made of it when it is shown,
/// would be twice that and more).
struct Listed {
    created: DateTime<Utc>,
    verified: Verified,
    bytes: Option<u64>,
    /// Its record line in [`Inventory::spill`], when it was kept there.
    line: Option<LineRef>,
    file: FileId,
    /// An index into [`Inventory::folders`].
    folder: u16,
    /// Indexes into [`Inventory::words`].
    env: u32,
    tag: u32,
    derived: bool,
}

/// Every artifact of a folder store, in the store's order (folder by
/// folder, by name). Sidecars are read and summarised on every core by
/// [`Store::visit_sidecars`], as lfb-prune reads them; with `lines`, each
/// record line read with them is kept in the spill, so printing records
/// reads no sidecar twice.
struct Inventory {
    listed: Vec<Listed>,
    files: ArtifactFiles,
    /// The store folders artifacts are in: name and path.
    folders: Vec<(Arc<str>, PathBuf)>,
    /// Environments and tags, each once.
    words: Vec<String>,
    spill: LineSpill,
}

impl Inventory {
    fn read(store: &Store, lines: bool) -> Result<Inventory> {
        let mut inv = Inventory {
            listed: Vec::new(),
            files: ArtifactFiles::new(),
            folders: Vec::new(),
            words: Vec::new(),
            spill: if lines {
                LineSpill::new()
            } else {
                LineSpill::disabled()
            },
        };
        let mut index: HashMap<String, u32> = HashMap::new();
        let mut add = |inv: &mut Inventory, mut found: store::Found| -> Result<()> {
            let line = found.line.take().and_then(|l| inv.spill.push(&l));
            if inv.folders.last().is_none_or(|(f, _)| *f != found.folder) {
                let dir = lfb_core::fsutil::parent_dir(&found.path).to_path_buf();
                inv.folders.push((found.folder.clone(), dir));
            }
            let folder = u16::try_from(inv.folders.len() - 1)
                .map_err(|_| lfb_core::Error::input("more store folders than lfb-list can hold"))?;
            let side = &found.sidecar;
            let env = store::env_of(&found.folder, side.env.as_deref());
            let tag = side.tag.as_deref().unwrap_or(&found.name.tag);
            let mut word = |w: &str| match index.get(w) {
                Some(&i) => i,
                None => {
                    let i = inv.words.len() as u32;
                    inv.words.push(w.to_string());
                    index.insert(w.to_string(), i);
                    i
                }
            };
            let (env, tag) = (word(env), word(tag));
            let file = found
                .path
                .file_name()
                .and_then(|f| f.to_str())
                .expect("listed artifacts have UTF-8 names");
            let file = inv.files.push(file, &found.name)?;
            inv.listed
                .push(listed(&found, file, folder, env, tag, line));
            Ok(())
        };
        if lines {
            store.visit_records(|found| add(&mut inv, found))?;
        } else {
            store.visit_sidecars(|found| add(&mut inv, found))?;
        }
        inv.listed.shrink_to_fit();
        inv.files.shrink_to_fit();
        inv.spill.finish();
        Ok(inv)
    }

    fn path(&self, i: usize) -> PathBuf {
        let l = &self.listed[i];
        self.folders[l.folder as usize]
            .1
            .join(&*self.files.file_name(l.file))
    }

    /// Artifact `i` as the table and the filters see it.
    fn entry(&self, i: usize) -> Entry {
        let l = &self.listed[i];
        let name = self.files.name(l.file);
        Entry {
            path: self.path(i),
            env: self.words[l.env as usize].clone(),
            name: name.name,
            tag: self.words[l.tag as usize].clone(),
            kind: name.kind,
            created: l.created,
            bytes: l.bytes,
            verified: l.verified.clone(),
            derived: l.derived,
            line: l.line,
        }
    }

    /// Where each artifact's path comes in the byte order of paths:
    /// folders by their path and a `/` (so `prod/` sorts after
    /// `prod-eu/`, as the bytes do), then the store's order, which is the
    /// order of the names within a folder.
    fn path_rank(&self) -> impl Fn(u32) -> (u32, u32) + '_ {
        let mut by_path: Vec<usize> = (0..self.folders.len()).collect();
        by_path.sort_by_cached_key(|&f| {
            let mut key = self.folders[f].1.as_os_str().as_encoded_bytes().to_vec();
            key.push(b'/');
            key
        });
        let mut rank = vec![0u32; self.folders.len()];
        for (r, f) in by_path.into_iter().enumerate() {
            rank[f] = r as u32;
        }
        move |i| (rank[self.listed[i as usize].folder as usize], i)
    }
}

fn listed(
    found: &store::Found,
    file: FileId,
    folder: u16,
    env: u32,
    tag: u32,
    line: Option<LineRef>,
) -> Listed {
    let side = &found.sidecar;
    let bytes = side
        .bytes
        .or_else(|| fs::metadata(&found.path).ok().map(|m| m.len()));
    let at = || parse_time(side.verify_at.as_deref());
    let verified = if side.error {
        Verified::Failed(None)
    } else if !side.has_verify {
        Verified::Never
    } else if side.verify_ok == Some(true) {
        Verified::Passed(at())
    } else {
        Verified::Failed(at())
    };
    Listed {
        created: side.created_at.unwrap_or(found.name.time),
        verified,
        bytes,
        line,
        file,
        folder,
        env,
        tag,
        derived: found.derived,
    }
}

fn keep(cli: &Cli, env: Option<&str>, a: &Entry, now: DateTime<Utc>) -> bool {
    let since = match cli.since {
        Some(Since::Age(d)) => {
            Some(now - lfb_core::chrono::Duration::from_std(d).unwrap_or_default())
        }
        Some(Since::Date(t)) => Some(t),
        None => None,
    };
    env.is_none_or(|e| a.env == e)
        && cli.name.as_deref().is_none_or(|n| a.name == n)
        && cli.tag.as_deref().is_none_or(|t| a.tag == t)
        && cli.kind.is_none_or(|k| {
            a.kind
                == match k {
                    KindArg::Db => Kind::Db,
                    KindArg::Full => Kind::Full,
                }
        })
        && since.is_none_or(|s| a.created >= s)
        && (!cli.verified || matches!(a.verified, Verified::Passed(_)))
        && (!cli.failed || matches!(a.verified, Verified::Failed(_)))
        && (!cli.unverified || a.verified == Verified::Never)
}

/// When filters match nothing, say which filter and what values exist, so
/// `--tag hourlyy` is not a silent empty success. `tags` and `names` are
/// those of every artifact (a few values, however many artifacts).
fn explain_empty(cli: &Cli, tags: &BTreeSet<String>, names: &BTreeSet<String>, ui: &Ui) {
    let values = |set: &BTreeSet<String>| {
        set.iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some(t) = &cli.tag
        && !tags.contains(t)
    {
        ui.warn(format!(
            "no artifact has tag '{t}' (tags in the store: {})",
            values(tags)
        ));
    } else if let Some(n) = &cli.name
        && !names.contains(n)
    {
        ui.warn(format!(
            "no artifact is named '{n}' (names in the store: {})",
            values(names)
        ));
    } else {
        ui.warn("no artifact matches all of the filters given");
    }
}

fn verified_cell(v: &Verified, now: DateTime<Utc>) -> String {
    let ago = |t: &Option<DateTime<Utc>>| match t {
        Some(t) => format!(" {} ago", age(now, *t)),
        None => String::new(),
    };
    match v {
        Verified::Never => "never".into(),
        Verified::Passed(t) => format!("ok{}", ago(t)),
        Verified::Failed(t) => format!("FAILED{}", ago(t)),
    }
}

fn age(now: DateTime<Utc>, t: DateTime<Utc>) -> String {
    match (now - t).to_std() {
        Ok(d) => format_duration(std::time::Duration::from_secs(d.as_secs())),
        Err(_) => "future".into(),
    }
}

const HEADER: [&str; 8] = [
    "ENV",
    "NAME",
    "TAG",
    "KIND",
    "CREATED (UTC)",
    "AGE",
    "SIZE",
    "VERIFIED",
];

fn row(a: &Entry, now: DateTime<Utc>, long: bool) -> Vec<String> {
    let mut line = vec![
        a.env.clone(),
        a.name.clone(),
        a.tag.clone(),
        a.kind.as_str().to_string(),
        a.created.format("%Y-%m-%d %H:%M:%S").to_string(),
        age(now, a.created),
        a.bytes.map(format_size).unwrap_or_else(|| "?".into()),
        verified_cell(&a.verified, now),
    ];
    if long {
        line.push(a.path.display().to_string());
    }
    line
}

/// The table, streamed: one pass for the column widths, one to print, so
/// memory does not grow with a copy of every cell.
fn print_table(rows: &[&Entry], now: DateTime<Utc>, long: bool) {
    let mut widths: Vec<usize> = HEADER.iter().map(|h| h.len()).collect();
    for a in rows {
        for (i, cell) in row(a, now, long).iter().enumerate() {
            match widths.get_mut(i) {
                Some(w) => *w = (*w).max(cell.chars().count()),
                None => widths.push(cell.chars().count()),
            }
        }
    }
    use std::io::Write;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let header: Vec<String> = HEADER.iter().map(|h| h.to_string()).collect();
    let _ = write_row(&mut out, &header, &widths);
    for a in rows {
        if write_row(&mut out, &row(a, now, long), &widths).is_err() {
            return; // the reader went away (| head)
        }
    }
    let _ = out.flush();
}

fn write_row(
    out: &mut impl std::io::Write,
    cells: &[String],
    widths: &[usize],
) -> std::io::Result<()> {
    let mut line = String::new();
    for (i, c) in cells.iter().enumerate() {
        if i + 1 == cells.len() {
            line.push_str(c);
        } else {
            line.push_str(&format!("{c:<w$}  ", w = widths[i]));
        }
    }
    writeln!(out, "{}", line.trim_end())
}

fn print_columns(lines: &[Vec<String>]) {
    let cols = lines.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            lines
                .iter()
                .filter_map(|l| l.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = std::io::stdout().lock();
    for line in lines {
        let _ = write_row(&mut out, line, &widths);
    }
}

/// Totals per environment and name: count, size, newest, how many verified.
fn print_totals(rows: &[&Entry]) {
    if rows.is_empty() {
        println!("no artifacts");
        return;
    }
    #[derive(Default)]
    struct Total {
        count: usize,
        bytes: u64,
        verified: usize,
        failed: usize,
    }
    let mut totals: BTreeMap<(&str, &str), Total> = BTreeMap::new();
    for a in rows {
        let t = totals.entry((&a.env, &a.name)).or_default();
        t.count += 1;
        t.bytes += a.bytes.unwrap_or(0);
        match a.verified {
            Verified::Passed(_) => t.verified += 1,
            Verified::Failed(_) => t.failed += 1,
            Verified::Never => {}
        }
    }
    let all_bytes: u64 = totals.values().map(|t| t.bytes).sum();
    let mut lines = vec![vec![String::new()]];
    lines.push(
        ["ENV", "NAME", "ARTIFACTS", "SIZE", "VERIFIED", "FAILED"]
            .map(String::from)
            .to_vec(),
    );
    for ((env, name), t) in &totals {
        lines.push(vec![
            env.to_string(),
            name.to_string(),
            t.count.to_string(),
            format_size(t.bytes),
            t.verified.to_string(),
            t.failed.to_string(),
        ]);
    }
    lines.push(vec![
        "total".into(),
        String::new(),
        rows.len().to_string(),
        format_size(all_bytes),
        totals
            .values()
            .map(|t| t.verified)
            .sum::<usize>()
            .to_string(),
        totals.values().map(|t| t.failed).sum::<usize>().to_string(),
    ]);
    print_columns(&lines);
}

/// Prints each listed artifact's full record (its sidecar, or what its
/// name tells), in the order of `shown`: the lines kept in the spill while
/// listing, read back in batches on every core (a line the spill lacks is
/// read from its sidecar). Records are never all in memory at once: 100,000
/// of them would be tens of MiB.
fn print_records(inv: &Inventory, shown: &[u32]) -> Result<()> {
    const BATCH: usize = 4096;
    let mut out = RecordWriter::new();
    for batch in shown.chunks(BATCH) {
        let refs: Vec<Option<LineRef>> =
            batch.iter().map(|&i| inv.listed[i as usize].line).collect();
        let mut lines = inv.spill.read_many(&refs);
        let missing: Vec<usize> = (0..batch.len()).filter(|&i| lines[i].is_none()).collect();
        let read = lfb_core::par::map(&missing, |&i| record_line(&inv.entry(batch[i] as usize)));
        for (i, line) in missing.into_iter().zip(read) {
            lines[i] = Some(line?);
        }
        out.write_lines(lines.iter().flatten().map(String::as_str))?;
    }
    Ok(())
}

/// An artifact's record line: its one-line sidecar as it is, else the
/// record built from its sidecar or name.
fn record_line(a: &Entry) -> Result<String> {
    if !a.derived
        && let Some(line) = store::record_line(&a.path)
    {
        return Ok(line);
    }
    let file = a
        .path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let folder = a
        .path
        .parent()
        .and_then(|p| p.file_name())
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = naming::ArtifactName::parse(&file).expect("listed names parse");
    let (record, _) = store::load_record(&a.path, &name, &folder)?;
    Ok(record.to_line())
}
