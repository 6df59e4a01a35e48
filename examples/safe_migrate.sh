#!/usr/bin/env bash
# Run a migration only behind a verified pre-migration backup. Replaces
# safe_migrate.sh: refuses unless LEDGER_ENV=prod (as the original did),
# dumps into STORE/migrations/ (custom format for PostgreSQL), test-restores it, and only
# then runs the command given as arguments. Any failure: the command never runs.
#
#   LEDGER_ENV=prod ./safe_migrate.sh ./manage.py migrate
. "$(dirname "$0")/common.sh"
if [ "${LEDGER_ENV:-}" != prod ]; then
  echo "safe_migrate.sh: refusing: LEDGER_ENV is '${LEDGER_ENV:-}', not prod" >&2
  exit 2
fi
if [ $# -eq 0 ]; then
  echo "usage: LEDGER_ENV=prod $0 MIGRATION-COMMAND [ARGS...]" >&2
  exit 2
fi
: "${DATABASE_URL:?set DATABASE_URL}"
log "pre-migration backup"
record=$(lfb-dump --env prod --tag pre-migration --format "$dump_format" "${exec_args[@]}" \
  | lfb-verify "${restore_test[@]}")
log "verified: $(printf '%s\n' "$record" | record_path)"
log "running: $*"
exec "$@"
