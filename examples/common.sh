# Shared by the example scripts: strict mode, settings, the lfb tools.
# Each script stays a short pipeline; a failure anywhere fails the script
# (pipefail), and lfb-prune deletes nothing when a record in its input failed.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck disable=SC1091
[ -f "$here/lfb.env" ] && . "$here/lfb.env"
: "${LFB_KEEP:=7d}"
: "${LFB_RESTORE_TEST:=1}"
export LFB_STORE LEDGER_ENV DATABASE_URL 2>/dev/null || true
exec_args=()
[ -n "${LFB_PG_EXEC:-}" ] && exec_args=(--exec "$LFB_PG_EXEC")
# pg_dump's custom format for PostgreSQL, plain SQL (gzip) for MariaDB/MySQL and SQLite.
dump_format=sql
case "${DATABASE_URL:-}" in postgres://* | postgresql://*) dump_format=custom ;; esac
restore_test=()
[ "$LFB_RESTORE_TEST" = 1 ] && restore_test=(--restore-test)
log() { printf '[%s] %s\n' "$(date '+%Y-%m-%d %H:%M:%S')" "$*" >&2; }
# The "path" field of the one record on stdin (records are one JSON object per line).
record_path() { sed -n 's/.*"path":"\([^"]*\)".*/\1/p' | head -n 1; }
