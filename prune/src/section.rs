//! The `prune` section of a record, typed: what was done with an artifact
//! and why.
//!
//! ```json
//! {"action":"keep","reasons":["keep-daily","newest-verified"],"dry_run":false,"group":"prod/ledgerflow/db/daily"}
//! {"action":"delete","reasons":["expired"],"dry_run":false,"group":"…","error":"cannot remove …"}
//! {"action":"keep","reasons":["input-failed"],"dry_run":false,"group":"…","planned":{"action":"delete","reasons":["expired"]}}
//! {"action":"none","reasons":["not-considered"],"dry_run":false}
//! ```
//!
//! Fields serialize in the order declared here, absent ones left out.

use serde::Serialize;

use crate::plan::{Decision, Reason, Reasons};

/// `prune.action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Keep,
    Delete,
    /// An input record that is no artifact considered.
    None,
}

/// The plan that was not carried out because an input record failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Planned {
    pub action: Action,
    pub reasons: Vec<&'static str>,
}

/// The `prune` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PruneSection {
    pub action: Action,
    pub reasons: Vec<&'static str>,
    pub dry_run: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub planned: Option<Planned>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl PruneSection {
    /// The section of an artifact considered: its decision, or, when an
    /// input record failed (`blocked`) and it was to be deleted, `keep` with
    /// reason `input-failed` and the plan that was not carried out.
    pub fn considered(
        d: &Decision,
        blocked: bool,
        dry_run: bool,
        group: String,
        error: Option<String>,
    ) -> PruneSection {
        if blocked && !d.keep {
            return PruneSection {
                action: Action::Keep,
                reasons: Reasons::of(Reason::InputFailed).names(),
                dry_run,
                group: Some(group),
                planned: Some(Planned {
                    action: Action::Delete,
                    reasons: d.reasons.names(),
                }),
                error: None,
            };
        }
        PruneSection {
            action: if d.keep { Action::Keep } else { Action::Delete },
            reasons: d.reasons.names(),
            dry_run,
            group: Some(group),
            planned: None,
            error,
        }
    }

    /// The section of an input record that is no artifact considered.
    pub fn not_considered(failed: bool, dry_run: bool) -> PruneSection {
        PruneSection {
            action: Action::None,
            reasons: vec![if failed {
                Reason::InputFailed.name()
            } else {
                "not-considered"
            }],
            dry_run,
            group: None,
            planned: None,
            error: None,
        }
    }

    pub fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("a prune section always serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn serializes_field_for_field_as_before() {
        let mut r = Reasons::NONE;
        r.add(Reason::KeepDaily);
        r.add(Reason::NewestVerified);
        let keep = Decision {
            keep: true,
            reasons: r,
        };
        let expired = Decision {
            keep: false,
            reasons: Reasons::of(Reason::Expired),
        };
        let g = || "prod/app/db/daily".to_string();
        assert_eq!(
            serde_json::to_string(&PruneSection::considered(&keep, false, false, g(), None))
                .unwrap(),
            r#"{"action":"keep","reasons":["keep-daily","newest-verified"],"dry_run":false,"group":"prod/app/db/daily"}"#
        );
        assert_eq!(
            PruneSection::considered(&expired, false, true, g(), Some("boom".into())).to_value(),
            json!({"action":"delete","reasons":["expired"],"dry_run":true,"group":"prod/app/db/daily","error":"boom"})
        );
        assert_eq!(
            serde_json::to_string(&PruneSection::considered(&expired, true, false, g(), None))
                .unwrap(),
            r#"{"action":"keep","reasons":["input-failed"],"dry_run":false,"group":"prod/app/db/daily","planned":{"action":"delete","reasons":["expired"]}}"#
        );
        // A kept artifact stays as planned when an input failed.
        assert_eq!(
            PruneSection::considered(&keep, true, false, g(), None).action,
            Action::Keep
        );
        assert_eq!(
            serde_json::to_string(&PruneSection::not_considered(false, false)).unwrap(),
            r#"{"action":"none","reasons":["not-considered"],"dry_run":false}"#
        );
        assert_eq!(
            PruneSection::not_considered(true, true).to_value(),
            json!({"action":"none","reasons":["input-failed"],"dry_run":true})
        );
    }
}
