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

# The gaps: positional choices, a leading --backend (and the words after it), --skip names.
assert_eq "$(complete_words statectl completion "" | grep -v '^-')" "$(printf 'bash\nzsh\nfish')" "statectl completion <TAB>"
assert_eq "$(complete_words statectl scale po)" "$(printf 'postgres\npooler')" "statectl scale po<TAB>"
assert_eq "$(complete_words statectl --backend r)" "redis" "statectl --backend r<TAB>"
assert_eq "$(complete_words statectl --backend redis ge)" "get" "statectl --backend redis ge<TAB>"
assert_eq "$(complete_words statectl capacity check --skip backup_a)" "backup_age" "--skip names"
pass "bash: completion SHELL, scale COMPONENT, a leading --backend, --skip names"

# zsh: the generated function runs in a real zsh with compadd/_describe/_files stubbed to print
# what they are given (and PATH as the function sees it).
statectl completion zsh >"$TEST_DIR/_statectl"
assert_contains "$TEST_DIR/_statectl" "#compdef statectl"
if command -v zsh >/dev/null; then
  zsh -n "$TEST_DIR/_statectl" || fail "zsh syntax"
  zsh_complete() {
    # zsh_complete WORD...: what _statectl offers for the last word, one per line; _describe's
    # items also as "DESC:<name>:<description>" lines, and PATH as the function saw it.
    zsh -f -c '
      compdef() { :; }
      compadd() { [[ $1 == -- ]] && shift; print -rl -- "$@"; print -r -- "PATH=$PATH"; }
      _describe() { local -a items; local name=${@[-1]}; items=("${(@P)name}"); local i; for i in "${items[@]}"; do print -r -- "${i%%:*}"; print -r -- "DESC:$i"; done; print -r -- "PATH=$PATH"; }
      _files() { print -r -- "FILES"; }
      source "$1"; shift
      words=("$@"); CURRENT=$#
      _statectl' _ "$TEST_DIR/_statectl" "$@"
  }
  offered() { grep -v '^PATH=\|^DESC:'; }
  zsh_complete statectl "" >"$TEST_DIR/z1"
  assert_contains "$TEST_DIR/z1" "PATH=$PATH"
  assert_contains "$TEST_DIR/z1" "DESC:deploy:Validate, start and verify the stack on a target (default: local processes)"
  assert_contains "$TEST_DIR/z1" "DESC:checkpoint:Create, list or restore snapshots of a backend's whole key space"
  assert_eq "$(zsh_complete statectl completion "" | offered)" "$(printf 'bash\nzsh\nfish')" "zsh: completion <TAB>"
  assert_eq "$(zsh_complete statectl scale "" | offered)" "$(printf 'postgres\nredis\npooler')" "zsh: scale <TAB>"
  assert_eq "$(zsh_complete statectl --backend "" | offered)" "$(printf 'postgres\nredis')" "zsh: --backend <TAB>"
  zsh_complete statectl --backend redis "" | offered >"$TEST_DIR/z2"
  grep -qx get "$TEST_DIR/z2" || fail "zsh: no 'get' after a leading --backend redis"
  zsh_complete statectl capacity check --skip "" | offered >"$TEST_DIR/z3"
  grep -qx backup_age "$TEST_DIR/z3" || fail "zsh: --skip names"
  pass "zsh: PATH intact inside the function, descriptions whole, the same gaps filled"
fi

statectl completion fish >"$TEST_DIR/statectl.fish"
assert_contains "$TEST_DIR/statectl.fish" "complete -c statectl -n '__fish_use_subcommand' -a config"
if command -v fish >/dev/null; then
  fish -n "$TEST_DIR/statectl.fish" || fail "fish syntax"
  # fish completes a command line non-interactively with `complete -C`.
  fish_complete() { fish --no-config -c "source '$TEST_DIR/statectl.fish'; complete -C '$1'" | cut -f1; }
  assert_eq "$(fish_complete 'statectl completion ')" "$(printf 'bash\nfish\nzsh')" "fish: completion <TAB>"
  assert_eq "$(fish_complete 'statectl scale po')" "$(printf 'pooler\npostgres')" "fish: scale po<TAB>"
  assert_eq "$(fish_complete 'statectl --backend r')" "redis" "fish: --backend r<TAB>"
  fish_complete 'statectl capacity check --skip ' >"$TEST_DIR/f1"
  assert_contains "$TEST_DIR/f1" "backup_age"
  # `backup create` and `checkpoint create` are different commands with different options.
  fish_complete 'statectl checkpoint create --' >"$TEST_DIR/f2"
  assert_contains "$TEST_DIR/f2" "--name"
  assert_not_contains "$TEST_DIR/f2" "--type"
  pass "fish: completion SHELL, scale COMPONENT, --backend, --skip names, per-path options"
fi

expect_exit 2 statectl completion tcsh
pass "unknown shell is a usage error"
