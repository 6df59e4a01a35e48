complete -c lfb-verify -l checks -d 'Run only these checks (comma-separated)' -r
complete -c lfb-verify -l skip -d 'Leave out these checks (comma-separated)' -r
complete -c lfb-verify -l min-size -d 'Also fail artifacts under SIZE: --min-size 10KiB is the original scripts\' check' -r
complete -c lfb-verify -l scratch -d 'PostgreSQL or MariaDB/MySQL scratch database to create, restore into and drop' -r
complete -c lfb-verify -l exec -d 'Run the PostgreSQL client programs of the restore test through a command prefix' -r
complete -c lfb-verify -l identity -d 'Decrypt age-encrypted artifacts with the identities in FILE (an age key file from `lfb keygen`/`age-keygen`, or an unencrypted OpenSSH private key; `/dev/fd/N` reads a descriptor). Default: $LFB_AGE_IDENTITY_FILE, then the config file\'s [encryption] identity_file. Without one, checks that need the key are skipped' -r -F
complete -c lfb-verify -l passphrase-file -d 'Decrypt passphrase-encrypted artifacts with the first line of FILE (default: $LFB_AGE_PASSPHRASE_FILE)' -r -F
complete -c lfb-verify -l store -d 'Backup store folder [default: $LFB_STORE, else the platform default]' -r -F
complete -c lfb-verify -s e -l env -d 'Environment [default: $LFB_ENV, else $LEDGER_ENV, else dev]' -r
complete -c lfb-verify -l config-file -d 'Config file [default: $LFB_CONFIG, else ~/.config/lfb/config.toml, else /etc/lfb/config.toml]' -r -F
complete -c lfb-verify -l all -d 'Check every artifact in the store (limited by --env when given)'
complete -c lfb-verify -l fix-permissions -d 'chmod 600 artifacts (and sidecars) lfb recognises that give group/other access'
complete -c lfb-verify -l restore-test -d 'Also restore each dump into a scratch database and compare row counts'
complete -c lfb-verify -l quarantine -d 'Move failed artifacts (and their sidecars) to STORE/quarantine/'
complete -c lfb-verify -s q -l quiet -d 'Print only errors on stderr (no progress, no summaries)'
complete -c lfb-verify -s v -l verbose -d 'Print more on stderr: each step and the commands run (never secrets)'
complete -c lfb-verify -s h -l help -d 'Print help (see more with \'--help\')'
complete -c lfb-verify -s V -l version -d 'Print version'
