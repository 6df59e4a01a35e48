#!/usr/bin/env bash
# Hourly database backup (cron: 0 * * * *). Replaces backup_dev_db.sh:
# dump, verify (with a real test restore), then 7 days of retention, which
# never runs its deletions when the new backup failed.
. "$(dirname "$0")/common.sh"
: "${DATABASE_URL:?set DATABASE_URL}"
log "hourly backup of ${LEDGER_ENV:-dev}"
lfb-dump "${quiet[@]}" --tag hourly "${exec_args[@]}" \
  | lfb-verify "${quiet[@]}" "${restore_test[@]}" --quarantine \
  | lfb-prune "${quiet[@]}" --tag hourly --kind db --keep-within "$LFB_KEEP" >/dev/null
log "hourly backup done"
