# Shared by the example scripts: strict mode, settings, the lfb tools, quiet
# success, and dead-man's-switch pings.
#
# Each script stays a short pipeline; a failure anywhere fails the script
# (pipefail), and lfb-prune deletes nothing when a record in its input failed.
#
# Settings come from the environment, then from an env file: $LFB_ENV_FILE,
# else lfb.env beside these scripts, else ~/.config/lfb/lfb.env (the file the
# systemd units read). The file is read as systemd reads an EnvironmentFile
# (KEY=VALUE lines, # comments on their own lines, no expansion), and a
# variable the caller already set wins: `DATABASE_URL=… ./backup_dev_db.sh`
# backs up that database, whatever the file says.
#
# Quiet on success: a run that works prints nothing (so cron mails only
# failures); -v as the first argument, or LFB_VERBOSE=1, shows the steps.
#
# LFB_PING_URL (healthchecks.io style, e.g. https://hc-ping.com/UUID), else
# the config file's [notify] ping: the script pings URL/start when it
# starts, URL when it succeeds and URL/fail when it fails, with the run's
# summary (and its messages) as the body.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

lfb_read_env_file() {
  local line key val
  while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in '' | '#'* | ';'*) continue ;; esac
    key=${line%%=*}
    [[ $key =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || continue
    val=${line#*=}
    case "$val" in \"*\") val=${val:1:${#val}-2} ;; \'*\') val=${val:1:${#val}-2} ;; esac
    # The caller's environment wins.
    [ -n "${!key+x}" ] || export "$key=$val"
  done <"$1"
}
for f in "${LFB_ENV_FILE:-}" "$here/lfb.env" "${XDG_CONFIG_HOME:-${HOME:-/nonexistent}/.config}/lfb/lfb.env"; do
  if [ -n "$f" ] && [ -f "$f" ]; then
    lfb_read_env_file "$f"
    break
  fi
done

# LFB_CONFIG names lfb's own config file (a TOML file) for every tool. The
# first version of these scripts used it for the configuration files the
# daily archive includes, now LFB_CONFIG_FILES: an old value that is not a
# .toml file is moved over, with a warning, instead of breaking every tool.
if [ -n "${LFB_CONFIG:-}" ] && [ -z "${LFB_CONFIG_FILES:-}" ] && [[ $LFB_CONFIG != *.toml ]]; then
  echo "$(basename "$0"): warning: LFB_CONFIG='$LFB_CONFIG' is taken as LFB_CONFIG_FILES (the files to archive); LFB_CONFIG now names lfb's config file" >&2
  LFB_CONFIG_FILES=$LFB_CONFIG
  unset LFB_CONFIG
fi

# cargo install puts the tools in ~/.cargo/bin, which cron's PATH lacks.
if [ -n "${HOME:-}" ] && [ -d "$HOME/.cargo/bin" ]; then
  case ":$PATH:" in *":$HOME/.cargo/bin:"*) ;; *) PATH="$PATH:$HOME/.cargo/bin" ;; esac
fi

# The config file's [notify] ping when the environment names no URL.
if [ -z "${LFB_PING_URL:-}" ] && command -v lfb >/dev/null; then
  LFB_PING_URL=$(lfb config get notify.ping 2>/dev/null) || LFB_PING_URL=
fi

: "${LFB_KEEP:=7d}"
: "${LFB_RESTORE_TEST:=1}"
: "${LFB_VERBOSE:=0}"
if [ "${1:-}" = -v ]; then
  LFB_VERBOSE=1
  shift
fi
export LFB_STORE LEDGER_ENV DATABASE_URL 2>/dev/null || true
exec_args=()
[ -n "${LFB_PG_EXEC:-}" ] && exec_args=(--exec "$LFB_PG_EXEC")
# pg_dump's custom format for PostgreSQL, plain SQL (gzip) for MariaDB/MySQL and SQLite.
dump_format=sql
case "${DATABASE_URL:-}" in postgres://* | postgresql://*) dump_format=custom ;; esac
restore_test=()
[ "$LFB_RESTORE_TEST" = 1 ] && restore_test=(--restore-test)
# The tools' progress and summaries only with -v; their errors always.
quiet=(-q)
[ "$LFB_VERBOSE" = 1 ] && quiet=()
log() { [ "$LFB_VERBOSE" = 1 ] && printf '[%s] %s\n' "$(date '+%Y-%m-%d %H:%M:%S')" "$*" >&2 || true; }
# The "path" field of the one record on stdin (records are one JSON object per
# line; the artifact's own path comes before any member's).
record_path() { awk 'match($0, /"path":"[^"]*"/) { print substr($0, RSTART + 8, RLENGTH - 9); exit }'; }
# PostgreSQL's custom format for the one-off safety and pre-migration dumps
# (as the original scripts made them); SQLite's default format otherwise.
pg_custom=()
case "${DATABASE_URL:-}" in postgres://* | postgresql://*) pg_custom=(--format custom) ;; esac

# Pings: stderr is kept in a file while the script runs, so the failure
# ping can carry it; it is passed on to the real stderr at the end (cron
# mails it, systemd logs it).
lfb_ping() {
  [ -n "${LFB_PING_URL:-}" ] || return 0
  command -v curl >/dev/null || { echo "lfb: LFB_PING_URL is set but curl is missing" >&3; return 0; }
  curl -fsS -m 10 --retry 3 -o /dev/null --data-binary @- "${LFB_PING_URL%/}$1" 2>&3 || true
}
lfb_finish() {
  local rc=$? body
  exec 2>&3
  body="$(basename "$0") on $(hostname 2>/dev/null || echo localhost): exit $rc"
  if [ -n "${lfb_errlog:-}" ]; then
    cat "$lfb_errlog" >&2
    if [ "$rc" = 0 ]; then
      printf '%s\n' "$body" | lfb_ping ""
    else
      { printf '%s\n' "$body"; tail -c 10000 "$lfb_errlog"; } | lfb_ping /fail
    fi
    rm -f "$lfb_errlog"
  fi
  exit "$rc"
}
exec 3>&2
if [ -n "${LFB_PING_URL:-}" ]; then
  lfb_errlog=$(mktemp "${TMPDIR:-/tmp}/lfb-run.XXXXXX")
  exec 2>"$lfb_errlog"
  printf 'started\n' | lfb_ping /start
fi
trap lfb_finish EXIT
