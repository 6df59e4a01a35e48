#!/usr/bin/env bash
# Monthly restore drill (cron: 30 3 1 * *; systemd: lfb-drill.timer): the
# newest backup of each group in the store is restored into a scratch
# database (lfb-verify --restore-test: PostgreSQL into a temporary database
# on its server, SQLite into a temporary file) and its row counts compared
# with its record. Quiet when every drill passes, loud (exit 1, and the
# failure ping) when one fails. lfb-verify remembers each result in the
# artifact's sidecar, and lfb-guard reports a group whose newest successful
# restore test is older than its --max-drill-age (default 31 days).
. "$(dirname "$0")/common.sh"
log "restore drill"
# The newest artifact of each group (env/name/kind/tag): what keep-last 1
# would keep, as a dry run that deletes nothing.
newest=$(lfb-prune -q --all-envs --keep-last 1 --dry-run --no-stdin \
  | awk '/"keep-last"/ && match($0, /"path":"[^"]*"/) { print substr($0, RSTART + 8, RLENGTH - 9) }')
if [ -z "$newest" ]; then
  echo "restore_drill.sh: no backups in ${LFB_STORE:-the store} to drill" >&2
  exit 1
fi
rc=0
while IFS= read -r path; do
  log "drilling $path"
  lfb-verify "${quiet[@]}" --restore-test "$path" >/dev/null || rc=1
done <<<"$newest"
exit "$rc"
