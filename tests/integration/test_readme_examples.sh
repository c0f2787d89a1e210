#!/usr/bin/env bash
# Runs the README's examples as written: every ```sh block of the real README.md (read at test
# time), in README order, from a directory where ./build/statectl is the binary under test and a
# plain `statectl` on PATH is the same binary. Only what must be private to the test is redirected,
# through the environment, never by editing a command:
#   - every [local] port into this test's range and the state directory into $TEST_DIR
#     (STATECTL_LOCAL_* variables, which win over any config file an example passes with -c);
#   - the fixed paths the examples write (/tmp/..., /etc/statectl/..., /srv/...) are private: the
#     blocks run in a private mount namespace where /tmp and /srv are directories of $TEST_DIR
#     and /etc an overlay whose changes land in $TEST_DIR, so nothing lands on the machine.
# Each block runs as one `bash -e` script (set -e per block, no pipefail, as a reader's shell would
# run it); a failing block fails the test, printing its README line, its text and its output.
# Blocks the README marks right above the fence with
#   <!-- readme-test: skip (REASON) -->   are not run (the reason is printed);
#   <!-- readme-test: expect-fail -->     must exit non-zero (an error shown on purpose).
# Output shown in a block as whole-line comments is checked: each "# statectl: error: ..." line must
# be on the block's stderr and "# exit N" must be its exit status.
# The examples assume a running local stack (the Quick start's first command deploys it, and the
# tour destroys it with --purge), so before each block the stack is deployed when `status` does not
# report it healthy. At exit the stack is destroyed with --purge and leftovers are killed.
source "$(dirname "$0")/lib.sh"
readme="$STATECTL_SOURCE_DIR/README.md"
[[ -f $readme ]] || fail "no README at $readme"
command -v unshare >/dev/null || skip "unshare (util-linux) is missing"
[[ $(id -u) == 0 ]] || skip "needs root for a private mount namespace"

# The reader's checkout: ./build/statectl is the binary under test; `statectl` on PATH too.
REPO="$TEST_DIR/repo"
mkdir -p "$REPO/build" "$TEST_DIR/bin" "$TEST_DIR/blocks" "$TEST_DIR/private/tmp" \
  "$TEST_DIR/private/srv"
ln -s "$STATECTL" "$REPO/build/statectl"
ln -s "$STATECTL" "$TEST_DIR/bin/statectl"
chmod 0755 "$REPO" "$REPO/build" "$TEST_DIR/private" "$TEST_DIR/private/tmp" "$TEST_DIR/private/srv"
chmod 1777 "$TEST_DIR/private/tmp"

# Only what must be private: ports, state directory, and no configuration of the caller's.
unset STATECTL_CONFIG STATECTL_ENV STATECTL_MASTER_KEY
export PATH="$TEST_DIR/bin:$PATH"
export STATECTL_LOCAL_DIR="$TEST_DIR/stack"
export STATECTL_LOCAL_POSTGRES_PORT=$(port 0) STATECTL_LOCAL_PGBOUNCER_PORT=$(port 20)
export STATECTL_LOCAL_REDIS_PORT=$(port 30) STATECTL_LOCAL_SENTINEL_PORT=$(port 50)
export STATECTL_LOCAL_ETCD_PORT=$(port 60) STATECTL_LOCAL_PATRONI_PORT=$(port 70)
export STATECTL_LOCAL_HAPROXY_PORT=$(port 90) STATECTL_LOCAL_PROMETHEUS_PORT=$(port 100)
export STATECTL_LOCAL_POSTGRES_EXPORTER_PORT=$(port 110) STATECTL_LOCAL_REDIS_EXPORTER_PORT=$(port 120)

# Whatever happens: destroy the stack with --purge, then stop any server still running from here.
leftovers() {
  local pids
  pids=$(pgrep -f -- "$TEST_DIR/" || true)
  [[ -z $pids ]] || kill_wait $pids
}
on_exit leftovers
on_exit "cd '$REPO' && '$STATECTL' destroy --purge"

# Extract the blocks: one file per ```sh fence (NNN.sh) and its metadata (NNN.meta: README line,
# section, directive from an <!-- readme-test: ... --> comment right above the fence).
python3 - "$readme" "$TEST_DIR/blocks" <<'PY'
import re, sys, os
lines = open(sys.argv[1], encoding="utf-8").read().split("\n")
out, n, section, i = sys.argv[2], 0, "", 0
while i < len(lines):
    line = lines[i]
    if line.startswith("## "):
        section = line[3:].strip()
    if line.strip() == "```sh":
        start, body, i = i + 1, [], i + 1
        while i < len(lines) and lines[i].strip() != "```":
            body.append(lines[i]); i += 1
        j = start - 2
        while j >= 0 and not lines[j].strip():
            j -= 1
        m = re.match(r"\s*<!--\s*readme-test:\s*(skip|expect-fail)\s*(.*?)\s*-->\s*$", lines[j] if j >= 0 else "")
        n += 1
        with open(os.path.join(out, "%03d.sh" % n), "w") as f:
            f.write("\n".join(body) + "\n")
        with open(os.path.join(out, "%03d.meta" % n), "w") as f:
            f.write("%d\n%s\n%s\n%s\n" % (start, section, m.group(1) if m else "run", m.group(2) if m else ""))
    elif line.strip().startswith("```"):
        i += 1  # other fences (toml, text, plain): skip to their end
        while i < len(lines) and not lines[i].strip().startswith("```"):
            i += 1
    i += 1
PY
blocks=("$TEST_DIR"/blocks/*.sh)
[[ -e ${blocks[0]} ]] || fail "no \`\`\`sh block found in $readme"

# in_private_ns SCRIPT: runs a script in a private mount namespace: /tmp and /srv are directories
# of $TEST_DIR ($TEST_DIR itself stays visible at its own path) and /etc is an overlay whose
# changes land in $TEST_DIR, so an example that writes /etc/statectl/... works as on a fresh
# machine and changes nothing here. Servers a block starts keep its namespace (and overlay) alive,
# so each block gets a fresh overlay upper directory that starts as a copy of the previous one.
mkdir -p "$TEST_DIR/private/tmp/$(basename "$TEST_DIR")" "$TEST_DIR/private/etc.0"
etc_gen=0
in_private_ns() {
  local prev="$TEST_DIR/private/etc.$etc_gen"
  etc_gen=$((etc_gen + 1))
  cp -a "$prev" "$TEST_DIR/private/etc.$etc_gen"
  mkdir "$TEST_DIR/private/etc-work.$etc_gen"
  unshare -m --propagation private env NS_TEST_DIR="$TEST_DIR" NS_SCRIPT="$1" NS_GEN="$etc_gen" bash -c '
    set -e
    mount --bind "$NS_TEST_DIR" "$NS_TEST_DIR/private/tmp/$(basename "$NS_TEST_DIR")"
    [[ -d /srv ]] && mount --bind "$NS_TEST_DIR/private/srv" /srv
    mount -t overlay overlay -o "lowerdir=/etc,upperdir=$NS_TEST_DIR/private/etc.$NS_GEN,workdir=$NS_TEST_DIR/private/etc-work.$NS_GEN" /etc
    mount --rbind "$NS_TEST_DIR/private/tmp" /tmp
    cd "$NS_TEST_DIR/repo"
    exec bash -e "$NS_SCRIPT" </dev/null'
}

ran=0 skipped=0 expected_failures=0
for block in "${blocks[@]}"; do
  meta=${block%.sh}.meta
  line=$(sed -n 1p "$meta") section=$(sed -n 2p "$meta") mode=$(sed -n 3p "$meta") why=$(sed -n 4p "$meta" | sed "s/^(//; s/)$//")
  where="README.md:$line ($section)"
  if [[ $mode == skip ]]; then
    echo "skip  $where: $why"
    skipped=$((skipped + 1))
    continue
  fi
  # The stack the examples assume: deployed when it is not running and healthy.
  if ! (cd "$REPO" && "$STATECTL" status) >/dev/null 2>&1; then
    (cd "$REPO" && "$STATECTL" deploy) >"$TEST_DIR/deploy.out" 2>&1 ||
      { cat "$TEST_DIR/deploy.out" >&2; fail "could not deploy the local stack before $where"; }
  fi
  set +e
  in_private_ns "$block" >"$OUT" 2>"$ERR"
  RC=$?
  set -e
  # Output a block shows as whole-line comments is checked too: "# statectl: error: ..." must be
  # on its stderr and "# exit N" must be its exit status.
  while IFS= read -r shown; do
    grep -qF -- "${shown#\# }" "$ERR" ||
      { echo "--- block:" >&2; cat "$block" >&2; fail "$where: the error the README shows is not what statectl printed: ${shown#\# }"; }
  done < <(grep '^# statectl: error: ' "$block" || true)
  if shown=$(grep -m1 -E '^# exit [0-9]+$' "$block"); then
    [[ $RC == "${shown#\# exit }" ]] ||
      { echo "--- block:" >&2; cat "$block" >&2; fail "$where: the README shows '${shown#\# }', the block exited $RC"; }
  fi
  if [[ $mode == expect-fail ]]; then
    [[ $RC != 0 ]] || { echo "--- block:" >&2; cat "$block" >&2; fail "$where: the block marked expect-fail exited 0"; }
    expected_failures=$((expected_failures + 1))
    echo "ok    $where: failed as the README shows (exit $RC)"
  else
    [[ $RC == 0 ]] || { echo "--- block:" >&2; cat "$block" >&2; fail "$where: block exited $RC"; }
    echo "ok    $where"
  fi
  ran=$((ran + 1))
  # Nothing the examples wrote may be a secret in their output.
  for s in "$STATECTL_LOCAL_DIR"/secrets/*; do
    [[ -f $s && $(basename "$s") != *.* ]] || continue
    v=$(cat "$s" 2>/dev/null || true)
    [[ ${#v} -lt 16 ]] && continue
    ! grep -qF -- "$v" "$OUT" "$ERR" ||
      fail "$where: the value of secret $(basename "$s") appears in the block's output"
  done
done
pass "README examples: $ran blocks ran ($expected_failures failing on purpose), $skipped skipped"
