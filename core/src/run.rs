//! One tool run's context: the store, environment, tag, the UI, the record
//! writer on stdout and the journal, and the failure record a tool prints
//! when its work fails.
//!
//! ```ignore
//! let mut run = Run::start(&cli.store, ui, Kind::Db, &cli.tag, cli.name.as_deref())?;
//! match work(&run) {
//!     Ok(record) => run.out.write(&record)?,
//!     Err(e) => {
//!         run.out.write(&run.failure(&e).with_tool().record())?;
//!         run.journal(&Event::new(ui.tool(), "dump", false, e.line()));
//!     }
//! }
//! ```

use serde_json::{Map, Value, json};

use crate::cli::{StoreArgs, Ui};
use crate::error::{Error, Result};
use crate::journal::{self, Event};
use crate::ndjson::RecordWriter;
use crate::record::{Kind, Record};
use crate::store::Store;

/// What every run of a tool that makes artifacts knows.
pub struct Run<'u> {
    pub ui: &'u Ui,
    pub store: Store,
    pub env: String,
    pub tag: String,
    pub kind: Kind,
    /// Records on stdout.
    pub out: RecordWriter,
}

impl<'u> Run<'u> {
    /// Checks the tag and `--name`, then resolves the environment and the
    /// store (flags, then environment variables, then the config file).
    pub fn start(
        args: &StoreArgs,
        ui: &'u Ui,
        kind: Kind,
        tag: &str,
        name: Option<&str>,
    ) -> Result<Run<'u>> {
        check_tag_and_name(tag, name)?;
        Ok(Run {
            ui,
            env: args.env()?,
            store: args.store()?,
            tag: tag.to_string(),
            kind,
            out: RecordWriter::new(),
        })
    }

    /// The failure record of this run for `e`, to adjust and print.
    pub fn failure(&self, e: &Error) -> Failure {
        Failure {
            kind: self.kind,
            env: self.env.clone(),
            tag: self.tag.clone(),
            tool: None,
            message: e.line(),
            exit_code: e.exit_code(),
        }
    }

    /// Appends `ev` to the store's journal, by the journal policy
    /// ([`journal::note`]).
    pub fn journal(&self, ev: &Event) {
        journal::note(&self.store, ev, self.ui);
    }
}

/// A failed run's record: `schema`, `kind`, `env`, `tag` and an `error`
/// section (`tool` when asked for, `message`, `exit_code`). Downstream
/// tools see it as failed.
#[derive(Debug, Clone)]
pub struct Failure {
    kind: Kind,
    env: String,
    tag: String,
    tool: Option<String>,
    message: String,
    exit_code: u8,
}

impl Failure {
    /// Names the tool in the error section.
    pub fn tool(mut self, tool: &str) -> Self {
        self.tool = Some(tool.to_string());
        self
    }

    /// Replaces the message (keeping the exit code).
    pub fn message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    /// The record.
    pub fn record(self) -> Record {
        let mut rec = Record::failure(self.kind, &self.env, &self.tag, &self.message);
        let mut error = Map::new();
        if let Some(t) = self.tool {
            error.insert("tool".into(), json!(t));
        }
        error.insert("message".into(), json!(self.message));
        error.insert("exit_code".into(), json!(self.exit_code));
        rec.set("error", Value::Object(error));
        rec
    }
}

/// Checks a tag and an artifact base name given on the command line
/// (exit 2 with one line naming the bad value).
pub fn check_tag_and_name(tag: &str, name: Option<&str>) -> Result<()> {
    crate::cli::check_tag(tag)?;
    if let Some(n) = name
        && !crate::naming::valid_name(n)
    {
        return Err(Error::usage(format!(
            "invalid --name '{n}': use letters, digits, '-', '_' and '.'"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_records_carry_their_error_section_in_order() {
        let f = Failure {
            kind: Kind::Db,
            env: "dev".into(),
            tag: "hourly".into(),
            tool: None,
            message: "boom".into(),
            exit_code: 1,
        };
        assert_eq!(
            f.clone().tool("lfb-dump").record().to_line(),
            r#"{"schema":"lfb/1","kind":"db","env":"dev","tag":"hourly","error":{"tool":"lfb-dump","message":"boom","exit_code":1}}"#
        );
        let r = f.message("globals: boom").record();
        assert!(r.failed());
        assert_eq!(
            r.get("error").unwrap().to_string(),
            r#"{"message":"globals: boom","exit_code":1}"#
        );
    }

    #[test]
    fn bad_tags_and_names_are_usage_errors() {
        assert!(check_tag_and_name("hourly", Some("app.v2")).is_ok());
        let e = check_tag_and_name("Hourly", None).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        let e = check_tag_and_name("hourly", Some("../x")).unwrap_err();
        assert!(e.line().contains("invalid --name '../x'"), "{}", e.line());
    }
}
