complete -c lfb-dump -s t -l tag -d 'Why this backup is made: hourly, daily, pre-migration, safety, manual, …' -r
complete -c lfb-dump -s n -l name -d 'Base name of the artifact [default: the database name]' -r
complete -c lfb-dump -s F -l format -d 'Dump format: sql (both engines), custom (PostgreSQL), native (SQLite)' -r -f -a "sql\t'Plain SQL (PostgreSQL: pg_dump --format=plain; SQLite: SQL text that keeps page size, auto_vacuum, encoding, WAL mode and statistics)'
custom\t'PostgreSQL custom format (pg_dump -Fc), for pg_restore'
native\t'SQLite: a page-exact copy of the database file (backup API), one file also for WAL databases (whose copy says WAL in its header)'"
complete -c lfb-dump -s c -l compress -d 'Compression of the artifact (custom format compresses internally)' -r -f -a "gzip\t''
none\t''"
complete -c lfb-dump -s l -l level -d 'gzip level, 0 (store) to 9 (smallest)' -r
complete -c lfb-dump -s o -l output -d 'Write the artifact to PATH (outside the store) instead' -r -F
complete -c lfb-dump -l exec -d 'Run the database client programs through a command prefix' -r
complete -c lfb-dump -l encrypt-to -d 'Encrypt the artifact with age to RECIPIENT: an age1… X25519 key or an ssh-ed25519/ssh-rsa public key (repeatable). The file gets `.age` and stock `age -d -i KEY` decrypts it. Default: $LFB_AGE_RECIPIENTS (comma-separated), $LFB_AGE_RECIPIENTS_FILE, $LFB_AGE_PASSPHRASE_FILE, then the config file\'s [encryption] recipients/recipients_file' -r
complete -c lfb-dump -l encrypt-to-file -d 'Encrypt to every recipient listed in FILE (one a line, # comments; the format of `age -R`)' -r -F
complete -c lfb-dump -l passphrase-file -d 'Encrypt with the passphrase on the first line of FILE (age scrypt; not with recipients). Read from the file only, never from argv' -r -F
complete -c lfb-dump -l store -d 'Backup store folder [default: $LFB_STORE, else the platform default]' -r -F
complete -c lfb-dump -s e -l env -d 'Environment [default: $LFB_ENV, else $LEDGER_ENV, else dev]' -r
complete -c lfb-dump -l config-file -d 'Config file [default: $LFB_CONFIG, else ~/.config/lfb/config.toml, else /etc/lfb/config.toml]' -r -F
complete -c lfb-dump -l globals -d 'PostgreSQL: also dump the server\'s roles and tablespaces'
complete -c lfb-dump -l role-passwords -d 'With --globals: keep the roles\' password hashes in the artifact'
complete -c lfb-dump -l demo -d 'Dump a small built-in sample SQLite database (to try lfb out)'
complete -c lfb-dump -l no-encrypt -d 'Do not encrypt, whatever the environment or config file says'
complete -c lfb-dump -s q -l quiet -d 'Print only errors on stderr (no progress, no summaries)'
complete -c lfb-dump -s v -l verbose -d 'Print more on stderr: each step and the commands run (never secrets)'
complete -c lfb-dump -s h -l help -d 'Print help (see more with \'--help\')'
complete -c lfb-dump -s V -l version -d 'Print version'
