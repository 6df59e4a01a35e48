//! The retention planner: a pure function from artifacts and policies to a
//! keep/delete decision per artifact, with the reasons for it.
//!
//! It knows nothing of files, records or clocks: the caller hands it each
//! artifact's group, time, verification and size, and the time to count
//! from. That keeps the rules that decide what is deleted in one place that
//! tests can run a million times, and makes planning 100,000 artifacts a
//! matter of milliseconds (one sort, then linear passes per group).
//!
//! The rules, per group:
//! - an artifact is kept when ANY policy keeps it (as in restic and borg):
//!   `keep-within` (time at or after `now - within`), `keep-last N` (the N
//!   newest), and the bucket policies `keep-hourly/daily/weekly/monthly/yearly
//!   N` (the newest artifact of each of the N most recent hours, days, ISO
//!   weeks, months or years that have artifacts);
//! - invariants keep more, whatever the policies say: the newest artifact
//!   whose verification passed (`newest-verified`); in a group where no
//!   artifact has been verified at all, the newest artifact
//!   (`newest-unverified`); and the newest `min_keep` artifacts (`min-keep`);
//! - an artifact dated more than [`FUTURE_SKEW`] after `now` (a wrong
//!   clock, a hand-made name) is kept (`future-dated`) and otherwise left
//!   out: it is never "the newest", never counted by `keep-last`, the
//!   buckets, `min-keep` or the size budget, and so never displaces a real
//!   artifact;
//! - last, `max_total_size` deletes the oldest kept artifacts that are not
//!   protected by an invariant until the group's kept bytes fit the budget.
//!   Given alone, it keeps everything that fits.

use std::collections::HashMap;

/// One artifact as the planner sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    /// Index of the artifact's group (any numbering the caller likes).
    pub group: u32,
    /// When it was made: seconds since the Unix epoch. Orders the artifacts
    /// and decides `keep-within`.
    pub time: i64,
    /// The same moment on the clock its name was written in, as seconds
    /// since 1970-01-01T00:00:00 on that clock: `time` for lfb names (UTC),
    /// `time` plus the local UTC offset for the original scripts' names
    /// (local time). Decides the hour, day, week, month and year buckets.
    pub wall: i64,
    /// `verify.ok` of its record: `None` when it has no verify section.
    pub verified: Option<bool>,
    /// Its size in bytes, for `max_total_size`.
    pub bytes: u64,
}

impl AsRef<Candidate> for Candidate {
    fn as_ref(&self) -> &Candidate {
        self
    }
}

/// How far after `now` an artifact may be dated and still count: clocks of
/// two machines sharing a store disagree by seconds, not by this much.
/// The same ten minutes after which lfb-guard calls a backup future-dated.
pub const FUTURE_SKEW: i64 = 600;

/// The retention policies of one run. A count of `Some(0)` keeps nothing
/// but still counts as a policy given; the command line refuses 0.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// Keep artifacts made at most this many seconds before `now`.
    pub keep_within: Option<i64>,
    pub keep_last: Option<u32>,
    pub keep_hourly: Option<u32>,
    pub keep_daily: Option<u32>,
    pub keep_weekly: Option<u32>,
    pub keep_monthly: Option<u32>,
    pub keep_yearly: Option<u32>,
    /// Budget in bytes per group, applied after the other policies.
    pub max_total_size: Option<u64>,
    /// The newest this many artifacts of each group are never deleted.
    pub min_keep: u32,
}

impl Policy {
    /// True when a policy that keeps artifacts (anything but `min_keep`)
    /// was given, i.e. when planning may delete anything at all.
    pub fn is_given(&self) -> bool {
        self.has_keep_rules() || self.max_total_size.is_some()
    }

    /// True when a policy other than the size budget was given.
    pub fn has_keep_rules(&self) -> bool {
        self.keep_within.is_some()
            || self.keep_last.is_some()
            || self.keep_hourly.is_some()
            || self.keep_daily.is_some()
            || self.keep_weekly.is_some()
            || self.keep_monthly.is_some()
            || self.keep_yearly.is_some()
    }
}

/// Why an artifact is kept or deleted. The names are what records carry in
/// `prune.reasons`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    KeepWithin,
    KeepLast,
    KeepHourly,
    KeepDaily,
    KeepWeekly,
    KeepMonthly,
    KeepYearly,
    /// Kept because the size budget (given alone) had room for it, or
    /// deleted because it had not.
    MaxTotalSize,
    NewestVerified,
    NewestUnverified,
    MinKeep,
    /// Kept and otherwise ignored: dated more than [`FUTURE_SKEW`] after now.
    FutureDated,
    /// Deleted: no policy kept it.
    Expired,
    /// Not deleted although planned: a record in the input failed.
    InputFailed,
}

impl Reason {
    pub const ALL: [Reason; 14] = [
        Reason::KeepWithin,
        Reason::KeepLast,
        Reason::KeepHourly,
        Reason::KeepDaily,
        Reason::KeepWeekly,
        Reason::KeepMonthly,
        Reason::KeepYearly,
        Reason::MaxTotalSize,
        Reason::NewestVerified,
        Reason::NewestUnverified,
        Reason::MinKeep,
        Reason::FutureDated,
        Reason::Expired,
        Reason::InputFailed,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Reason::KeepWithin => "keep-within",
            Reason::KeepLast => "keep-last",
            Reason::KeepHourly => "keep-hourly",
            Reason::KeepDaily => "keep-daily",
            Reason::KeepWeekly => "keep-weekly",
            Reason::KeepMonthly => "keep-monthly",
            Reason::KeepYearly => "keep-yearly",
            Reason::MaxTotalSize => "max-total-size",
            Reason::NewestVerified => "newest-verified",
            Reason::NewestUnverified => "newest-unverified",
            Reason::MinKeep => "min-keep",
            Reason::FutureDated => "future-dated",
            Reason::Expired => "expired",
            Reason::InputFailed => "input-failed",
        }
    }

    /// True for the invariants: reasons no policy can override.
    pub fn protects(self) -> bool {
        matches!(
            self,
            Reason::NewestVerified
                | Reason::NewestUnverified
                | Reason::MinKeep
                | Reason::FutureDated
        )
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// A set of reasons, small enough to copy (one bit per [`Reason`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Reasons(u16);

impl Reasons {
    pub const NONE: Reasons = Reasons(0);

    pub fn of(r: Reason) -> Reasons {
        Reasons(r.bit())
    }
    pub fn add(&mut self, r: Reason) {
        self.0 |= r.bit();
    }
    pub fn contains(self, r: Reason) -> bool {
        self.0 & r.bit() != 0
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    pub fn union(self, other: Reasons) -> Reasons {
        Reasons(self.0 | other.0)
    }
    /// True when an invariant keeps the artifact.
    pub fn protected(self) -> bool {
        self.iter().any(Reason::protects)
    }
    /// The reasons in their fixed order (policies first, then invariants).
    pub fn iter(self) -> impl Iterator<Item = Reason> {
        Reason::ALL.into_iter().filter(move |r| self.contains(*r))
    }
    pub fn names(self) -> Vec<&'static str> {
        self.iter().map(Reason::name).collect()
    }
}

/// What to do with one artifact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub keep: bool,
    pub reasons: Reasons,
}

/// Plans retention: one decision per candidate, in the candidates' order.
///
/// Within a group, "newer" means a later `time`, and between equal times the
/// later index, so the caller's order breaks ties deterministically.
pub fn plan<C: AsRef<Candidate>>(candidates: &[C], policy: &Policy, now: i64) -> Vec<Decision> {
    let mut decisions = vec![
        Decision {
            keep: false,
            reasons: Reasons::NONE,
        };
        candidates.len()
    ];
    // One sort puts every group together, newest first; each group is then
    // a slice the rules walk linearly.
    // Future-dated artifacts are kept and take no part in the rest.
    let future = now.saturating_add(FUTURE_SKEW);
    let mut order: Vec<u32> = Vec::with_capacity(candidates.len());
    for (i, c) in candidates.iter().enumerate() {
        if c.as_ref().time > future {
            decisions[i] = Decision {
                keep: true,
                reasons: Reasons::of(Reason::FutureDated),
            };
        } else {
            order.push(i as u32);
        }
    }
    order.sort_unstable_by(|&a, &b| {
        let (ca, cb) = (
            candidates[a as usize].as_ref(),
            candidates[b as usize].as_ref(),
        );
        ca.group
            .cmp(&cb.group)
            .then(cb.time.cmp(&ca.time))
            .then(b.cmp(&a))
    });
    let mut start = 0;
    while start < order.len() {
        let group = candidates[order[start] as usize].as_ref().group;
        let mut end = start + 1;
        while end < order.len() && candidates[order[end] as usize].as_ref().group == group {
            end += 1;
        }
        plan_group(candidates, &order[start..end], policy, now, &mut decisions);
        start = end;
    }
    decisions
}

/// Plans one group; `members` are its candidates' indices, newest first.
// Long: every retention rule over one group in the order they apply; the oracle tests follow the same order.
fn plan_group<C: AsRef<Candidate>>(
    c: &[C],
    members: &[u32],
    policy: &Policy,
    now: i64,
    out: &mut [Decision],
) {
    let mut add = |i: u32, r: Reason| out[i as usize].reasons.add(r);

    if let Some(within) = policy.keep_within {
        let cutoff = now.saturating_sub(within);
        for &i in members
            .iter()
            .take_while(|&&i| c[i as usize].as_ref().time >= cutoff)
        {
            add(i, Reason::KeepWithin);
        }
    }
    if let Some(n) = policy.keep_last {
        for &i in members.iter().take(n as usize) {
            add(i, Reason::KeepLast);
        }
    }
    let buckets: [(Option<u32>, Reason, BucketKey); 5] = [
        (policy.keep_hourly, Reason::KeepHourly, hour_bucket),
        (policy.keep_daily, Reason::KeepDaily, day_bucket),
        (policy.keep_weekly, Reason::KeepWeekly, week_bucket),
        (policy.keep_monthly, Reason::KeepMonthly, month_bucket),
        (policy.keep_yearly, Reason::KeepYearly, year_bucket),
    ];
    for (n, reason, key) in buckets {
        if let Some(n) = n {
            for i in newest_of_recent_buckets(c, members, n, key) {
                add(i, reason);
            }
        }
    }
    if !policy.has_keep_rules() && policy.max_total_size.is_some() {
        // The budget alone: everything is kept until it no longer fits.
        for &i in members {
            add(i, Reason::MaxTotalSize);
        }
    }

    // Invariants.
    let newest_verified = members
        .iter()
        .find(|&&i| c[i as usize].as_ref().verified == Some(true));
    match newest_verified {
        Some(&i) => add(i, Reason::NewestVerified),
        None => {
            // With no verification anywhere in the group there is no way to
            // tell a good copy from a bad one, so the newest stands in for
            // "the last good backup". (A group with only failed verifications
            // gets no such protection: none of its copies is known good.)
            if members
                .iter()
                .all(|&i| c[i as usize].as_ref().verified.is_none())
                && let Some(&i) = members.first()
            {
                add(i, Reason::NewestUnverified);
            }
        }
    }
    for &i in members.iter().take(policy.min_keep as usize) {
        add(i, Reason::MinKeep);
    }

    for &i in members {
        let d = &mut out[i as usize];
        d.keep = !d.reasons.is_empty();
        if !d.keep {
            d.reasons = Reasons::of(Reason::Expired);
        }
    }

    if let Some(budget) = policy.max_total_size {
        let mut total: u64 = members
            .iter()
            .filter(|&&i| out[i as usize].keep)
            .map(|&i| c[i as usize].as_ref().bytes)
            .sum();
        // Oldest first, so what remains is the newest run that fits.
        for &i in members.iter().rev() {
            if total <= budget {
                break;
            }
            let d = &mut out[i as usize];
            if d.keep && !d.reasons.protected() {
                d.keep = false;
                d.reasons = Reasons::of(Reason::MaxTotalSize);
                total -= c[i as usize].as_ref().bytes;
            }
        }
    }
}

/// The newest member of each of the `n` most recent buckets that have
/// members. `members` is newest first, so the first member seen in a bucket
/// is its newest. Buckets are ordered by key, not by arrival, so a group
/// whose clocks disagree (a daylight-saving change in a local-time name)
/// still gets "the N most recent buckets".
fn newest_of_recent_buckets<C: AsRef<Candidate>>(
    c: &[C],
    members: &[u32],
    n: u32,
    key: BucketKey,
) -> Vec<u32> {
    let mut newest: HashMap<i64, u32> = HashMap::new();
    let mut firsts: Vec<(i64, u32)> = Vec::new();
    let mut prev: Option<i64> = None;
    for &i in members {
        let k = key(c[i as usize].as_ref().wall);
        // Consecutive members almost always share a bucket or move to an
        // older one; skip the map for the common case.
        if prev == Some(k) {
            continue;
        }
        prev = Some(k);
        if let std::collections::hash_map::Entry::Vacant(e) = newest.entry(k) {
            e.insert(i);
            firsts.push((k, i));
        }
    }
    firsts.sort_unstable_by_key(|&(k, _)| std::cmp::Reverse(k));
    firsts.truncate(n as usize);
    firsts.into_iter().map(|(_, i)| i).collect()
}

/// Maps a wall-clock time to its bucket; later buckets have larger keys.
type BucketKey = fn(i64) -> i64;

const HOUR: i64 = 3600;
const DAY: i64 = 86_400;

fn hour_bucket(wall: i64) -> i64 {
    wall.div_euclid(HOUR)
}

fn day_bucket(wall: i64) -> i64 {
    wall.div_euclid(DAY)
}

/// ISO weeks run Monday to Sunday; 1970-01-01 was a Thursday, so shifting
/// by three days makes every Monday start a new multiple of seven. The
/// bucket is the week itself, whatever ISO year and number it is called.
fn week_bucket(wall: i64) -> i64 {
    (day_bucket(wall) + 3).div_euclid(7)
}

fn month_bucket(wall: i64) -> i64 {
    let (y, m, _) = civil_from_days(day_bucket(wall));
    y * 12 + (m as i64 - 1)
}

fn year_bucket(wall: i64) -> i64 {
    civil_from_days(day_bucket(wall)).0
}

/// Year, month (1–12) and day of a day count since 1970-01-01 in the
/// proleptic Gregorian calendar (Howard Hinnant's `civil_from_days`).
/// Done by hand to keep the planner free of calendar libraries and fast.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(group: u32, time: i64) -> Candidate {
        Candidate {
            group,
            time,
            wall: time,
            verified: None,
            bytes: 1,
        }
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        // 2026-11-27 is day 20_784.
        assert_eq!(civil_from_days(20_784), (2026, 11, 27));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn weeks_start_on_monday() {
        // 2026-11-22 is a Sunday, 2026-11-23 a Monday.
        let sun = 20_779 * DAY + 23 * HOUR;
        let mon = 20_780 * DAY;
        assert_ne!(week_bucket(sun), week_bucket(mon));
        assert_eq!(week_bucket(mon), week_bucket(mon + 6 * DAY + 23 * HOUR));
    }

    #[test]
    fn no_policy_keeps_only_invariants_and_budget_alone_keeps_what_fits() {
        let c: Vec<_> = (0..5).map(|t| at(0, t * HOUR)).collect();
        let p = Policy {
            max_total_size: Some(3),
            min_keep: 1,
            ..Policy::default()
        };
        let d = plan(&c, &p, 10 * HOUR);
        let kept: Vec<bool> = d.iter().map(|d| d.keep).collect();
        assert_eq!(kept, [false, false, true, true, true]);
        assert_eq!(d[0].reasons.names(), ["max-total-size"]);
        assert_eq!(
            d[4].reasons.names(),
            ["max-total-size", "newest-unverified", "min-keep"]
        );
    }

    #[test]
    fn keep_within_includes_its_boundary() {
        let c = [at(0, 0), at(0, 1), at(0, DAY + 1)];
        let p = Policy {
            keep_within: Some(DAY),
            ..Policy::default()
        };
        let d = plan(&c, &p, DAY + 1);
        assert_eq!(
            d.iter().map(|d| d.keep).collect::<Vec<_>>(),
            [false, true, true]
        );
    }

    #[test]
    fn buckets_are_ordered_by_clock_not_by_arrival() {
        // Autumn: the newer artifact (10:50 UTC) was named 09:50 local after
        // the clocks went back, the older one (10:20 UTC) 10:20 local. The
        // most recent hour on the clock is 10:00, whose newest is the older.
        let mut older = at(0, 10 * HOUR + 1200);
        let mut newer = at(0, 10 * HOUR + 3000);
        older.wall = older.time;
        newer.wall = newer.time - HOUR;
        let p = Policy {
            keep_hourly: Some(1),
            ..Policy::default()
        };
        let d = plan(&[older, newer], &p, 11 * HOUR);
        assert_eq!(d[0].reasons.names(), ["keep-hourly"]);
        assert_eq!(d[1].reasons.names(), ["newest-unverified"]);
    }

    #[test]
    fn newest_verified_survives_a_policy_that_keeps_only_newer_ones() {
        let mut c: Vec<_> = (0..4).map(|t| at(0, t * DAY)).collect();
        c[1].verified = Some(true);
        c[3].verified = Some(false);
        let p = Policy {
            keep_last: Some(1),
            min_keep: 0,
            ..Policy::default()
        };
        let d = plan(&c, &p, 10 * DAY);
        assert_eq!(d[1].reasons.names(), ["newest-verified"]);
        assert!(d[3].keep && !d[0].keep && !d[2].keep);
        assert_eq!(d[0].reasons.names(), ["expired"]);
    }

    #[test]
    fn a_future_dated_artifact_never_displaces_the_real_newest() {
        let now = 10 * DAY;
        let mut c: Vec<_> = (0..4).map(|t| at(0, t * DAY)).collect();
        c[3].verified = Some(true);
        // Dated 2099 and verified: it must not become "newest verified" or
        // take keep-last's only place.
        let mut future = at(0, 4_070_908_800);
        future.verified = Some(true);
        c.push(future);
        // Within the skew it counts as now.
        c.push(at(0, now + FUTURE_SKEW));
        let p = Policy {
            keep_last: Some(1),
            min_keep: 0,
            ..Policy::default()
        };
        let d = plan(&c, &p, now);
        assert_eq!(d[4].reasons.names(), ["future-dated"]);
        assert!(d[4].keep);
        assert_eq!(d[5].reasons.names(), ["keep-last"]);
        assert_eq!(d[3].reasons.names(), ["newest-verified"]);
        assert!(!d[0].keep && !d[1].keep && !d[2].keep);
    }
}
