complete -c lfb-prune -l keep-within -d 'Keep every artifact made within DURATION before now: 7d, 36h, 1w2d' -r
complete -c lfb-prune -l keep-last -d 'Keep the N newest artifacts of each group' -r
complete -c lfb-prune -l keep-hourly -d 'Keep the newest artifact of each of the N most recent hours' -r
complete -c lfb-prune -l keep-daily -d 'Keep the newest artifact of each of the N most recent days' -r
complete -c lfb-prune -l keep-weekly -d 'Keep the newest artifact of each of the N most recent ISO weeks' -r
complete -c lfb-prune -l keep-monthly -d 'Keep the newest artifact of each of the N most recent months' -r
complete -c lfb-prune -l keep-yearly -d 'Keep the newest artifact of each of the N most recent years' -r
complete -c lfb-prune -l max-total-size -d 'Then delete a group\'s oldest artifacts until it fits SIZE: 20GiB, 500MB' -r
complete -c lfb-prune -l min-keep -d 'Never delete the N newest artifacts of a group' -r
complete -c lfb-prune -l group-by -d 'Fields that make a group: a comma list of env, name, kind, tag' -r
complete -c lfb-prune -s t -l tag -d 'Consider only artifacts with this tag' -r
complete -c lfb-prune -l kind -d 'Consider only artifacts of this kind' -r -f -a "db\t'Database dumps'
full\t'Archive bundles'"
complete -c lfb-prune -s n -l name -d 'Consider only artifacts with this base name' -r
complete -c lfb-prune -l now -d 'Count ages from TIME instead of the clock: 2026-11-27T12:00:00Z' -r
complete -c lfb-prune -l rotate-logs-at -d 'Rotate logs/journal.ndjson when larger than SIZE' -r
complete -c lfb-prune -l keep-logs -d 'Remove rotated journal segments older than DURATION (default: keep all)' -r
complete -c lfb-prune -l store -d 'Backup store folder [default: $LFB_STORE, else the platform default]' -r -F
complete -c lfb-prune -s e -l env -d 'Environment [default: $LFB_ENV, else $LEDGER_ENV, else dev]' -r
complete -c lfb-prune -l config-file -d 'Config file [default: $LFB_CONFIG, else ~/.config/lfb/config.toml, else /etc/lfb/config.toml]' -r -F
complete -c lfb-prune -l all-envs -d 'Consider every environment, not only --env\'s'
complete -c lfb-prune -l no-stdin -d 'Do not read stdin: prune the whole store (scope permitting) as it is'
complete -c lfb-prune -l dry-run -d 'Print the plan and delete nothing (no lock, no journal events)'
complete -c lfb-prune -s q -l quiet -d 'Print only errors on stderr (no progress, no summaries)'
complete -c lfb-prune -s v -l verbose -d 'Print more on stderr: each step and the commands run (never secrets)'
complete -c lfb-prune -s h -l help -d 'Print help (see more with \'--help\')'
complete -c lfb-prune -s V -l version -d 'Print version'
