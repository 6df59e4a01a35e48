//! The artifact lifecycle: how a new artifact gets into the store.
//!
//! Every tool that makes an artifact (lfb-dump, lfb-archive, lfb-restore's
//! safety backup) goes through one [`Publisher`]:
//!
//! 1. [`Publisher::new`] settles the target folder (creating it 0700; a
//!    store that cannot be written stops the run before any work), the
//!    creation time and the format.
//! 2. [`Publisher::start`] opens the partial file beside the artifact's
//!    first-choice name: `ARTIFACT.<pid>.partial` in the store (the process
//!    id keeps two concurrent runs apart without a racy existence check;
//!    [`crate::naming::leftover`] parses it back, so housekeeping removes it
//!    after a crash), `OUTPUT.partial` for `--output`.
//! 3. [`Publisher::claim`] takes the store lock (waiting [`LOCK_WAIT`]) and
//!    picks the first free name at or after the creation time.
//! 4. [`Claim::commit`] writes the sidecar, then renames the artifact into
//!    place; the lock is held until the [`Claim`] is dropped, so work that
//!    must follow the rename under the same lock (`--consume`) goes there.
//!
//! # Why the sidecar comes first
//!
//! The sidecar is written (atomically, synced) before the artifact is
//! renamed to its final name, and both happen under the store lock. A crash
//! between the two leaves a sidecar without its artifact: housekeeping
//! ([`crate::naming::LeftoverKind::Sidecar`]) removes it, and no reader ever
//! treats it as a backup. The other order would leave, after the same
//! crash, an artifact without its record: a backup whose checksum, source
//! and row counts are lost, which lfb-verify could then only check by its
//! name. A rename that fails takes the sidecar back out.
//!
//! # Journal policy
//!
//! [`Publisher::journal`] appends a run's event to the store's journal when
//! the artifact went into the store, and [`crate::journal::note`] is the one
//! rule under it: only into a store that exists (no tool creates a store
//! just to log in it), and a journal that cannot be written is a warning,
//! never a failed run.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, DurationRound, Utc};

use crate::cli::Ui;
use crate::error::{Error, Result};
use crate::format::Format;
use crate::fsutil::{self, AtomicFile};
use crate::journal::{self, Event};
use crate::lock::StoreLock;
use crate::naming::{self, ArtifactName};
use crate::record::{Kind, Record};
use crate::store::{self, Store};

/// How long a run waits for another run's store lock.
pub const LOCK_WAIT: Duration = Duration::from_secs(120);

/// Where one new artifact goes and how it gets there.
#[derive(Debug, Clone)]
pub struct Publisher {
    store: Store,
    kind: Kind,
    env: String,
    tag: String,
    format: Format,
    created_at: DateTime<Utc>,
    output: Option<PathBuf>,
    dir: PathBuf,
}

/// Now, to the second (artifact names and records carry whole seconds).
pub fn now() -> DateTime<Utc> {
    Utc::now()
        .duration_trunc(chrono::Duration::seconds(1))
        .unwrap_or_else(|_| Utc::now())
}

/// `--output` inside the store would make a file no tool counts (its name
/// and folder are not the store's): refused before anything is written.
fn refuse_inside_store(store: &Store, output: &Path) -> Result<()> {
    if inside(store.root(), output) {
        return Err(Error::usage(format!(
            "-o '{}' is inside the store '{}': -o is for paths outside the store; \
             use --store/--env/--tag to write into it",
            output.display(),
            store.root().display()
        )));
    }
    Ok(())
}

/// True when `path` is `root` or below it, symlinks of the folders that
/// exist resolved (and, lexically, as given).
fn inside(root: &Path, path: &Path) -> bool {
    let (Ok(root_abs), Ok(path_abs)) = (std::path::absolute(root), std::path::absolute(path))
    else {
        return false;
    };
    if path_abs.starts_with(&root_abs) {
        return true;
    }
    let Ok(root_real) = root_abs.canonicalize() else {
        return false;
    };
    // The nearest folder of `path` that exists, resolved, with the rest.
    let mut base = path_abs.as_path();
    let mut rest = Vec::new();
    loop {
        if let Ok(real) = base.canonicalize() {
            let full = rest.iter().rev().fold(real, |acc: PathBuf, c| acc.join(c));
            return full.starts_with(&root_real);
        }
        match (base.parent(), base.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                base = parent;
            }
            _ => return false,
        }
    }
}

impl Publisher {
    /// A publisher for an artifact of `kind` in `format`, into the store's
    /// folder for `env` and `tag`, or to `output` (which must not exist).
    /// Creates the folder: a store that cannot be written fails here.
    pub fn new(
        store: &Store,
        kind: Kind,
        env: &str,
        tag: &str,
        format: Format,
        output: Option<&Path>,
    ) -> Result<Publisher> {
        if let Some(o) = output {
            refuse_inside_store(store, o)?;
        }
        let dir = store.target_dir(output, env, tag)?;
        Ok(Publisher {
            store: store.clone(),
            kind,
            env: env.to_string(),
            tag: tag.to_string(),
            format,
            created_at: now(),
            output: output.map(Path::to_path_buf),
            dir,
        })
    }

    /// The creation time: in the name and the record.
    pub fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }

    /// The artifact's format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// True when the artifact goes into the store (no `--output`).
    pub fn in_store(&self) -> bool {
        self.output.is_none()
    }

    /// The artifact name for base name `name` at `time`.
    fn artifact_name(&self, name: &str, time: DateTime<Utc>) -> ArtifactName {
        ArtifactName {
            name: name.to_string(),
            kind: self.kind,
            tag: self.tag.clone(),
            time,
            ext: self.format.ext().to_string(),
            legacy: false,
        }
    }

    /// The path the partial file stands for: `--output`, else the first
    /// choice of name with this process's id (`ARTIFACT.<pid>`, so the
    /// partial file is `ARTIFACT.<pid>.partial`). The final name is settled
    /// under the lock by [`Publisher::claim`].
    pub fn first_choice(&self, name: &str) -> PathBuf {
        if let Some(o) = &self.output {
            return o.clone();
        }
        self.dir.join(format!(
            "{}.{}",
            self.artifact_name(name, self.created_at).file_name(),
            std::process::id()
        ))
    }

    /// Opens the partial file for artifact base name `name`.
    pub fn start(&self, name: &str) -> Result<AtomicFile> {
        AtomicFile::create(&self.first_choice(name)).map_err(Error::at_start)
    }

    /// Takes the store lock (always for an artifact in the store; also for
    /// `--output` when `lock_store` — work under the lock touches the store)
    /// and settles the final path: `--output`, else the first free name at
    /// or after the creation time.
    pub fn claim(&self, file: AtomicFile, name: &str, lock_store: bool) -> Result<Claim> {
        let lock = if self.in_store() || lock_store {
            Some(StoreLock::acquire(&self.store, LOCK_WAIT)?)
        } else {
            None
        };
        let path = match &self.output {
            Some(o) => std::path::absolute(o).unwrap_or_else(|_| o.clone()),
            None => store::free_path(&self.dir, self.artifact_name(name, self.created_at)),
        };
        let id = naming::artifact_id(&path, self.format.ext());
        Ok(Claim {
            file: Some(file),
            path,
            id,
            _lock: lock,
        })
    }

    /// A record for the claimed artifact with the publisher's kind, env,
    /// tag, time and format.
    pub fn record(&self, claim: &Claim, bytes: u64, sha256: &str) -> Record {
        Record::new(
            &claim.id,
            self.kind,
            &self.env,
            &self.tag,
            &claim.path,
            self.created_at,
            bytes,
            sha256,
            self.format.as_str(),
        )
    }

    /// Appends `ev` to the store's journal when the artifact went into the
    /// store (see the module's journal policy).
    pub fn journal(&self, ev: &Event, ui: &Ui) {
        if self.in_store() {
            journal::note(&self.store, ev, ui);
        }
    }
}

/// An artifact's final path, held under the store lock until dropped.
#[derive(Debug)]
pub struct Claim {
    file: Option<AtomicFile>,
    path: PathBuf,
    id: String,
    _lock: Option<StoreLock>,
}

impl Claim {
    /// The final path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The artifact id (its file name without the extension).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Writes the sidecar, then renames the artifact into place (see the
    /// module's "why the sidecar comes first"). On failure neither is left.
    pub fn commit(&mut self, record: &Record) -> Result<()> {
        let file = self
            .file
            .take()
            .expect("a claim is committed once, by its owner");
        self.write_sidecar(record)?;
        if let Err(e) = file.commit(&self.path) {
            let _ = std::fs::remove_file(store::sidecar_path(&self.path));
            return Err(e);
        }
        Ok(())
    }

    /// Replaces the sidecar of the committed artifact (what happened after
    /// the rename, under the same lock, turned out otherwise than recorded).
    pub fn rewrite(&self, record: &Record) -> Result<()> {
        self.write_sidecar(record)
    }

    fn write_sidecar(&self, record: &Record) -> Result<()> {
        let mut line = record.to_line();
        line.push('\n');
        fsutil::write_atomic(&store::sidecar_path(&self.path), line.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::naming::{LeftoverKind, leftover};

    fn publisher(root: &Path, output: Option<&Path>) -> Publisher {
        let store = Store::at(root);
        Publisher::new(&store, Kind::Db, "dev", "hourly", Format::SQL_GZIP, output).unwrap()
    }

    #[test]
    fn output_inside_the_store_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("store");
        std::fs::create_dir_all(root.join("dev")).unwrap();
        std::os::unix::fs::symlink(&root, dir.path().join("link")).unwrap();
        let store = Store::at(&root);
        for o in [
            root.join("dev/x.sql.gz"),
            root.join("new/folder/x.sql.gz"),
            dir.path().join("link/dev/x.sql.gz"),
            root.join("dev/../x.sql.gz"),
        ] {
            let e = Publisher::new(
                &store,
                Kind::Db,
                "dev",
                "hourly",
                Format::SQL_GZIP,
                Some(&o),
            )
            .unwrap_err();
            assert_eq!(e.exit_code(), 2, "{}", o.display());
            assert!(e.line().contains("-o is for paths outside the store"));
        }
        assert!(!root.join("new").exists());
        let outside = dir.path().join("elsewhere/x.sql.gz");
        Publisher::new(
            &store,
            Kind::Db,
            "dev",
            "hourly",
            Format::SQL_GZIP,
            Some(&outside),
        )
        .unwrap();
        // A sibling whose name starts like the store is outside.
        let sibling = dir.path().join("store2/x.sql.gz");
        Publisher::new(
            &store,
            Kind::Db,
            "dev",
            "hourly",
            Format::SQL_GZIP,
            Some(&sibling),
        )
        .unwrap();
    }

    #[test]
    fn the_partial_name_parses_back_for_housekeeping() {
        let dir = tempfile::tempdir().unwrap();
        let p = publisher(dir.path(), None);
        let file = p.start("app").unwrap();
        let partial = file.partial_path().file_name().unwrap().to_string_lossy();
        assert!(
            partial.ends_with(&format!(".sql.gz.{}.partial", std::process::id())),
            "{partial}"
        );
        let (name, kind) = leftover(&partial).expect("housekeeping recognises it");
        assert_eq!((name.name.as_str(), kind), ("app", LeftoverKind::Partial));
        assert_eq!(name.time, p.created_at());
    }

    #[test]
    fn sidecar_and_artifact_appear_together_under_a_free_name() {
        let dir = tempfile::tempdir().unwrap();
        let p = publisher(dir.path(), None);
        let taken = dir
            .path()
            .join("dev")
            .join(p.artifact_name("app", p.created_at()).file_name());
        std::fs::write(&taken, b"older run").unwrap();
        let mut f = p.start("app").unwrap();
        std::io::Write::write_all(&mut f, b"x").unwrap();
        let mut claim = p.claim(f, "app", false).unwrap();
        assert_ne!(claim.path(), taken, "a taken name is never reused");
        let rec = p.record(&claim, 1, "00");
        claim.commit(&rec).unwrap();
        let side = std::fs::read_to_string(store::sidecar_path(claim.path())).unwrap();
        assert!(side.contains(claim.id()), "{side}");
        assert_eq!(std::fs::read(claim.path()).unwrap(), b"x");
        assert_eq!(std::fs::read(&taken).unwrap(), b"older run");
    }

    #[test]
    fn a_failed_rename_leaves_no_sidecar() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.sql.gz");
        // --output is outside the store.
        let p = publisher(&dir.path().join("store"), Some(&out));
        let f = p.start("app").unwrap();
        // Another writer takes the name between start and commit.
        std::fs::write(&out, b"theirs").unwrap();
        let mut claim = p.claim(f, "app", false).unwrap();
        let rec = p.record(&claim, 1, "00");
        assert!(claim.commit(&rec).is_err());
        assert!(!store::sidecar_path(&out).exists());
        assert_eq!(std::fs::read(&out).unwrap(), b"theirs");
    }
}
