#!/usr/bin/env bash
# Health of the whole backup store. Replaces backup_guard.sh. Exit 1 on a
# critical finding; LFB_ALERT_CMD (e.g. 'mail -s "lfb backups" ops@example.com'
# or 'curl -fsS --data-binary @- https://hc-ping.com/UUID/fail') gets the
# summary on stdin when something is wrong.
. "$(dirname "$0")/common.sh"
alert=()
[ -n "${LFB_ALERT_CMD:-}" ] && alert=(--on-failure "$LFB_ALERT_CMD")
# Without a terminal lfb-guard prints only its problems on stderr: nothing
# when the store is healthy, so cron mails only when something is wrong.
lfb-guard "${alert[@]}" "$@" >/dev/null
