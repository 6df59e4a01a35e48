//! Man pages, rendered from each tool's clap definition plus the sections
//! a reader of a Unix manual expects and clap does not know: a SYNOPSIS
//! with option values, EXIT STATUS, ENVIRONMENT, FILES, EXAMPLES and SEE
//! ALSO. The options and description come from the same `clap::Command`
//! that parses the flags, so the page cannot drift from `--help`.
//!
//! EXAMPLES is the command's `after_help` (every tool's starts with
//! `Examples:`). The other sections come from the table in [`extra`].

use std::fmt::Write as _;

use clap::{Arg, ArgAction, Command};

/// Every lfb man page, so SEE ALSO only ever names pages that exist.
pub const PAGES: &[&str] = &[
    "lfb",
    "lfb-dump",
    "lfb-archive",
    "lfb-verify",
    "lfb-prune",
    "lfb-restore",
    "lfb-guard",
    "lfb-list",
];

const PREAMBLE: &str = ".ie \\n(.g .ds Aq \\(aq\n.el .ds Aq '\n";

/// The sections clap does not know, for one page.
struct Extra {
    exit_status: &'static str,
    environment: Vec<(&'static str, &'static str)>,
    see_also_external: &'static [&'static str],
}

const EXIT_STATUS: &str = "0: everything asked for succeeded. 1: the tool ran, but a backup, \
check or restore failed (details on stderr and in the records). 2: it was called wrong or \
could not start (bad flag, malformed input record, unreachable database, unreadable store). \
When stdout is not a terminal a failing tool still prints a record with an error section, so \
the rest of a pipeline knows.";

fn extra(name: &str) -> Extra {
    let store_env = vec![
        ("LFB_STORE", "The store folder when --store is not given."),
        ("LFB_ENV", "The environment when --env is not given."),
        (
            "LEDGER_ENV",
            "The environment when neither --env nor LFB_ENV is set (what the original scripts read).",
        ),
        (
            "XDG_DATA_HOME",
            "Without --store and LFB_STORE the store is $XDG_DATA_HOME/lfb/backups (~/.local/share/lfb/backups); on macOS the iCloud Drive folder of the original scripts when iCloud Drive exists.",
        ),
    ];
    let db_env = [
        (
            "DATABASE_URL",
            "The database when no DATABASE argument is given: postgresql://, sqlite: or a SQLite file path. A password in it reaches client programs only through their environment.",
        ),
        (
            "PGHOST, PGPORT, PGUSER, PGPASSWORD, PGPASSFILE",
            "What libpq's variables supply where a postgresql:// URL leaves it out; ~/.pgpass is read by the PostgreSQL clients as usual.",
        ),
    ];
    let mut environment = store_env;
    let mut exit_status = EXIT_STATUS;
    let see: &'static [&'static str] = match name {
        "lfb-dump" => {
            environment.extend(db_env);
            &["pg_dump(1)", "sqlite3(1)", "gzip(1)", "jq(1)"]
        }
        "lfb-restore" => {
            environment.extend(db_env);
            environment.push(("LFB_PROD_DATABASES", "Comma-separated database names or URLs that are production: restoring into them needs --confirm NAME."));
            &["psql(1)", "pg_restore(1)", "sqlite3(1)", "tar(1)"]
        }
        "lfb-verify" => {
            environment.extend(db_env);
            &["gzip(1)", "sha256sum(1)", "pg_restore(1)", "jq(1)"]
        }
        "lfb-archive" => &["tar(1)", "gzip(1)"],
        "lfb-prune" => &["crontab(5)", "jq(1)"],
        "lfb-guard" => {
            exit_status = "0: healthy (warnings allowed unless --strict). 1: a critical \
finding (or, with --strict, a warning). 2: called wrong or the store could not be read. With --nagios the \
monitoring-plugin codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (a bad command line included).";
            &["crontab(5)", "jq(1)"]
        }
        "lfb-list" => {
            exit_status = "0: listed (possibly nothing: filters that match nothing say so on \
stderr). 2: called wrong, or the store or the environment asked for does not exist.";
            &["ls(1)", "jq(1)"]
        }
        _ => {
            exit_status = "The exit status of the tool run; 2 when the tool is unknown or \
cannot be run.";
            &[]
        }
    };
    Extra {
        exit_status,
        environment,
        see_also_external: see,
    }
}

const FILES: &[(&str, &str)] = &[
    (
        "~/.config/lfb/config.toml, /etc/lfb/config.toml",
        "The optional config file ($XDG_CONFIG_HOME/lfb/config.toml), searched in this order when neither --config-file nor LFB_CONFIG names one: store, environments with their database, retention per tag, production databases. Flags and environment variables override it.",
    ),
    (
        "STORE/ENV/",
        "One folder per environment (dev, test, prod, ...) holding its artifacts, named NAME_KIND_TAG_YYYYmmddTHHMMSSZ.EXT.",
    ),
    (
        "STORE/migrations/",
        "Pre-migration backups; each counts with the environment its record names.",
    ),
    (
        "ARTIFACT.json",
        "The sidecar: the artifact's record as created, plus its latest verification.",
    ),
    (
        "ARTIFACT.partial",
        "An artifact being written; never counted as a backup.",
    ),
    (
        "STORE/logs/journal.ndjson",
        "One event per line: time, tool, action, artifact id, ok, bytes, duration, user, host, message.",
    ),
    (
        "STORE/quarantine/",
        "Artifacts that failed verification, moved aside by lfb-verify --quarantine.",
    ),
    (
        "STORE/.lfb.lock",
        "The store lock taken by tools that change the store.",
    ),
];

/// Escapes text for roff: backslashes, hyphens (so they stay ASCII '-'),
/// and a leading '.' or '\'' that would read as a request.
fn esc(text: &str) -> String {
    let mut s = text.replace('\\', "\\e").replace('-', "\\-");
    if s.starts_with('.') || s.starts_with('\'') {
        s.insert_str(0, "\\&");
    }
    s
}

fn strip_preamble(page: Vec<u8>) -> String {
    let text = String::from_utf8(page).expect("clap_mangen writes UTF-8");
    text.strip_prefix(PREAMBLE).unwrap_or(&text).to_string()
}

fn section(
    out: &mut String,
    render: impl Fn(&clap_mangen::Man, &mut dyn std::io::Write) -> std::io::Result<()>,
    man: &clap_mangen::Man,
) {
    let mut buf = Vec::new();
    render(man, &mut buf).expect("rendering to memory cannot fail");
    out.push_str(&strip_preamble(buf));
}

/// `[-t|--tag TAG]`: an option as the synopsis shows it, with its value.
fn synopsis_option(arg: &Arg) -> String {
    let mut names = Vec::new();
    if let Some(s) = arg.get_short() {
        names.push(format!("\\fB\\-{}\\fR", esc(&s.to_string())));
    }
    if let Some(l) = arg.get_long() {
        names.push(format!("\\fB\\-\\-{}\\fR", esc(l)));
    }
    let mut s = names.join("|");
    let takes_value = matches!(arg.get_action(), ArgAction::Set | ArgAction::Append);
    if takes_value && let Some(v) = arg.get_value_names().and_then(|v| v.first()) {
        s.push_str(&format!(" \\fI{}\\fR", esc(v)));
    }
    if matches!(arg.get_action(), ArgAction::Append | ArgAction::Count) {
        s.push_str("...");
    }
    if arg.is_required_set() {
        s
    } else {
        format!("[{s}]")
    }
}

fn synopsis(cmd: &Command) -> String {
    let mut line = format!(".SH SYNOPSIS\n\\fB{}\\fR", esc(cmd.get_name()));
    for arg in cmd
        .get_arguments()
        .filter(|a| !a.is_hide_set() && !a.is_positional())
    {
        line.push(' ');
        line.push_str(&synopsis_option(arg));
    }
    for arg in cmd.get_positionals().filter(|a| !a.is_hide_set()) {
        let name = arg
            .get_value_names()
            .and_then(|v| v.first().map(|s| s.to_string()))
            .unwrap_or_else(|| arg.get_id().to_string().to_uppercase());
        let many = matches!(arg.get_action(), ArgAction::Append)
            || arg.get_num_args().is_some_and(|n| n.max_values() > 1);
        let dots = if many { "..." } else { "" };
        if arg.is_required_set() {
            let _ = write!(line, " \\fI{}\\fR{dots}", esc(&name));
        } else {
            let _ = write!(line, " [\\fI{}\\fR]{dots}", esc(&name));
        }
    }
    if cmd.has_subcommands() {
        line.push_str(" \\fITOOL\\fR [\\fIARGS\\fR]...");
    }
    line.push('\n');
    line
}

fn tagged_list(out: &mut String, heading: &str, items: &[(&str, &str)]) {
    let _ = writeln!(out, ".SH {heading}");
    for (tag, text) in items {
        let _ = writeln!(out, ".TP\n\\fB{}\\fR\n{}", esc(tag), esc(text));
    }
}

/// EXAMPLES from the `Examples:` after-help: each example line becomes an
/// indented, unfilled line so commands stay as typed.
fn examples(cmd: &Command) -> String {
    let help = cmd
        .get_after_help()
        .map(|h| h.to_string())
        .unwrap_or_default();
    let body = help.strip_prefix("Examples:").unwrap_or(&help);
    let lines: Vec<&str> = body.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() {
        return String::new();
    }
    let mut out = String::from(".SH EXAMPLES\n.nf\n");
    for l in lines {
        let _ = writeln!(out, "{}", esc(l));
    }
    out.push_str(".fi\n");
    out
}

/// For `lfb` itself: the tools, each with its page.
fn tools_section(cmd: &Command) -> String {
    let mut out = String::from(".SH TOOLS\n");
    for sub in cmd.get_subcommands() {
        let page = format!("lfb-{}", sub.get_name());
        if !PAGES.contains(&page.as_str()) {
            continue;
        }
        let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
        let _ = writeln!(out, ".TP\n\\fB{}\\fR(1)\n{}", esc(&page), esc(&about));
    }
    out
}

fn see_also(name: &str, external: &[&str]) -> String {
    let mut refs: Vec<String> = PAGES
        .iter()
        .filter(|p| **p != name)
        .map(|p| format!("\\fB{}\\fR(1)", esc(p)))
        .collect();
    refs.extend(external.iter().map(|p| esc(p)));
    format!(".SH SEE ALSO\n{}\n", refs.join(", "))
}

/// Renders the man page of a tool (or of `lfb`).
pub fn render(mut cmd: Command) -> Vec<u8> {
    cmd.build();
    let name = cmd.get_name().to_string();
    let man = clap_mangen::Man::new(cmd.clone());
    let extra = extra(&name);
    let mut out = String::from(PREAMBLE);
    section(&mut out, |m, w| m.render_title(w), &man);
    section(&mut out, |m, w| m.render_name_section(w), &man);
    out.push_str(&synopsis(&cmd));
    section(&mut out, |m, w| m.render_description_section(w), &man);
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        section(&mut out, |m, w| m.render_options_section(w), &man);
    }
    if cmd.has_subcommands() {
        out.push_str(&tools_section(&cmd));
    }
    let _ = writeln!(out, ".SH \"EXIT STATUS\"\n{}", esc(extra.exit_status));
    tagged_list(&mut out, "ENVIRONMENT", &extra.environment);
    tagged_list(&mut out, "FILES", FILES);
    out.push_str(&examples(&cmd));
    if cmd.has_subcommands()
        && let Some(note) = cmd.get_after_help()
    {
        let _ = writeln!(out, ".SH NOTES\n{}", esc(&note.to_string()));
    }
    out.push_str(&see_also(&name, extra.see_also_external));
    section(&mut out, |m, w| m.render_version_section(w), &man);
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synopsis_shows_values_and_escapes() {
        let cmd = Command::new("lfb-x")
            .arg(Arg::new("tag").short('t').long("tag").value_name("TAG"))
            .arg(Arg::new("v").short('v').action(ArgAction::Count))
            .arg(Arg::new("db").value_name("DATABASE"));
        let s = synopsis(&cmd);
        assert!(
            s.contains("[\\fB\\-t\\fR|\\fB\\-\\-tag\\fR \\fITAG\\fR]"),
            "{s}"
        );
        assert!(s.contains("[\\fB\\-v\\fR...]"), "{s}");
        assert!(s.contains("[\\fIDATABASE\\fR]"), "{s}");
        assert_eq!(esc(".x-y"), "\\&.x\\-y");
    }
}
