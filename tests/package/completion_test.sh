#!/bin/bash
# The bash completion (completions/sandgate.bash) as bash-completion runs it, against the options
# sandgate's own --help lists, so that the two cannot drift apart.
#
#   completion_test.sh SANDGATE COMPLETION_FILE
#
# Each case fills COMP_WORDS/COMP_CWORD/COMP_LINE/COMP_POINT as readline would for the words
# given (the last one is being completed) and calls the completion function.
set -u

sandgate=$(realpath "$1")
completion=$(realpath "$2")
bash_completion=/usr/share/bash-completion/bash_completion
if [[ ! -r $bash_completion ]]; then
    echo "SKIP: $bash_completion is missing (Debian package bash-completion)"
    exit 0
fi
# bash_completion reads settings of an interactive shell; it needs none of them here.
# shellcheck disable=SC1090
source "$bash_completion" || { echo "FAIL: cannot source $bash_completion"; exit 1; }
# shellcheck disable=SC1090
source "$completion" || { echo "FAIL: cannot source $completion"; exit 1; }
# compopt works only inside a completion readline started; here it has nothing to set.
compopt() { :; }

failures=0
fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}

# complete_words "WORDS" : COMPREPLY for completing the last word (empty after a trailing
# space), sorted, one per line in $reply.
complete_words() {
    local -a split
    read -ra split <<<"$1"
    [[ $1 == *" " ]] && split+=("")
    COMP_WORDS=("${split[@]}")
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMP_LINE="$*"
    COMP_POINT=${#COMP_LINE}
    COMPREPLY=()
    local function_name
    function_name=$(complete -p sandgate 2>/dev/null | sed -n 's/.*-F \([^ ]*\) .*/\1/p')
    "${function_name:-_sandgate}" sandgate "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
    reply=$(printf '%s\n' "${COMPREPLY[@]}" | sort -u | sed '/^$/d')
}

# expect "WORDS" "EXPECTED (space separated)" : the completions are exactly these.
expect() {
    local words=$1 expected
    expected=$(printf '%s\n' $2 | sort -u | sed '/^$/d')
    complete_words "$words"
    if [[ $reply != "$expected" ]]; then
        fail "completing '$words': got [$(echo $reply)], expected [$(echo $expected)]"
    fi
}

# expect_has "WORDS" WORD... : the completions include these.
expect_has() {
    local words=$1
    shift
    complete_words "$words"
    local want
    for want in "$@"; do
        grep -qxF -- "$want" <<<"$reply" || fail "completing '$words': [$(echo $reply)] lacks $want"
    done
}

# Options a CLI11 --help lists, one per line; ENUM OPTION prints the values it enumerates.
help_options() {
    "$sandgate" "$@" --help | awk '/^Options:/ {on = 1; next} /^[^ ]/ {on = 0} on' |
        sed -n 's/^  \(-[^ ]*\).*/\1/p' | tr ',' '\n' | sort -u
}
help_enum() {
    local option=$1
    shift
    "$sandgate" "$@" --help | sed -n "s/^  [^ ]*$option TEXT:{\([^}]*\)}.*/\1/p" | tr ',' ' '
}

# Top level: subcommands and options.
expect "sandgate " "run debug codex-linux-sandbox"
expect "sandgate r" "run"
expect "sandgate -" "$(help_options) "
for sub in $("$sandgate" --help | awk '/^Subcommands:/ {on = 1; next} on && /^  [a-z]/ {print $1}'); do
    expect_has "sandgate " "$sub"
done

# debug and debug landlock.
expect "sandgate debug " "landlock"
expect "sandgate debug -" "$(help_options debug)"

# run: every option of --help, nothing more (and `--`, which starts the command).
run_options=$(help_options run)
[[ -n $run_options ]] || fail "sandgate run --help lists no options"
expect "sandgate run -" "$run_options --"
expect "sandgate run --read-only -" "$run_options --"
expect "sandgate debug landlock -" "$(help_options debug landlock) --"
expect "sandgate run --net" "--network"
expect "sandgate run --policy" "--policy --policy-save"

# Values of the options --help enumerates, for run and debug landlock alike.
for option in $("$sandgate" run --help | sed -n 's/^  [^ ]*\(--[a-z-]*\) TEXT:{.*/\1/p'); do
    values=$(help_enum "$option" run)
    expect "sandgate run $option " "$values"
    expect "sandgate debug landlock $option " "$(help_enum "$option" debug landlock)"
done
# An option that takes a value (TEXT, INT in --help) completes a value, never another option,
# and one without a value is followed by options again.
while read -r names kind; do
    for option in ${names//,/ }; do
        complete_words "sandgate run $option "
        if [[ -n $kind ]]; then
            if grep -q '^-' <<<"$reply"; then
                fail "sandgate run $option takes a value ($kind), but the completion offers options after it"
            fi
        elif ! grep -qxF -- "--network" <<<"$reply"; then
            fail "sandgate run $option takes no value, but the completion offers no options after it"
        fi
    done
done < <("$sandgate" run --help | awk '/^Options:/ {on = 1; next} /^[^ ]/ {on = 0} on' |
         sed -n 's/^  \(-[^ ]*\)\( \([A-Z][A-Z]*\)\)\{0,1\}.*/\1 \3/p')
expect "sandgate run --network a" "approve"
expect "sandgate run --network=a" "approve"
expect "sandgate run --pipeline " "bwrap legacy"
expect "sandgate run --approvals " "stdio tty auto-deny fd: replay:"
expect "sandgate run --approvals au" "auto-deny"
expect "sandgate run -c " "features.use_linux_sandbox_bwrap="
expect "sandgate run -c features.use_linux_sandbox_bwrap=f" "false"
# Rules, URLs and numbers: nothing to offer (in particular not the options).
expect "sandgate run --allow " ""
expect "sandgate run --approval-timeout " ""

# Files and directories, in a scratch directory of known content.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir "$scratch/adir"
touch "$scratch/afile.json" "$scratch/script.jsonl"
cd "$scratch" || exit 1
expect "sandgate run --cwd a" "adir"
expect "sandgate run -w a" "adir"
expect "sandgate run --writable-root a" "adir"
expect "sandgate run --policy a" "adir afile.json"
expect "sandgate run --audit-log s" "script.jsonl"
expect "sandgate run --policy-save af" "afile.json"
# replay:FILE: readline replaces what follows the colon, so the file name alone comes back.
expect "sandgate run --approvals replay:scr" "script.jsonl"
expect "sandgate codex-linux-sandbox --command-cwd a" "adir"

# After --, the command: commands on PATH, then that command's own completion.
expect_has "sandgate run -- ech" "echo"
expect_has "sandgate run --network off -w adir -- ech" "echo"
expect "sandgate run -- echo --network" ""
expect_has "sandgate debug landlock -- ech" "echo"

# codex-linux-sandbox: the options of its usage text, and -h/--help.
codex_options=$("$sandgate" codex-linux-sandbox --help | sed -n 's/^  \(--[a-z-]*\).*/\1/p' | sort -u)
expect "sandgate codex-linux-sandbox -" "$codex_options -h --help --"
expect_has "sandgate codex-linux-sandbox --no-proc -- ech" "echo"

if ((failures > 0)); then
    echo "$failures failure(s)"
    exit 1
fi
echo "completion agrees with --help"
