#!/usr/bin/env bash
# [redis] mode = "cluster" on the local target: 3 masters x 1 replica as real redis-server
# processes formed with redis-cli --cluster create, the state commands on it (slot routing,
# MOVED/ASK), a reshard while a batch runs, a restart that brings the same cluster back, and
# destroy. TLS and ACL users by default (issue 16): plain text refused, the app user limited to
# its prefix. Ports: nodes $(port 30).., their cluster bus $(port 130).. (see lib.sh).
source "$(dirname "$0")/lib.sh"
for p in redis-server redis-cli; do command -v "$p" >/dev/null || skip "needs $p"; done

start_stack $'[redis]\nmode = "cluster"\ncluster_masters = 3\ncluster_replicas = 1\ncluster_node_timeout = "2s"\n[state]\nbackend = "redis"'

# node N ARGS...: redis-cli on the Nth node as the admin user over TLS (no redirects followed).
node() { rcli_auth "$(port $((30 + $1)))" "${@:2}"; }
# cli_args: the redis-cli options of node() for tools that take them directly (the CA and user).
cli_args=(--tls --cacert "$(stack_tls_ca)" --user statectl-admin --no-auth-warning)

# --- the cluster as deployed -------------------------------------------------------------------
expect_exit 0 statectl status -o json
assert_eq "$(json_get "$OUT" 'len([c for c in j["components"] if c["kind"] == "redis"])')" 6
assert_eq "$(json_get "$OUT" 'sorted(c["role"] for c in j["components"] if c["kind"] == "redis")')" \
  "['master', 'master', 'master', 'replica', 'replica', 'replica']"
assert_eq "$(json_get "$OUT" 'all(c["healthy"] and "offset" in c for c in j["components"] if c["kind"] == "redis")')" True
assert_eq "$(json_get "$OUT" 'len([c for c in j["components"] if c["kind"] == "sentinel"])')" 0
# TLS by default: status reports TLS 1.3 on every node's link.
assert_eq "$(json_get "$OUT" 'sorted(set(c.get("tls_protocol") for c in j["components"] if c["kind"] == "redis"))')" "['TLSv1.3']" "cluster links encrypted"
statectl -o json config show >cfg.json
assert_eq "$(json_get cfg.json 'j["tls"]["enabled"]')" True "tls.enabled of a cluster config"
# The masters' slot ranges cover the 16384 slots exactly once.
json_get "$OUT" '[c["slots"] for c in j["components"] if c["role"] == "master"]' >slots.txt
python3 - slots.txt <<'EOF' || fail "the masters' slots do not cover 0-16383: $(cat slots.txt)"
import ast, sys
covered = []
for spec in ast.literal_eval(open(sys.argv[1]).read()):
    for part in spec.split(","):
        a, _, b = part.partition("-")
        covered += range(int(a), int(b or a) + 1)
sys.exit(0 if sorted(covered) == list(range(16384)) else 1)
EOF
for i in 0 1 2 3 4 5; do
  ss -ltn | grep -q "127.0.0.1:$(port $((130 + i))) " || fail "node $i has no cluster bus on $(port $((130 + i)))"
  ! ss -ltn | grep -q ":$(($(port $((30 + i))) + 10000)) " || fail "node $i listens on Redis' default bus port"
done
assert_eq "$(node 0 CLUSTER INFO | tr -d '\r' | grep cluster_state)" "cluster_state:ok"
expect_exit 0 statectl status
assert_contains "$OUT" "SLOTS"
assert_contains "$OUT" "redis:      cluster 127.0.0.1:$(port 30)"
pass "deploy: 3 masters covering every slot, 3 replicas, bus ports in the test's range, status shows slots and offsets"

# --- TLS and ACL users by default -----------------------------------------------------------------
CA=$(stack_tls_ca) || fail "the cluster stack has no CA"
for i in 0 3; do
  p=$(port $((30 + i)))
  run env REDISCLI_AUTH="$(cat stack/secrets/redis)" timeout 10 redis-cli -h 127.0.0.1 -p "$p" --user statectl-admin PING
  if grep -qx PONG "$OUT"; then fail "a plain-text PING to cluster node 127.0.0.1:$p was answered"; fi
  timeout 10 openssl s_client -connect "127.0.0.1:$p" -CAfile "$CA" -verify_return_error -verify_ip 127.0.0.1 -brief -tls1_3 </dev/null >"$OUT" 2>&1 ||
    fail "TLS 1.3 handshake with cluster node $p failed: $(cat "$OUT")"
  assert_contains "$OUT" "Protocol version: TLSv1.3"
  assert_contains "$OUT" "Verification: OK"
  # The cluster bus speaks mutual TLS (tls-cluster yes): a peer shows the stack's certificate.
  timeout 10 openssl s_client -connect "127.0.0.1:$(port $((130 + i)))" -CAfile "$CA" -verify_return_error -brief \
    -cert stack/tls/server.crt -key stack/tls/server.key </dev/null >"$OUT" 2>&1 ||
    fail "TLS handshake with cluster bus $(port $((130 + i))) failed: $(cat "$OUT")"
  assert_contains "$OUT" "Protocol version: TLSv1.3"
done
grep -q '^tls-cluster yes' stack/redis-0/redis.conf || fail "redis.conf has no tls-cluster yes"
grep -q '^port 0' stack/redis-0/redis.conf || fail "redis.conf still has a plain-text port"
# CLUSTER SLOTS announces the TLS ports (the ones statectl's client is redirected to).
node 0 CLUSTER SLOTS >"$OUT"
assert_contains "$OUT" "$(port 31)"
run rcli "$(port 30)" PING
assert_contains "$OUT" "NOAUTH"
app() { rcli_user statectl-app redis-app "$(port 30)" "$@"; }
assert_eq "$(app PING 2>&1)" PONG "app user logs in"
app CLUSTER SLOTS >"$OUT" 2>&1
assert_not_contains "$OUT" "NOPERM"
assert_eq "$(app -c SET statectl:app/mine v1)" OK "app SET inside the prefix (redirects followed)"
assert_eq "$(app -c GET statectl:app/mine)" v1 "app GET inside the prefix"
assert_eq "$(node 0 -c SET other:secret s1)" OK "admin writes a key outside the prefix"
for cmd in "GET other:secret" "SET other:x 1" "DEL other:secret" "CONFIG GET maxmemory" "CONFIG SET maxmemory 1" "FLUSHALL" \
  "FLUSHDB" "KEYS *" "CLUSTER NODES" "CLUSTER FAILOVER" "CLUSTER RESET" "ACL LIST"; do
  read -ra args <<<"$cmd" # split without pathname expansion ("KEYS *")
  out=$(app -c "${args[@]}" 2>&1 | head -3)
  [[ $out == *NOPERM* ]] || fail "the app user ran '$cmd' on the cluster: $out"
done
assert_eq "$(node 0 -c GET other:secret)" s1 "the key outside the prefix is untouched"
expect_exit 0 statectl del app/mine
expect_exit 0 statectl redis-cli -- CLUSTER INFO
assert_contains "$OUT" "cluster_state:ok"
expect_exit 0 statectl redis-cli -- SET statectl:cli/k v
expect_exit 0 statectl get cli/k
assert_eq "$(cat "$OUT")" v
expect_exit 0 statectl del cli/k
node 0 -c DEL other:secret >/dev/null
pass "TLS 1.3 only (clients and bus), plain text refused; app user: own prefix, CLUSTER SLOTS, no CONFIG/FLUSHALL/other keys; redis-cli passthrough"

# --- single-key commands routed by slot --------------------------------------------------------
for k in foo bar "{user1000}.following" "{user1000}.followers" k/1 k/2 k/3; do
  expect_exit 0 statectl put "$k" "value of $k" --metadata '{"who":"test"}'
done
for k in foo bar "{user1000}.following" k/3; do
  expect_exit 0 statectl get "$k"
  assert_eq "$(cat "$OUT")" "value of $k"
done
assert_eq "$(node 0 -c GET statectl:foo)" "value of foo"
# The metadata lives in the value's slot (the put script writes both).
meta=$(node 0 -c --scan --pattern 'statectl#statectl:meta:*' | head -1)
[[ -n $meta ]] || meta=$(for i in 0 1 2 3 4 5; do node "$i" --scan --pattern 'statectl#statectl:meta:*'; done | head -1)
[[ -n $meta ]] || fail "no metadata key found"
user=${meta#*\}}
assert_eq "$(node 0 CLUSTER KEYSLOT "$meta")" "$(node 0 CLUSTER KEYSLOT "statectl:$user")"
expect_exit 1 statectl put foo other --if-absent
expect_exit 0 statectl put t/short v --ttl 30m
expect_exit 0 statectl ttl t/short
python3 -c "import sys; v=float(sys.argv[1]); sys.exit(0 if 0 < v <= 1800 else 1)" "$(cat "$OUT")" || fail "ttl $(cat "$OUT")"
expect_exit 0 statectl del foo bar absent
assert_eq "$(cat "$OUT")" "deleted 2"
expect_exit 1 statectl get foo
expect_exit 1 statectl ttl foo
pass "get/put/del/ttl/--if-absent round trips on keys of different slots (and a shared hash tag)"

# --- 5000 keys spread over every master --------------------------------------------------------
python3 -c 'for i in range(5000): print(f"spread/{i}\tv{i}")' >spread.tsv
expect_exit 0 statectl put --batch spread.tsv
expect_exit 0 statectl keys --prefix spread/ -o json
assert_eq "$(json_get "$OUT" 'len(j["keys"])')" 5000
total=0
for i in 0 1 2 3 4 5; do
  [[ $(node "$i" ROLE | head -1) == master ]] || continue
  n=$(node "$i" --scan --pattern 'statectl:spread/*' | wc -l)
  ((n > 1000)) || fail "master on $(port $((30 + i))) holds only $n of the 5000 keys"
  total=$((total + n))
done
assert_eq "$total" 5000 "keys over the masters"
for i in 0 1 2 3 4 5; do
  if [[ $(node "$i" ROLE | head -1) == slave ]]; then
    mp=$(node "$i" ROLE | sed -n 3p)
    wait_for 10 "[[ \$(node $i DBSIZE) == \$(rcli_auth $mp DBSIZE) ]]" || fail "replica $i did not catch up with its master $mp"
  fi
done
for i in 0 1234 4999; do
  expect_exit 0 statectl get "spread/$i"
  assert_eq "$(cat "$OUT")" "v$i"
done
pass "put --batch of 5000 keys: every master holds over 1000, keys lists all 5000, replicas follow"

# A batch mixing TTL and plain lines for the same keys: the last line of each key wins, TTL and all.
printf '%s\n' '{"key":"dup/a","value":"1"}' '{"key":"dup/a","value":"2","ttl":"1h"}' \
  '{"key":"dup/b","value":"x","ttl":"1h"}' '{"key":"dup/b","value":"y","metadata":{"m":1}}' '{"key":"dup/c","value":"z"}' >dup.ndjson
expect_exit 0 statectl put --batch dup.ndjson --format ndjson
assert_eq "$(statectl get dup/a)" 2
assert_eq "$(statectl get dup/b)" y
assert_eq "$(statectl get dup/c)" z
expect_exit 0 statectl ttl dup/a
python3 -c "import sys; sys.exit(0 if 3500 < float(sys.argv[1]) <= 3600 else 1)" "$(cat "$OUT")" || fail "dup/a ttl $(cat "$OUT")"
expect_exit 0 statectl ttl dup/b
assert_eq "$(cat "$OUT")" none
expect_exit 0 statectl del dup/a dup/b dup/c
pass "batch: the last line of a key wins across TTL and plain lines"

# Issue 21: a cluster batch is grouped by slot per window of lines, so memory stays flat: 300k
# lines (20 windows) from a pipe under 64 MiB peak RSS, every key written; then deleted again.
python3 -c '
for i in range(300000): print(f"flat/{i:06d}\tvalue-{i:06d}-" + "x" * 32)' >flat.tsv
# peak_rss FILE CMD...: CMD's exit code, its peak resident memory (KiB) in FILE, stdout in $OUT.
peak_rss() {
  python3 -c 'import os, subprocess, sys
p = subprocess.Popen(sys.argv[3:], stdout=open(sys.argv[2], "w"))
_, status, usage = os.wait4(p.pid, 0)
open(sys.argv[1], "w").write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))' "$1" "$OUT" "${@:2}"
}
cat flat.tsv | peak_rss rss.txt "$STATECTL" put --batch - || fail "300k-line cluster batch failed"
(($(cat rss.txt) < 65536)) || fail "300k-line cluster batch: peak RSS $(cat rss.txt) KiB, over 64 MiB"
echo "300k-line cluster batch: peak RSS $(cat rss.txt) KiB"
total=0
for i in 0 1 2 3 4 5; do
  [[ $(node "$i" ROLE | head -1) == master ]] || continue
  total=$((total + $(node "$i" --scan --pattern 'statectl:flat/*' | wc -l)))
done
assert_eq "$total" 300000 "keys of the 300k-line batch over the masters"
assert_eq "$(statectl get flat/299999)" "value-299999-$(printf 'x%.0s' {1..32})"
# A checkpoint of them is read and written back in bounded steps per master (SCAN, a chunk of
# hashes per step): memory does not grow with the key count.
peak_rss rss.txt "$STATECTL" checkpoint create --name flat -o json || fail "checkpoint of 300k keys failed"
(($(json_get "$OUT" 'j["keys"]') >= 300000)) || fail "the checkpoint holds $(json_get "$OUT" 'j["keys"]') keys"
flat_cp=$(json_get "$OUT" 'j["id"]')
(($(cat rss.txt) < 65536)) || fail "checkpoint create of 300k keys: peak RSS $(cat rss.txt) KiB, over 64 MiB"
echo "cluster checkpoint create of 300k keys: peak RSS $(cat rss.txt) KiB"
assert_eq "$(node 0 -c EXISTS "statectl#statectl:checkpoint:{$flat_cp}:0:v")" 1 "the first chunk of checkpoint $flat_cp"
expect_exit 0 statectl del flat/000000
peak_rss rss.txt "$STATECTL" checkpoint restore "$flat_cp" || fail "restore of the 300k-key checkpoint failed"
(($(cat rss.txt) < 65536)) || fail "checkpoint restore of 300k keys: peak RSS $(cat rss.txt) KiB, over 64 MiB"
echo "cluster checkpoint restore of 300k keys: peak RSS $(cat rss.txt) KiB"
assert_eq "$(statectl get flat/000000)" "value-000000-$(printf 'x%.0s' {1..32})"
cut -f1 flat.tsv | xargs -n 50000 "$STATECTL" del >/dev/null
expect_exit 0 statectl keys --prefix flat/ --limit 1
[[ ! -s $OUT ]] || fail "the 300k keys were not deleted"
pass "batch: 300k lines grouped by slot per window, their checkpoint create and restore stay under 64 MiB"

# --- locks: lease and fencing token in one slot --------------------------------------------------
expect_exit 0 statectl lock job -- sh -c 'echo "$STATECTL_LOCK_TOKEN"'
t1=$(cat "$OUT")
expect_exit 0 statectl lock job -- sh -c 'echo "$STATECTL_LOCK_TOKEN"'
t2=$(cat "$OUT")
((t2 > t1)) || fail "fencing tokens not increasing: $t1 then $t2"
statectl lock held --ttl 30s -- sleep 30 >/dev/null 2>&1 &
holder=$!
on_exit "kill $holder"
wait_for 10 "statectl locks | grep -q held" || fail "the held lock is not listed"
expect_exit 75 statectl lock held --wait 200ms -- true
expect_exit 0 statectl locks -o json
assert_eq "$(json_get "$OUT" '[l["name"] for l in j["locks"]]')" "['held']"
lease=$(node 0 -c --scan --pattern 'statectl#statectl:lock:*' | head -1)
[[ -n $lease ]] || lease=$(for i in 0 1 2 3 4 5; do node "$i" --scan --pattern 'statectl#statectl:lock:*'; done | head -1)
token_key=${lease/:lock:/:token:}
assert_eq "$(node 0 CLUSTER KEYSLOT "$lease")" "$(node 0 CLUSTER KEYSLOT "$token_key")"
kill "$holder" 2>/dev/null || true
wait "$holder" 2>/dev/null || true
pass "lock: increasing tokens, exit 75 while held, locks lists it, lease and token share a slot"

# --- checkpoint across the masters -------------------------------------------------------------
expect_exit 0 statectl checkpoint create -o json
cp_id=$(json_get "$OUT" 'j["id"]')
assert_eq "$(json_get "$OUT" 'j["keys"]')" 5006
expect_exit 0 statectl put spread/7 changed
expect_exit 0 statectl put new/key added
expect_exit 0 statectl del spread/8
expect_exit 0 statectl checkpoint restore "$cp_id"
expect_exit 0 statectl get spread/7
assert_eq "$(cat "$OUT")" v7
expect_exit 0 statectl get spread/8
expect_exit 1 statectl get new/key
expect_exit 0 statectl ttl t/short
python3 -c "import sys; v=float(sys.argv[1]); sys.exit(0 if 0 < v <= 1800 else 1)" "$(cat "$OUT")" || fail "ttl after restore $(cat "$OUT")"
expect_exit 0 statectl keys -o json
assert_eq "$(json_get "$OUT" 'len(j["keys"])')" 5006
expect_exit 1 statectl checkpoint restore 999
# A checkpoint written by an earlier statectl (one hash per part under the id's hash tag, no
# "chunks" in its record) still restores.
node 0 -c HSET 'statectl#statectl:checkpoint:{900}:v' legacy/a one legacy/b two >/dev/null
node 0 -c HSET 'statectl#statectl:checkpoint:{900}:x' legacy/b "$(( ($(date +%s) + 3600) * 1000 ))" >/dev/null
node 0 -c HSET 'statectl#statectl:checkpoints' 900 '{"id":"900","name":"legacy","created":1,"keys":2,"bytes":20}' >/dev/null
expect_exit 0 statectl checkpoint restore 900
assert_eq "$(statectl get legacy/a)" one "legacy checkpoint: a key"
expect_exit 0 statectl ttl legacy/b
python3 -c "import sys; v=float(sys.argv[1]); sys.exit(0 if 3500 < v <= 3600 else 1)" "$(cat "$OUT")" || fail "legacy checkpoint: ttl of legacy/b $(cat "$OUT")"
expect_exit 0 statectl keys -o json
assert_eq "$(json_get "$OUT" 'len(j["keys"])')" 2 "keys after the legacy restore"
expect_exit 0 statectl checkpoint restore "$cp_id"
pass "checkpoint create/restore over every master (values, TTLs), an earlier one-hash checkpoint, unknown id exits 1"

old_pw=$(statectl secrets get redis)
expect_exit 0 statectl secrets rotate redis --apply
[[ $(statectl secrets get redis) != "$old_pw" ]] || fail "the redis password did not change"
for i in 0 1 2 3 4 5; do assert_eq "$(node "$i" PING)" PONG "node $i with the new password"; done
expect_exit 0 statectl get spread/7
assert_eq "$(cat "$OUT")" v7
assert_eq "$(node 3 INFO replication | tr -d '\r' | grep -c 'master_link_status:up')" 1 "replica link with the new masterauth"
pass "secrets rotate redis --apply: every node takes the new password, state commands use it"

# --- a reshard while a batch runs --------------------------------------------------------------
python3 -c 'for i in range(30000): print(f"moving/{i}\tm{i}")' >moving.tsv
src=$(node 0 CLUSTER MYID)
dst=$(node 1 CLUSTER MYID)
[[ $(node 0 ROLE | head -1) == master && $(node 1 ROLE | head -1) == master ]] || fail "nodes 0 and 1 are expected to be masters"
# The reshard (slot by slot: SETSLOT IMPORTING/MIGRATING, MIGRATE of its keys, SETSLOT NODE) runs
# in the background while the batch writes into those slots, so the batch meets ASK and MOVED.
REDISCLI_AUTH=$(statectl secrets get redis) redis-cli "${cli_args[@]}" --cluster reshard "127.0.0.1:$(port 30)" --cluster-from "$src" --cluster-to "$dst" --cluster-slots 2000 \
  --cluster-yes --cluster-pipeline 10 >reshard.log 2>&1 &
reshard=$!
on_exit "kill $reshard"
wait_for 10 "grep -q 'Moving slot' reshard.log" || fail "the reshard did not start: $(tail -5 reshard.log)"
statectl put --batch moving.tsv >batch.out 2>batch.err || fail "the batch failed during the reshard: $(cat batch.err)"
kill -0 "$reshard" 2>/dev/null || echo "note: the reshard ended before the batch did" >&2
wait "$reshard" || fail "reshard failed: $(tail -5 reshard.log)"
# The nodes learn the new slot owners by gossip: agreement follows within moments.
wait_for 30 "node 0 --cluster check 127.0.0.1:$(port 30) >check.log 2>&1" || fail "cluster check after the reshard: $(tail -5 check.log)"
expect_exit 0 statectl keys --prefix moving/ -o json
assert_eq "$(json_get "$OUT" 'len(j["keys"])')" 30000
REDISCLI_AUTH=$(statectl secrets get redis) python3 - "$(port 30)" "${cli_args[@]}" <<'EOF' || fail "values lost or wrong after the reshard"
# Every master's keys, read on the master itself: together exactly the 30000, each with its value.
import subprocess, sys
base = int(sys.argv[1])
seen = {}
for port in range(base, base + 6):
    cli = ["redis-cli", *sys.argv[2:], "-p", str(port)]
    if subprocess.run(cli + ["ROLE"], capture_output=True, text=True).stdout.split("\n")[0] != "master":
        continue
    keys = [k for k in subprocess.run(cli + ["--scan", "--pattern", "statectl:moving/*"], capture_output=True, text=True,
                                      check=True).stdout.split("\n") if k]
    vals = subprocess.run(cli, input="".join(f"GET {k}\n" for k in keys), capture_output=True, text=True,
                          check=True).stdout.split("\n")
    for k, v in zip(keys, vals):
        seen[k] = v
want = {f"statectl:moving/{i}": f"m{i}" for i in range(30000)}
missing = [k for k in want if k not in seen]
wrong = [k for k in want if k in seen and seen[k] != want[k]]
print(f"{len(seen)} keys on the masters, {len(missing)} missing, {len(wrong)} wrong", file=sys.stderr)
sys.exit(1 if missing or wrong or len(seen) != len(want) else 0)
EOF
expect_exit 0 statectl get spread/4999
assert_eq "$(cat "$OUT")" v4999
pass "reshard of 2000 slots while a 30000-key batch runs: nothing lost, every value right"

# --- a restart brings the same cluster back -----------------------------------------------------
ids_before=$(for i in 0 1 2 3 4 5; do node "$i" CLUSTER MYID; done)
expect_exit 0 statectl destroy
! pgrep -f "redis-server 127.0.0.1:$(port 30)" >/dev/null || fail "destroy left node 0 running"
expect_exit 0 statectl deploy
ids_after=$(for i in 0 1 2 3 4 5; do node "$i" CLUSTER MYID; done)
assert_eq "$ids_after" "$ids_before" "node ids after the restart"
assert_eq "$(node 0 CLUSTER INFO | tr -d '\r' | grep cluster_state)" "cluster_state:ok"
expect_exit 0 statectl get spread/1234
assert_eq "$(cat "$OUT")" v1234
expect_exit 0 statectl deploy
assert_not_contains "$ERR" "forming a Redis Cluster"
pass "destroy then deploy: the same nodes, the same cluster, the data kept; a second deploy changes nothing"

STATECTL_REDIS_CLUSTER_MASTERS=4 expect_exit 2 statectl deploy
assert_contains "$ERR" "the local Redis Cluster in $TEST_DIR/stack has 6 nodes"
assert_contains "$ERR" "statectl scale redis --masters"
[[ ! -e stack/redis-6 ]] || fail "a refused resize created a node"
expect_exit 2 statectl scale redis --masters 2
assert_contains "$ERR" "invalid --masters 2"
expect_exit 2 statectl scale redis --replicas 6
assert_contains "$ERR" "per master"
expect_exit 2 statectl scale redis
assert_contains "$ERR" "--replicas is required"
expect_exit 2 statectl scale postgres --masters 4
assert_contains "$ERR" "--masters applies to a Redis Cluster only"
[[ ! -e stack/redis-6 ]] || fail "a refused scale created a node"
pass "a deploy with other counts and bad scale counts are refused, exit 2, nothing changed"

# --- resizing the running cluster --------------------------------------------------------------
# cluster_shape: "masters replicas-of-each..." as status reports it, every node healthy and the
# masters' slots covering 0-16383 exactly once; every spread/ key still there with its value.
cluster_shape() {
  expect_exit 0 statectl status -o json
  python3 - "$OUT" <<'PY' || fail "the cluster after the resize: $(cat "$OUT")"
import json, sys
j = json.load(open(sys.argv[1]))
nodes = [c for c in j["components"] if c["kind"] == "redis"]
bad = [c["name"] for c in nodes if not c["healthy"]]
covered = []
for c in nodes:
    if c["role"] == "master":
        for part in (c.get("slots") or "").split(","):
            if part:
                a, _, b = part.partition("-")
                covered += range(int(a), int(b or a) + 1)
if bad or sorted(covered) != list(range(16384)):
    print(f"unhealthy {bad}, {len(covered)} slots covered", file=sys.stderr)
    sys.exit(1)
print(sum(c["role"] == "master" for c in nodes), sum(c["role"] == "replica" for c in nodes))
PY
}
spread_intact() {
  expect_exit 0 statectl keys --prefix spread/ -o json
  assert_eq "$(json_get "$OUT" 'len(j["keys"])')" 5000 "spread/ keys after $1"
  for k in 0 777 2500 4999; do
    expect_exit 0 statectl get "spread/$k"
    assert_eq "$(cat "$OUT")" "v$k" "spread/$k after $1"
  done
}
expect_exit 0 statectl --dry-run scale redis --masters 4
assert_contains "$OUT" "redis-cli --cluster add-node"
assert_not_contains "$OUT" "--cluster create"
assert_not_contains "$OUT" "del-node"
[[ ! -e stack/redis-6 ]] || fail "a dry-run scale created a node"
assert_eq "$(node 0 CLUSTER INFO | tr -d '\r' | grep cluster_known_nodes)" "cluster_known_nodes:6" "nodes after a dry-run scale"
expect_exit 0 statectl scale redis --masters 4 -o json
assert_eq "$(json_get "$OUT" 'j["masters"]')" 4
assert_eq "$(json_get "$OUT" 'sorted(j["created"])')" "['redis-6', 'redis-7']"
assert_eq "$(cluster_shape)" "4 4" "masters and replicas after --masters 4"
[[ -n $(node 6 CLUSTER NODES | grep myself | awk '{print $9}') || -n $(node 7 CLUSTER NODES | grep myself | awk '{print $9}') ]] ||
  fail "no new node serves slots after the rebalance"
spread_intact "--masters 4"
pass "scale redis --masters 4: two nodes join, the new master gets slots by a rebalance, the other is its replica; no key lost"

expect_exit 0 statectl scale redis --replicas 0
assert_eq "$(cluster_shape)" "4 0" "after --replicas 0"
[[ $(node 0 CLUSTER INFO | tr -d '\r' | grep cluster_known_nodes) == cluster_known_nodes:4 ]] || fail "the removed nodes are still known: $(node 0 CLUSTER NODES)"
spread_intact "--replicas 0"
pass "scale redis --replicas 0: the replicas leave the cluster (del-node) and stop; no key lost"

expect_exit 0 statectl scale redis --masters 3 --replicas 1
assert_eq "$(cluster_shape)" "3 3" "after --masters 3 --replicas 1"
spread_intact "--masters 3 --replicas 1"
expect_exit 0 statectl deploy
assert_not_contains "$ERR" "adding"
assert_eq "$(cluster_shape)" "3 3" "after a deploy of the scaled cluster"
pass "scale redis --masters 3 --replicas 1: a master gives its slots away and leaves, replicas join; deploy keeps the shape"

# --- destroy --purge --------------------------------------------------------------------------
expect_exit 0 statectl destroy --purge
for i in 0 1 2 3 4 5; do
  ! node "$i" PING >/dev/null 2>&1 || fail "node $i still answers after destroy --purge"
done
! pgrep -f "$TEST_DIR/stack" >/dev/null || fail "processes of the stack are left: $(pgrep -af "$TEST_DIR/stack")"
[[ ! -e stack/redis-0 ]] || fail "destroy --purge left the node directories"
pass "destroy --purge: nothing runs, nothing left"
