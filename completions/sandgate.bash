# bash completion for sandgate(1)                                    -*- shell-script -*-
#
# Installed as /usr/share/bash-completion/completions/sandgate, which bash-completion loads the
# first time a `sandgate` command line is completed. The option lists are written out here
# (sandgate is not run to complete); tests/package/completion_test.sh compares them with
# `sandgate run --help` and the others, so they cannot drift apart.

# Options of `sandgate run` and `sandgate debug landlock` (those with a value are the cases of
# _sandgate_run_value).
_sandgate_run_options='-h --help -C --cwd -w --writable-root --read-only --network --pipeline
    -c --no-proc --bwrap --log-level --allow --deny --route --approvals --approval-timeout
    --audit-log --policy --proxy --dns-upstream --dns-strict --explain-denials --policy-save
    --publish'

# Codex's helper command line (`sandgate codex-linux-sandbox`, or sandgate under that name).
_sandgate_codex_options='-h --help --sandbox-policy-cwd --sandbox-policy --command-cwd
    --file-system-sandbox-policy --network-sandbox-policy --use-bwrap-sandbox
    --use-legacy-landlock --no-proc'
_sandgate_codex_valued='--sandbox-policy-cwd --sandbox-policy --command-cwd
    --file-system-sandbox-policy --network-sandbox-policy'

# Is $1 one of the words of $2?
_sandgate_in() {
    local word
    for word in $2; do
        [[ $word == "$1" ]] && return 0
    done
    return 1
}

# Completes the value of run option $1 (the current word is $cur). Returns 1 when $1 takes no
# value, so that the caller completes an option or a word instead.
_sandgate_run_value() {
    case $1 in
        --network)
            COMPREPLY=($(compgen -W 'off approve on' -- "$cur"))
            ;;
        --pipeline)
            COMPREPLY=($(compgen -W 'bwrap legacy' -- "$cur"))
            ;;
        --explain-denials)
            COMPREPLY=($(compgen -W 'on off' -- "$cur"))
            ;;
        --log-level)
            COMPREPLY=($(compgen -W 'trace debug info warn error critical off' -- "$cur"))
            ;;
        --approvals)
            # replay:FILE completes the file after the prefix; fd:N needs a number typed in.
            if [[ $cur == replay:* ]]; then
                local file
                COMPREPLY=()
                while IFS= read -r file; do
                    [[ -d $file ]] && file+=/
                    COMPREPLY+=("replay:$file")
                done < <(compgen -f -- "${cur#replay:}")
                [[ ${#COMPREPLY[@]} -eq 1 && ${COMPREPLY[0]} == */ ]] && compopt -o nospace
            else
                COMPREPLY=($(compgen -W 'stdio tty auto-deny fd: replay:' -- "$cur"))
                [[ ${#COMPREPLY[@]} -eq 1 && ${COMPREPLY[0]} == *: ]] && compopt -o nospace
            fi
            # The colon is a word break for readline: it replaces only what follows the last one.
            __ltrim_colon_completions "$cur"
            ;;
        -c)
            if [[ $cur == *=* ]]; then
                COMPREPLY=($(compgen -W 'true false' -- "${cur#*=}"))
            else
                COMPREPLY=($(compgen -W 'features.use_linux_sandbox_bwrap=' -- "$cur"))
                compopt -o nospace
            fi
            ;;
        -C | --cwd | -w | --writable-root)
            _filedir -d
            ;;
        --policy | --policy-save | --audit-log | --bwrap)
            _filedir
            ;;
        --allow | --deny | --route | --proxy | --dns-upstream | --approval-timeout | --publish)
            # Rules, URLs, addresses, numbers: nothing to offer, and no file names either.
            COMPREPLY=()
            ;;
        *)
            return 1
            ;;
    esac
    return 0
}

_sandgate_codex_value() {
    case $1 in
        --sandbox-policy-cwd | --command-cwd)
            _filedir -d
            ;;
        --sandbox-policy | --file-system-sandbox-policy | --network-sandbox-policy)
            COMPREPLY=()  # JSON
            ;;
        *)
            return 1
            ;;
    esac
    return 0
}

_sandgate() {
    local cur prev words cword split
    # -s: `--network=ap` completes as `--network ap`; -n : keeps `replay:FILE` one word.
    _init_completion -s -n : || return

    # Where are we: which subcommand (run, debug, debug landlock, codex-linux-sandbox), and has
    # the command after `--` begun? Only options without a value come before the subcommand, so
    # the first word that is no option is the subcommand.
    local i word mode=top start=1
    [[ ${words[0]##*/} == codex-linux-sandbox ]] && mode=codex
    for ((i = 1; i < cword; i++)); do
        word=${words[i]}
        if [[ $word == -- ]]; then
            # Everything after it is the command: complete it as bash would on its own.
            _command_offset $((i + 1))
            return
        fi
        case $mode in
            top)
                case $word in
                    run) mode=run ;;
                    debug) mode=debug ;;
                    codex-linux-sandbox) mode=codex ;;
                esac
                ;;
            debug)
                [[ $word == landlock ]] && mode=run
                ;;
            codex)
                # The codex helper's command starts at its first word that is no option.
                if [[ $word != -* ]] && ! _sandgate_in "${words[i - 1]}" "$_sandgate_codex_valued"; then
                    _command_offset $i
                    return
                fi
                ;;
        esac
    done

    case $mode in
        top)
            if [[ $cur == -* ]]; then
                COMPREPLY=($(compgen -W '-h --help --version' -- "$cur"))
            else
                COMPREPLY=($(compgen -W 'run debug codex-linux-sandbox' -- "$cur"))
            fi
            ;;
        debug)
            if [[ $cur == -* ]]; then
                COMPREPLY=($(compgen -W '-h --help' -- "$cur"))
            else
                COMPREPLY=($(compgen -W 'landlock' -- "$cur"))
            fi
            ;;
        run)
            _sandgate_run_value "$prev" && return
            if [[ $split == true ]]; then
                return  # --flag=VALUE for a flag without values: nothing sensible to add
            fi
            # Anything else needs an option first, or `--` before the command.
            COMPREPLY=($(compgen -W "$_sandgate_run_options --" -- "$cur"))
            ;;
        codex)
            _sandgate_codex_value "$prev" && return
            COMPREPLY=($(compgen -W "$_sandgate_codex_options --" -- "$cur"))
            ;;
    esac
} &&
    complete -F _sandgate sandgate codex-linux-sandbox

# ex: filetype=sh
