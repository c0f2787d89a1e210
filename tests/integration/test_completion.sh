#!/usr/bin/env bash
# The generated bash completion, sourced in a real bash, completes commands, nested commands and
# global options; zsh and fish scripts are generated from the same tree.
source "$(dirname "$0")/lib.sh"

statectl completion bash >"$TEST_DIR/statectl.bash"
bash -n "$TEST_DIR/statectl.bash" || fail "bash completion has a syntax error"

complete_words() {
  # complete_words WORD...: the completions bash offers for the last word.
  bash -c '
    source "$1"; shift
    COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
    _statectl
    printf "%s\n" "${COMPREPLY[@]}"' _ "$TEST_DIR/statectl.bash" "$@"
}

assert_eq "$(complete_words statectl conf)" "config" "statectl conf"
assert_eq "$(complete_words statectl config s)" "show" "statectl config s"
assert_eq "$(complete_words statectl --o)" "--output" "statectl --o"
assert_eq "$(complete_words statectl -o js)" "json" "statectl -o js"
assert_eq "$(complete_words statectl init --target k)" "k8s" "enum values of --target"
pass "bash completes commands, nested commands, options and enum values"

statectl completion zsh >"$TEST_DIR/_statectl"
assert_contains "$TEST_DIR/_statectl" "#compdef statectl"
if command -v zsh >/dev/null; then zsh -n "$TEST_DIR/_statectl" || fail "zsh syntax"; fi
statectl completion fish >"$TEST_DIR/statectl.fish"
assert_contains "$TEST_DIR/statectl.fish" "complete -c statectl -n '__fish_use_subcommand' -a config"
if command -v fish >/dev/null; then fish -n "$TEST_DIR/statectl.fish" || fail "fish syntax"; fi
pass "zsh and fish scripts are generated"

expect_exit 2 statectl completion tcsh
pass "unknown shell is a usage error"
