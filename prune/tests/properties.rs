//! Properties of retention over random artifacts and policies.
//!
//! A small deterministic PRNG (splitmix64) drives the generators, so a
//! failure names its seed and replays exactly; no property-testing crate is
//! needed for that. The planner is checked against an oracle written
//! independently of it (calendar buckets through chrono, sets instead of
//! sorted slices), and the whole tool against real files in a temporary
//! store.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

use lfb_core::Kind;
use lfb_core::Record;
use lfb_core::chrono::{DateTime, Datelike, Timelike};
use lfb_core::cli::{Ui, Verbosity};
use lfb_core::store::{Store, sidecar_path};
use lfb_prune::plan::{self, Candidate, Decision, Policy, Reason};
use lfb_prune::scope::{GroupBy, Scope};
use lfb_prune::{Options, prune};
use serde_json::json;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in 0..n (n > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

const HOUR: i64 = 3600;
const DAY: i64 = 86_400;
/// 2026-11-27T00:00:00Z.
const T0: i64 = 1_795_737_600;

fn random_artifacts(rng: &mut Rng) -> (Vec<Candidate>, i64) {
    let mut c = Vec::new();
    let groups = rng.range(1, 4) as u32;
    for group in 0..groups {
        let count = rng.range(0, 90);
        // Local-time names shift the wall clock; now and then by a
        // daylight-saving hour in the middle of the group.
        let offset = [0, 0, -5 * HOUR, HOUR, 5 * HOUR + 1800][rng.below(5) as usize];
        // Near the newest end, where small counts cut across it.
        let dst_at = if rng.chance(30) {
            (count - rng.range(1, 3)).max(0)
        } else {
            -1
        };
        // Clocks go forward in spring and back in autumn; going back makes
        // a newer artifact's bucket older than an older one's.
        let dst_shift = if rng.chance(50) { HOUR } else { -HOUR };
        let step = [HOUR, 6 * HOUR, DAY, 7 * DAY][rng.below(4) as usize];
        let verify_mode = rng.below(3); // 0: none, 1: mixed, 2: mostly failed
        let mut t = T0 - rng.range(0, 3 * 365) * DAY;
        for k in 0..count {
            // Mostly regular, sometimes a gap, sometimes the same second.
            t += match rng.below(10) {
                0 => 0,
                1 => rng.range(1, 40) * DAY,
                _ => step + rng.range(-600, 600),
            };
            let verified = match verify_mode {
                0 => None,
                1 => [None, Some(true), Some(false)][rng.below(3) as usize],
                _ => {
                    if rng.chance(90) {
                        Some(false)
                    } else {
                        None
                    }
                }
            };
            let dst = if dst_at >= 0 && k >= dst_at {
                dst_shift
            } else {
                0
            };
            c.push(Candidate {
                group,
                time: t,
                wall: t + offset + dst,
                verified,
                bytes: rng.range(1, 1000) as u64,
            });
        }
    }
    // Shuffle, so the planner cannot rely on input order.
    for i in (1..c.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        c.swap(i, j);
    }
    let latest = c.iter().map(|a| a.time).max().unwrap_or(T0);
    let now = latest + rng.range(-2 * DAY, 30 * DAY);
    (c, now)
}

fn random_policy(rng: &mut Rng) -> Policy {
    // Small counts half the time: cutting at the first few buckets is where
    // the orderings of times and clocks can disagree.
    let count = |rng: &mut Rng| {
        let hi = if rng.chance(50) { 3 } else { 30 };
        rng.chance(40).then(|| rng.range(0, hi) as u32)
    };
    Policy {
        keep_within: rng
            .chance(40)
            .then(|| rng.range(1, 400 * 24) * HOUR + rng.range(0, 3599)),
        keep_last: count(rng),
        keep_hourly: count(rng),
        keep_daily: count(rng),
        keep_weekly: count(rng),
        keep_monthly: count(rng),
        keep_yearly: count(rng),
        max_total_size: None,
        min_keep: rng.range(0, 3) as u32,
    }
}

/// Each policy of `p` alone (with the same min-keep).
fn singles(p: &Policy) -> Vec<Policy> {
    let base = Policy {
        min_keep: p.min_keep,
        ..Policy::default()
    };
    let mut out = Vec::new();
    if p.keep_within.is_some() {
        out.push(Policy {
            keep_within: p.keep_within,
            ..base.clone()
        });
    }
    for (v, set) in [
        (
            p.keep_last,
            (|q: &mut Policy, n| q.keep_last = n) as fn(&mut Policy, Option<u32>),
        ),
        (p.keep_hourly, |q, n| q.keep_hourly = n),
        (p.keep_daily, |q, n| q.keep_daily = n),
        (p.keep_weekly, |q, n| q.keep_weekly = n),
        (p.keep_monthly, |q, n| q.keep_monthly = n),
        (p.keep_yearly, |q, n| q.keep_yearly = n),
    ] {
        if v.is_some() {
            let mut q = base.clone();
            set(&mut q, v);
            out.push(q);
        }
    }
    out
}

/// Members of each group, newest first (ties: higher index is newer).
fn groups_newest_first(c: &[Candidate]) -> BTreeMap<u32, Vec<usize>> {
    let mut g: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (i, a) in c.iter().enumerate() {
        g.entry(a.group).or_default().push(i);
    }
    for m in g.values_mut() {
        m.sort_by(|&a, &b| (c[b].time, b).cmp(&(c[a].time, a)));
    }
    g
}

/// Calendar bucket of a wall-clock time, by chrono (not the planner's
/// arithmetic).
fn bucket(r: Reason, wall: i64) -> (i32, u32, u32) {
    let t = DateTime::from_timestamp(wall, 0).unwrap().naive_utc();
    match r {
        Reason::KeepHourly => (t.year(), t.ordinal(), t.hour()),
        Reason::KeepDaily => (t.year(), t.ordinal(), 0),
        Reason::KeepWeekly => (t.iso_week().year(), t.iso_week().week(), 0),
        Reason::KeepMonthly => (t.year(), t.month(), 0),
        Reason::KeepYearly => (t.year(), 0, 0),
        _ => unreachable!(),
    }
}

/// Dated more than the allowed skew after `now`: kept, and nothing else.
fn is_future(a: &Candidate, now: i64) -> bool {
    a.time > now + plan::FUTURE_SKEW
}

/// What should be kept and why, computed the slow, obvious way. Policies
/// other than the size budget only. A future-dated artifact is kept with
/// only `future-dated`, and the rules run on the others as if it were not
/// there.
fn oracle(c: &[Candidate], p: &Policy, now: i64) -> Vec<BTreeSet<Reason>> {
    let mut out = vec![BTreeSet::new(); c.len()];
    for (i, a) in c.iter().enumerate() {
        if is_future(a, now) {
            out[i].insert(Reason::FutureDated);
        }
    }
    for members in groups_newest_first(c).values() {
        let members: Vec<usize> = members
            .iter()
            .copied()
            .filter(|&i| !is_future(&c[i], now))
            .collect();
        if members.is_empty() {
            continue;
        }
        if let Some(w) = p.keep_within {
            for &i in &members {
                if c[i].time >= now - w {
                    out[i].insert(Reason::KeepWithin);
                }
            }
        }
        if let Some(n) = p.keep_last {
            for &i in members.iter().take(n as usize) {
                out[i].insert(Reason::KeepLast);
            }
        }
        for (n, r) in [
            (p.keep_hourly, Reason::KeepHourly),
            (p.keep_daily, Reason::KeepDaily),
            (p.keep_weekly, Reason::KeepWeekly),
            (p.keep_monthly, Reason::KeepMonthly),
            (p.keep_yearly, Reason::KeepYearly),
        ] {
            let Some(n) = n else { continue };
            let keys: BTreeSet<_> = members.iter().map(|&i| bucket(r, c[i].wall)).collect();
            for key in keys.into_iter().rev().take(n as usize) {
                let newest = members
                    .iter()
                    .find(|&&i| bucket(r, c[i].wall) == key)
                    .unwrap();
                out[*newest].insert(r);
            }
        }
        if let Some(&i) = members.iter().find(|&&i| c[i].verified == Some(true)) {
            out[i].insert(Reason::NewestVerified);
        } else if members.iter().all(|&i| c[i].verified.is_none()) {
            out[members[0]].insert(Reason::NewestUnverified);
        }
        for &i in members.iter().take(p.min_keep as usize) {
            out[i].insert(Reason::MinKeep);
        }
    }
    out
}

fn reasons(d: &Decision) -> BTreeSet<Reason> {
    d.reasons.iter().collect()
}

fn kept(d: &[Decision]) -> BTreeSet<usize> {
    (0..d.len()).filter(|&i| d[i].keep).collect()
}

#[test]
fn planner_matches_the_oracle_and_the_union_of_single_policies() {
    for seed in 0..3000 {
        let mut rng = Rng(seed);
        let (c, now) = random_artifacts(&mut rng);
        let p = random_policy(&mut rng);
        let d = plan::plan(&c, &p, now);
        let want = oracle(&c, &p, now);
        for i in 0..c.len() {
            let expect_keep = !want[i].is_empty();
            assert_eq!(d[i].keep, expect_keep, "seed {seed}, artifact {i}");
            if expect_keep {
                assert_eq!(reasons(&d[i]), want[i], "seed {seed}, artifact {i}");
            } else {
                assert_eq!(d[i].reasons.names(), ["expired"], "seed {seed}");
            }
        }
        // Kept = the union of what each policy keeps alone.
        if p.has_keep_rules() {
            let mut union = BTreeSet::new();
            for q in singles(&p) {
                union.extend(kept(&plan::plan(&c, &q, now)));
            }
            assert_eq!(kept(&d), union, "seed {seed}");
        }
    }
}

#[test]
fn invariants_hold_whatever_the_policies_and_budget() {
    for seed in 0..3000 {
        let mut rng = Rng(seed ^ 0xABCD);
        let (c, now) = random_artifacts(&mut rng);
        let mut p = random_policy(&mut rng);
        if rng.chance(50) {
            p.max_total_size = Some(rng.range(0, 20_000) as u64);
        }
        let d = plan::plan(&c, &p, now);
        for members in groups_newest_first(&c).values() {
            let newest_verified = members.iter().find(|&&i| c[i].verified == Some(true));
            if let Some(&i) = newest_verified {
                assert!(d[i].keep, "seed {seed}: newest verified deleted");
            }
            if members.iter().all(|&i| c[i].verified.is_none()) {
                assert!(d[members[0]].keep, "seed {seed}: newest deleted");
            }
            for &i in members.iter().take(p.min_keep as usize) {
                assert!(d[i].keep, "seed {seed}: min-keep violated");
            }
        }
        for dec in &d {
            if !dec.keep {
                let r = dec.reasons.names();
                assert!(
                    r == ["expired"] || r == ["max-total-size"],
                    "seed {seed}: {r:?}"
                );
            }
        }
    }
}

#[test]
fn size_budget_deletes_oldest_unprotected_first_and_only_as_needed() {
    for seed in 0..3000 {
        let mut rng = Rng(seed ^ 0x5151);
        let (c, now) = random_artifacts(&mut rng);
        let mut p = random_policy(&mut rng);
        let budget = rng.range(0, 30_000) as u64;
        let without = plan::plan(&c, &p, now);
        p.max_total_size = Some(budget);
        let d = plan::plan(&c, &p, now);
        for members in groups_newest_first(&c).values() {
            let base_kept: Vec<usize> = if p.has_keep_rules() {
                members
                    .iter()
                    .copied()
                    .filter(|&i| without[i].keep)
                    .collect()
            } else {
                members.clone()
            };
            // Future-dated artifacts are outside the budget: counting them
            // would let a wrong clock delete real backups.
            let total: u64 = members
                .iter()
                .filter(|&&i| d[i].keep && !is_future(&c[i], now))
                .map(|&i| c[i].bytes)
                .sum();
            let over: Vec<usize> = members
                .iter()
                .copied()
                .filter(|&i| d[i].reasons.contains(Reason::MaxTotalSize) && !d[i].keep)
                .collect();
            for &i in members {
                // Nothing the policies dropped comes back; nothing protected goes.
                if d[i].keep {
                    assert!(base_kept.contains(&i), "seed {seed}");
                }
                if d[i].reasons.protected() {
                    assert!(d[i].keep, "seed {seed}");
                }
            }
            let unprotected_kept: Vec<usize> = members
                .iter()
                .copied()
                .filter(|&i| d[i].keep && !d[i].reasons.protected())
                .collect();
            assert!(
                total <= budget || unprotected_kept.is_empty(),
                "seed {seed}: over budget with deletable artifacts left"
            );
            // Every artifact deleted for size is older than every
            // deletable one kept, and the newest of them did not fit.
            let pos = |i: usize| members.iter().position(|&m| m == i).unwrap();
            for &o in &over {
                for &k in &unprotected_kept {
                    assert!(pos(o) > pos(k), "seed {seed}: a newer one was deleted");
                }
            }
            if let Some(&youngest) = over.iter().min_by_key(|&&o| pos(o)) {
                assert!(
                    total + c[youngest].bytes > budget,
                    "seed {seed}: deleted too much"
                );
            }
        }
    }
}

#[test]
fn planning_again_after_deleting_keeps_everything() {
    for seed in 0..3000 {
        let mut rng = Rng(seed ^ 0x7777);
        let (c, now) = random_artifacts(&mut rng);
        let mut p = random_policy(&mut rng);
        if !p.is_given() || rng.chance(30) {
            p.max_total_size = Some(rng.range(0, 30_000) as u64);
        }
        let d = plan::plan(&c, &p, now);
        let left: Vec<Candidate> = (0..c.len()).filter(|&i| d[i].keep).map(|i| c[i]).collect();
        let again = plan::plan(&left, &p, now);
        assert!(again.iter().all(|d| d.keep), "seed {seed}");
    }
}

#[test]
fn future_dated_artifacts_change_nothing_for_the_real_ones() {
    for seed in 0..2000 {
        let mut rng = Rng(seed ^ 0xF07);
        let (c, now) = random_artifacts(&mut rng);
        let c: Vec<Candidate> = c.into_iter().filter(|a| !is_future(a, now)).collect();
        let mut p = random_policy(&mut rng);
        if rng.chance(30) {
            p.max_total_size = Some(rng.range(0, 30_000) as u64);
        }
        let alone = plan::plan(&c, &p, now);
        // Add artifacts from the future (up to 2099), verified or not.
        let mut with = c.clone();
        for _ in 0..rng.range(1, 5) {
            let group = rng.below(4) as u32;
            let t = now + plan::FUTURE_SKEW + rng.range(1, 80 * 365 * DAY);
            with.push(Candidate {
                group,
                time: t,
                wall: t,
                verified: [None, Some(true), Some(false)][rng.below(3) as usize],
                bytes: rng.range(1, 100_000) as u64,
            });
        }
        let d = plan::plan(&with, &p, now);
        assert_eq!(&d[..c.len()], &alone[..], "seed {seed}");
        for dec in &d[c.len()..] {
            assert!(dec.keep, "seed {seed}");
            assert_eq!(dec.reasons.names(), ["future-dated"], "seed {seed}");
        }
    }
}

#[test]
fn planning_100k_artifacts_is_fast() {
    let mut rng = Rng(42);
    let c: Vec<Candidate> = (0..100_000)
        .map(|i| {
            let t = T0 - (i as i64) * 900 + rng.range(0, 60);
            Candidate {
                group: (i % 50) as u32,
                time: t,
                wall: t,
                verified: [None, Some(true), Some(false)][rng.below(3) as usize],
                bytes: rng.range(1, 1 << 20) as u64,
            }
        })
        .collect();
    let p = Policy {
        keep_within: Some(7 * DAY),
        keep_last: Some(10),
        keep_hourly: Some(48),
        keep_daily: Some(30),
        keep_weekly: Some(12),
        keep_monthly: Some(24),
        keep_yearly: Some(5),
        max_total_size: Some(10 << 30),
        min_keep: 1,
    };
    let start = std::time::Instant::now();
    let d = plan::plan(&c, &p, T0);
    let took = start.elapsed();
    eprintln!(
        "planned 100,000 artifacts in {:.1} ms",
        took.as_secs_f64() * 1e3
    );
    assert_eq!(d.len(), 100_000);
    // Release builds plan this in milliseconds; unoptimised test builds
    // get room to spare.
    let limit = if cfg!(debug_assertions) { 10.0 } else { 0.5 };
    assert!(took.as_secs_f64() < limit, "{took:?}");
}

// ---- the whole tool, on real files ----

const ENVS: [&str; 3] = ["dev", "prod", "test"];
const NAMES: [&str; 2] = ["app", "web"];
const TAGS: [&str; 2] = ["hourly", "daily"];

/// What the test itself knows of each artifact it wrote.
#[derive(Debug, Clone)]
struct Made {
    path: PathBuf,
    env: String,
    folder: String,
    name: String,
    kind: Kind,
    tag: String,
    time: i64,
    verified: Option<bool>,
}

fn write_store(rng: &mut Rng, root: &Path) -> (Vec<Made>, Vec<PathBuf>) {
    let mut made = Vec::new();
    let mut foreign = Vec::new();
    for env in ENVS {
        fs::create_dir_all(root.join(env)).unwrap();
        for f in ["notes.txt", "random.sql.gz", "x_db_hourly_2026.sql.gz"] {
            let p = root.join(env).join(f);
            fs::write(&p, format!("{env}/{f}")).unwrap();
            foreign.push(p);
        }
    }
    fs::create_dir_all(root.join("migrations")).unwrap();
    for _ in 0..rng.range(5, 60) {
        let pre_migration = rng.chance(10);
        let env = ENVS[rng.below(3) as usize].to_string();
        let folder = if pre_migration {
            "migrations".to_string()
        } else {
            env.clone()
        };
        let name = NAMES[rng.below(2) as usize].to_string();
        let kind = if rng.chance(25) { Kind::Full } else { Kind::Db };
        let tag = if pre_migration {
            "pre-migration".to_string()
        } else {
            TAGS[rng.below(2) as usize].to_string()
        };
        let time = T0 - rng.range(0, 60 * 24) * HOUR;
        let stamp = DateTime::from_timestamp(time, 0)
            .unwrap()
            .format("%Y%m%dT%H%M%SZ");
        let ext = if kind == Kind::Full {
            "tar.gz"
        } else {
            "sql.gz"
        };
        let id = format!("{name}_{kind}_{tag}_{stamp}");
        let path = root.join(&folder).join(format!("{id}.{ext}"));
        if path.exists() {
            continue;
        }
        fs::write(&path, &id).unwrap();
        // Without a sidecar a pre-migration backup would be taken for prod's
        // (the store's rule for derived records), so those always get one.
        let sidecar = pre_migration || rng.chance(70);
        let mut verified = None;
        if sidecar {
            let t = DateTime::from_timestamp(time, 0).unwrap();
            let mut r = Record::new(
                &id,
                kind,
                &env,
                &tag,
                &path,
                t,
                id.len() as u64,
                "0",
                "sql+gzip",
            );
            verified = [None, Some(true), Some(false)][rng.below(3) as usize];
            if let Some(ok) = verified {
                r.set("verify", json!({"ok": ok}));
            }
            fs::write(sidecar_path(&path), r.to_line()).unwrap();
        }
        let env = if sidecar { env } else { folder.clone() };
        made.push(Made {
            path,
            env,
            folder,
            name,
            kind,
            tag,
            time,
            verified,
        });
    }
    (made, foreign)
}

fn snapshot(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    for dir in fs::read_dir(root).unwrap().flatten() {
        if !dir.file_type().unwrap().is_dir() || dir.file_name() == "logs" {
            continue;
        }
        for f in fs::read_dir(dir.path()).unwrap().flatten() {
            out.insert(f.path(), fs::read(f.path()).unwrap());
        }
    }
    out
}

fn random_scope(rng: &mut Rng) -> Scope {
    Scope {
        env: rng
            .chance(60)
            .then(|| ENVS[rng.below(3) as usize].to_string()),
        tag: rng
            .chance(30)
            .then(|| TAGS[rng.below(2) as usize].to_string()),
        kind: rng
            .chance(20)
            .then(|| [Kind::Db, Kind::Full][rng.below(2) as usize]),
        name: rng
            .chance(20)
            .then(|| NAMES[rng.below(2) as usize].to_string()),
    }
}

fn in_scope(s: &Scope, m: &Made) -> bool {
    s.env.as_ref().is_none_or(|e| *e == m.env)
        && s.tag.as_ref().is_none_or(|t| *t == m.tag)
        && s.kind.is_none_or(|k| k == m.kind)
        && s.name.as_ref().is_none_or(|n| *n == m.name)
}

fn run_prune(root: &Path, opts: &Options) -> (u8, Vec<Record>) {
    let ui = Ui::new(
        "lfb-prune",
        Verbosity {
            quiet: true,
            verbose: 0,
        },
    );
    let mut records = Vec::new();
    let code = prune(
        &Store::at(root),
        opts,
        Vec::new(),
        &ui,
        &mut |r: &Record| {
            records.push(r.clone());
            Ok(())
        },
    )
    .unwrap();
    (code, records)
}

#[test]
fn the_tool_touches_only_its_scope_keeps_the_newest_verified_and_settles() {
    for seed in 0..40 {
        let mut rng = Rng(seed ^ 0xF00D);
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let (made, foreign) = write_store(&mut rng, root);
        let mut policy = random_policy(&mut rng);
        if !policy.is_given() {
            policy.keep_last = Some(2);
        }
        if rng.chance(30) {
            policy.max_total_size = Some(rng.range(0, 400) as u64);
        }
        let opts = Options {
            policy,
            scope: random_scope(&mut rng),
            group_by: GroupBy::default(),
            dry_run: false,
            now: DateTime::from_timestamp(T0 + DAY, 0).unwrap(),
            rotate_logs_at: 10 << 20,
            keep_logs: None,
        };
        let before = snapshot(root);
        let (code, records) = run_prune(root, &opts);
        assert_eq!(code, 0, "seed {seed}");
        let after = snapshot(root);

        let considered: Vec<&Made> = made.iter().filter(|m| in_scope(&opts.scope, m)).collect();
        assert_eq!(
            records.len(),
            considered.len(),
            "seed {seed}: one record per artifact"
        );
        let deleted: BTreeSet<PathBuf> = records
            .iter()
            .filter(|r| r.get("prune").unwrap()["action"] == "delete")
            .map(|r| r.path().unwrap())
            .collect();
        for m in &made {
            let gone = !after.contains_key(&m.path);
            assert_eq!(
                gone,
                deleted.contains(&m.path),
                "seed {seed}: {}",
                m.path.display()
            );
            if gone {
                assert!(
                    in_scope(&opts.scope, m),
                    "seed {seed}: out of scope deleted"
                );
                assert!(!sidecar_path(&m.path).exists(), "seed {seed}: sidecar left");
            }
        }
        // Everything else is byte for byte as it was.
        for (p, content) in &before {
            let owner = made
                .iter()
                .find(|m| *p == m.path || *p == sidecar_path(&m.path));
            if owner.is_some_and(|m| deleted.contains(&m.path)) {
                continue;
            }
            assert_eq!(
                after.get(p),
                Some(content),
                "seed {seed}: {} changed",
                p.display()
            );
        }
        for f in &foreign {
            assert!(after.contains_key(f), "seed {seed}");
        }
        // The newest verified artifact of every group survives.
        let mut groups: HashMap<(String, String, Kind, String), Vec<&Made>> = HashMap::new();
        for m in considered {
            groups
                .entry((m.folder.clone(), m.name.clone(), m.kind, m.tag.clone()))
                .or_default()
                .push(m);
        }
        for members in groups.values() {
            if let Some(newest) = members
                .iter()
                .filter(|m| m.verified == Some(true))
                .max_by_key(|m| (m.time, m.path.clone()))
            {
                assert!(newest.path.exists(), "seed {seed}: newest verified deleted");
            }
        }
        // A second run finds nothing to do.
        let (code, records) = run_prune(root, &opts);
        assert_eq!(code, 0);
        assert!(
            records
                .iter()
                .all(|r| r.get("prune").unwrap()["action"] == "keep"),
            "seed {seed}"
        );
        assert_eq!(
            snapshot(root),
            after,
            "seed {seed}: second run changed the store"
        );
    }
}
