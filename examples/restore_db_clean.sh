#!/usr/bin/env bash
# Restore a backup. Replaces restore_db_clean.sh and keeps its flags:
#   ./restore_db_clean.sh -f path/to/backup.sql.gz
#   ./restore_db_clean.sh -e prod -f backup.sql.gz -u "$DB_USER" -d "$DB_NAME" --confirm "$DB_NAME"
# A bare file argument works as -f FILE, as in the original. Unlike the
# original the restore is atomic, takes a safety backup first, and prod
# needs --confirm naming the database.
# Interactive, not scheduled: no dead-man's-switch pings (and its questions
# must reach the terminal as they are asked).
LFB_PING_URL=
. "$(dirname "$0")/common.sh"
args=()
file_given=0
while [ $# -gt 0 ]; do
  case "$1" in
    -f|--file) args+=(-f "$2"); file_given=1; shift 2 ;;
    -e|--env|-u|--user|-d|--database|--confirm|--tag) args+=("$1" "$2"); shift 2 ;;
    -*) args+=("$1"); shift ;;
    *) if [ "$file_given" = 0 ]; then args+=(-f "$1"); file_given=1; else args+=("$1"); fi; shift ;;
  esac
done
[ -t 0 ] || args+=(--yes)
lfb-restore "${exec_args[@]}" "${args[@]}"
