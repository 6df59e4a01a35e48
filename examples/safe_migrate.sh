#!/usr/bin/env bash
# Run a migration only behind a verified pre-migration backup. Replaces
# safe_migrate.sh: refuses unless LEDGER_ENV=prod (as the original did:
# pre-migration backups are for production, where a failed migration costs
# data; elsewhere re-create the database or use safe_db_test.sh), dumps into
# STORE/migrations/ (PostgreSQL in custom format as the original did, SQLite in its own),
# test-restores it, and only then runs the command given as arguments. Any
# failure: the command never runs.
#
#   LEDGER_ENV=prod ./safe_migrate.sh ./manage.py migrate
. "$(dirname "$0")/common.sh"
if [ "${LEDGER_ENV:-}" != prod ]; then
  echo "safe_migrate.sh: refusing: LEDGER_ENV is '${LEDGER_ENV:-}', not prod." >&2
  echo "  This script guards production migrations (as the original safe_migrate.sh did):" >&2
  echo "  run it with LEDGER_ENV=prod, or for dev/test take a safety backup with" >&2
  echo "  safe_db_test.sh (or lfb-dump --tag pre-migration | lfb-verify --restore-test) first." >&2
  exit 2
fi
if [ $# -eq 0 ]; then
  echo "usage: LEDGER_ENV=prod $0 MIGRATION-COMMAND [ARGS...]" >&2
  exit 2
fi
: "${DATABASE_URL:?set DATABASE_URL}"
log "pre-migration backup"
record=$(lfb-dump "${quiet[@]}" --env prod --tag pre-migration "${pg_custom[@]}" "${exec_args[@]}" \
  | lfb-verify "${quiet[@]}" "${restore_test[@]}")
log "verified: $(printf '%s\n' "$record" | record_path)"
log "running: $*"
"$@"
