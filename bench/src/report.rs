//! The report: medians and ratios per comparison, the targets marked met or
//! missed, peak RSS at two input sizes, the probes that show what bounds the
//! times, and how it was all measured. The same Markdown is printed on
//! stdout and written to `bench/RESULTS.md`, where a hand-written part below
//! [`KEEP_MARKER`] survives rewrites.

use std::fmt::Write as _;

use crate::bounds::Probe;
use crate::comparisons::{Bound, Data, Metric, RSS_GROWTH_LIMIT, RSS_LIMIT_MIB, Role, Target};
use crate::measure::Summary;
use crate::runner::{Outcome, Status};

/// Everything below this line of RESULTS.md is kept when the file is rewritten.
pub const KEEP_MARKER: &str = "<!-- Everything below this line is written by hand and kept when lfb-bench rewrites this file. -->";

/// Facts about the run for the header.
#[derive(Debug, Default)]
pub struct Header {
    pub date: String,
    pub machine: String,
    pub load: String,
    pub scale: f64,
    pub runs: usize,
    pub warmup: bool,
    pub command: String,
    pub versions: Vec<(String, String)>,
    pub notes: Vec<String>,
}

/// Decimal bytes: "52.3 MB".
pub fn bytes(b: f64) -> String {
    let units = [("GB", 1e9), ("MB", 1e6), ("kB", 1e3)];
    for (u, f) in units {
        if b >= f {
            return format!("{:.1} {u}", b / f);
        }
    }
    format!("{b:.0} B")
}

pub fn secs(s: f64) -> String {
    if s < 1.0 {
        format!("{s:.3} s")
    } else if s < 10.0 {
        format!("{s:.2} s")
    } else {
        format!("{s:.1} s")
    }
}

pub fn mib(m: f64) -> String {
    format!("{m:.1} MiB")
}

fn ratio(x: f64) -> String {
    format!("{x:.2}x")
}

fn spread(s: Summary, f: fn(f64) -> String) -> String {
    if (s.max - s.min).abs() < f64::EPSILON {
        f(s.median)
    } else {
        format!("{} ({}–{})", f(s.median), f(s.min), f(s.max))
    }
}

fn status_text(st: &Status) -> Option<String> {
    match st {
        Status::Ok => None,
        Status::NotBuilt(why) => Some(format!("n/a (not built: {why})")),
        Status::Failed(why) => Some(format!("**FAILED**: {}", why.replace('|', "\\|"))),
        Status::Skipped(why) => Some(format!("skipped: {}", why.replace('|', "\\|"))),
    }
}

fn md(s: &str) -> String {
    format!("`{}`", s.replace('|', "\\|"))
}

fn heading(o: &Outcome) -> String {
    let mut h = format!("{} (scale {}", o.comparison.title, o.scale);
    if !o.data_note.is_empty() {
        h.push_str(", ");
        h.push_str(&o.data_note);
    }
    h.push(')');
    h
}

/// lfb's median of `metric` ÷ variant `i`'s, when both were measured.
pub fn metric_ratio(o: &Outcome, metric: Metric, i: usize) -> Option<f64> {
    let pick = |v: usize| {
        let r = &o.variants[v];
        if r.status != Status::Ok {
            return None;
        }
        match metric {
            Metric::Wall | Metric::Seconds => r.samples.wall(),
            Metric::Size => r.samples.bytes(),
        }
        .map(|s| s.median)
    };
    let (a, b) = (pick(0)?, pick(i)?);
    (b > 0.0).then(|| a / b)
}

fn rss_ratio(o: &Outcome, i: usize) -> Option<f64> {
    let pick = |v: usize| {
        let r = &o.variants[v];
        (r.status == Status::Ok)
            .then(|| r.samples.rss().map(|s| s.median))
            .flatten()
    };
    let (a, b) = (pick(0)?, pick(i)?);
    (b > 0.0).then(|| a / b)
}

/// The results table.
pub fn results_table(outcomes: &[Outcome]) -> String {
    let mut t = String::from(
        "| comparison | command | wall | CPU | output | peak RSS | lfb ÷ this: wall | size | RSS |\n\
         |---|---|---|---|---|---|---|---|---|\n",
    );
    for o in outcomes {
        for (i, (v, r)) in o.comparison.variants.iter().zip(&o.variants).enumerate() {
            let first = if i == 0 { heading(o) } else { String::new() };
            let cmd = match v.role {
                Role::Lfb => format!("**{}**", md(v.shown)),
                _ => md(v.shown),
            };
            if let Some(text) = status_text(&r.status) {
                let _ = writeln!(t, "| {first} | {cmd} | {text} | | | | | | |");
                continue;
            }
            let s = &r.samples;
            let cell = |x: Option<Summary>, f: fn(f64) -> String| x.map(|x| spread(x, f));
            let wall = cell(s.wall(), secs).unwrap_or_default();
            let cpu = s.cpu().map(|x| secs(x.median)).unwrap_or_default();
            let out = s
                .bytes()
                .map(|x| bytes(x.median))
                .unwrap_or_else(|| "—".into());
            let rss = s.rss().map(|x| mib(x.median)).unwrap_or_default();
            let (rw, rs, rr) = if i == 0 {
                (String::new(), String::new(), String::new())
            } else {
                let f = |x: Option<f64>| x.map(ratio).unwrap_or_else(|| "—".into());
                let size = if v.out.is_some() && o.comparison.variants[0].out.is_some() {
                    f(metric_ratio(o, Metric::Size, i))
                } else {
                    "—".into()
                };
                (
                    f(metric_ratio(o, Metric::Wall, i)),
                    size,
                    f(rss_ratio(o, i)),
                )
            };
            let _ = writeln!(
                t,
                "| {first} | {cmd} | {wall} | {cpu} | {out} | {rss} | {rw} | {rs} | {rr} |"
            );
        }
    }
    t
}

/// The targets table; also returns how many were missed.
pub fn targets_table(outcomes: &[Outcome]) -> (String, usize) {
    let mut t =
        String::from("| target | measured | bound | aim | result |\n|---|---|---|---|---|\n");
    let mut missed = 0;
    for o in outcomes {
        for tg in o.comparison.targets {
            if tg.metric == Metric::Seconds {
                missed += usize::from(!seconds_row(&mut t, o, tg));
                continue;
            }
            let what = match tg.metric {
                Metric::Wall | Metric::Seconds => "wall",
                Metric::Size => "output size",
            };
            let name = format!(
                "{} (scale {}) {what} vs {}",
                o.comparison.tool,
                o.scale,
                md(o.comparison.variants[tg.against].shown)
            );
            let aim = tg.aim.map(|a| format!("{a:.2}x")).unwrap_or_default();
            match metric_ratio(o, tg.metric, tg.against) {
                Some(r) => {
                    let met = tg.bound.met(r);
                    let aim_note = match tg.aim {
                        Some(a) if met && r <= a => " (aim met too)",
                        _ => "",
                    };
                    if !met {
                        missed += 1;
                    }
                    let verdict = if met { "met" } else { "**missed**" };
                    let _ = writeln!(
                        t,
                        "| {name} | {} | {} | {aim} | {verdict}{aim_note} |",
                        ratio(r),
                        tg.bound.show()
                    );
                }
                None => {
                    let why = status_text(&o.variants[0].status)
                        .or_else(|| status_text(&o.variants[tg.against].status))
                        .unwrap_or_else(|| "not measured".into());
                    let _ = writeln!(t, "| {name} | {why} | {} | {aim} | n/a |", tg.bound.show());
                }
            }
        }
    }
    (t, missed)
}

/// For a store tool's row (its input is a count of artifacts): peak RSS
/// added per added artifact between the smallest and the largest scale.
fn per_artifact(o: &Outcome, points: &[(f64, f64)]) -> Option<f64> {
    let Data::Store(at_one) = o.comparison.data else {
        return None;
    };
    let (lo, hi) = (points.first()?, points.last()?);
    let artifacts = (hi.0 - lo.0) * at_one as f64;
    (artifacts > 0.0).then(|| (hi.1 - lo.1) * 1024.0 * 1024.0 / artifacts)
}

/// A target on lfb's own time ([`Metric::Seconds`]): one row at scale 1
/// (none at other scales); false when it was missed.
fn seconds_row(t: &mut String, o: &Outcome, tg: &Target) -> bool {
    if o.scale != 1.0 {
        return true;
    }
    let bound = match tg.bound {
        Bound::AtMost(x) => format!("≤ {}", secs(x)),
        Bound::Below(x) => format!("< {}", secs(x)),
    };
    let name = format!(
        "{} (scale 1) wall: {}",
        o.comparison.tool,
        md(o.comparison.variants[0].shown)
    );
    let wall = (o.variants[0].status == Status::Ok)
        .then(|| o.variants[0].samples.wall().map(|w| w.median))
        .flatten();
    match wall {
        Some(w) => {
            let met = tg.bound.met(w);
            let verdict = if met { "met" } else { "**missed**" };
            let _ = writeln!(t, "| {name} | {} | {bound} |  | {verdict} |", secs(w));
            met
        }
        None => {
            let why = status_text(&o.variants[0].status).unwrap_or_else(|| "not measured".into());
            let _ = writeln!(t, "| {name} | {why} | {bound} |  | n/a |");
            true
        }
    }
}

/// Peak RSS of each lfb command at every scale it ran at; also returns how
/// many limits were missed.
pub fn rss_table(outcomes: &[Outcome]) -> (String, usize) {
    let mut t = format!(
        "| lfb command | peak RSS by scale | growth | under {RSS_LIMIT_MIB:.0} MiB |\n|---|---|---|---|\n"
    );
    let mut missed = 0;
    let mut seen: Vec<&str> = Vec::new();
    for o in outcomes {
        let id = o.comparison.id;
        if seen.contains(&id) {
            continue;
        }
        seen.push(id);
        let mut points: Vec<(f64, f64)> = outcomes
            .iter()
            .filter(|x| x.comparison.id == id && x.variants[0].status == Status::Ok)
            .filter_map(|x| Some((x.scale, x.variants[0].samples.rss()?.median)))
            .collect();
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        let shown = md(o.comparison.variants[0].shown);
        if points.is_empty() {
            let why = status_text(&o.variants[0].status).unwrap_or_else(|| "not measured".into());
            let _ = writeln!(t, "| {shown} | {why} | | |");
            continue;
        }
        let by_scale: Vec<String> = points
            .iter()
            .map(|(s, r)| format!("{} at {s}", mib(*r)))
            .collect();
        let growth = if let (Some(per), true) = (per_artifact(o, &points), points.len() >= 2) {
            // A store tool holds a summary of every artifact (the plan, the
            // newest-first listing and the per-group checks need them all):
            // its memory is linear in the artifacts by design, never in the
            // bytes of a backup. Judged by the 64 MiB limit (last column).
            format!("{per:.0} B per added artifact (linear in the artifacts by design)")
        } else if points.len() >= 2 {
            let g = points[points.len() - 1].1 / points[0].1;
            let ok = g <= RSS_GROWTH_LIMIT;
            if !ok {
                missed += 1;
            }
            format!(
                "{} for {:.0}x the input: {}",
                ratio(g),
                points[points.len() - 1].0 / points[0].0,
                if ok {
                    "flat (met)"
                } else {
                    "**grows (missed)**"
                }
            )
        } else {
            "—".into()
        };
        let max = points.iter().map(|p| p.1).fold(0.0, f64::max);
        let under = if max < RSS_LIMIT_MIB {
            "met".to_string()
        } else {
            missed += 1;
            "**missed**".to_string()
        };
        let _ = writeln!(
            t,
            "| {shown} | {} | {growth} | {under} |",
            by_scale.join(", ")
        );
    }
    (t, missed)
}

/// Largest acceptable wall-time growth per unit of input growth: 4.4x for
/// 4x the data.
pub const TIME_GROWTH_LIMIT: f64 = 1.1;

/// The growth table: each lfb command measured at two or more scales, its
/// wall time and peak RSS at the smallest and the largest, and whether time
/// grew at most linearly (≤ 1.1x the input's growth) and memory stayed
/// under the limit. Rows only for commands measured at two scales.
pub fn growth_table(outcomes: &[Outcome]) -> (String, usize) {
    let mut t = format!(
        "| lfb command | scales | wall | wall growth (≤ {TIME_GROWTH_LIMIT:.1}x the input's) | peak RSS | under {RSS_LIMIT_MIB:.0} MiB |\n|---|---|---|---|---|---|\n"
    );
    let mut missed = 0;
    let mut rows = 0;
    let mut seen: Vec<&str> = Vec::new();
    for o in outcomes {
        let id = o.comparison.id;
        if seen.contains(&id) {
            continue;
        }
        seen.push(id);
        let mut points: Vec<(f64, f64, f64)> = outcomes
            .iter()
            .filter(|x| x.comparison.id == id && x.variants[0].status == Status::Ok)
            .filter_map(|x| {
                let s = &x.variants[0].samples;
                Some((x.scale, s.wall()?.median, s.rss()?.median))
            })
            .collect();
        if points.len() < 2 {
            continue;
        }
        rows += 1;
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (lo, hi) = (points[0], points[points.len() - 1]);
        let input = hi.0 / lo.0;
        let g = hi.1 / lo.1;
        let ok = g <= input * TIME_GROWTH_LIMIT;
        let rss_max = points.iter().map(|p| p.2).fold(0.0, f64::max);
        let rss_ok = rss_max < RSS_LIMIT_MIB;
        missed += usize::from(!ok) + usize::from(!rss_ok);
        let _ = writeln!(
            t,
            "| {} | {} → {} | {} → {} | {} for {:.0}x the input: {} | {} → {} | {} |",
            md(o.comparison.variants[0].shown),
            lo.0,
            hi.0,
            secs(lo.1),
            secs(hi.1),
            ratio(g),
            input,
            if ok { "met" } else { "**missed**" },
            mib(lo.2),
            mib(hi.2),
            if rss_ok { "met" } else { "**missed**" }
        );
    }
    if rows == 0 {
        return (String::new(), 0);
    }
    (t, missed)
}

fn probes_table(probes: &[Probe]) -> String {
    let mut t = String::from(
        "| probe | input | output | wall | CPU | throughput |\n|---|---|---|---|---|---|\n",
    );
    for p in probes {
        let _ = writeln!(
            t,
            "| {} | {} | {} | {} | {} | {:.0} MB/s |",
            md(&p.what),
            bytes(p.bytes as f64),
            p.out.map(|o| bytes(o as f64)).unwrap_or_else(|| "—".into()),
            secs(p.wall),
            secs(p.cpu),
            p.bytes as f64 / p.wall / 1e6
        );
    }
    t
}

const METHOD: &str = "\
- Every command runs as `bash -c 'set -o pipefail; …'` (a failing `pg_dump` fails \
its pipeline), stdin from /dev/null, stdout and stderr to files.
- Wall time: from spawn to `wait4(2)`. CPU: user + system time of the whole \
process tree from the same `wait4` (the PostgreSQL server's own backend is not a \
child, so its CPU shows only in wall time). Peak RSS: GNU time's `%M` around the `bash` (`/usr/bin/time -f %M bash -c …`), which is the peak of the *largest single process* of the pipeline, not a sum: for lfb-dump the larger of lfb-dump and the pg_dump it runs; never below `bash`'s own ~3 MiB. (`wait4` on a child of the harness would not do: Linux carries the harness's own peak RSS across `execve` into the child's `ru_maxrss`.)
- Output: size of the artifact the command wrote.
- Each comparison first makes one untimed warm-up run of every command (except \
restore), then the timed runs, lfb and baselines alternating \
(lfb, baseline 1, baseline 2, lfb, …); the tables show medians, with min–max.
- Every run is checked before it counts: dumps are decompressed whole with \
`gzip -dc` and must end with the dump's trailer; lfb's record must match the file \
(size, `sha256sum`) and the generated row counts; `lfb-verify` must report ok and \
must exit 1 on a copy with one byte flipped; restores must leave exactly the \
generated row counts in the fresh database (counted with psql); archives are \
listed with `tar tzf` and must hold every media file.
- Databases: a throwaway PostgreSQL server on a Unix socket (`lfb-tests`' `PgServer`: \
fsync off, shared_buffers 16MB), the same for lfb and the baselines, which use the \
server's own `pg_dump`/`psql` (not the `/usr/bin` wrapper scripts).";

/// Renders the whole report.
pub fn render(h: &Header, outcomes: &[Outcome], probes: &[Probe], bounds: &[String]) -> String {
    let mut r = String::from("# lfb benchmarks\n\n");
    let _ = writeln!(r, "- Date: {}", h.date);
    let _ = writeln!(r, "- Machine: {}", h.machine);
    let _ = writeln!(r, "- Load average (1 min) during the run: {}", h.load);
    let _ = writeln!(
        r,
        "- Scale {}: {} timed runs per command{}",
        h.scale,
        h.runs,
        if h.warmup {
            ", after one warm-up run"
        } else {
            ", no warm-up"
        }
    );
    let _ = writeln!(r, "- Command: `{}`", h.command);
    let versions: Vec<String> = h
        .versions
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect();
    let _ = writeln!(r, "- Versions: {}", versions.join("; "));
    for n in &h.notes {
        let _ = writeln!(r, "- {n}");
    }
    r.push_str("\n## Results\n\nMedians, with min–max of the timed runs. Ratios are lfb ÷ that command: below 1 is better for lfb.\n\n");
    r.push_str(&results_table(outcomes));
    let (targets, _) = targets_table(outcomes);
    r.push_str("\n## Targets\n\n");
    r.push_str(&targets);
    let (rss, _) = rss_table(outcomes);
    r.push_str("\n## Peak RSS and input size\n\n");
    r.push_str(&rss);
    let (growth, _) = growth_table(outcomes);
    if !growth.is_empty() {
        r.push_str("\n## Growth: cost as the data grows\n\nEvery lfb command measured at two scales (`--growth`): wall time must grow at most linearly with the data (≤ 4.4x for 4x), peak RSS must stay under the limit.\n\n");
        r.push_str(&growth);
    }
    if !probes.is_empty() {
        r.push_str("\n## What bounds the times: probes\n\nSingle steps of the pipelines measured alone on the same data (in-process probes use lfb-core's own code).\n\n");
        r.push_str(&probes_table(probes));
        if !bounds.is_empty() {
            r.push('\n');
            for b in bounds {
                let _ = writeln!(r, "- {b}");
            }
        }
    }
    r.push_str("\n## Method\n\n");
    r.push_str(METHOD);
    r.push('\n');
    r
}

/// The new RESULTS.md: `report`, then the hand-written part of `old` (from
/// the marker on), or an empty marker.
pub fn merge_kept(report: &str, old: Option<&str>) -> String {
    let kept = old
        .and_then(|o| o.find(KEEP_MARKER).map(|i| &o[i..]))
        .map(str::to_string)
        .unwrap_or_else(|| format!("{KEEP_MARKER}\n"));
    format!("{report}\n{kept}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::comparisons;
    use crate::measure::Samples;
    use crate::runner::VariantResult;

    fn samples(wall: f64, bytes: f64, rss: f64) -> Samples {
        Samples {
            wall_s: vec![wall],
            cpu_s: vec![wall],
            rss_mib: vec![rss],
            bytes: vec![bytes],
        }
    }

    fn dump_outcome(scale: f64, rss: f64) -> Outcome {
        let c = comparisons::by_id("dump-pg").unwrap();
        Outcome {
            comparison: c,
            scale,
            data_note: String::new(),
            variants: vec![
                VariantResult {
                    status: Status::Ok,
                    samples: samples(3.0, 102.0, rss),
                },
                VariantResult {
                    status: Status::Ok,
                    samples: samples(10.0, 100.0, 5.0),
                },
                VariantResult {
                    status: Status::NotBuilt("x".into()),
                    samples: Samples::default(),
                },
            ],
        }
    }

    #[test]
    fn formats_units() {
        assert_eq!(bytes(52_300_000.0), "52.3 MB");
        assert_eq!(bytes(999.0), "999 B");
        assert_eq!(secs(0.5), "0.500 s");
        assert_eq!(secs(12.34), "12.3 s");
    }

    #[test]
    fn ratios_and_targets() {
        let o = dump_outcome(1.0, 20.0);
        assert!((metric_ratio(&o, Metric::Wall, 1).unwrap() - 0.3).abs() < 1e-9);
        assert_eq!(metric_ratio(&o, Metric::Wall, 2), None);
        let (t, missed) = targets_table(&[o]);
        assert_eq!(missed, 0, "{t}");
        assert!(t.contains("0.30x"), "{t}");
        assert!(t.contains("1.02x"), "{t}");
    }

    #[test]
    fn rss_growth_is_judged_across_scales() {
        let (t, missed) = rss_table(&[dump_outcome(0.25, 20.0), dump_outcome(1.0, 21.0)]);
        assert_eq!(missed, 0, "{t}");
        let (t, missed) = rss_table(&[dump_outcome(0.25, 20.0), dump_outcome(1.0, 70.0)]);
        assert_eq!(missed, 2, "{t}");
    }

    fn store_outcome(scale: f64, rss: f64) -> Outcome {
        Outcome {
            comparison: comparisons::by_id("prune").unwrap(),
            scale,
            data_note: String::new(),
            variants: vec![VariantResult {
                status: Status::Ok,
                samples: samples(1.0, 0.0, rss),
            }],
        }
    }

    #[test]
    fn store_tools_memory_is_judged_per_artifact_and_by_the_limit() {
        // 100,000 -> 400,000 artifacts, 19.5 -> 44.5 MiB: 87 B per artifact.
        let (t, missed) = rss_table(&[store_outcome(1.0, 19.5), store_outcome(4.0, 44.5)]);
        assert_eq!(missed, 0, "{t}");
        assert!(t.contains("87 B per added artifact"), "{t}");
        let (t, missed) = rss_table(&[store_outcome(1.0, 19.5), store_outcome(4.0, 70.0)]);
        assert_eq!(missed, 1, "{t}");
        assert!(t.contains("**missed**"), "{t}");
    }

    #[test]
    fn time_targets_are_judged_at_scale_one_only() {
        let (t, missed) = targets_table(&[store_outcome(1.0, 19.5)]);
        assert_eq!(missed, 0, "{t}");
        assert!(t.contains("| 1.00 s | ≤ 1.00 s |  | met |"), "{t}");
        let mut slow = store_outcome(1.0, 19.5);
        slow.variants[0].samples.wall_s = vec![1.2];
        let (t, missed) = targets_table(&[slow, store_outcome(4.0, 44.5)]);
        assert_eq!(missed, 1, "{t}");
        assert_eq!(t.matches("(scale").count(), 1, "{t}");
    }

    #[test]
    fn not_built_rows_render_and_hand_written_part_is_kept() {
        let mut o = dump_outcome(1.0, 20.0);
        o.variants[0].status = Status::NotBuilt("no lfb-dump binary".into());
        let table = results_table(&[o]);
        assert!(
            table.contains("n/a (not built: no lfb-dump binary)"),
            "{table}"
        );
        let old = format!("old report\n{KEEP_MARKER}\nmy analysis\n");
        let merged = merge_kept("new report\n", Some(&old));
        assert!(merged.starts_with("new report"));
        assert!(merged.ends_with("my analysis\n"));
        assert!(!merged.contains("old report"));
    }
}
