complete -c lfb-archive -s m -l media -d 'Folder to include as media/NAME/ (repeatable)' -r -F
complete -c lfb-archive -l config -d 'File, folder or glob to include as config/NAME (repeatable)' -r
complete -c lfb-archive -s x -l exclude -d 'Leave out entries matching GLOB (repeatable)' -r
complete -c lfb-archive -l meta -d 'Metadata to record in the manifest and the record (repeatable)' -r
complete -c lfb-archive -l git -d 'Project folder whose git commit, branch and dirty state are recorded [default: the current folder]' -r -F
complete -c lfb-archive -s t -l tag -d 'Why this backup is made: daily, pre-migration, manual, …' -r
complete -c lfb-archive -s n -l name -d 'Base name of the artifact [default: the first dump\'s name, else app]' -r
complete -c lfb-archive -s l -l level -d 'gzip level, 0 (store) to 9 (smallest)' -r
complete -c lfb-archive -s o -l output -d 'Write the archive to PATH (outside the store) instead' -r -F
complete -c lfb-archive -l encrypt-to -d 'Encrypt the artifact with age to RECIPIENT: an age1… X25519 key or an ssh-ed25519/ssh-rsa public key (repeatable). The file gets `.age` and stock `age -d -i KEY` decrypts it. Default: $LFB_AGE_RECIPIENTS (comma-separated), $LFB_AGE_RECIPIENTS_FILE, $LFB_AGE_PASSPHRASE_FILE, then the config file\'s [encryption] recipients/recipients_file' -r
complete -c lfb-archive -l encrypt-to-file -d 'Encrypt to every recipient listed in FILE (one a line, # comments; the format of `age -R`)' -r -F
complete -c lfb-archive -l passphrase-file -d 'Encrypt with the passphrase on the first line of FILE (age scrypt; not with recipients). Read from the file only, never from argv' -r -F
complete -c lfb-archive -l store -d 'Backup store folder [default: $LFB_STORE, else the platform default]' -r -F
complete -c lfb-archive -s e -l env -d 'Environment [default: $LFB_ENV, else $LEDGER_ENV, else dev]' -r
complete -c lfb-archive -l config-file -d 'Config file [default: $LFB_CONFIG, else ~/.config/lfb/config.toml, else /etc/lfb/config.toml]' -r -F
complete -c lfb-archive -l consume -d 'Remove the included dumps (and sidecars) once the archive is verified'
complete -c lfb-archive -l no-encrypt -d 'Do not encrypt, whatever the environment or config file says'
complete -c lfb-archive -s q -l quiet -d 'Print only errors on stderr (no progress, no summaries)'
complete -c lfb-archive -s v -l verbose -d 'Print more on stderr: each step and the commands run (never secrets)'
complete -c lfb-archive -s h -l help -d 'Print help (see more with \'--help\')'
complete -c lfb-archive -s V -l version -d 'Print version'
