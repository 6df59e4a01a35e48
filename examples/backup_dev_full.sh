#!/usr/bin/env bash
# Daily full backup (cron: 0 2 * * *). Replaces backup_dev_full.sh: the
# database dump, the media folder and the configuration files in one
# .tar.gz with a manifest; verified; 7 days of retention.
. "$(dirname "$0")/common.sh"
: "${DATABASE_URL:?set DATABASE_URL}"
archive_args=()
[ -n "${LFB_MEDIA_DIR:-}" ] && archive_args+=(--media "$LFB_MEDIA_DIR")
for c in ${LFB_CONFIG_FILES:-}; do archive_args+=(--config "$c"); done
log "daily full backup of ${LEDGER_ENV:-dev}"
lfb-dump "${quiet[@]}" --tag daily "${exec_args[@]}" \
  | lfb-archive "${quiet[@]}" --tag daily "${archive_args[@]}" --consume \
  | lfb-verify "${quiet[@]}" "${restore_test[@]}" --quarantine \
  | lfb-prune "${quiet[@]}" --tag daily --kind full --keep-within "$LFB_KEEP" >/dev/null
log "daily full backup done"
