#!/usr/bin/env bash
# Limits of the state commands on both backends (issue 20, items 8, 9 and 11): metadata nested
# 100,000 deep, durations that would overflow a clock, keys over PostgreSQL's index entry limit.
# Each is refused with exit 2 and a message before anything is written; values at the limit work.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/state_lib.sh"
cd "$TEST_DIR"
STATECTL_STATE_OWN_SERVERS=1 start_state_servers

# nested N: a JSON object nested N levels deep.
nested() { python3 -c 'import sys; n=int(sys.argv[1]); sys.stdout.write("{\"a\":" * (n - 1) + "{}" + "}" * (n - 1))' "$1"; }
nested 100000 >deep.json
# 30,000 levels as arrays inside an object: small enough for one argv word (128 KiB).
python3 -c 'import sys; sys.stdout.write("{\"a\":" + "[" * 29999 + "]" * 29999 + "}")' >deep30k.json
nested 128 >ok128.json
{ printf '{"key":"deep/1","value":"v","metadata":'; cat deep.json; printf '}\n'; } >deep.ndjson
# An incompressible 4000-byte key: PostgreSQL cannot compress it below its 2704-byte index limit.
python3 -c 'import secrets; print("long/" + secrets.token_hex(1998), end="")' >long.key
python3 -c 'print("k" * 1024, end="")' >max.key

for b in postgres redis; do
  # S SUBCOMMAND ARGS...: statectl on backend $b.
  S() { "$STATECTL" "$1" --backend "$b" "${@:2}"; }

  # Item 8: deep metadata crashed with SIGSEGV (batch) or gave PostgreSQL's "stack depth limit
  # exceeded" (--metadata); now exit 2 and nothing written.
  expect_exit 2 S put --batch deep.ndjson --format ndjson
  assert_contains "$ERR" "statectl: error: invalid batch input: line 1: metadata is nested more than 128 levels deep"
  expect_exit 2 S put deep/2 v --metadata "$(cat deep30k.json)"
  assert_contains "$ERR" "statectl: error: invalid --metadata: metadata is nested more than 128 levels deep"
  assert_not_contains "$ERR" "stack depth"
  expect_exit 0 S keys --prefix deep/
  [[ ! -s $OUT ]] || fail "$b: refused deep metadata wrote a key"
  expect_exit 0 S put deep/ok v --metadata "$(cat ok128.json)"
  { printf '{"key":"deep/ok2","value":"v","metadata":'; cat ok128.json; printf '}\n'; } | S put --batch - --format ndjson >"$OUT" ||
    fail "$b: a batch with metadata 128 levels deep was refused"
  assert_eq "$(S get deep/ok2)" v "$b: deep/ok2"
  pass "$b: metadata nested 100,000 and 30,000 deep exits 2; 128 levels are stored"

  # Item 9: a TTL of 2562048h overflowed the steady clock: the command was stopped at once (76)
  # and the lease stayed for centuries.
  expect_exit 2 S lock huge --ttl 2562048h -- true
  assert_contains "$ERR" "statectl: error: invalid --ttl: duration '2562048h' is too large (at most 36500d, about 100 years)"
  expect_exit 2 S lock huge --wait 9999999h -- true
  assert_contains "$ERR" "invalid --wait: duration '9999999h' is too large"
  expect_exit 2 S put huge/k v --ttl 2562048h
  assert_contains "$ERR" "invalid --ttl: duration '2562048h' is too large"
  STATECTL_STATE_TIMEOUT=2562048h expect_exit 2 S get huge/k
  assert_contains "$ERR" "duration '2562048h' is too large"
  expect_exit 0 S locks -o json
  assert_eq "$(json_get "$OUT" 'len(j["locks"])')" 0 "$b: a refused lock left a lease"
  # The largest TTL works: the command runs (exit 0, not 76) and the lease is released.
  expect_exit 0 S lock huge --ttl 36500d --wait 36500d -- sh -c 'test -n "$STATECTL_LOCK_TOKEN"'
  expect_exit 0 S locks -o json
  assert_eq "$(json_get "$OUT" 'len(j["locks"])')" 0 "$b: the 36500d lease was not released"
  expect_exit 0 S put huge/k v --ttl 36500d
  expect_exit 0 S ttl huge/k
  python3 -c "import sys; sys.exit(0 if 3.15e9 < float(sys.argv[1]) <= 3153600000 else 1)" "$(cat "$OUT")" || fail "$b: ttl $(cat "$OUT")"
  pass "$b: durations over 36500d exit 2; 36500d itself works"

  # Item 11: a key over PostgreSQL's index row limit gave the raw server error (exit 1) there and
  # was stored on Redis; now both refuse it (exit 2) with the limit, and 1024 bytes work.
  expect_exit 2 S put "$(cat long.key)" v
  assert_contains "$ERR" "statectl: error: invalid key: a key is at most 1024 bytes, this one has 4001"
  assert_contains "$ERR" "hint: "
  assert_not_contains "$ERR" "index row"
  expect_exit 2 S get "$(cat long.key)"
  expect_exit 2 S del "$(cat long.key)"
  { cat long.key; printf '\tv\n'; } >long.tsv
  expect_exit 2 S put --batch long.tsv
  assert_contains "$ERR" "invalid batch input: line 1: a key is at most 1024 bytes, this one has 4001"
  expect_exit 0 S keys --prefix long/
  [[ ! -s $OUT ]] || fail "$b: a refused long key was written"
  expect_exit 0 S put "$(cat max.key)" at-the-limit
  assert_eq "$(S get "$(cat max.key)")" at-the-limit "$b: 1024-byte key"
  pass "$b: keys over 1024 bytes exit 2 on put, get, del and batches; 1024 bytes work"
done

# Issue 21: a Redis batch streams with bounded memory. 1M lines (61 MB) from a file, then from a
# pipe (copied to an unlinked temporary file to be read twice), each under 64 MiB peak RSS; a bad
# last line of 1M from a pipe still writes nothing (exit 2). peak_rss FILE CMD...: CMD's exit
# code, its peak resident memory (KiB) in FILE, its stdout in $OUT and stderr in $ERR.
peak_rss() {
  python3 -c 'import os, subprocess, sys
p = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(p.pid, 0)
open(sys.argv[1], "w").write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))' "$@" >"$OUT" 2>"$ERR"
}
python3 -c '
with open("million.tsv", "w") as f:
    for i in range(1000000): f.write(f"m/{i:07d}\tvalue-{i:07d}-" + "x" * 32 + "\n")'
{ cat million.tsv; echo "no tab on the last line"; } >million-bad.tsv
peak_rss rss.txt "$STATECTL" put --backend redis --batch - <million-bad.tsv && fail "a bad last line was accepted"
assert_contains "$ERR" "invalid batch input: line 1000001: expected key<TAB>value, found no tab"
cat million-bad.tsv | { peak_rss rss.txt "$STATECTL" put --backend redis --batch - && fail "a bad last line from a pipe was accepted"; true; }
assert_contains "$ERR" "invalid batch input: line 1000001: expected key<TAB>value, found no tab"
assert_eq "$("$STATECTL" keys --backend redis --prefix m/ --limit 1)" "" "keys written by a rejected batch"
peak_rss rss.txt "$STATECTL" put --backend redis --batch million.tsv || fail "1M-line batch: $(cat "$ERR")"
assert_eq "$(cat "$OUT")" "written 1000000, errors 0"
(($(cat rss.txt) < 65536)) || fail "1M-line Redis batch from a file: peak RSS $(cat rss.txt) KiB, over 64 MiB"
echo "1M-line Redis batch from a file: peak RSS $(cat rss.txt) KiB"
cat million.tsv | peak_rss rss.txt "$STATECTL" put --backend redis --batch - || fail "1M-line batch from a pipe: $(cat "$ERR")"
(($(cat rss.txt) < 65536)) || fail "1M-line Redis batch from a pipe: peak RSS $(cat rss.txt) KiB, over 64 MiB"
echo "1M-line Redis batch from a pipe: peak RSS $(cat rss.txt) KiB"
assert_eq "$("$STATECTL" get --backend redis m/0999999)" "value-0999999-$(printf 'x%.0s' {1..32})"
assert_eq "$(redis-cli -p "$(port 3)" --scan --pattern 'statectl:m/*' | wc -l)" 1000000 "keys after the 1M-line batch"
pass "redis: 1M-line batches from a file and a pipe stay under 64 MiB; a bad line 1000001 writes nothing"

# Issue 21: 1M keys through keys, checkpoint create and checkpoint restore with the default
# settings (no raised [state] timeout), each under 64 MiB peak RSS, on both backends. On Redis the
# checkpoint runs in bounded steps: the master is never blocked long enough for the Sentinel
# (down-after 5 s, as statectl's stacks have) to call it down.
rcli() { redis-cli -p "$(port 3)" "$@"; }
sentinel_log="$TEST_DIR/servers/sentinel.log"
[[ -f $sentinel_log ]] || fail "no Sentinel log at $sentinel_log"
redis-cli -p "$(port 4)" SENTINEL SET mymaster down-after-milliseconds 5000 >/dev/null
peak_rss rss.txt "$STATECTL" put --backend postgres --batch million.tsv || fail "1M-line PostgreSQL batch: $(cat "$ERR")"
assert_eq "$(cat "$OUT")" "written 1000000, errors 0"
(($(cat rss.txt) < 65536)) || fail "1M-line PostgreSQL batch: peak RSS $(cat rss.txt) KiB, over 64 MiB"
echo "1M-line PostgreSQL batch: peak RSS $(cat rss.txt) KiB"
for b in postgres redis; do
  sdown_before=$(grep -c '+sdown master mymaster' "$sentinel_log" || true)
  peak_rss rss.txt "$STATECTL" keys --backend "$b" --prefix m/ || fail "$b: keys of 1M: $(cat "$ERR")"
  assert_eq "$(wc -l <"$OUT")" 1000000 "$b: keys listed"
  (($(cat rss.txt) < 65536)) || fail "$b: keys of 1M: peak RSS $(cat rss.txt) KiB, over 64 MiB"
  echo "$b: keys of 1M: peak RSS $(cat rss.txt) KiB"
  peak_rss rss.txt "$STATECTL" checkpoint create --backend "$b" --name million -o json || fail "$b: checkpoint of 1M: $(cat "$ERR")"
  id=$(json_get "$OUT" 'j["id"]')
  (($(json_get "$OUT" 'j["keys"]') >= 1000000)) || fail "$b: checkpoint holds $(json_get "$OUT" 'j["keys"]') keys"
  (($(cat rss.txt) < 65536)) || fail "$b: checkpoint create of 1M: peak RSS $(cat rss.txt) KiB, over 64 MiB"
  echo "$b: checkpoint create of 1M: peak RSS $(cat rss.txt) KiB"
  # Change the key space, then restore: the checkpoint's keys come back, the new one goes.
  "$STATECTL" del --backend "$b" m/0000000 m/0500000 >/dev/null
  "$STATECTL" put --backend "$b" after/checkpoint x >/dev/null
  peak_rss rss.txt "$STATECTL" checkpoint restore --backend "$b" "$id" || fail "$b: restore of 1M: $(cat "$ERR")"
  (($(cat rss.txt) < 65536)) || fail "$b: checkpoint restore of 1M: peak RSS $(cat rss.txt) KiB, over 64 MiB"
  echo "$b: checkpoint restore of 1M: peak RSS $(cat rss.txt) KiB"
  assert_eq "$("$STATECTL" get --backend "$b" m/0500000)" "value-0500000-$(printf 'x%.0s' {1..32})" "$b: a deleted key after restore"
  expect_exit 1 "$STATECTL" get --backend "$b" after/checkpoint
  [[ $(grep -c '+sdown master mymaster' "$sentinel_log" || true) == "$sdown_before" ]] || fail "$b: the Sentinel called the Redis master down during the 1M-key operations"
done
assert_eq "$(rcli --scan --pattern 'statectl:m/*' | wc -l)" 1000000 "Redis keys after the restore"
assert_eq "$(rcli --scan --pattern 'statectl#statectl:checkpoint:pending' | wc -l)" 0 "an unfinished-checkpoint record left behind"
pass "1M keys: keys, checkpoint create and restore with default settings under 64 MiB on both backends; Redis never called down"

# A checkpoint written by an earlier statectl (one hash per part, no "chunks" in its record)
# still restores.
rcli HSET 'statectl#statectl:checkpoint:900:v' legacy/a one legacy/b two >/dev/null
rcli HSET 'statectl#statectl:checkpoint:900:x' legacy/b "$(( ($(date +%s) + 3600) * 1000 ))" >/dev/null
rcli HSET 'statectl#statectl:checkpoints' 900 '{"id":"900","name":"old","created":1,"keys":2,"bytes":20}' >/dev/null
expect_exit 0 "$STATECTL" checkpoint restore --backend redis 900
assert_eq "$("$STATECTL" get --backend redis legacy/a)" one "legacy checkpoint: a key"
ttl=$(rcli PTTL statectl:legacy/b)
((ttl > 3500000 && ttl <= 3600000)) || fail "legacy checkpoint: the TTL of legacy/b is $ttl ms"
assert_eq "$(rcli --scan --pattern 'statectl:m/*' | wc -l)" 0 "keys not in the legacy checkpoint"
pass "a checkpoint in the earlier one-hash format restores"
