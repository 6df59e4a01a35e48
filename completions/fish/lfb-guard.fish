complete -c lfb-guard -l max-age -d 'Freshness limit of a tag: TAG=DURATION (hourly=2h, daily=26h, weekly=8d)' -r
complete -c lfb-guard -l expect -d 'A tag that must exist in the store (its absence is critical)' -r
complete -c lfb-guard -l min-size -d 'Also report artifacts under SIZE as critical: --min-size 10KiB is the original check' -r
complete -c lfb-guard -l min-free -d 'Free space on the store\'s filesystem under which it is critical' -r
complete -c lfb-guard -l sample -d 'Also re-read N artifacts picked at random among the older ones' -r
complete -c lfb-guard -l skip -d 'Leave out these checks (comma-separated check names)' -r
complete -c lfb-guard -l now -d 'Judge ages as of this time (RFC 3339) instead of now' -r
complete -c lfb-guard -l journal-window -d 'How long an unresolved failed journal event stays critical [default: 7d]' -r
complete -c lfb-guard -l max-drill-age -d 'How old a group\'s newest successful restore test may be [default: 31d]' -r
complete -c lfb-guard -l ack -d 'Silence the unresolved failed journal event ID (journal finding\'s ack_id)' -r
complete -c lfb-guard -l prometheus -d 'Write node-exporter textfile metrics to FILE, atomically' -r -F
complete -c lfb-guard -l on-failure -d 'Run CMD (with sh -c) when the store is not healthy' -r
complete -c lfb-guard -l store -d 'Backup store folder [default: $LFB_STORE, else the platform default]' -r -F
complete -c lfb-guard -s e -l env -d 'Environment [default: $LFB_ENV, else $LEDGER_ENV, else dev]' -r
complete -c lfb-guard -l config-file -d 'Config file [default: $LFB_CONFIG, else ~/.config/lfb/config.toml, else /etc/lfb/config.toml]' -r -F
complete -c lfb-guard -l deep -d 'Re-read every artifact, not only the newest of each group'
complete -c lfb-guard -l strict -d 'Exit 1 on warnings too'
complete -c lfb-guard -l require-encryption -d 'Report every artifact not encrypted with age (critical)'
complete -c lfb-guard -l nagios -d 'Print one monitoring-plugin status line instead of NDJSON'
complete -c lfb-guard -s q -l quiet -d 'Print only errors on stderr (no progress, no summaries)'
complete -c lfb-guard -s v -l verbose -d 'Print more on stderr: each step and the commands run (never secrets)'
complete -c lfb-guard -s h -l help -d 'Print help (see more with \'--help\')'
complete -c lfb-guard -s V -l version -d 'Print version'
