//! What a run of lfb-guard produces from its findings: the summary record,
//! the table for people, the Nagios status line, the Prometheus textfile
//! metrics, and the `--on-failure` command.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use lfb_core::record::format_time;
use lfb_core::units::format_size;
use lfb_core::{Error, Result};
use serde_json::{Value, json};

use crate::common::plural;
use crate::finding::{self, Finding, Group, Severity};

/// What is known of one group after the checks.
#[derive(Debug, Clone)]
pub struct GroupStat {
    pub group: Group,
    pub artifacts: usize,
    pub newest_created: DateTime<Utc>,
    pub newest_bytes: u64,
    /// The newest artifact that passed what was checked of it (size, and
    /// integrity where it was re-read).
    pub last_success: Option<DateTime<Utc>>,
    /// The worst finding about this group.
    pub worst: Severity,
}

/// A finished run.
#[derive(Debug, Clone)]
pub struct Report {
    pub findings: Vec<Finding>,
    pub status: Severity,
    pub store: PathBuf,
    pub checked_at: DateTime<Utc>,
    pub groups: Vec<GroupStat>,
    pub artifacts: usize,
    pub verified: usize,
    pub sync: Option<&'static str>,
    /// Free and total bytes of the store's filesystem.
    pub space: Option<(u64, u64)>,
    pub min_free: u64,
    /// Each group's newest successful restore test.
    pub restore_tests: BTreeMap<Group, Option<DateTime<Utc>>>,
    pub duration: Duration,
}

impl Report {
    /// The findings that are not ok, worst first (stable within a severity).
    pub fn problems(&self) -> Vec<&Finding> {
        let mut p: Vec<&Finding> = self
            .findings
            .iter()
            .filter(|f| f.severity > Severity::Ok)
            .collect();
        p.sort_by_key(|f| std::cmp::Reverse(f.severity));
        p
    }

    /// The summary record: `{"schema":"lfb/1","summary":{…}}`.
    pub fn summary(&self) -> Value {
        let problems: Vec<Value> = self
            .problems()
            .iter()
            .map(|f| {
                json!({"severity": f.severity.as_str(), "check": f.check,
                       "group": f.group.to_value(), "message": f.message})
            })
            .collect();
        json!({"schema": lfb_core::record::SCHEMA, "summary": {
            "status": self.status.as_str(),
            "counts": finding::counts(&self.findings),
            "store": self.store.to_string_lossy(),
            "checked_at": format_time(self.checked_at),
            "groups": self.groups.len(),
            "artifacts": self.artifacts,
            "verified": self.verified,
            "sync": self.sync,
            "free_bytes": self.space.map(|s| s.0),
            "duration_ms": self.duration.as_millis() as u64,
            "problems": problems,
        }})
    }

    /// The oldest "newest artifact" among the groups: the stalest group.
    fn max_age(&self) -> Option<i64> {
        self.groups
            .iter()
            .map(|g| (self.checked_at - g.newest_created).num_seconds().max(0))
            .max()
    }

    fn counts_text(&self) -> String {
        let c = finding::counts(&self.findings);
        let mut parts = Vec::new();
        if c["crit"] > 0 {
            parts.push(format!("{} critical", c["crit"]));
        }
        if c["warn"] > 0 {
            parts.push(plural(c["warn"] as usize, "warning"));
        }
        parts.join(", ")
    }

    /// Nagios / monitoring-plugin output: a status line with performance
    /// data, then one line per problem (the plugin "long output").
    pub fn nagios(&self) -> String {
        let c = finding::counts(&self.findings);
        let label = match self.status {
            Severity::Ok => "OK",
            Severity::Warn => "WARNING",
            Severity::Crit => "CRITICAL",
        };
        let text = if self.status == Severity::Ok {
            let free = self
                .space
                .map(|(f, _)| format!(", {} free", format_size(f)))
                .unwrap_or_default();
            format!(
                "{} fresh, {}{free}",
                plural(self.groups.len(), "group"),
                plural(self.artifacts, "artifact")
            )
        } else {
            let problems = self.problems();
            let mut first: Vec<String> = problems
                .iter()
                .take(2)
                .map(|f| format!("{} {}: {}", f.group, f.check, f.message))
                .collect();
            if problems.len() > 2 {
                first.push(format!("and {} more", problems.len() - 2));
            }
            format!("{}: {}", self.counts_text(), first.join("; "))
        };
        // Performance data as the Monitoring Plugins guidelines define it:
        // 'label'=value[UOM];[warn];[crit];[min];[max], where a threshold
        // is a range whose values outside it alert: "0" alerts above 0,
        // "N:" alerts below N.
        let mut perf = vec![
            format!("groups={};;;0", self.groups.len()),
            format!("artifacts={};;;0", self.artifacts),
            // Any warning finding makes the status WARNING, any critical
            // one CRITICAL.
            format!("warnings={};0;;0", c["warn"]),
            format!("criticals={};;0;0", c["crit"]),
        ];
        if let Some(a) = self.max_age() {
            perf.push(format!("max_age={a}s;;;0"));
        }
        if let Some((free, total)) = self.space {
            // Critical below --min-free: the range "MIN:".
            perf.push(format!("free={free}B;;{}:;0;{total}", self.min_free));
        }
        // '|' separates text from perfdata: it must not appear in the text.
        let mut out = format!(
            "LFB {label} - {} | {}\n",
            text.replace('|', "/"),
            perf.join(" ")
        );
        for f in self.problems() {
            out.push_str(&format!(
                "{} {} {}: {}\n",
                f.severity.as_str().to_uppercase(),
                f.check,
                f.group,
                f.message.replace('|', "/")
            ));
        }
        out
    }

    /// The table for people on a terminal: problems (and with `all`, ok
    /// findings too), worst first, then a closing line.
    pub fn table(&self, all: bool) -> String {
        let rows: Vec<&Finding> = if all {
            let mut v: Vec<&Finding> = self.findings.iter().collect();
            v.sort_by_key(|f| std::cmp::Reverse(f.severity));
            v
        } else {
            self.problems()
        };
        let groups: Vec<String> = rows.iter().map(|f| f.group.to_string()).collect();
        let gw = groups.iter().map(String::len).max().unwrap_or(0).max(5);
        let cw = rows.iter().map(|f| f.check.len()).max().unwrap_or(0).max(5);
        let mut out = String::new();
        if !rows.is_empty() {
            out.push_str(&format!(
                "{:<4}  {:<cw$}  {:<gw$}  MESSAGE\n",
                "", "CHECK", "GROUP"
            ));
            for (f, g) in rows.iter().zip(&groups) {
                out.push_str(&format!(
                    "{:<4}  {:<cw$}  {:<gw$}  {}\n",
                    f.severity.as_str(),
                    f.check,
                    g,
                    f.message
                ));
            }
        }
        out.push_str(&self.closing_line());
        out.push('\n');
        out
    }

    /// `crit: 1 critical, 2 warnings; 12 groups, 3400 artifacts in /store`.
    pub fn closing_line(&self) -> String {
        let counts = match self.counts_text() {
            s if s.is_empty() => "healthy".to_string(),
            s => s,
        };
        format!(
            "{}: {counts}; {}, {} ({} re-read) in {}",
            self.status,
            plural(self.groups.len(), "group"),
            plural(self.artifacts, "artifact"),
            self.verified,
            self.store.display()
        )
    }

    /// node-exporter textfile metrics (text exposition format 0.0.4).
    // Long: one metric family after the other, in the order the exposition format lists them.
    pub fn prometheus(&self) -> String {
        let mut out = String::new();
        let mut family = |name: &str, help: &str, samples: Vec<(String, String)>| {
            out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} gauge\n"));
            for (labels, value) in samples {
                out.push_str(&format!("{name}{labels} {value}\n"));
            }
        };
        // Every series carries the store, so two stores on one host (two
        // textfiles for one node_exporter) never collide.
        let store = label_value(&self.store.to_string_lossy());
        let only_store = format!("{{store=\"{store}\"}}");
        let per_group = |f: &dyn Fn(&GroupStat) -> String| -> Vec<(String, String)> {
            self.groups
                .iter()
                .map(|g| (labels(&store, &g.group), f(g)))
                .collect()
        };
        family(
            "lfb_last_success_timestamp_seconds",
            "Creation time of the newest artifact of the group that passed its checks (0: none).",
            per_group(&|g| g.last_success.map_or(0, |t| t.timestamp()).to_string()),
        );
        family(
            "lfb_last_restore_test_timestamp_seconds",
            "When the newest successful restore test of an artifact of the group ran (0: none).",
            per_group(&|g| {
                self.restore_tests
                    .get(&g.group)
                    .copied()
                    .flatten()
                    .map_or(0, |t| t.timestamp())
                    .to_string()
            }),
        );
        family(
            "lfb_last_age_seconds",
            "Age of the newest artifact of the group when lfb-guard ran.",
            per_group(&|g| {
                (self.checked_at - g.newest_created)
                    .num_seconds()
                    .max(0)
                    .to_string()
            }),
        );
        family(
            "lfb_last_size_bytes",
            "Size of the newest artifact of the group.",
            per_group(&|g| g.newest_bytes.to_string()),
        );
        family(
            "lfb_artifacts",
            "Number of artifacts in the group.",
            per_group(&|g| g.artifacts.to_string()),
        );
        family(
            "lfb_ok",
            "1 when lfb-guard found nothing wrong with the group, else 0.",
            per_group(&|g| u8::from(g.worst == Severity::Ok).to_string()),
        );
        let c = finding::counts(&self.findings);
        family(
            "lfb_guard_findings",
            "Findings of the last lfb-guard run by severity.",
            ["ok", "warn", "crit"]
                .iter()
                .map(|s| {
                    (
                        format!("{{store=\"{store}\",severity=\"{s}\"}}"),
                        c[s].to_string(),
                    )
                })
                .collect(),
        );
        if let Some((free, _)) = self.space {
            family(
                "lfb_store_free_bytes",
                "Free bytes on the store's filesystem.",
                vec![(only_store.clone(), free.to_string())],
            );
        }
        family(
            "lfb_guard_last_run_timestamp_seconds",
            "When lfb-guard last checked the store.",
            vec![(only_store.clone(), self.checked_at.timestamp().to_string())],
        );
        let status = match self.status {
            Severity::Ok => 0,
            Severity::Warn => 1,
            Severity::Crit => 2,
        };
        family(
            "lfb_guard_status",
            "Health of the store: 0 ok, 1 warning, 2 critical.",
            vec![(only_store.clone(), status.to_string())],
        );
        out
    }
}

/// A label value escaped as the exposition format wants (folder names can
/// hold anything).
fn label_value(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// `{store="/srv/backups",env="prod",name="ledgerflow",kind="db",tag="hourly"}`;
/// `store` comes escaped.
fn labels(store: &str, g: &Group) -> String {
    let esc = |s: &Option<String>| label_value(s.as_deref().unwrap_or(""));
    format!(
        "{{store=\"{store}\",env=\"{}\",name=\"{}\",kind=\"{}\",tag=\"{}\"}}",
        esc(&g.env),
        esc(&g.name),
        esc(&g.kind),
        esc(&g.tag)
    )
}

/// Writes the metrics file atomically. node_exporter usually runs as
/// another user, and metrics hold nothing secret, so the file is made
/// world-readable once in place.
pub fn write_prometheus(path: &Path, text: &str) -> Result<()> {
    lfb_core::fsutil::write_atomic(path, text.as_bytes())?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644))
        .map_err(|e| Error::io_path("set permissions of", path, e))
}

/// How long `--on-failure` may take before it is killed: a hung mailer
/// must not pile up cron runs.
const ON_FAILURE_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs `sh -c CMD` with the summary record on stdin.
pub fn on_failure(cmd: &str, summary: &Value) -> Result<()> {
    let status = summary["summary"]["status"].as_str().unwrap_or("crit");
    let store = summary["summary"]["store"].as_str().unwrap_or("");
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .env("LFB_GUARD_STATUS", status)
        .env("LFB_GUARD_STORE", store)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| Error::io("cannot run --on-failure command", e))?;
    let mut input = summary.to_string();
    input.push('\n');
    if let Some(mut stdin) = child.stdin.take() {
        // A command that does not read its input is its own business.
        let _ = stdin.write_all(input.as_bytes());
    }
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(st)) if st.success() => return Ok(()),
            Ok(Some(st)) => {
                return Err(Error::failed(format!("--on-failure command failed ({st})")));
            }
            Ok(None) if started.elapsed() > ON_FAILURE_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(Error::failed(format!(
                    "--on-failure command was killed after {}s",
                    ON_FAILURE_TIMEOUT.as_secs()
                )));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(Error::io("cannot wait for --on-failure command", e)),
        }
    }
}

/// Per-group statistics for the metrics.
pub fn group_stats(
    groups: &BTreeMap<Group, Vec<&crate::inventory::Artifact>>,
    findings: &[Finding],
    verified: &crate::common::Verified,
    min_size: u64,
) -> Vec<GroupStat> {
    let mut worst: BTreeMap<&Group, Severity> = BTreeMap::new();
    for f in findings {
        let w = worst.entry(&f.group).or_insert(Severity::Ok);
        *w = (*w).max(f.severity);
    }
    groups
        .iter()
        .map(|(g, arts)| {
            let newest = arts.last().expect("groups are never empty");
            let last_success = arts
                .iter()
                .rev()
                .find(|a| a.bytes >= min_size && verified.get(&a.file) != Some(&false))
                .map(|a| a.created);
            GroupStat {
                group: g.clone(),
                artifacts: arts.len(),
                newest_created: newest.created,
                newest_bytes: newest.bytes,
                last_success,
                worst: worst.get(g).copied().unwrap_or(Severity::Ok),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(findings: Vec<Finding>) -> Report {
        let now: DateTime<Utc> = "2026-11-27T03:00:00Z".parse().unwrap();
        Report {
            status: finding::worst(&findings),
            findings,
            store: PathBuf::from("/s"),
            checked_at: now,
            groups: vec![GroupStat {
                group: Group::of("prod", "a\"b", "db", "hourly"),
                artifacts: 3,
                newest_created: now - chrono::Duration::hours(1),
                newest_bytes: 20480,
                last_success: Some(now - chrono::Duration::hours(1)),
                worst: Severity::Ok,
            }],
            artifacts: 3,
            verified: 1,
            sync: None,
            space: Some((5_000_000_000, 10_000_000_000)),
            min_free: 1 << 30,
            restore_tests: BTreeMap::new(),
            duration: Duration::from_millis(5),
        }
    }

    #[test]
    fn nagios_lines() {
        let ok = report(vec![Finding::ok("freshness", Group::store(), "fine")]);
        let text = ok.nagios();
        assert!(
            text.starts_with("LFB OK - 1 group fresh, 3 artifacts, 4.7 GiB free | groups=1;;;0 "),
            "{text}"
        );
        assert!(text.contains(" max_age=3600s;;;0 free=5000000000B;;1073741824:;0;10000000000"));
        let bad = report(vec![
            Finding::warn("shrink", Group::store(), "smaller | much"),
            Finding::crit("freshness", Group::of("p", "a", "db", "hourly"), "stale"),
        ]);
        let text = bad.nagios();
        let first = text.lines().next().unwrap();
        assert!(
            first.starts_with(
                "LFB CRITICAL - 1 critical, 1 warning: p/a/db/hourly freshness: stale; store shrink: smaller / much | "
            ),
            "{first}"
        );
        assert_eq!(first.matches('|').count(), 1);
        assert_eq!(
            text.lines().nth(1),
            Some("CRIT freshness p/a/db/hourly: stale")
        );
    }

    #[test]
    fn prometheus_labels_are_escaped() {
        let text = report(vec![]).prometheus();
        assert!(text.contains(
            "lfb_artifacts{store=\"/s\",env=\"prod\",name=\"a\\\"b\",kind=\"db\",tag=\"hourly\"} 3\n"
        ));
        assert!(text.contains("# TYPE lfb_guard_status gauge\nlfb_guard_status{store=\"/s\"} 0\n"));
    }
}
