complete -c lfb-list -l name -d 'Only artifacts of this database / base name (as in the file name)' -r
complete -c lfb-list -l tag -d 'Only artifacts with this tag (hourly, daily, pre-migration, …)' -r
complete -c lfb-list -l kind -d 'Only this kind: db (database dumps) or full (archive bundles)' -r -f -a "db\t'Database dumps'
full\t'Archive bundles'"
complete -c lfb-list -l since -d 'Only artifacts newer than this: an age (36h, 7d) or a date (2026-11-01)' -r
complete -c lfb-list -l format -d 'Output: table, json (one record per line) [default: table on a terminal, else json]' -r -f -a "table\t'Aligned columns and totals, for people'
json\t'One JSON record per line, for pipes'"
complete -c lfb-list -l store -d 'Backup store folder [default: $LFB_STORE, else the platform default]' -r -F
complete -c lfb-list -s e -l env -d 'Environment [default: $LFB_ENV, else $LEDGER_ENV, else dev]' -r
complete -c lfb-list -l config-file -d 'Config file [default: $LFB_CONFIG, else ~/.config/lfb/config.toml, else /etc/lfb/config.toml]' -r -F
complete -c lfb-list -l verified -d 'Only artifacts whose latest verification passed'
complete -c lfb-list -l failed -d 'Only artifacts whose latest verification failed'
complete -c lfb-list -l unverified -d 'Only artifacts never verified (no verify section in their sidecar)'
complete -c lfb-list -s l -l long -d 'Also show each artifact\'s path (table)'
complete -c lfb-list -s q -l quiet -d 'Print only errors on stderr (no progress, no summaries)'
complete -c lfb-list -s v -l verbose -d 'Print more on stderr: each step and the commands run (never secrets)'
complete -c lfb-list -s h -l help -d 'Print help (see more with \'--help\')'
complete -c lfb-list -s V -l version -d 'Print version'
