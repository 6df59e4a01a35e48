#!/usr/bin/env bash
# Before destructive tests: a safety backup, verified by a real test restore,
# and the exact command that puts it back. Replaces safe_db_test.sh.
. "$(dirname "$0")/common.sh"
: "${DATABASE_URL:?set DATABASE_URL}"
env=test
[ "${LEDGER_ENV:-}" = prod ] && env=prod
# PostgreSQL: custom format, as the original; SQLite: its default format.
record=$(lfb-dump "${quiet[@]}" --env "$env" --tag safety "${pg_custom[@]}" "${exec_args[@]}" \
  | lfb-verify "${quiet[@]}" --restore-test)
file=$(printf '%s\n' "$record" | record_path)
db=$(printf '%s\n' "$record" | sed -n 's/.*"database":"\([^"]*\)".*/\1/p' | head -n 1)
user=$(printf '%s\n' "$record" | sed -n 's/.*"user":"\([^"]*\)".*/\1/p' | head -n 1)
echo "Safety backup verified: $file"
echo "To restore it:"
if [ "$env" = prod ] && [ "$dump_format" = custom ]; then
  echo "  lfb-restore -e prod -f '$file' -u '$user' -d '$db' --confirm '$db'"
elif [ "$env" = prod ]; then
  echo "  lfb-restore -e prod -f '$file' --confirm '$db'   # into \$DATABASE_URL"
else
  echo "  lfb-restore -e $env -f '$file' --yes"
fi
