#!/usr/bin/env bash
# The backup repository: wal push idempotence, the repository lock, kill -9 half-way, verify
# naming a damaged file, prune with a retention of 2 daily, logical backups, Redis snapshots.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/backup_lib.sh"
cd "$TEST_DIR"
start_backup_pg "$(port 1)"
sql "CREATE TABLE t AS SELECT g AS a, repeat('x', 200) AS pad FROM generate_series(1, 20000) g"

# wal push: the same segment twice succeeds, different content under the same name fails.
head -c 16777216 /dev/urandom >"$TEST_DIR/000000090000000000000001"
expect_exit 0 statectl wal push "$TEST_DIR/000000090000000000000001"
assert_contains "$OUT" "archived 000000090000000000000001"
expect_exit 0 statectl wal push "$TEST_DIR/000000090000000000000001"
assert_contains "$OUT" "000000090000000000000001 already archived with the same content"
printf 'x' | dd of="$TEST_DIR/000000090000000000000001" bs=1 seek=100 conv=notrunc status=none
expect_exit 1 statectl wal push "$TEST_DIR/000000090000000000000001"
assert_contains "$ERR" "statectl: error: cannot archive 000000090000000000000001: the archive already holds 000000090000000000000001 with different content"
expect_exit 0 statectl wal fetch 000000090000000000000001 "$TEST_DIR/fetched"
cmp -s "$TEST_DIR/fetched" <(head -c 16777216 "$TEST_DIR/000000090000000000000001") && fail "fetch returned the rejected content"
expect_exit 1 statectl wal fetch 000000090000000000000002 "$TEST_DIR/fetched2"
assert_eq "$(cat "$ERR")" "" "missing segment fetch is silent"
printf '1\t0/3000000\tno recovery target specified\n' >"$TEST_DIR/00000009.history"
expect_exit 0 statectl wal push "$TEST_DIR/00000009.history"
expect_exit 0 statectl wal fetch 00000009.history "$TEST_DIR/h"
cmp "$TEST_DIR/h" "$TEST_DIR/00000009.history" || fail ".history round trip"
rm -rf "$TEST_DIR/repo/wal/00000009"
pass "wal push is idempotent for equal content, refuses different content; fetch of a missing file exits 1 silently"

# Issue 20 item 6: verify of an empty repository says so and exits 1 (it exited 0).
expect_exit 1 statectl backup verify
assert_contains "$ERR" "statectl: error: no backups in $TEST_DIR/repo: there is nothing to verify or restore from"
assert_contains "$ERR" "hint: create one with: statectl backup create"
pass "verify of a repository without backups exits 1 and says so"

# A slow pg_basebackup (rate-limited wrapper) so the backup can be caught half-way.
mkdir -p "$TEST_DIR/slowbin"
for f in "$PG_BIN"/*; do ln -s "$f" "$TEST_DIR/slowbin/"; done
rm "$TEST_DIR/slowbin/pg_basebackup"
printf '#!/bin/sh\nexec %s/pg_basebackup --max-rate=32k "$@"\n' "$PG_BIN" >"$TEST_DIR/slowbin/pg_basebackup"
chmod +x "$TEST_DIR/slowbin/pg_basebackup"
# The binary itself, not the statectl() shell function: $! must be the process kill -9 hits.
STATECTL_POSTGRES_BIN_DIR="$TEST_DIR/slowbin" "$STATECTL" backup create >"$TEST_DIR/slow.out" 2>&1 &
SLOW=$!
# The condition is re-evaluated on every poll (a plain $(ls) argument would be expanded once).
wait_until 30 sh -c 'test -n "$(ls -A "$1" 2>/dev/null)"' _ "$TEST_DIR/repo/backups" || fail "slow backup did not start"
expect_exit 75 statectl backup create
assert_contains "$ERR" "statectl: error: backup already running"
sleep 1
kill -9 "$SLOW"
wait "$SLOW" 2>/dev/null || true
expect_exit 0 statectl -o json backup list
assert_eq "$(json_get "$OUT" 'len([b for b in j["backups"] if b["status"] == "valid"])')" 0 "valid backups after kill -9"
assert_eq "$(json_get "$OUT" 'len([b for b in j["backups"] if b["status"] == "incomplete"])')" 1 "incomplete backups after kill -9"
# Issue 20 item 6: the killed backup is not "ok", and with no valid backup verify exits 1.
expect_exit 1 statectl backup verify
assert_contains "$OUT" "INCOMPLETE"
assert_not_contains "$OUT" "  ok"
assert_contains "$OUT" "no valid backup: 1 incomplete (interrupted) backup(s) and nothing to restore from"
expect_exit 1 statectl -o json backup verify
assert_eq "$(json_get "$OUT" '[(b["status"], b["ok"]) for b in j["backups"]]')" "[('incomplete', False)]" "verify of the killed backup"
assert_eq "$(json_get "$OUT" '(j["ok"], j["valid_backups"])')" "(False, 0)" "verify with only a killed backup"
expect_exit 0 statectl -q backup create
assert_eq "$(cat "$OUT")" "" "-q is silent on success"
expect_exit 0 statectl -o json backup list
assert_eq "$(json_get "$OUT" 'len([b for b in j["backups"] if b["status"] == "valid"])')" 1 "valid backups after the next run"
pass "a second backup exits 75; kill -9 half-way leaves nothing valid and the next run succeeds"

# The newest backup for the node exporter's textfile collector, linted by promtool.
expect_exit 0 statectl backup list --format prometheus
assert_contains "$OUT" 'statectl_backup_valid_backups{type="full"} 1'
assert_contains "$OUT" 'statectl_backup_incomplete_backups 1'
assert_contains "$OUT" 'statectl_backup_newest_size_bytes{type="full"} '
assert_contains "$OUT" 'statectl_backup_newest_duration_seconds{type="full"} '
if command -v promtool >/dev/null; then
  promtool check metrics <"$OUT" >promtool.out 2>&1 || fail "promtool check metrics: $(cat promtool.out)"
fi
pass "backup list --format prometheus: newest backup's age, size and duration; promtool accepts it"

# verify: intact, then one flipped byte in a stored file is named.
expect_exit 0 statectl -o json backup verify
assert_eq "$(json_get "$OUT" 'j["ok"]')" True "verify of an intact repository"
assert_eq "$(json_get "$OUT" '[b["ok"] for b in j["backups"] if b["status"] == "incomplete"]')" "[False]" "the killed backup beside a valid one"
ID=$(json_get "$OUT" '[b["id"] for b in j["backups"] if b["status"] == "valid"][0]')
F="$TEST_DIR/repo/backups/$ID/base.tar.zst"
cp "$F" "$TEST_DIR/good.zst"
python3 -c 'import sys; p=sys.argv[1]; b=bytearray(open(p,"rb").read()); b[len(b)//2]^=0xff; open(p,"wb").write(b)' "$F"
expect_exit 1 statectl backup verify
assert_contains "$OUT" "damaged: backups/$ID/base.tar.zst: checksum mismatch"
expect_exit 1 statectl restore --to "$TEST_DIR/r-damaged" --backup "$ID" --latest
assert_contains "$ERR" "backup $ID is damaged: backups/$ID/base.tar.zst: "
[[ ! -e $TEST_DIR/r-damaged ]] || fail "damaged restore left a directory"
expect_exit 1 statectl backup verify --deep
assert_contains "$OUT" "damaged: backups/$ID/base.tar.zst: checksum mismatch"
cp "$TEST_DIR/good.zst" "$F"
pass "verify (and verify --deep) exit 1 naming the damaged file; restore refuses it and leaves nothing"

# --deep also checks each data file inside: a member checksum that does not match the manifest
# (here the manifest is edited, the stored file intact) passes the stored-bytes check only.
M="$TEST_DIR/repo/backups/$ID/manifest.json"
cp "$M" "$TEST_DIR/good-manifest.json"
python3 - "$M" <<'PY'
import json, sys
p = sys.argv[1]
m = json.load(open(p))
c = next(c for c in m["contents"] if c["path"].endswith("PG_VERSION") and not c.get("reference"))
c["sha256"] = "0" * 64
open(p, "w").write(json.dumps(m))
PY
expect_exit 0 statectl backup verify "$ID"
expect_exit 1 statectl backup verify --deep "$ID"
assert_contains "$OUT" "PG_VERSION checksum mismatch"
cp "$TEST_DIR/good-manifest.json" "$M"
expect_exit 0 statectl backup verify --deep
pass "verify --deep checks every data file in the archive; the default checks the stored bytes"

expect_exit 0 statectl -o json backup verify --restore-test
assert_eq "$(json_get "$OUT" 'j["restore_test"]["ok"]')" True "restore test"
pass "verify --restore-test restores, starts and queries a copy"

# prune with a retention of 2 daily: four backups on three days (manifests back-dated).
for i in 2 3 4; do
  sql "INSERT INTO t SELECT g, 'y' FROM generate_series(1, 1000) g"
  expect_exit 0 statectl -q backup create
done
mapfile -t IDS < <(statectl -o json backup list | python3 -c 'import json,sys; [print(b["id"]) for b in json.load(sys.stdin)["backups"] if b["status"] == "valid"]')
[[ ${#IDS[@]} == 4 ]] || fail "expected 4 valid backups, got ${#IDS[@]}"
backdate() {
  python3 - "$TEST_DIR/repo/backups/$1/manifest.json" "$2" <<'PY'
import json, sys, datetime
p, days = sys.argv[1], int(sys.argv[2])
m = json.load(open(p))
for k in ("start_time", "stop_time"):
    t = datetime.datetime.strptime(m[k], "%Y-%m-%dT%H:%M:%S.%fZ") - datetime.timedelta(days=days)
    m[k] = t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
json.dump(m, open(p, "w"))
PY
}
backdate "${IDS[0]}" 3
backdate "${IDS[1]}" 2
mkdir -p "$TEST_DIR/repo/backups/20000101-000000F" # an incomplete leftover
B1_START=$(json_get "$TEST_DIR/repo/backups/${IDS[1]}/manifest.json" 'j["start_wal"]')
cat >>"$TEST_DIR/statectl.toml" <<'TOML'
retention_daily = 2
retention_weekly = 0
retention_monthly = 0
TOML
expect_exit 0 statectl -o json --dry-run backup prune
# Two incomplete backups (the leftover and the one killed above), then the four valid ones.
assert_eq "$(json_get "$OUT" '[b["action"] for b in j["backups"]]')" "['remove', 'remove', 'remove', 'keep', 'remove', 'keep']" "prune plan"
assert_eq "$(json_get "$OUT" 'j["backups"][3]["kept_by"][0][:6]')" "daily " "rule that keeps the older backup"
[[ -d $TEST_DIR/repo/backups/${IDS[0]} ]] || fail "--dry-run removed something"
expect_exit 0 statectl -o json backup prune
expect_exit 0 statectl -o json backup list
assert_eq "$(json_get "$OUT" '[b["id"] for b in j["backups"]]')" "['${IDS[1]}', '${IDS[3]}']" "backups kept by daily 2"
OLDEST=$(ls "$TEST_DIR/repo/wal/00000001/" | head -1 | cut -c1-24)
assert_eq "$OLDEST" "$B1_START" "oldest WAL kept is the start of the oldest kept backup"
expect_exit 0 statectl backup verify
pass "prune with daily 2 keeps exactly the newest backup of each of the last two days and the WAL they need"

expect_exit 0 statectl -o json backup create --type logical
L=$(json_get "$OUT" 'j["id"]')
assert_eq "$(json_get "$OUT" 'j["type"]')" logical "logical type"
expect_exit 0 statectl -o json backup info
assert_eq "$(json_get "$OUT" 'j["valid_backups"]')" 3 "info valid backups"
[[ $(json_get "$OUT" 'j["newest_archived_wal"]["name"]') =~ ^00000001 ]] || fail "info newest archived WAL"
pass "logical backup $L and info"

# Redis: a BGSAVE snapshot restores into a fresh server with the same keys.
command -v redis-server >/dev/null || skip "redis-server not installed"
RP=$(port 10)
mkdir -p "$TEST_DIR/redis1"
redis-server --port "$RP" --bind 127.0.0.1 --dir "$TEST_DIR/redis1" --daemonize yes --pidfile "$TEST_DIR/redis1.pid" \
  --logfile "$TEST_DIR/redis1.log" --save '' >/dev/null
on_exit "redis-cli -p $RP shutdown nosave"
wait_until 10 redis-cli -p "$RP" ping
for i in $(seq 1 50); do redis-cli -p "$RP" set "key:$i" "value-$i" >/dev/null; done
expect_exit 0 statectl -o json backup create --backend redis
assert_eq "$(json_get "$OUT" 'j["type"]')" redis "redis backup type"
expect_exit 0 statectl restore --backend redis --to "$TEST_DIR/redis2"
RP2=$(port 11)
redis-server --port "$RP2" --bind 127.0.0.1 --dir "$TEST_DIR/redis2" --daemonize yes --pidfile "$TEST_DIR/redis2.pid" \
  --logfile "$TEST_DIR/redis2.log" --save '' >/dev/null
on_exit "redis-cli -p $RP2 shutdown nosave"
wait_until 10 redis-cli -p "$RP2" ping
assert_eq "$(redis-cli -p "$RP2" dbsize)" 50 "restored key count"
assert_eq "$(redis-cli -p "$RP2" get key:42)" value-42 "restored value"
pass "a Redis snapshot restores into a fresh server with the same keys"
