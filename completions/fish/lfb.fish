# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_lfb_global_optspecs
    string join \n h/help V/version
end

function __fish_lfb_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_lfb_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_lfb_using_subcommand
    set -l cmd (__fish_lfb_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c lfb -n "__fish_lfb_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c lfb -n "__fish_lfb_needs_command" -s V -l version -d 'Print version'
complete -c lfb -n "__fish_lfb_needs_command" -f -a "config" -d 'Show the configuration the tools will use (secrets masked)'
complete -c lfb -n "__fish_lfb_needs_command" -f -a "keygen" -d 'Create an age identity (0600) for encrypted backups; print its recipient'
complete -c lfb -n "__fish_lfb_needs_command" -f -a "completions" -d 'Print shell completions for lfb and every tool'
complete -c lfb -n "__fish_lfb_needs_command" -f -a "dump" -d 'Dump one database into the backup store and print its record'
complete -c lfb -n "__fish_lfb_needs_command" -f -a "archive" -d 'Bundle dumps, media and configuration into one verifiable .tar.gz'
complete -c lfb -n "__fish_lfb_needs_command" -f -a "verify" -d 'Check backup artifacts; optionally test-restore them into a scratch database'
complete -c lfb -n "__fish_lfb_needs_command" -f -a "prune" -d 'Apply retention policies to the backup store, never deleting the last good backup'
complete -c lfb -n "__fish_lfb_needs_command" -f -a "restore" -d 'Restore a backup into a database, atomically, with a safety backup first'
complete -c lfb -n "__fish_lfb_needs_command" -f -a "guard" -d 'Check the health of the whole backup store and say loudly when it is unhealthy'
complete -c lfb -n "__fish_lfb_needs_command" -f -a "list" -d 'List the backup store\'s artifacts: a table for people, records for pipes'
complete -c lfb -n "__fish_lfb_needs_command" -f -a "copy" -d 'Copy backups to S3-compatible storage or another folder, verified'
complete -c lfb -n "__fish_lfb_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c lfb -n "__fish_lfb_using_subcommand config; and not __fish_seen_subcommand_from check get help" -s h -l help -d 'Print help'
complete -c lfb -n "__fish_lfb_using_subcommand config; and not __fish_seen_subcommand_from check get help" -f -a "check" -d 'Check the config file and print the resolved configuration, saying where each value comes from; secrets are masked'
complete -c lfb -n "__fish_lfb_using_subcommand config; and not __fish_seen_subcommand_from check get help" -f -a "get" -d 'Print one value of the config file, unmasked, for scripts (e.g. notify.ping, env.prod.database); exit 1 when it is not set'
complete -c lfb -n "__fish_lfb_using_subcommand config; and not __fish_seen_subcommand_from check get help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c lfb -n "__fish_lfb_using_subcommand config; and __fish_seen_subcommand_from check" -l config-file -d 'Config file [default: $LFB_CONFIG, else ~/.config/lfb/config.toml, else /etc/lfb/config.toml]' -r -F
complete -c lfb -n "__fish_lfb_using_subcommand config; and __fish_seen_subcommand_from check" -s h -l help -d 'Print help'
complete -c lfb -n "__fish_lfb_using_subcommand config; and __fish_seen_subcommand_from get" -l config-file -d 'Config file [default: $LFB_CONFIG, else ~/.config/lfb/config.toml, else /etc/lfb/config.toml]' -r -F
complete -c lfb -n "__fish_lfb_using_subcommand config; and __fish_seen_subcommand_from get" -s h -l help -d 'Print help'
complete -c lfb -n "__fish_lfb_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "check" -d 'Check the config file and print the resolved configuration, saying where each value comes from; secrets are masked'
complete -c lfb -n "__fish_lfb_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "get" -d 'Print one value of the config file, unmasked, for scripts (e.g. notify.ping, env.prod.database); exit 1 when it is not set'
complete -c lfb -n "__fish_lfb_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c lfb -n "__fish_lfb_using_subcommand keygen" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c lfb -n "__fish_lfb_using_subcommand completions" -s h -l help -d 'Print help'
complete -c lfb -n "__fish_lfb_using_subcommand dump" -s t -l tag -d 'Why this backup is made: hourly, daily, pre-migration, safety, manual, …' -r
complete -c lfb -n "__fish_lfb_using_subcommand dump" -s n -l name -d 'Base name of the artifact [default: the database name]' -r
complete -c lfb -n "__fish_lfb_using_subcommand dump" -s F -l format -d 'Dump format: sql (both engines), custom (PostgreSQL), native (SQLite)' -r -f -a "sql\t'Plain SQL (PostgreSQL: pg_dump --format=plain; SQLite: SQL text that keeps page size, auto_vacuum, encoding, WAL mode and statistics)'
custom\t'PostgreSQL custom format (pg_dump -Fc), for pg_restore'
native\t'SQLite: a page-exact copy of the database file (backup API), one file also for WAL databases (whose copy says WAL in its header)'"
complete -c lfb -n "__fish_lfb_using_subcommand dump" -s c -l compress -d 'Compression of the artifact (custom format compresses internally)' -r -f -a "gzip\t''
none\t''"
complete -c lfb -n "__fish_lfb_using_subcommand dump" -s l -l level -d 'gzip level, 0 (store) to 9 (smallest)' -r
complete -c lfb -n "__fish_lfb_using_subcommand dump" -s o -l output -d 'Write the artifact to PATH (outside the store) instead' -r -F
complete -c lfb -n "__fish_lfb_using_subcommand dump" -l exec -d 'Run the database client programs through a command prefix' -r
complete -c lfb -n "__fish_lfb_using_subcommand dump" -l encrypt-to -d 'Encrypt the artifact with age to RECIPIENT: an age1… X25519 key or an ssh-ed25519/ssh-rsa public key (repeatable). The file gets `.age` and stock `age -d -i KEY` decrypts it. Default: $LFB_AGE_RECIPIENTS (comma-separated), $LFB_AGE_RECIPIENTS_FILE, $LFB_AGE_PASSPHRASE_FILE, then the config file\'s [encryption] recipients/recipients_file' -r
complete -c lfb -n "__fish_lfb_using_subcommand dump" -l encrypt-to-file -d 'Encrypt to every recipient listed in FILE (one a line, # comments; the format of `age -R`)' -r -F
complete -c lfb -n "__fish_lfb_using_subcommand dump" -l passphrase-file -d 'Encrypt with the passphrase on the first line of FILE (age scrypt; not with recipients). Read from the file only, never from argv' -r -F
complete -c lfb -n "__fish_lfb_using_subcommand dump" -l store -d 'Backup store folder [default: $LFB_STORE, else the platform default]' -r -F
complete -c lfb -n "__fish_lfb_using_subcommand dump" -s e -l env -d 'Environment [default: $LFB_ENV, else $LEDGER_ENV, else dev]' -r
complete -c lfb -n "__fish_lfb_using_subcommand dump" -l config-file -d 'Config file [default: $LFB_CONFIG, else ~/.config/lfb/config.toml, else /etc/lfb/config.toml]' -r -F
complete -c lfb -n "__fish_lfb_using_subcommand dump" -l globals -d 'PostgreSQL: also dump the server\'s roles and tablespaces'
complete -c lfb -n "__fish_lfb_using_subcommand dump" -l role-passwords -d 'With --globals: keep the roles\' password hashes in the artifact'
complete -c lfb -n "__fish_lfb_using_subcommand dump" -l demo -d 'Dump a small built-in sample SQLite database (to try lfb out)'
complete -c lfb -n "__fish_lfb_using_subcommand dump" -l no-encrypt -d 'Do not encrypt, whatever the environment or config file says'
complete -c lfb -n "__fish_lfb_using_subcommand dump" -s q -l quiet -d 'Print only errors on stderr (no progress, no summaries)'
complete -c lfb -n "__fish_lfb_using_subcommand dump" -s v -l verbose -d 'Print more on stderr: each step and the commands run (never secrets)'
complete -c lfb -n "__fish_lfb_using_subcommand dump" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c lfb -n "__fish_lfb_using_subcommand dump" -s V -l version -d 'Print version'
complete -c lfb -n "__fish_lfb_using_subcommand archive" -s m -l media -d 'Folder to include as media/NAME/ (repeatable)' -r -F
complete -c lfb -n "__fish_lfb_using_subcommand archive" -l config -d 'File, folder or glob to include as config/NAME (repeatable)' -r
complete -c lfb -n "__fish_lfb_using_subcommand archive" -s x -l exclude -d 'Leave out entries matching GLOB (repeatable)' -r
complete -c lfb -n "__fish_lfb_using_subcommand archive" -l meta -d 'Metadata to record in the manifest and the record (repeatable)' -r
complete -c lfb -n "__fish_lfb_using_subcommand archive" -l git -d 'Project folder whose git commit, branch and dirty state are recorded [default: the current folder]' -r -F
complete -c lfb -n "__fish_lfb_using_subcommand archive" -s t -l tag -d 'Why this backup is made: daily, pre-migration, manual, …' -r
complete -c lfb -n "__fish_lfb_using_subcommand archive" -s n -l name -d 'Base name of the artifact [default: the first dump\'s name, else app]' -r
complete -c lfb -n "__fish_lfb_using_subcommand archive" -s l -l level -d 'gzip level, 0 (store) to 9 (smallest)' -r
complete -c lfb -n "__fish_lfb_using_subcommand archive" -s o -l output -d 'Write the archive to PATH (outside the store) instead' -r -F
complete -c lfb -n "__fish_lfb_using_subcommand archive" -l encrypt-to -d 'Encrypt the artifact with age to RECIPIENT: an age1… X25519 key or an ssh-ed25519/ssh-rsa public key (repeatable). The file gets `.age` and stock `age -d -i KEY` decrypts it. Default: $LFB_AGE_RECIPIENTS (comma-separated), $LFB_AGE_RECIPIENTS_FILE, $LFB_AGE_PASSPHRASE_FILE, then the config file\'s [encryption] recipients/recipients_file' -r
complete -c lfb -n "__fish_lfb_using_subcommand archive" -l encrypt-to-file -d 'Encrypt to every recipient listed in FILE (one a line, # comments; the format of `age -R`)' -r -F
complete -c lfb -n "__fish_lfb_using_subcommand archive" -l passphrase-file -d 'Encrypt with the passphrase on the first line of FILE (age scrypt; not with recipients). Read from the file only, never from argv' -r -F
complete -c lfb -n "__fish_lfb_using_subcommand archive" -l store -d 'Backup store folder [default: $LFB_STORE, else the platform default]' -r -F
complete -c lfb -n "__fish_lfb_using_subcommand archive" -s e -l env -d 'Environment [default: $LFB_ENV, else $LEDGER_ENV, else dev]' -r
complete -c lfb -n "__fish_lfb_using_subcommand archive" -l config-file -d 'Config file [default: $LFB_CONFIG, else ~/.config/lfb/config.toml, else /etc/lfb/config.toml]' -r -F
complete -c lfb -n "__fish_lfb_using_subcommand archive" -l consume -d 'Remove the included dumps (and sidecars) once the archive is verified'
complete -c lfb -n "__fish_lfb_using_subcommand archive" -l no-encrypt -d 'Do not encrypt, whatever the environment or config file says'
complete -c lfb -n "__fish_lfb_using_subcommand archive" -s q -l quiet -d 'Print only errors on stderr (no progress, no summaries)'
complete -c lfb -n "__fish_lfb_using_subcommand archive" -s v -l verbose -d 'Print more on stderr: each step and the commands run (never secrets)'
complete -c lfb -n "__fish_lfb_using_subcommand archive" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c lfb -n "__fish_lfb_using_subcommand archive" -s V -l version -d 'Print version'
complete -c lfb -n "__fish_lfb_using_subcommand verify" -l checks -d 'Run only these checks (comma-separated)' -r
complete -c lfb -n "__fish_lfb_using_subcommand verify" -l skip -d 'Leave out these checks (comma-separated)' -r
complete -c lfb -n "__fish_lfb_using_subcommand verify" -l min-size -d 'Also fail artifacts under SIZE: --min-size 10KiB is the original scripts\' check' -r
complete -c lfb -n "__fish_lfb_using_subcommand verify" -l scratch -d 'PostgreSQL or MariaDB/MySQL scratch database to create, restore into and drop' -r
complete -c lfb -n "__fish_lfb_using_subcommand verify" -l exec -d 'Run the PostgreSQL client programs of the restore test through a command prefix' -r
complete -c lfb -n "__fish_lfb_using_subcommand verify" -l identity -d 'Decrypt age-encrypted artifacts with the identities in FILE (an age key file from `lfb keygen`/`age-keygen`, or an unencrypted OpenSSH private key; `/dev/fd/N` reads a descriptor). Default: $LFB_AGE_IDENTITY_FILE, then the config file\'s [encryption] identity_file. Without one, checks that need the key are skipped' -r -F
complete -c lfb -n "__fish_lfb_using_subcommand verify" -l passphrase-file -d 'Decrypt passphrase-encrypted artifacts with the first line of FILE (default: $LFB_AGE_PASSPHRASE_FILE)' -r -F
complete -c lfb -n "__fish_lfb_using_subcommand verify" -l store -d 'Backup store folder [default: $LFB_STORE, else the platform default]' -r -F
complete -c lfb -n "__fish_lfb_using_subcommand verify" -s e -l env -d 'Environment [default: $LFB_ENV, else $LEDGER_ENV, else dev]' -r
complete -c lfb -n "__fish_lfb_using_subcommand verify" -l config-file -d 'Config file [default: $LFB_CONFIG, else ~/.config/lfb/config.toml, else /etc/lfb/config.toml]' -r -F
complete -c lfb -n "__fish_lfb_using_subcommand verify" -l all -d 'Check every artifact in the store (limited by --env when given)'
complete -c lfb -n "__fish_lfb_using_subcommand verify" -l fix-permissions -d 'chmod 600 artifacts (and sidecars) lfb recognises that give group/other access'
complete -c lfb -n "__fish_lfb_using_subcommand verify" -l restore-test -d 'Also restore each dump into a scratch database and compare row counts'
complete -c lfb -n "__fish_lfb_using_subcommand verify" -l quarantine -d 'Move failed artifacts (and their sidecars) to STORE/quarantine/'
complete -c lfb -n "__fish_lfb_using_subcommand verify" -s q -l quiet -d 'Print only errors on stderr (no progress, no summaries)'
complete -c lfb -n "__fish_lfb_using_subcommand verify" -s v -l verbose -d 'Print more on stderr: each step and the commands run (never secrets)'
complete -c lfb -n "__fish_lfb_using_subcommand verify" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c lfb -n "__fish_lfb_using_subcommand verify" -s V -l version -d 'Print version'
complete -c lfb -n "__fish_lfb_using_subcommand prune" -l keep-within -d 'Keep every artifact made within DURATION before now: 7d, 36h, 1w2d' -r
complete -c lfb -n "__fish_lfb_using_subcommand prune" -l keep-last -d 'Keep the N newest artifacts of each group' -r
complete -c lfb -n "__fish_lfb_using_subcommand prune" -l keep-hourly -d 'Keep the newest artifact of each of the N most recent hours' -r
complete -c lfb -n "__fish_lfb_using_subcommand prune" -l keep-daily -d 'Keep the newest artifact of each of the N most recent days' -r
complete -c lfb -n "__fish_lfb_using_subcommand prune" -l keep-weekly -d 'Keep the newest artifact of each of the N most recent ISO weeks' -r
complete -c lfb -n "__fish_lfb_using_subcommand prune" -l keep-monthly -d 'Keep the newest artifact of each of the N most recent months' -r
complete -c lfb -n "__fish_lfb_using_subcommand prune" -l keep-yearly -d 'Keep the newest artifact of each of the N most recent years' -r
complete -c lfb -n "__fish_lfb_using_subcommand prune" -l max-total-size -d 'Then delete a group\'s oldest artifacts until it fits SIZE: 20GiB, 500MB' -r
complete -c lfb -n "__fish_lfb_using_subcommand prune" -l min-keep -d 'Never delete the N newest artifacts of a group' -r
complete -c lfb -n "__fish_lfb_using_subcommand prune" -l group-by -d 'Fields that make a group: a comma list of env, name, kind, tag' -r
complete -c lfb -n "__fish_lfb_using_subcommand prune" -s t -l tag -d 'Consider only artifacts with this tag' -r
complete -c lfb -n "__fish_lfb_using_subcommand prune" -l kind -d 'Consider only artifacts of this kind' -r -f -a "db\t'Database dumps'
full\t'Archive bundles'"
complete -c lfb -n "__fish_lfb_using_subcommand prune" -s n -l name -d 'Consider only artifacts with this base name' -r
complete -c lfb -n "__fish_lfb_using_subcommand prune" -l now -d 'Count ages from TIME instead of the clock: 2026-11-27T12:00:00Z' -r
complete -c lfb -n "__fish_lfb_using_subcommand prune" -l rotate-logs-at -d 'Rotate logs/journal.ndjson when larger than SIZE' -r
complete -c lfb -n "__fish_lfb_using_subcommand prune" -l keep-logs -d 'Remove rotated journal segments older than DURATION (default: keep all)' -r
complete -c lfb -n "__fish_lfb_using_subcommand prune" -l store -d 'Backup store folder [default: $LFB_STORE, else the platform default]' -r -F
complete -c lfb -n "__fish_lfb_using_subcommand prune" -s e -l env -d 'Environment [default: $LFB_ENV, else $LEDGER_ENV, else dev]' -r
complete -c lfb -n "__fish_lfb_using_subcommand prune" -l config-file -d 'Config file [default: $LFB_CONFIG, else ~/.config/lfb/config.toml, else /etc/lfb/config.toml]' -r -F
complete -c lfb -n "__fish_lfb_using_subcommand prune" -l all-envs -d 'Consider every environment, not only --env\'s'
complete -c lfb -n "__fish_lfb_using_subcommand prune" -l no-stdin -d 'Do not read stdin: prune the whole store (scope permitting) as it is'
complete -c lfb -n "__fish_lfb_using_subcommand prune" -l dry-run -d 'Print the plan and delete nothing (no lock, no journal events)'
complete -c lfb -n "__fish_lfb_using_subcommand prune" -s q -l quiet -d 'Print only errors on stderr (no progress, no summaries)'
complete -c lfb -n "__fish_lfb_using_subcommand prune" -s v -l verbose -d 'Print more on stderr: each step and the commands run (never secrets)'
complete -c lfb -n "__fish_lfb_using_subcommand prune" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c lfb -n "__fish_lfb_using_subcommand prune" -s V -l version -d 'Print version'
complete -c lfb -n "__fish_lfb_using_subcommand restore" -s f -l file -d 'Artifact to restore (a path, or a file name in the store)' -r -F
complete -c lfb -n "__fish_lfb_using_subcommand restore" -s t -l tag -d 'With --latest: only backups with this tag (pre-restore to undo a restore)' -r
complete -c lfb -n "__fish_lfb_using_subcommand restore" -l from -d 'Restore a backup of another database: NAME (its database name, or SQLite file name) or ID (an artifact id)' -r
complete -c lfb -n "__fish_lfb_using_subcommand restore" -s u -l user -d 'PostgreSQL user (as restore_db_clean.sh -u); host and port from PGHOST/PGPORT' -r
complete -c lfb -n "__fish_lfb_using_subcommand restore" -s d -l database -d 'PostgreSQL database name (as restore_db_clean.sh -d)' -r
complete -c lfb -n "__fish_lfb_using_subcommand restore" -l confirm -d 'Confirm a restore by naming the target database (needed for production)' -r
complete -c lfb -n "__fish_lfb_using_subcommand restore" -l exec -d 'Run the database client programs through a command prefix (default: a stdin record\'s source.exec; MySQL: no password in the URL then)' -r
complete -c lfb -n "__fish_lfb_using_subcommand restore" -l wait -d 'How long to wait for another lfb-restore into the same target, and (SQLite) while another connection holds a lock' -r
complete -c lfb -n "__fish_lfb_using_subcommand restore" -l files-to -d 'Full archives: also restore media folders and configuration under DIR (the project folder)' -r -F
complete -c lfb -n "__fish_lfb_using_subcommand restore" -l media-to -d 'Full archives: put media folder FOLDER (its name or relative path in the archive) exactly at DEST (repeatable)' -r
complete -c lfb -n "__fish_lfb_using_subcommand restore" -l config-to -d 'Full archives: put configuration files in DIR (default DIR/config of --files-to)' -r -F
complete -c lfb -n "__fish_lfb_using_subcommand restore" -l identity -d 'Decrypt age-encrypted artifacts with the identities in FILE (an age key file from `lfb keygen`/`age-keygen`, or an unencrypted OpenSSH private key; `/dev/fd/N` reads a descriptor). Default: $LFB_AGE_IDENTITY_FILE, then the config file\'s [encryption] identity_file. Without one, checks that need the key are skipped' -r -F
complete -c lfb -n "__fish_lfb_using_subcommand restore" -l passphrase-file -d 'Decrypt passphrase-encrypted artifacts with the first line of FILE (default: $LFB_AGE_PASSPHRASE_FILE)' -r -F
complete -c lfb -n "__fish_lfb_using_subcommand restore" -l store -d 'Backup store folder [default: $LFB_STORE, else the platform default]' -r -F
complete -c lfb -n "__fish_lfb_using_subcommand restore" -s e -l env -d 'Environment [default: $LFB_ENV, else $LEDGER_ENV, else dev]' -r
complete -c lfb -n "__fish_lfb_using_subcommand restore" -l config-file -d 'Config file [default: $LFB_CONFIG, else ~/.config/lfb/config.toml, else /etc/lfb/config.toml]' -r -F
complete -c lfb -n "__fish_lfb_using_subcommand restore" -l latest -d 'Restore the newest verified backup of the target\'s database in the environment'
complete -c lfb -n "__fish_lfb_using_subcommand restore" -l dry-run -d 'Show which backup would be restored, from when, its verification, its row counts against the target\'s, and what would be replaced; change nothing'
complete -c lfb -n "__fish_lfb_using_subcommand restore" -s y -l yes -d 'Do not ask, outside production (needed when not on a terminal); never enough for a production restore'
complete -c lfb -n "__fish_lfb_using_subcommand restore" -l no-safety-backup -d 'Skip the safety backup of the target (not recommended)'
complete -c lfb -n "__fish_lfb_using_subcommand restore" -l files-only -d 'Full archives: restore only the files (with --files-to), no database'
complete -c lfb -n "__fish_lfb_using_subcommand restore" -l globals -d 'Restore an `lfb-dump --globals` artifact: roles and tablespaces'
complete -c lfb -n "__fish_lfb_using_subcommand restore" -s q -l quiet -d 'Print only errors on stderr (no progress, no summaries)'
complete -c lfb -n "__fish_lfb_using_subcommand restore" -s v -l verbose -d 'Print more on stderr: each step and the commands run (never secrets)'
complete -c lfb -n "__fish_lfb_using_subcommand restore" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c lfb -n "__fish_lfb_using_subcommand restore" -s V -l version -d 'Print version'
complete -c lfb -n "__fish_lfb_using_subcommand guard" -l max-age -d 'Freshness limit of a tag: TAG=DURATION (hourly=2h, daily=26h, weekly=8d)' -r
complete -c lfb -n "__fish_lfb_using_subcommand guard" -l expect -d 'A tag that must exist in the store (its absence is critical)' -r
complete -c lfb -n "__fish_lfb_using_subcommand guard" -l min-size -d 'Also report artifacts under SIZE as critical: --min-size 10KiB is the original check' -r
complete -c lfb -n "__fish_lfb_using_subcommand guard" -l min-free -d 'Free space on the store\'s filesystem under which it is critical' -r
complete -c lfb -n "__fish_lfb_using_subcommand guard" -l sample -d 'Also re-read N artifacts picked at random among the older ones' -r
complete -c lfb -n "__fish_lfb_using_subcommand guard" -l skip -d 'Leave out these checks (comma-separated check names)' -r
complete -c lfb -n "__fish_lfb_using_subcommand guard" -l now -d 'Judge ages as of this time (RFC 3339) instead of now' -r
complete -c lfb -n "__fish_lfb_using_subcommand guard" -l journal-window -d 'How long an unresolved failed journal event stays critical [default: 7d]' -r
complete -c lfb -n "__fish_lfb_using_subcommand guard" -l max-drill-age -d 'How old a group\'s newest successful restore test may be [default: 31d]' -r
complete -c lfb -n "__fish_lfb_using_subcommand guard" -l ack -d 'Silence the unresolved failed journal event ID (journal finding\'s ack_id)' -r
complete -c lfb -n "__fish_lfb_using_subcommand guard" -l prometheus -d 'Write node-exporter textfile metrics to FILE, atomically' -r -F
complete -c lfb -n "__fish_lfb_using_subcommand guard" -l on-failure -d 'Run CMD (with sh -c) when the store is not healthy' -r
complete -c lfb -n "__fish_lfb_using_subcommand guard" -l store -d 'Backup store folder [default: $LFB_STORE, else the platform default]' -r -F
complete -c lfb -n "__fish_lfb_using_subcommand guard" -s e -l env -d 'Environment [default: $LFB_ENV, else $LEDGER_ENV, else dev]' -r
complete -c lfb -n "__fish_lfb_using_subcommand guard" -l config-file -d 'Config file [default: $LFB_CONFIG, else ~/.config/lfb/config.toml, else /etc/lfb/config.toml]' -r -F
complete -c lfb -n "__fish_lfb_using_subcommand guard" -l deep -d 'Re-read every artifact, not only the newest of each group'
complete -c lfb -n "__fish_lfb_using_subcommand guard" -l strict -d 'Exit 1 on warnings too'
complete -c lfb -n "__fish_lfb_using_subcommand guard" -l require-encryption -d 'Report every artifact not encrypted with age (critical)'
complete -c lfb -n "__fish_lfb_using_subcommand guard" -l nagios -d 'Print one monitoring-plugin status line instead of NDJSON'
complete -c lfb -n "__fish_lfb_using_subcommand guard" -s q -l quiet -d 'Print only errors on stderr (no progress, no summaries)'
complete -c lfb -n "__fish_lfb_using_subcommand guard" -s v -l verbose -d 'Print more on stderr: each step and the commands run (never secrets)'
complete -c lfb -n "__fish_lfb_using_subcommand guard" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c lfb -n "__fish_lfb_using_subcommand guard" -s V -l version -d 'Print version'
complete -c lfb -n "__fish_lfb_using_subcommand list" -l name -d 'Only artifacts of this database / base name (as in the file name)' -r
complete -c lfb -n "__fish_lfb_using_subcommand list" -l tag -d 'Only artifacts with this tag (hourly, daily, pre-migration, …)' -r
complete -c lfb -n "__fish_lfb_using_subcommand list" -l kind -d 'Only this kind: db (database dumps) or full (archive bundles)' -r -f -a "db\t'Database dumps'
full\t'Archive bundles'"
complete -c lfb -n "__fish_lfb_using_subcommand list" -l since -d 'Only artifacts newer than this: an age (36h, 7d) or a date (2026-11-01)' -r
complete -c lfb -n "__fish_lfb_using_subcommand list" -l format -d 'Output: table, json (one record per line) [default: table on a terminal, else json]' -r -f -a "table\t'Aligned columns and totals, for people'
json\t'One JSON record per line, for pipes'"
complete -c lfb -n "__fish_lfb_using_subcommand list" -l store -d 'Backup store folder [default: $LFB_STORE, else the platform default]' -r -F
complete -c lfb -n "__fish_lfb_using_subcommand list" -s e -l env -d 'Environment [default: $LFB_ENV, else $LEDGER_ENV, else dev]' -r
complete -c lfb -n "__fish_lfb_using_subcommand list" -l config-file -d 'Config file [default: $LFB_CONFIG, else ~/.config/lfb/config.toml, else /etc/lfb/config.toml]' -r -F
complete -c lfb -n "__fish_lfb_using_subcommand list" -l verified -d 'Only artifacts whose latest verification passed'
complete -c lfb -n "__fish_lfb_using_subcommand list" -l failed -d 'Only artifacts whose latest verification failed'
complete -c lfb -n "__fish_lfb_using_subcommand list" -l unverified -d 'Only artifacts never verified (no verify section in their sidecar)'
complete -c lfb -n "__fish_lfb_using_subcommand list" -s l -l long -d 'Also show each artifact\'s path (table)'
complete -c lfb -n "__fish_lfb_using_subcommand list" -s q -l quiet -d 'Print only errors on stderr (no progress, no summaries)'
complete -c lfb -n "__fish_lfb_using_subcommand list" -s v -l verbose -d 'Print more on stderr: each step and the commands run (never secrets)'
complete -c lfb -n "__fish_lfb_using_subcommand list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c lfb -n "__fish_lfb_using_subcommand list" -s V -l version -d 'Print version'
complete -c lfb -n "__fish_lfb_using_subcommand copy" -l to -d 'Destination store: s3://BUCKET[/PREFIX] or a folder' -r
complete -c lfb -n "__fish_lfb_using_subcommand copy" -l tag -d 'Copy the local store\'s artifacts with this tag (of --env ENV when given)' -r
complete -c lfb -n "__fish_lfb_using_subcommand copy" -l from -d 'Copy from a bucket to the folder --to instead: s3://BUCKET[/PREFIX]' -r
complete -c lfb -n "__fish_lfb_using_subcommand copy" -l name -d 'With --from: only artifacts of this database / base name' -r
complete -c lfb -n "__fish_lfb_using_subcommand copy" -l part-size -d 'Size of the parts of a multipart upload (5MiB..5GiB; larger when a file needs more than 10,000 parts); artifacts up to one part go in one PUT' -r
complete -c lfb -n "__fish_lfb_using_subcommand copy" -l store -d 'Backup store folder [default: $LFB_STORE, else the platform default]' -r -F
complete -c lfb -n "__fish_lfb_using_subcommand copy" -s e -l env -d 'Environment [default: $LFB_ENV, else $LEDGER_ENV, else dev]' -r
complete -c lfb -n "__fish_lfb_using_subcommand copy" -l config-file -d 'Config file [default: $LFB_CONFIG, else ~/.config/lfb/config.toml, else /etc/lfb/config.toml]' -r -F
complete -c lfb -n "__fish_lfb_using_subcommand copy" -l all -d 'Copy every artifact of the local store (of --env ENV when given)'
complete -c lfb -n "__fish_lfb_using_subcommand copy" -l latest -d 'With --from: only the newest matching artifact of each environment and name'
complete -c lfb -n "__fish_lfb_using_subcommand copy" -l verify -d 'Copy nothing: read back each copy and check its size and SHA-256'
complete -c lfb -n "__fish_lfb_using_subcommand copy" -s q -l quiet -d 'Print only errors on stderr (no progress, no summaries)'
complete -c lfb -n "__fish_lfb_using_subcommand copy" -s v -l verbose -d 'Print more on stderr: each step and the commands run (never secrets)'
complete -c lfb -n "__fish_lfb_using_subcommand copy" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c lfb -n "__fish_lfb_using_subcommand copy" -s V -l version -d 'Print version'
complete -c lfb -n "__fish_lfb_using_subcommand help; and not __fish_seen_subcommand_from config keygen completions dump archive verify prune restore guard list copy help" -f -a "config" -d 'Show the configuration the tools will use (secrets masked)'
complete -c lfb -n "__fish_lfb_using_subcommand help; and not __fish_seen_subcommand_from config keygen completions dump archive verify prune restore guard list copy help" -f -a "keygen" -d 'Create an age identity (0600) for encrypted backups; print its recipient'
complete -c lfb -n "__fish_lfb_using_subcommand help; and not __fish_seen_subcommand_from config keygen completions dump archive verify prune restore guard list copy help" -f -a "completions" -d 'Print shell completions for lfb and every tool'
complete -c lfb -n "__fish_lfb_using_subcommand help; and not __fish_seen_subcommand_from config keygen completions dump archive verify prune restore guard list copy help" -f -a "dump" -d 'Dump one database into the backup store and print its record'
complete -c lfb -n "__fish_lfb_using_subcommand help; and not __fish_seen_subcommand_from config keygen completions dump archive verify prune restore guard list copy help" -f -a "archive" -d 'Bundle dumps, media and configuration into one verifiable .tar.gz'
complete -c lfb -n "__fish_lfb_using_subcommand help; and not __fish_seen_subcommand_from config keygen completions dump archive verify prune restore guard list copy help" -f -a "verify" -d 'Check backup artifacts; optionally test-restore them into a scratch database'
complete -c lfb -n "__fish_lfb_using_subcommand help; and not __fish_seen_subcommand_from config keygen completions dump archive verify prune restore guard list copy help" -f -a "prune" -d 'Apply retention policies to the backup store, never deleting the last good backup'
complete -c lfb -n "__fish_lfb_using_subcommand help; and not __fish_seen_subcommand_from config keygen completions dump archive verify prune restore guard list copy help" -f -a "restore" -d 'Restore a backup into a database, atomically, with a safety backup first'
complete -c lfb -n "__fish_lfb_using_subcommand help; and not __fish_seen_subcommand_from config keygen completions dump archive verify prune restore guard list copy help" -f -a "guard" -d 'Check the health of the whole backup store and say loudly when it is unhealthy'
complete -c lfb -n "__fish_lfb_using_subcommand help; and not __fish_seen_subcommand_from config keygen completions dump archive verify prune restore guard list copy help" -f -a "list" -d 'List the backup store\'s artifacts: a table for people, records for pipes'
complete -c lfb -n "__fish_lfb_using_subcommand help; and not __fish_seen_subcommand_from config keygen completions dump archive verify prune restore guard list copy help" -f -a "copy" -d 'Copy backups to S3-compatible storage or another folder, verified'
complete -c lfb -n "__fish_lfb_using_subcommand help; and not __fish_seen_subcommand_from config keygen completions dump archive verify prune restore guard list copy help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c lfb -n "__fish_lfb_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "check" -d 'Check the config file and print the resolved configuration, saying where each value comes from; secrets are masked'
complete -c lfb -n "__fish_lfb_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "get" -d 'Print one value of the config file, unmasked, for scripts (e.g. notify.ping, env.prod.database); exit 1 when it is not set'
