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
complete -c lfb -n "__fish_lfb_needs_command" -f -a "dump" -d 'Dump one database into the backup store and print its record'
complete -c lfb -n "__fish_lfb_needs_command" -f -a "archive" -d 'Bundle dumps, media and configuration into one verifiable .tar.gz'
complete -c lfb -n "__fish_lfb_needs_command" -f -a "verify" -d 'Check backup artifacts; optionally test-restore them into a scratch database'
complete -c lfb -n "__fish_lfb_needs_command" -f -a "prune" -d 'Apply retention policies to the backup store, never deleting the last good backup'
complete -c lfb -n "__fish_lfb_needs_command" -f -a "restore" -d 'Restore a backup into a database, atomically, with a safety backup first'
complete -c lfb -n "__fish_lfb_needs_command" -f -a "guard" -d 'Check the health of the whole backup store and say loudly when it is unhealthy'
complete -c lfb -n "__fish_lfb_needs_command" -f -a "completions" -d 'Print shell completions for lfb and every tool'
complete -c lfb -n "__fish_lfb_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c lfb -n "__fish_lfb_using_subcommand completions" -s h -l help -d 'Print help'
complete -c lfb -n "__fish_lfb_using_subcommand help; and not __fish_seen_subcommand_from dump archive verify prune restore guard completions help" -f -a "dump" -d 'Dump one database into the backup store and print its record'
complete -c lfb -n "__fish_lfb_using_subcommand help; and not __fish_seen_subcommand_from dump archive verify prune restore guard completions help" -f -a "archive" -d 'Bundle dumps, media and configuration into one verifiable .tar.gz'
complete -c lfb -n "__fish_lfb_using_subcommand help; and not __fish_seen_subcommand_from dump archive verify prune restore guard completions help" -f -a "verify" -d 'Check backup artifacts; optionally test-restore them into a scratch database'
complete -c lfb -n "__fish_lfb_using_subcommand help; and not __fish_seen_subcommand_from dump archive verify prune restore guard completions help" -f -a "prune" -d 'Apply retention policies to the backup store, never deleting the last good backup'
complete -c lfb -n "__fish_lfb_using_subcommand help; and not __fish_seen_subcommand_from dump archive verify prune restore guard completions help" -f -a "restore" -d 'Restore a backup into a database, atomically, with a safety backup first'
complete -c lfb -n "__fish_lfb_using_subcommand help; and not __fish_seen_subcommand_from dump archive verify prune restore guard completions help" -f -a "guard" -d 'Check the health of the whole backup store and say loudly when it is unhealthy'
complete -c lfb -n "__fish_lfb_using_subcommand help; and not __fish_seen_subcommand_from dump archive verify prune restore guard completions help" -f -a "completions" -d 'Print shell completions for lfb and every tool'
complete -c lfb -n "__fish_lfb_using_subcommand help; and not __fish_seen_subcommand_from dump archive verify prune restore guard completions help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
