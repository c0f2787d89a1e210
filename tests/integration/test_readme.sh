#!/usr/bin/env bash
# The README's config reference is the output of `statectl config keys --markdown`, and the README's
# two commands are what .ci/run runs.
source "$(dirname "$0")/lib.sh"
readme="$STATECTL_SOURCE_DIR/README.md"

sed -n '/<!-- BEGIN config-keys -->/,/<!-- END config-keys -->/p' "$readme" | sed '1d;$d' >"$TEST_DIR/readme-keys.md"
statectl config keys --markdown >"$TEST_DIR/keys.md"
diff -u "$TEST_DIR/keys.md" "$TEST_DIR/readme-keys.md" >"$TEST_DIR/diff" ||
  { cat "$TEST_DIR/diff" >&2; fail "README config reference is stale: regenerate it with 'statectl config keys --markdown'"; }
pass "README config reference matches the key table"

ci_command=$(grep -v '^#' "$STATECTL_SOURCE_DIR/.ci/run" | grep 'install-deps.sh --test')
grep -qxF -- "$ci_command" "$readme" || fail ".ci/run does not run the README's test command"
pass ".ci/run runs exactly the README's second command"

# Every command of the table is documented in the README.
statectl completion bash | sed -n 's/^      statectl\/\([a-z-]*\)) path=.*/\1/p' | sort -u >"$TEST_DIR/commands"
while read -r cmd; do
  [[ $cmd == completion || $cmd == version || $cmd == init ]] && continue
  grep -q "statectl $cmd" "$readme" || fail "README does not mention 'statectl $cmd'"
done <"$TEST_DIR/commands"
pass "every command appears in the README"
