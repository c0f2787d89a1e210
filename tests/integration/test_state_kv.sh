#!/usr/bin/env bash
# get/put/del/keys/ttl/gc, batches and checkpoints on both backends (PostgreSQL through PgBouncer
# in transaction pooling, Redis through Sentinel), with the real binary and real servers.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/state_lib.sh"
cd "$TEST_DIR"
start_state_servers

# redis_raw ARGS...: a plain redis-cli call on the Redis master.
redis_raw() {
  if [[ -n ${STATECTL_STATE_OWN_SERVERS:-} ]] || ! declare -F start_stack >/dev/null; then
    redis-cli -p "$(port 3)" "$@"
  else
    statectl redis-cli -- "$@"
  fi
}

python3 -c 'import sys; sys.stdout.buffer.write(b"a\x00b\x00\xff\xfe end")' >nul.bin
head -c 1048576 /dev/urandom >big.bin

for b in postgres redis; do
  # S SUBCOMMAND ARGS...: statectl on backend $b.
  S() { "$STATECTL" "$1" --backend "$b" "${@:2}"; }

  expect_exit 0 S put k/nul - <nul.bin
  run S get k/nul
  [[ $RC == 0 ]] && cmp -s "$OUT" nul.bin || fail "$b: NUL bytes did not round-trip"
  expect_exit 0 S put k/big - <big.bin
  run S get k/big
  cmp -s "$OUT" big.bin || fail "$b: 1 MiB value did not round-trip"
  pass "$b: values with NUL bytes and 1 MiB round-trip"

  expect_exit 1 S get k/absent
  assert_contains "$ERR" "key 'k/absent' not found"
  [[ ! -s $OUT ]] || fail "$b: get of an absent key printed something"
  expect_exit 1 S ttl k/absent
  pass "$b: absent key exits 1"

  # 3 s, not 1 s: on a loaded machine three statectl runs took longer than a second (the
  # fresh-clone CI run found k/short already expired at `ttl`).
  expect_exit 0 S put k/short hello --ttl 3s
  expect_exit 0 S get k/short
  assert_eq "$(cat "$OUT")" hello
  expect_exit 0 S ttl k/short
  python3 -c "import sys; v=float(sys.argv[1]); sys.exit(0 if 0 < v <= 3.0 else 1)" "$(cat "$OUT")" || fail "$b: ttl $(cat "$OUT")"
  sleep 4
  expect_exit 1 S get k/short
  expect_exit 0 S keys --prefix k/short
  [[ ! -s $OUT ]] || fail "$b: expired key still listed"
  pass "$b: a 3s TTL key is gone after 4s"

  expect_exit 2 S put k/x v --ttl 5parsecs
  assert_contains "$ERR" "invalid --ttl"
  expect_exit 2 S put k/x v --metadata '{bad'
  assert_contains "$ERR" "statectl: error: invalid --metadata: not valid JSON"
  expect_exit 2 S put k/x v --metadata '[1]'
  assert_contains "$ERR" "metadata must be a JSON object"
  STATECTL_STATE_MAX_VALUE_SIZE=1k expect_exit 2 S put k/x - <big.bin
  assert_contains "$ERR" "value of key 'k/x' is too large: 1048576 bytes is over [state] max_value_size"
  expect_exit 1 S get k/x
  pass "$b: bad ttl, metadata and oversized values are refused before writing"

  expect_exit 0 S put k/meta v1 --metadata '{"owner":"billing"}' --ttl 1h
  expect_exit 0 S keys --prefix k/ -o json
  assert_eq "$(json_get "$OUT" '[k["key"] for k in j["keys"]]')" "['k/big', 'k/meta', 'k/nul']"
  assert_eq "$(json_get "$OUT" '[k["size"] for k in j["keys"]]')" "[1048576, 2, 10]"
  json_get "$OUT" '3500 < j["keys"][1]["ttl"] <= 3600 and j["keys"][0]["ttl"] is None' | grep -qx True || fail "$b: keys ttl"
  json_get "$OUT" 'j["keys"][1]["updated_at"]' | grep -Eq '^20[0-9]{2}-[0-9]{2}-[0-9]{2}T' || fail "$b: updated_at"
  expect_exit 0 S keys --prefix k/ --limit 2
  assert_eq "$(cat "$OUT")" $'k/big\nk/meta'
  pass "$b: keys lists live keys with size, ttl and updated_at"

  # Eight concurrent --if-absent puts: exactly one wins.
  pids=()
  for i in 1 2 3 4 5 6 7 8; do
    (set +e; S put race "$i" --if-absent >"race.$i.out" 2>&1; echo $? >"race.$i.rc") &
    pids+=($!)
  done
  wait "${pids[@]}"
  wins=$(grep -lx 0 race.*.rc | wc -l)
  losers=$(grep -lx 1 race.*.rc | wc -l)
  assert_eq "$wins/$losers" "1/7" "$b: if-absent winners/losers"
  winner=$(grep -lx 0 race.*.rc | sed 's/race\.\([0-9]\)\.rc/\1/')
  expect_exit 0 S get race
  assert_eq "$(cat "$OUT")" "$winner" "$b: the stored value is the winner's"
  grep -q "key 'race' already exists" race.*.out || fail "$b: losers were not told why"
  pass "$b: 8 concurrent --if-absent puts, exactly one wins"

  expect_exit 0 S del race k/meta k/nothing
  assert_eq "$(cat "$OUT")" "deleted 2"
  expect_exit 1 S get race
  pass "$b: del deletes and counts"

  # Batches: 100k lines land completely; a bad line 50000 writes nothing and is named.
  python3 - <<'PY'
with open("batch.tsv", "w") as f:
    for i in range(100000):
        f.write(f"b/{i:06d}\tvalue-{i}\n")
lines = open("batch.tsv").read().splitlines()
lines = [l.replace("b/", "bad/", 1) for l in lines]
lines[49999] = "no tab on this line"
open("bad.tsv", "w").write("\n".join(lines) + "\n")
PY
  expect_exit 2 S put --batch bad.tsv
  assert_contains "$ERR" "statectl: error: invalid batch input: line 50000: expected key<TAB>value, found no tab"
  expect_exit 0 S keys --prefix bad/ --limit 1
  [[ ! -s $OUT ]] || fail "$b: a rejected batch wrote keys"
  pass "$b: a batch with a bad line 50000 writes nothing and names the line"

  expect_exit 0 S put --batch batch.tsv
  assert_eq "$(cat "$OUT")" "written 100000, errors 0"
  expect_exit 0 S keys --prefix b/
  assert_eq "$(wc -l <"$OUT")" 100000 "$b: batch keys"
  expect_exit 0 S get b/099999
  assert_eq "$(cat "$OUT")" value-99999
  pass "$b: a 100k-line batch lands completely"

  # Lines of one batch for the same key: the last wins, for new keys (PostgreSQL: straight COPY)
  # and for existing ones (PostgreSQL: staging table + upsert); keys and values with a backslash,
  # control and non-UTF-8 bytes round-trip on both paths.
  python3 - <<'PY2'
odd_k, odd_v = b"odd/\\k\xc3\xa9\x01", b"v\\al\x01\xff\x7f end"
open("dup-new.tsv", "wb").write(b"d/1\tfirst\nd/1\tsecond\n" + odd_k + b"\t" + odd_v + b"\n")
open("dup-old.tsv", "wb").write(b"b/000001\tfirst\nb/000001\tsecond\nd/1\tthird\n" + odd_k + b"\t" + odd_v + b"2\n")
open("odd.key", "wb").write(odd_k)
open("odd.value", "wb").write(odd_v)
open("odd.value2", "wb").write(odd_v + b"2")
PY2
  expect_exit 0 S put --batch dup-new.tsv
  assert_eq "$(cat "$OUT")" "written 3, errors 0"
  assert_eq "$(S get d/1)" second "$b: last line of a new key"
  S get "$(cat odd.key)" | cmp -s - odd.value || fail "$b: odd bytes in a new key"
  expect_exit 0 S put --batch dup-old.tsv
  assert_eq "$(S get b/000001)" second "$b: last line of an existing key"
  assert_eq "$(S get d/1)" third "$b: existing key in a later batch"
  S get "$(cat odd.key)" | cmp -s - odd.value2 || fail "$b: odd bytes in an existing key"
  expect_exit 0 S del d/1 "$(cat odd.key)"
  pass "$b: the last line of a key wins, new or existing; odd bytes round-trip"

  printf '%s\n' '{"key":"n/1","value_b64":"AAEC","ttl":"1h","metadata":{"a":1}}' '{"key":"n/2","value":"two"}' |
    S put --batch - --format ndjson >"$OUT" || fail "$b: ndjson batch"
  S get n/1 | cmp -s - <(printf '\x00\x01\x02') || fail "$b: value_b64"
  expect_exit 0 S ttl n/1
  python3 -c "import sys; sys.exit(0 if 3500 < float(sys.argv[1]) <= 3600 else 1)" "$(cat "$OUT")" || fail "$b: ndjson ttl"
  printf '%s\n' '{"key":"n/3","value":"x"}' '{"key":"n/4","value":"y","colour":1}' |
    expect_exit 2 S put --batch - --format ndjson
  assert_contains "$ERR" 'line 2: unknown field "colour"'
  pass "$b: ndjson batches with value_b64, ttl and metadata"

  # The last line of a key wins also between TTL lines and plain ones (PostgreSQL COPYs the plain
  # lines of a window straight into the table while it reads them); a bad line at the end of a
  # batch from stdin, read after the first lines were sent, still leaves nothing written.
  printf '%s\n' '{"key":"o/1","value":"old","ttl":"1h"}' '{"key":"o/1","value":"new"}' \
    '{"key":"o/2","value":"a"}' '{"key":"o/2","value":"b","ttl":"1h"}' |
    S put --batch - --format ndjson >"$OUT" || fail "$b: mixed ttl batch"
  assert_eq "$(S get o/1)" new "$b: a plain line after a TTL line"
  assert_eq "$(S ttl o/1)" none "$b: the plain line's key has no expiry"
  assert_eq "$(S get o/2)" b "$b: a TTL line after a plain line"
  expect_exit 0 S ttl o/2
  [[ $(cat "$OUT") != none ]] || fail "$b: the TTL line's key has an expiry"
  printf 'p/1\tx\np/2\ty\nbroken\n' | expect_exit 2 S put --batch -
  assert_contains "$ERR" "line 3: expected key<TAB>value, found no tab"
  expect_exit 0 S keys --prefix p/
  [[ ! -s $OUT ]] || fail "$b: a rejected batch from stdin wrote keys"
  expect_exit 0 S del o/1 o/2
  pass "$b: the last line wins across TTL and plain lines; a bad last line from stdin writes nothing"

  # Checkpoints: create, modify, restore gives back exactly the snapshot.
  # (A Redis checkpoint blocks the server while its script runs, so keep this key space small.)
  S keys --prefix b/ | xargs -n 20000 "$STATECTL" del --backend "$b" >/dev/null
  for i in 1 2 3; do S put "cp/$i" "v$i" >/dev/null; done
  S keys -o json >before.json
  expect_exit 0 S checkpoint create --name before -o json
  id=$(json_get "$OUT" 'j["id"]')
  expect_exit 0 S put cp/1 changed
  expect_exit 0 S del cp/2
  expect_exit 0 S put cp/new extra
  expect_exit 0 S checkpoint list -o json
  json_get "$OUT" '[c["name"] for c in j["checkpoints"] if c["id"] == "'"$id"'"]' | grep -q before || fail "$b: checkpoint list"
  expect_exit 0 S checkpoint restore "$id"
  assert_contains "$OUT" "restored checkpoint $id"
  S keys -o json >after.json
  python3 - before.json after.json <<'PY' || fail "$b: restored key space differs"
import json, sys
a, b = (json.load(open(p))["keys"] for p in sys.argv[1:])
strip = lambda ks: [(k.get("key"), k.get("key_b64"), k["size"], k["ttl"] is None) for k in ks]
sys.exit(0 if strip(a) == strip(b) else 1)
PY
  for i in 1 2 3; do assert_eq "$(S get "cp/$i")" "v$i" "$b: restored cp/$i"; done
  expect_exit 1 S get cp/new
  expect_exit 1 S checkpoint restore 999999
  assert_contains "$ERR" "checkpoint 999999 not found"
  pass "$b: checkpoint create, modify, restore gives back exactly the snapshot"
done

# Redis stores the value so that a plain GET returns it.
statectl put --backend redis plain/k "plain value" >/dev/null
assert_eq "$(redis_raw GET statectl:plain/k)" "plain value" "redis-cli GET"
pass "redis: plain redis-cli GET <prefix><key> returns the value"

# PostgreSQL: expired rows stay until gc deletes them.
statectl put --backend postgres gc/a x --ttl 300ms >/dev/null
statectl put --backend postgres gc/b x --ttl 300ms >/dev/null
sleep 0.5
expect_exit 0 statectl gc --backend postgres
assert_eq "$(cat "$OUT")" "deleted 2 expired keys"
expect_exit 0 statectl gc --backend postgres -o json
assert_eq "$(json_get "$OUT" 'j["deleted"]')" 0
pass "postgres: gc deletes expired rows and prints the count"

expect_exit 0 statectl --dry-run put --backend postgres dry/k v
assert_contains "$OUT" "would put key 'dry/k' (1 bytes)"
expect_exit 1 statectl get --backend postgres dry/k
pass "--dry-run put changes nothing"

# An unreachable server: retried with backoff, then exit 3 naming the address.
cat >down.toml <<CONF
[local]
dir = "$TEST_DIR/down"
pgbouncer_port = $(port 150)
redis_port = $(port 151)
[redis]
mode = "standalone"
[state]
connect_retries = 3
retry_initial = "50ms"
CONF
expect_exit 3 statectl -c down.toml get --backend postgres k
assert_contains "$ERR" "statectl: error: cannot connect to postgresql at 127.0.0.1:$(port 150)"
assert_contains "$ERR" "(after 3 attempts)"
expect_exit 3 statectl -c down.toml get --backend redis k
assert_contains "$ERR" "statectl: error: cannot connect to redis at 127.0.0.1:$(port 151)"
pass "an unreachable backend exits 3 with the address after the retries"
