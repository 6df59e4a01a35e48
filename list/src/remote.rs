//! `lfb-list --store s3://bucket/prefix`: the inventory of a store in object
//! storage, with the same filters, table, totals and records as a folder
//! store. Records name the objects (`"path": "s3://bucket/key"`), so
//! `lfb-list --store s3://... | lfb-verify --store s3://...` checks exactly
//! what was listed.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::PathBuf;

use lfb_core::chrono::{DateTime, Utc};
use lfb_core::cli::Ui;
use lfb_core::ndjson::RecordWriter;
use lfb_core::remote::{RemoteArtifact, RemoteStore};
use lfb_core::s3::Location;
use lfb_core::{Error, Record, Result, store};

use crate::{Cli, Entry, Format, Verified};

fn time(v: Option<&serde_json::Value>) -> Option<DateTime<Utc>> {
    v.and_then(|t| t.as_str())
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
}

fn entry(store: &RemoteStore, a: &RemoteArtifact) -> Entry {
    let r = &a.record;
    let verified = match r.get("verify") {
        _ if r.get("error").is_some() => Verified::Failed(None),
        None => Verified::Never,
        Some(v) if v.get("ok") == Some(&serde_json::json!(true)) => {
            Verified::Passed(time(v.get("at")))
        }
        Some(v) => Verified::Failed(time(v.get("at"))),
    };
    Entry {
        path: PathBuf::from(store.url(&a.key)),
        env: store::env_of(&a.folder, r.env()).to_string(),
        name: a.name.name.clone(),
        tag: r.tag().map_or_else(|| a.name.tag.clone(), str::to_string),
        kind: a.name.kind,
        created: r.created_at().unwrap_or(a.name.time),
        bytes: Some(if a.derived {
            a.size
        } else {
            r.bytes().unwrap_or(a.size)
        }),
        verified,
        derived: a.derived,
        line: None,
    }
}

/// Runs lfb-list against a bucket.
pub fn run(cli: Cli, location: Location, ui: &Ui) -> Result<u8> {
    if let Some(tag) = &cli.tag {
        lfb_core::cli::check_tag(tag)?;
    }
    let env = match &cli.store.env {
        Some(e) => Some(store::resolve_env(Some(e))?),
        None => None,
    };
    let store = RemoteStore::open(location)?;
    let inv = store.inventory()?;
    let all: Vec<Entry> = inv.iter().map(|a| entry(&store, a)).collect();
    if let Some(e) = &env
        && !all.iter().any(|a| &a.env == e)
    {
        let mut envs: Vec<&str> = all.iter().map(|a| a.env.as_str()).collect();
        envs.sort_unstable();
        envs.dedup();
        return Err(Error::usage(format!(
            "no environment '{e}' in {} (environments there: {})",
            store.describe(),
            if envs.is_empty() {
                "none".to_string()
            } else {
                envs.join(", ")
            }
        )));
    }
    let now = Utc::now();
    let mut shown: Vec<&Entry> = all
        .iter()
        .filter(|a| crate::keep(&cli, env.as_deref(), a, now))
        .collect();
    shown.sort_by(|a, b| b.created.cmp(&a.created).then(b.path.cmp(&a.path)));
    if shown.is_empty() && !all.is_empty() {
        let tags = all.iter().map(|a| a.tag.clone()).collect();
        let names = all.iter().map(|a| a.name.clone()).collect();
        crate::explain_empty(&cli, &tags, &names, ui);
    }
    let table = match cli.format {
        Some(f) => f == Format::Table,
        None => std::io::stdout().is_terminal(),
    };
    if table {
        crate::print_table(&shown, now, cli.long);
        crate::print_totals(&shown);
        return Ok(0);
    }
    let records: HashMap<String, &Record> =
        inv.iter().map(|a| (store.url(&a.key), &a.record)).collect();
    let mut out = RecordWriter::new();
    for e in shown {
        if let Some(r) = records.get(&*e.path.to_string_lossy()) {
            out.write(r)?;
        }
    }
    Ok(0)
}
