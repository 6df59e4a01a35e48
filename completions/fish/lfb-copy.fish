complete -c lfb-copy -l to -d 'Destination store: s3://BUCKET[/PREFIX] or a folder' -r
complete -c lfb-copy -l tag -d 'Copy the local store\'s artifacts with this tag (of --env ENV when given)' -r
complete -c lfb-copy -l from -d 'Copy from a bucket to the folder --to instead: s3://BUCKET[/PREFIX]' -r
complete -c lfb-copy -l name -d 'With --from: only artifacts of this database / base name' -r
complete -c lfb-copy -l part-size -d 'Size of the parts of a multipart upload (5MiB..5GiB; larger when a file needs more than 10,000 parts); artifacts up to one part go in one PUT' -r
complete -c lfb-copy -l store -d 'Backup store folder [default: $LFB_STORE, else the platform default]' -r -F
complete -c lfb-copy -s e -l env -d 'Environment [default: $LFB_ENV, else $LEDGER_ENV, else dev]' -r
complete -c lfb-copy -l config-file -d 'Config file [default: $LFB_CONFIG, else ~/.config/lfb/config.toml, else /etc/lfb/config.toml]' -r -F
complete -c lfb-copy -l all -d 'Copy every artifact of the local store (of --env ENV when given)'
complete -c lfb-copy -l latest -d 'With --from: only the newest matching artifact of each environment and name'
complete -c lfb-copy -l verify -d 'Copy nothing: read back each copy and check its size and SHA-256'
complete -c lfb-copy -s q -l quiet -d 'Print only errors on stderr (no progress, no summaries)'
complete -c lfb-copy -s v -l verbose -d 'Print more on stderr: each step and the commands run (never secrets)'
complete -c lfb-copy -s h -l help -d 'Print help (see more with \'--help\')'
complete -c lfb-copy -s V -l version -d 'Print version'
