//! The comparisons, one table-driven entry each: the lfb command, the
//! pipelines it replaces (and a floor: the part nobody can avoid), how to
//! check that what each produced is right, and the targets to report.
//!
//! Commands are `bash` scripts over variables the harness exports:
//!
//! | variable | value |
//! |---|---|
//! | `LFB` | folder of the release binaries (`target/release`) |
//! | `OUT` | the file a run writes (fresh folder per run); its size is the output size |
//! | `PGBIN` | folder of the PostgreSQL programs matching the throwaway server |
//! | `PGHOST` `PGPORT` `PGUSER` | the throwaway server (Unix socket) |
//! | `PGDB` `PG_URL` | the ledger database, by name and as a `postgresql://` URL |
//! | `ART` | an `lfb-dump` artifact of the ledger (with its sidecar) |
//! | `NEWDB` `NEWDB_URL` | a database that does not exist yet (restores) |
//! | `MYSQL_ARGS` | `--no-defaults --socket=… --user=root`: the throwaway MariaDB server |
//! | `MYDB` `MY_URL` | the MariaDB ledger, by name and as a `mysql://` URL |
//! | `SQLITE_DB` | the ledger as a SQLite file |
//! | `MEDIA` | the media tree |
//! | `STORE` | a store of many tiny artifacts |
//!
//! To add a comparison, add an entry to [`ALL`]; the runner, the checks and
//! the report need nothing else unless it needs a new kind of data or check.

/// What a command is in a comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The lfb tool being measured.
    Lfb,
    /// A pipeline it replaces: ratios are lfb ÷ this.
    Baseline,
    /// Work no tool can avoid (reading the data at all): for scale only.
    Floor,
}

/// One command of a comparison.
#[derive(Debug)]
pub struct Variant {
    pub role: Role,
    /// How the report shows it.
    pub shown: &'static str,
    pub script: &'static str,
    /// File name (in the run folder) exported as `$OUT`: the artifact whose
    /// size is reported. `None`: the command writes nothing worth sizing.
    pub out: Option<&'static str>,
    /// A program the command needs beyond the usual ones (bash, gzip, tar,
    /// the database clients): without it the variant is skipped, saying why.
    pub needs: Option<&'static str>,
}

/// The data a comparison runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Data {
    /// The ledger in the throwaway PostgreSQL server.
    PgLedger,
    /// The ledger in PostgreSQL plus an `lfb-dump` artifact of it.
    PgArtifact,
    /// The ledger in the throwaway MariaDB server.
    MyLedger,
    /// The ledger in MariaDB plus an `lfb-dump` artifact of it.
    MyArtifact,
    SqliteLedger,
    Media,
    /// A store of this many tiny artifacts at scale 1.
    Store(u64),
    /// A ~300 MB (at scale 1) artifact in a store, and a local S3 server
    /// (moto) with a bucket.
    CopyArtifact,
}

/// How each run's result is checked (beyond exit status 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// `$OUT` decompresses whole (CRC and length) and ends with `trailer`;
    /// lfb's record matches the file (size, SHA-256) and the row counts.
    GzipDump {
        trailer: &'static str,
    },
    /// lfb-verify's record says ok; a corrupted copy must fail (checked once).
    Verify,
    /// `$NEWDB` holds every table with exactly the generated row counts.
    Restore,
    /// lfb-verify's record says ok with a restore check; `$NEWDB` is gone.
    RestoreTest,
    /// `$OUT` is a gzip'd tar listing every file of the media tree.
    Archive,
    /// One record per artifact, each with a `prune` section; nothing deleted.
    Prune,
    /// Exit 0 or 1 (findings), stdout NDJSON.
    Guard,
    /// One record per artifact, newest first.
    List,
    Copy,
}

/// A metric a target is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    Wall,
    Size,
    /// lfb's own wall time in seconds (no baseline: `against` is 0), judged
    /// at scale 1 only, the data size the target names.
    Seconds,
}

/// The bound a ratio must respect.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Bound {
    AtMost(f64),
    Below(f64),
}

impl Bound {
    pub fn met(self, ratio: f64) -> bool {
        match self {
            Bound::AtMost(x) => ratio <= x,
            Bound::Below(x) => ratio < x,
        }
    }
    pub fn show(self) -> String {
        match self {
            Bound::AtMost(x) => format!("≤ {x:.2}x"),
            Bound::Below(x) => format!("< {x:.2}x"),
        }
    }
}

/// A target: lfb's metric ÷ variant `against`'s must respect `bound`.
#[derive(Debug)]
pub struct Target {
    pub metric: Metric,
    pub against: usize,
    pub bound: Bound,
    pub aim: Option<f64>,
}

/// One comparison.
#[derive(Debug)]
pub struct Comparison {
    pub id: &'static str,
    pub title: &'static str,
    /// The lfb binary; the row is "n/a (not built)" when it is missing, is
    /// a stub (no `--version`), or lacks `flags` in its `--help`.
    pub tool: &'static str,
    pub flags: &'static [&'static str],
    pub data: Data,
    pub check: Check,
    /// Also run at a quarter of the scale (peak RSS must not grow with input).
    pub quarter_too: bool,
    /// One untimed run of each command first (caches warm, tool probed).
    pub warmup: bool,
    /// `variants[0]` is the lfb command.
    pub variants: &'static [Variant],
    pub targets: &'static [Target],
}

/// Peak RSS every lfb tool must stay under, MiB.
pub const RSS_LIMIT_MIB: f64 = 64.0;
/// Largest acceptable RSS growth when the input grows 4x.
pub const RSS_GROWTH_LIMIT: f64 = 1.25;

const fn lfb(script: &'static str, shown: &'static str, out: Option<&'static str>) -> Variant {
    Variant {
        needs: None,
        role: Role::Lfb,
        shown,
        script,
        out,
    }
}

const fn base(script: &'static str, shown: &'static str, out: Option<&'static str>) -> Variant {
    Variant {
        needs: None,
        role: Role::Baseline,
        shown,
        script,
        out,
    }
}

const fn floor(script: &'static str, shown: &'static str, out: Option<&'static str>) -> Variant {
    Variant {
        needs: None,
        role: Role::Floor,
        shown,
        script,
        out,
    }
}

/// A baseline that needs `program` (installed by `apt-get install PROGRAM`).
const fn base_needing(
    program: &'static str,
    script: &'static str,
    shown: &'static str,
    out: Option<&'static str>,
) -> Variant {
    Variant {
        needs: Some(program),
        role: Role::Baseline,
        shown,
        script,
        out,
    }
}

/// Every comparison, in the order they run and are reported.
pub const ALL: &[Comparison] = &[
    Comparison {
        id: "dump-pg",
        title: "lfb-dump PostgreSQL plain+gzip",
        tool: "lfb-dump",
        flags: &["--output"],
        data: Data::PgLedger,
        check: Check::GzipDump {
            trailer: "-- PostgreSQL database dump complete",
        },
        quarter_too: true,
        warmup: true,
        variants: &[
            lfb(
                r#""$LFB/lfb-dump" -q -o "$OUT" "$PG_URL""#,
                "lfb-dump -o f postgresql://…",
                Some("out.sql.gz"),
            ),
            base(
                r#""$PGBIN/pg_dump" -d "$PGDB" | gzip -6 > "$OUT" && sha256sum "$OUT""#,
                "pg_dump | gzip -6 > f && sha256sum f",
                Some("out.sql.gz"),
            ),
            floor(
                r#""$PGBIN/pg_dump" -d "$PGDB" > /dev/null"#,
                "floor: pg_dump > /dev/null",
                None,
            ),
        ],
        targets: &[
            Target {
                metric: Metric::Wall,
                against: 1,
                bound: Bound::AtMost(0.30),
                aim: Some(0.25),
            },
            Target {
                metric: Metric::Size,
                against: 1,
                bound: Bound::AtMost(1.05),
                aim: None,
            },
        ],
    },
    Comparison {
        id: "dump-mariadb",
        title: "lfb-dump MariaDB sql+gzip",
        tool: "lfb-dump",
        flags: &["--output"],
        data: Data::MyLedger,
        check: Check::GzipDump {
            trailer: "-- Dump completed",
        },
        quarter_too: false,
        warmup: true,
        variants: &[
            lfb(
                r#""$LFB/lfb-dump" -q -o "$OUT" "$MY_URL""#,
                "lfb-dump -o f mysql://…",
                Some("out.sql.gz"),
            ),
            base(
                r#"mariadb-dump $MYSQL_ARGS --single-transaction --routines --triggers --events --hex-blob "$MYDB" | gzip -6 > "$OUT" && sha256sum "$OUT""#,
                "mariadb-dump --single-transaction … | gzip -6 > f && sha256sum f",
                Some("out.sql.gz"),
            ),
            floor(
                r#"mariadb-dump $MYSQL_ARGS --single-transaction --routines --triggers --events --hex-blob "$MYDB" > /dev/null"#,
                "floor: mariadb-dump > /dev/null",
                None,
            ),
        ],
        targets: &[
            Target {
                metric: Metric::Wall,
                against: 1,
                bound: Bound::AtMost(0.35),
                aim: Some(0.25),
            },
            Target {
                metric: Metric::Size,
                against: 1,
                bound: Bound::AtMost(1.05),
                aim: None,
            },
        ],
    },
    Comparison {
        id: "dump-sqlite",
        title: "lfb-dump SQLite",
        tool: "lfb-dump",
        flags: &["--output"],
        data: Data::SqliteLedger,
        check: Check::GzipDump { trailer: "COMMIT;" },
        quarter_too: false,
        warmup: true,
        variants: &[
            lfb(
                r#""$LFB/lfb-dump" -q -o "$OUT" "$SQLITE_DB""#,
                "lfb-dump -o f db.sqlite3",
                Some("out.sql.gz"),
            ),
            base(
                r#"sqlite3 "$SQLITE_DB" .dump | gzip -6 > "$OUT""#,
                "sqlite3 db .dump | gzip -6 > f",
                Some("out.sql.gz"),
            ),
        ],
        targets: &[],
    },
    Comparison {
        id: "archive",
        title: "lfb-archive media tree",
        tool: "lfb-archive",
        flags: &["--media", "--output"],
        data: Data::Media,
        check: Check::Archive,
        quarter_too: false,
        warmup: true,
        variants: &[
            lfb(
                r#""$LFB/lfb-archive" -q --media "$MEDIA" -o "$OUT""#,
                "lfb-archive --media DIR -o f",
                Some("out.tar.gz"),
            ),
            base(
                r#"tar czf "$OUT" -C "$MEDIA" ."#,
                "tar czf f DIR",
                Some("out.tar.gz"),
            ),
            base_needing(
                "pigz",
                r#"tar -I pigz -cf "$OUT" -C "$MEDIA" ."#,
                "tar -I pigz -cf f DIR",
                Some("out.tar.gz"),
            ),
            floor(
                r#"tar cf "$OUT" -C "$MEDIA" ."#,
                "floor: tar cf f DIR",
                Some("out.tar"),
            ),
        ],
        targets: &[
            Target {
                metric: Metric::Wall,
                against: 1,
                bound: Bound::AtMost(0.10),
                aim: None,
            },
            Target {
                metric: Metric::Wall,
                against: 2,
                bound: Bound::Below(1.0),
                aim: None,
            },
            Target {
                metric: Metric::Size,
                against: 1,
                bound: Bound::AtMost(1.02),
                aim: None,
            },
        ],
    },
    Comparison {
        id: "verify",
        title: "lfb-verify (checksum, decode, complete)",
        tool: "lfb-verify",
        // `--checks checksum,decode,complete` would be the exact match, but it
        // panics in this build (clap: `Option<Vec<&str>>` with a parser that
        // returns a Vec). The default checks add exists, size and permissions:
        // a stat() each.
        flags: &[],
        data: Data::PgArtifact,
        check: Check::Verify,
        quarter_too: true,
        warmup: true,
        variants: &[
            lfb(
                r#""$LFB/lfb-verify" -q "$ART""#,
                "lfb-verify f (default checks: checksum, decode, complete + exists, size, permissions)",
                None,
            ),
            base(
                r#"gzip -t "$ART" && sha256sum "$ART""#,
                "gzip -t f && sha256sum f",
                None,
            ),
        ],
        targets: &[Target {
            metric: Metric::Wall,
            against: 1,
            bound: Bound::AtMost(0.25),
            aim: None,
        }],
    },
    Comparison {
        id: "restore-test",
        title: "lfb-verify --restore-test PostgreSQL plain",
        tool: "lfb-verify",
        flags: &["--restore-test", "--scratch"],
        data: Data::PgArtifact,
        check: Check::RestoreTest,
        quarter_too: false,
        warmup: false,
        variants: &[
            lfb(
                r#""$LFB/lfb-verify" -q --restore-test --scratch "$NEWDB_URL" "$ART""#,
                "lfb-verify --restore-test --scratch postgresql://…/NEWDB f",
                None,
            ),
            base(
                r#""$PGBIN/psql" -X -q -d postgres -c "CREATE DATABASE $NEWDB" && gunzip -c "$ART" | "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 --single-transaction -d "$NEWDB" > /dev/null && "$PGBIN/psql" -X -At -d "$NEWDB" -c "SELECT format('SELECT count(*) FROM %I.%I;', schemaname, relname) FROM pg_stat_user_tables" | "$PGBIN/psql" -X -At -v ON_ERROR_STOP=1 -d "$NEWDB" > /dev/null && "$PGBIN/psql" -X -q -d postgres -c "DROP DATABASE $NEWDB""#,
                "createdb scratch && gunzip -c f | psql -v ON_ERROR_STOP=1 --single-transaction scratch && <count rows> && dropdb scratch",
                None,
            ),
        ],
        targets: &[Target {
            metric: Metric::Wall,
            against: 1,
            bound: Bound::AtMost(1.05),
            aim: None,
        }],
    },
    Comparison {
        id: "restore",
        title: "lfb-restore PostgreSQL plain",
        tool: "lfb-restore",
        flags: &["--yes", "--file"],
        data: Data::PgArtifact,
        check: Check::Restore,
        quarter_too: false,
        warmup: false,
        variants: &[
            lfb(
                r#""$LFB/lfb-restore" -q --yes -f "$ART" --from "$PGDB" "$NEWDB_URL""#,
                "lfb-restore --yes -f f --from DB postgresql://…/NEWDB",
                None,
            ),
            base(
                r#""$PGBIN/psql" -X -q -d postgres -c "CREATE DATABASE $NEWDB" && gunzip -c "$ART" | "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 --single-transaction -d "$NEWDB" > /dev/null"#,
                "createdb NEWDB && gunzip -c f | psql -v ON_ERROR_STOP=1 --single-transaction NEWDB",
                None,
            ),
        ],
        targets: &[Target {
            metric: Metric::Wall,
            against: 1,
            bound: Bound::AtMost(1.1),
            aim: None,
        }],
    },
    Comparison {
        id: "restore-mariadb",
        title: "lfb-restore MariaDB sql+gzip",
        tool: "lfb-restore",
        flags: &["--yes", "--file"],
        data: Data::MyArtifact,
        check: Check::Restore,
        quarter_too: false,
        warmup: false,
        variants: &[
            lfb(
                r#""$LFB/lfb-restore" -q --yes -f "$ART" --from "$MYDB" "$NEWDB_URL""#,
                "lfb-restore --yes -f f --from DB mysql://…/NEWDB",
                None,
            ),
            base(
                r#"mariadb $MYSQL_ARGS -e "CREATE DATABASE $NEWDB" && gunzip -c "$ART" | mariadb $MYSQL_ARGS "$NEWDB""#,
                "mariadb -e 'CREATE DATABASE NEWDB' && gunzip -c f | mariadb NEWDB",
                None,
            ),
        ],
        targets: &[Target {
            metric: Metric::Wall,
            against: 1,
            bound: Bound::AtMost(1.1),
            aim: None,
        }],
    },
    Comparison {
        id: "prune",
        title: "lfb-prune --dry-run",
        tool: "lfb-prune",
        flags: &["--dry-run", "--all-envs", "--keep-hourly", "--keep-daily"],
        data: Data::Store(100_000),
        check: Check::Prune,
        quarter_too: false,
        warmup: true,
        variants: &[lfb(
            r#""$LFB/lfb-prune" -q --store "$STORE" --all-envs --keep-hourly 24 --keep-daily 7 --keep-weekly 4 --keep-monthly 12 --dry-run"#,
            "lfb-prune --all-envs --keep-hourly 24 --keep-daily 7 … --dry-run",
            None,
        )],
        targets: &[Target {
            metric: Metric::Seconds,
            against: 0,
            bound: Bound::AtMost(1.0),
            aim: None,
        }],
    },
    Comparison {
        id: "guard",
        title: "lfb-guard",
        tool: "lfb-guard",
        flags: &["--store"],
        data: Data::Store(100_000),
        check: Check::Guard,
        quarter_too: false,
        warmup: true,
        variants: &[lfb(
            // The generated artifacts are 131 bytes: --min-size keeps the run
            // on the path of a store of real backups (one finding per group,
            // not one critical size finding per artifact).
            r#""$LFB/lfb-guard" --store "$STORE" --min-size 100"#,
            "lfb-guard --store STORE --min-size 100",
            None,
        )],
        targets: &[Target {
            metric: Metric::Seconds,
            against: 0,
            bound: Bound::AtMost(1.0),
            aim: None,
        }],
    },
    Comparison {
        id: "list",
        title: "lfb-list (records)",
        tool: "lfb-list",
        flags: &["--format"],
        data: Data::Store(100_000),
        check: Check::List,
        quarter_too: false,
        warmup: true,
        variants: &[lfb(
            r#""$LFB/lfb-list" --store "$STORE" --format json"#,
            "lfb-list --store STORE --format json",
            None,
        )],
        targets: &[],
    },
    Comparison {
        id: "copy",
        title: "lfb-copy to a local S3 server (moto)",
        tool: "lfb-copy",
        flags: &["--to", "--part-size"],
        data: Data::CopyArtifact,
        check: Check::Copy,
        quarter_too: false,
        warmup: true,
        variants: &[
            // A fresh prefix each run, so every run uploads (and verifies).
            lfb(
                r#""$LFB/lfb-copy" -q --store "$CSTORE" --to "s3://lfb-bench/lfb-$$-$RANDOM" "$CART""#,
                "lfb-copy --to s3://bucket/p ART (upload + verify)",
                None,
            ),
            base(
                r#"aws s3 cp --quiet "$CART" "s3://lfb-bench/aws-$$-$RANDOM/x""#,
                "aws s3 cp ART s3://bucket/p/x (upload only)",
                None,
            ),
        ],
        targets: &[Target {
            metric: Metric::Wall,
            against: 1,
            bound: Bound::AtMost(1.0),
            aim: None,
        }],
    },
    Comparison {
        id: "dump-pg-age",
        title: "lfb-dump PostgreSQL plain+gzip, encrypted with age",
        tool: "lfb-dump",
        flags: &["--encrypt-to", "--output"],
        data: Data::PgLedger,
        // Decrypted with the run's identity ($OUT.key) before the gzip check.
        check: Check::GzipDump {
            trailer: "-- PostgreSQL database dump complete",
        },
        quarter_too: false,
        warmup: true,
        variants: &[
            lfb(
                r#"R=$("$LFB/lfb" keygen "$OUT.key" 2>/dev/null) && "$LFB/lfb-dump" -q --encrypt-to "$R" -o "$OUT" "$PG_URL""#,
                "lfb-dump --encrypt-to age1… -o f postgresql://…",
                Some("out.sql.gz.age"),
            ),
            base(
                r#""$LFB/lfb-dump" -q -o "$OUT" "$PG_URL""#,
                "lfb-dump -o f postgresql://… (not encrypted)",
                Some("out.sql.gz"),
            ),
        ],
        // Issue 17: encryption costs at most 10% of the unencrypted dump.
        targets: &[Target {
            metric: Metric::Wall,
            against: 1,
            bound: Bound::AtMost(1.10),
            aim: None,
        }],
    },
];

/// The comparison with this id.
pub fn by_id(id: &str) -> Option<&'static Comparison> {
    ALL.iter().find(|c| c.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_well_formed() {
        let mut ids = std::collections::BTreeSet::new();
        for c in ALL {
            assert!(ids.insert(c.id), "duplicate id {}", c.id);
            assert_eq!(c.variants[0].role, Role::Lfb, "{}", c.id);
            assert!(c.variants[0].script.contains(c.tool), "{}", c.id);
            assert!(c.variants[1..].iter().all(|v| v.role != Role::Lfb));
            for t in c.targets {
                if t.metric == Metric::Seconds {
                    assert_eq!(t.against, 0, "{}", c.id);
                    continue;
                }
                assert!(t.against > 0 && t.against < c.variants.len(), "{}", c.id);
                if t.metric == Metric::Size {
                    assert!(c.variants[t.against].out.is_some(), "{}", c.id);
                }
            }
        }
        assert!(by_id("dump-pg").is_some());
    }

    #[test]
    fn bounds() {
        assert!(Bound::AtMost(0.35).met(0.35));
        assert!(!Bound::Below(1.0).met(1.0));
        assert_eq!(Bound::AtMost(1.05).show(), "≤ 1.05x");
    }
}
