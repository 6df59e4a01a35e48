//! Which artifacts a run considers (`--env`, `--tag`, `--kind`, `--name`)
//! and how they fall into groups (`--group-by`).
//!
//! Retention is decided per group: by default the artifacts of one
//! environment folder, base name, kind and tag, so hourly dumps never count
//! against pre-migration backups, nor `dev` against `prod`. Artifacts outside
//! the scope are not considered at all: not planned, not printed, not
//! touched.

use lfb_core::Kind;

/// What scope and grouping look at in an artifact.
#[derive(Debug, Clone, Copy)]
pub struct Meta<'a> {
    /// The store folder it lives in (`prod`, `migrations`, …).
    pub folder: &'a str,
    /// The environment its record names (pre-migration backups live in
    /// `migrations/` but belong to the environment they were taken from).
    pub env: &'a str,
    pub name: &'a str,
    pub kind: Kind,
    pub tag: &'a str,
}

/// The artifacts a run considers. `None` means any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    pub env: Option<String>,
    pub tag: Option<String>,
    pub kind: Option<Kind>,
    pub name: Option<String>,
}

impl Scope {
    pub fn matches(&self, m: &Meta) -> bool {
        self.env.as_deref().is_none_or(|e| e == m.env)
            && self.tag.as_deref().is_none_or(|t| t == m.tag)
            && self.kind.is_none_or(|k| k == m.kind)
            && self.name.as_deref().is_none_or(|n| n == m.name)
    }
}

/// The fields that make a group. At least one is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupBy {
    pub env: bool,
    pub name: bool,
    pub kind: bool,
    pub tag: bool,
}

impl Default for GroupBy {
    fn default() -> Self {
        GroupBy {
            env: true,
            name: true,
            kind: true,
            tag: true,
        }
    }
}

impl GroupBy {
    /// Parses a comma list of `env`, `name`, `kind`, `tag`.
    pub fn parse(s: &str) -> Result<GroupBy, String> {
        let mut g = GroupBy {
            env: false,
            name: false,
            kind: false,
            tag: false,
        };
        for field in s.split(',').map(str::trim) {
            match field {
                "env" => g.env = true,
                "name" => g.name = true,
                "kind" => g.kind = true,
                "tag" => g.tag = true,
                other => {
                    return Err(format!(
                        "unknown field '{other}': use a comma list of env, name, kind, tag"
                    ));
                }
            }
        }
        Ok(g)
    }

    /// The group an artifact belongs to, readable: `prod/ledgerflow/db/hourly`,
    /// with `*` for fields not grouped by.
    pub fn key(&self, m: &Meta) -> String {
        let pick = |on: bool, v: &str| if on { v.to_string() } else { "*".into() };
        format!(
            "{}/{}/{}/{}",
            pick(self.env, m.folder),
            pick(self.name, m.name),
            pick(self.kind, m.kind.as_str()),
            pick(self.tag, m.tag)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: Meta = Meta {
        folder: "migrations",
        env: "prod",
        name: "ledgerflow",
        kind: Kind::Db,
        tag: "pre-migration",
    };

    #[test]
    fn group_by_lists() {
        assert_eq!(
            GroupBy::default().key(&M),
            "migrations/ledgerflow/db/pre-migration"
        );
        let g = GroupBy::parse("env,kind").unwrap();
        assert_eq!(g.key(&M), "migrations/*/db/*");
        assert!(GroupBy::parse("env,size").unwrap_err().contains("'size'"));
        assert!(GroupBy::parse("").is_err());
    }

    #[test]
    fn scope_uses_the_record_env() {
        let s = Scope {
            env: Some("prod".into()),
            ..Scope::default()
        };
        assert!(s.matches(&M));
        let s = Scope {
            tag: Some("hourly".into()),
            ..Scope::default()
        };
        assert!(!s.matches(&M));
    }
}
