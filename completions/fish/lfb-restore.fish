complete -c lfb-restore -s f -l file -d 'Artifact to restore (a path, or a file name in the store)' -r -F
complete -c lfb-restore -s t -l tag -d 'With --latest: only backups with this tag (pre-restore to undo a restore)' -r
complete -c lfb-restore -l from -d 'Restore a backup of another database: NAME (its database name, or SQLite file name) or ID (an artifact id)' -r
complete -c lfb-restore -s u -l user -d 'PostgreSQL user (as restore_db_clean.sh -u); host and port from PGHOST/PGPORT' -r
complete -c lfb-restore -s d -l database -d 'PostgreSQL database name (as restore_db_clean.sh -d)' -r
complete -c lfb-restore -l confirm -d 'Confirm a restore by naming the target database (needed for production)' -r
complete -c lfb-restore -l exec -d 'Run the database client programs through a command prefix (default: a stdin record\'s source.exec; MySQL: no password in the URL then)' -r
complete -c lfb-restore -l wait -d 'How long to wait for another lfb-restore into the same target, and (SQLite) while another connection holds a lock' -r
complete -c lfb-restore -l files-to -d 'Full archives: also restore media folders and configuration under DIR (the project folder)' -r -F
complete -c lfb-restore -l media-to -d 'Full archives: put media folder FOLDER (its name or relative path in the archive) exactly at DEST (repeatable)' -r
complete -c lfb-restore -l config-to -d 'Full archives: put configuration files in DIR (default DIR/config of --files-to)' -r -F
complete -c lfb-restore -l identity -d 'Decrypt age-encrypted artifacts with the identities in FILE (an age key file from `lfb keygen`/`age-keygen`, or an unencrypted OpenSSH private key; `/dev/fd/N` reads a descriptor). Default: $LFB_AGE_IDENTITY_FILE, then the config file\'s [encryption] identity_file. Without one, checks that need the key are skipped' -r -F
complete -c lfb-restore -l passphrase-file -d 'Decrypt passphrase-encrypted artifacts with the first line of FILE (default: $LFB_AGE_PASSPHRASE_FILE)' -r -F
complete -c lfb-restore -l store -d 'Backup store folder [default: $LFB_STORE, else the platform default]' -r -F
complete -c lfb-restore -s e -l env -d 'Environment [default: $LFB_ENV, else $LEDGER_ENV, else dev]' -r
complete -c lfb-restore -l config-file -d 'Config file [default: $LFB_CONFIG, else ~/.config/lfb/config.toml, else /etc/lfb/config.toml]' -r -F
complete -c lfb-restore -l latest -d 'Restore the newest verified backup of the target\'s database in the environment'
complete -c lfb-restore -l dry-run -d 'Show which backup would be restored, from when, its verification, its row counts against the target\'s, and what would be replaced; change nothing'
complete -c lfb-restore -s y -l yes -d 'Do not ask, outside production (needed when not on a terminal); never enough for a production restore'
complete -c lfb-restore -l no-safety-backup -d 'Skip the safety backup of the target (not recommended)'
complete -c lfb-restore -l files-only -d 'Full archives: restore only the files (with --files-to), no database'
complete -c lfb-restore -l globals -d 'Restore an `lfb-dump --globals` artifact: roles and tablespaces'
complete -c lfb-restore -s q -l quiet -d 'Print only errors on stderr (no progress, no summaries)'
complete -c lfb-restore -s v -l verbose -d 'Print more on stderr: each step and the commands run (never secrets)'
complete -c lfb-restore -s h -l help -d 'Print help (see more with \'--help\')'
complete -c lfb-restore -s V -l version -d 'Print version'
