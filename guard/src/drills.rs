//! Restore drills: when each group's newest successful restore test was.
//!
//! `lfb-verify --restore-test` remembers its result in the artifact's
//! sidecar (`verify.restore_test`, `{"at","ok"}`). A group whose newest
//! successful restore test is older than `--max-drill-age` (default 31
//! days: "test restores monthly") is a warning; so is a group older than
//! that which never had one. A younger group is not due yet.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use lfb_core::record::format_time;

use crate::checks::Config;
use crate::finding::{Finding, Group};
use crate::inventory::Inventory;

/// The default `--max-drill-age`: a month and a day.
pub const DEFAULT_MAX_DRILL_AGE: &str = "31d";

/// What is known of one group's drills.
#[derive(Debug, Clone)]
pub struct Drill {
    /// The newest artifact: its creation time, id, and its remembered
    /// verification when it failed (`verify.at`, the failed checks).
    pub newest: (DateTime<Utc>, String, Option<(String, String)>),
    /// The newest successful restore test of any artifact of the group.
    pub last_ok: Option<DateTime<Utc>>,
    /// The group's oldest artifact: a group younger than the window is not
    /// due yet.
    pub since: DateTime<Utc>,
}

/// A remembered verification that failed: (`verify.at`, the failed checks
/// with their details).
fn failed_verification(r: &lfb_core::Record) -> Option<(String, String)> {
    let v = r.get("verify")?;
    if v.get("ok")?.as_bool()? {
        return None;
    }
    let at = v
        .get("at")
        .and_then(|a| a.as_str())
        .unwrap_or("?")
        .to_string();
    let failed: Vec<String> = v
        .get("checks")
        .and_then(|c| c.as_array())
        .map(|cs| {
            cs.iter()
                .filter(|c| c.get("ok").and_then(|o| o.as_bool()) == Some(false))
                .map(|c| {
                    format!(
                        "{}: {}",
                        c.get("name").and_then(|n| n.as_str()).unwrap_or("?"),
                        c.get("detail").and_then(|d| d.as_str()).unwrap_or("")
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    Some((at, failed.join("; ")))
}

/// Every group's drills. Restore tests come from the inventory's sidecar
/// summaries; only a group's newest artifact whose remembered verification
/// failed has its record read again, for the failed checks' details.
pub fn scan(inv: &Inventory) -> BTreeMap<Group, Drill> {
    // Per group: its newest artifact (index), newest passed test, oldest.
    type Seen = (usize, Option<DateTime<Utc>>, DateTime<Utc>);
    let mut seen: BTreeMap<&Group, Seen> = BTreeMap::new();
    for (i, a) in inv.artifacts.iter().enumerate() {
        let e = seen.entry(inv.group(a)).or_insert((i, None, a.created));
        e.2 = e.2.min(a.created);
        e.1 = e.1.max(inv.restore_test(a));
        if a.created >= inv.artifacts[e.0].created {
            e.0 = i;
        }
    }
    seen.into_iter()
        .map(|(g, (newest, last_ok, since))| {
            let a = &inv.artifacts[newest];
            let failed = if a.verify_failed && (!a.derived || a.sidecar().is_some()) {
                failed_verification(&inv.record(a))
            } else {
                None
            };
            (
                Group::clone(g),
                Drill {
                    newest: (a.created, inv.id(a), failed),
                    last_ok,
                    since,
                },
            )
        })
        .collect()
}

/// The `verification` findings: the newest artifact of a group whose
/// remembered verification (lfb-verify's latest, in its sidecar) failed.
/// The guard re-reads the newest artifact itself (integrity), but not a
/// restore test: this is how a failed restore test stays visible.
pub fn remembered(drills: &BTreeMap<Group, Drill>) -> Vec<Finding> {
    drills
        .iter()
        .filter_map(|(g, d)| {
            let (_, id, failed) = &d.newest;
            let (at, what) = failed.as_ref()?;
            Some(
                Finding::crit(
                    "verification",
                    g.clone(),
                    format!("{id}: its last verification ({at}) failed: {what}"),
                )
                .with("id", id.clone())
                .with("verified_at", at.clone()),
            )
        })
        .collect()
}

/// The `drill` findings.
pub fn check(drills: &BTreeMap<Group, Drill>, cfg: &Config) -> Vec<Finding> {
    let window = chrono::Duration::from_std(cfg.max_drill_age).unwrap_or(chrono::Duration::MAX);
    let human = lfb_core::units::format_duration(cfg.max_drill_age);
    let cutoff = cfg.now - window;
    drills
        .iter()
        .map(|(g, d)| match d.last_ok {
            Some(t) if t >= cutoff => Finding::ok(
                "drill",
                g.clone(),
                format!("last successful restore test {}", format_time(t)),
            )
            .with("last_restore_test", format_time(t)),
            Some(t) => Finding::warn(
                "drill",
                g.clone(),
                format!(
                    "the newest successful restore test was {} ({} ago), more than {human} ago: \
                     run a restore drill (lfb-verify --restore-test on the newest backup, \
                     examples/restore_drill.sh)",
                    format_time(t),
                    lfb_core::units::format_duration(
                        (cfg.now - t).to_std().unwrap_or(Duration::ZERO)
                    )
                ),
            )
            .with("last_restore_test", format_time(t)),
            None if d.since < cutoff => Finding::warn(
                "drill",
                g.clone(),
                format!(
                    "no successful restore test in the {human} since its oldest backup \
                     ({}): run a restore drill (lfb-verify --restore-test on the newest backup, \
                     examples/restore_drill.sh)",
                    format_time(d.since)
                ),
            ),
            None => Finding::ok(
                "drill",
                g.clone(),
                format!("no restore test yet; not due before {human} have passed"),
            ),
        })
        .collect()
}
