#!/usr/bin/env bash
# Differential and incremental backups (backup create --type diff|incr), the pgBackRest model:
# a diff without a full is promoted to a full; after changing a small table, the diff and the
# incr (read from this local server's data directory) store only the changed files (sizes compared) and list every other one with a reference to
# the backup holding it; restore of the diff (to its consistent point) and of the incr (latest)
# land on the exact rows, every file checked against its SHA-256; a byte flipped in the full makes
# verify of the incr fail and its restore refuse; an interrupted backup is never listed valid;
# prune keeps what a kept incr depends on, and a newer full expires the whole old chain and the
# WAL only it needed; [backup] wal_retention keeps only the WAL that makes backups before its window
# consistent.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/backup_lib.sh"
cd "$TEST_DIR"
start_backup_pg "$(port 1)"

# ~40 MB that will not change, and a small table that will. Frozen, checkpointed and left alone
# for two seconds, so its files' modification times are older than the full backup's start.
sql "CREATE TABLE big AS SELECT g, md5(g::text) || md5((g + 1)::text) || md5((g + 2)::text) AS pad FROM generate_series(1, 350000) g"
sql "ALTER TABLE big SET (autovacuum_enabled = off)"
sql "CREATE TABLE t (a int)"
sql "INSERT INTO t SELECT generate_series(1, 1000)"
sql "VACUUM (FREEZE) big"
sql "CHECKPOINT"
sleep 2
BIG_SUM=$(sql "SELECT md5(string_agg(pad, ',' ORDER BY g)) FROM big")

expect_exit 0 statectl -o json backup create --type diff
F=$(json_get "$OUT" 'j["id"]')
assert_eq "$(json_get "$OUT" '(j["type"], j["status"], j["depends_on"])')" "('full', 'valid', None)" "a diff without a full"
assert_contains "$ERR" "no valid full backup of this cluster to base a diff backup on: taking a full backup"
[[ $F == *F ]] || fail "promoted backup id $F does not end in F"
F_STORED=$(json_get "$OUT" 'j["stored_size"]')
pass "a diff without a full backup is promoted to full backup $F (with a warning)"

# Change the small table only; the diff stores that and what PostgreSQL rewrote itself.
sql "INSERT INTO t SELECT generate_series(1001, 2000)"
sql "CHECKPOINT"
expect_exit 0 statectl -o json backup create --type diff
D=$(json_get "$OUT" 'j["id"]')
assert_eq "$(json_get "$OUT" '(j["type"], j["status"], j["depends_on"], j["references"])')" "('diff', 'valid', '$F', ['$F'])" "diff"
D_STORED=$(json_get "$OUT" 'j["stored_size"]')
D_DB=$(json_get "$OUT" 'j["database_size"]')
((D_STORED * 10 < F_STORED)) || fail "the diff stored $D_STORED bytes, the full $F_STORED: unchanged files were stored again"
((D_DB > 40000000)) || fail "the diff's database_size $D_DB is not the whole cluster"
assert_contains "$ERR" "unchanged since $F, referenced from $F"
# This server runs here: the diff reads only the changed files from its data directory.
assert_contains "$ERR" "changed since $F from $TEST_DIR/pg"
# Its manifest lists the big table's file with a reference to the full, which holds it.
BIG_FILE=$(sql "SELECT pg_relation_filepath('big')")
assert_eq "$(json_get "$TEST_DIR/repo/backups/$D/manifest.json" "[c.get('reference') for c in j['contents'] if c['path'] == '$BIG_FILE']")" "['$F']" "reference of $BIG_FILE"
assert_eq "$(json_get "$TEST_DIR/repo/backups/$F/manifest.json" "[c['sha256'] for c in j['contents'] if c['path'] == '$BIG_FILE']")" \
  "$(json_get "$TEST_DIR/repo/backups/$D/manifest.json" "[c['sha256'] for c in j['contents'] if c['path'] == '$BIG_FILE']")" "checksum of $BIG_FILE"
T_COUNT_D=2000
pass "diff $D stores $D_STORED bytes against the full's $F_STORED (cluster $D_DB bytes), unchanged files referenced from $F"

sql "INSERT INTO t SELECT generate_series(2001, 3000)"
sql "CHECKPOINT"
expect_exit 0 statectl -o json backup create --type incr
I=$(json_get "$OUT" 'j["id"]')
assert_eq "$(json_get "$OUT" '(j["type"], j["status"], j["depends_on"])')" "('incr', 'valid', '$D')" "incr"
I_STORED=$(json_get "$OUT" 'j["stored_size"]')
((I_STORED * 10 < F_STORED)) || fail "the incr stored $I_STORED bytes, the full $F_STORED"
json_get "$OUT" 'j["references"]' | grep -q "'$F'" || fail "the incr does not reference the full: $(cat "$OUT")"
expect_exit 0 statectl backup list
assert_contains "$OUT" "DEPENDS ON"
grep -q "^$I *incr *valid.* $D *\$" "$OUT" || fail "backup list does not show $I depending on $D: $(cat "$OUT")"
expect_exit 0 statectl -o json backup verify
assert_eq "$(json_get "$OUT" '[(b["id"], b["ok"]) for b in j["backups"]]')" "[('$F', True), ('$D', True), ('$I', True)]" "verify of the chain"
pass "incr $I stores $I_STORED bytes and depends on $D; backup list shows it; verify checks the chain"

sql "INSERT INTO t SELECT generate_series(3001, 4000)"
SEG=$(sql "SELECT pg_walfile_name(pg_switch_wal())")
wait_until 30 archived "$SEG" || fail "segment $SEG not archived"

# The diff, restored to its consistent point (no replay beyond it): the rows it saw.
P=$(port 20)
expect_exit 0 statectl -o json restore --to "$TEST_DIR/r-diff" --backup "$D" --target-immediate --start --port "$P"
on_exit "stop_restored $TEST_DIR/r-diff"
assert_contains "$ERR" "restoring diff backup $D (with files from $F)"
assert_eq "$(sql_at "$P" "SELECT count(*) FROM t")" "$T_COUNT_D" "rows of t in the restored diff"
assert_eq "$(sql_at "$P" "SELECT md5(string_agg(pad, ',' ORDER BY g)) FROM big")" "$BIG_SUM" "big in the restored diff"
stop_restored "$TEST_DIR/r-diff"
# The incr (the newest backup), replaying to the end of the archive.
expect_exit 0 statectl -o json restore --to "$TEST_DIR/r-incr" --latest --start --port "$P"
on_exit "stop_restored $TEST_DIR/r-incr"
assert_eq "$(json_get "$OUT" 'j["backup"]')" "$I" "backup restored for --latest"
assert_eq "$(sql_at "$P" "SELECT count(*) FROM t")" 4000 "rows of t in the restored incr"
assert_eq "$(sql_at "$P" "SELECT md5(string_agg(pad, ',' ORDER BY g)) FROM big")" "$BIG_SUM" "big in the restored incr"
stop_restored "$TEST_DIR/r-incr"
cmp "$TEST_DIR/pg/$BIG_FILE" "$TEST_DIR/r-incr/$BIG_FILE" || fail "$BIG_FILE differs after restoring the incr"
pass "restore of diff $D (immediate) and incr $I (latest) from their chains: exact rows, files identical"

# A byte flipped in the full: the incr that takes files from it is damaged too.
flip() { python3 -c 'import sys; p, o = sys.argv[1], int(sys.argv[2]); b = bytearray(open(p, "rb").read()); b[min(o, len(b) - 1)] ^= 0xFF; open(p, "wb").write(b)' "$1" "$2"; }
cp -p "$TEST_DIR/repo/backups/$F/base.tar.zst" "$TEST_DIR/saved"
flip "$TEST_DIR/repo/backups/$F/base.tar.zst" 100000
expect_exit 1 statectl -o json backup verify "$I"
assert_eq "$(json_get "$OUT" '[(b["id"], b["ok"]) for b in j["backups"]]')" "[('$I', False)]" "verify of the incr after damaging the full"
assert_contains "$OUT" "depends on backup $F, which is damaged: backups/$F/base.tar.zst: checksum mismatch"
expect_exit 1 statectl restore --to "$TEST_DIR/r-bad" --backup "$I" --latest
assert_contains "$ERR" "statectl: error: backup $I is damaged: backups/$F/base.tar.zst: "
[[ ! -e $TEST_DIR/r-bad ]] || fail "the refused restore left a directory"
cp -p "$TEST_DIR/saved" "$TEST_DIR/repo/backups/$F/base.tar.zst"
expect_exit 0 statectl backup verify "$I"
pass "a byte flipped in full $F fails verify of incr $I (exit 1) and its restore, which leaves nothing"

# A backup killed half-way is listed incomplete, never valid, and the next incr is not based on it
# (a full, slowed down: an incr of this local server reads only its changed files, too fast to kill).
mkdir -p "$TEST_DIR/slowbin"
for f in "$PG_BIN"/*; do ln -s "$f" "$TEST_DIR/slowbin/"; done
rm "$TEST_DIR/slowbin/pg_basebackup"
printf '#!/bin/sh\nexec %s/pg_basebackup --max-rate=64k "$@"\n' "$PG_BIN" >"$TEST_DIR/slowbin/pg_basebackup"
chmod +x "$TEST_DIR/slowbin/pg_basebackup"
STATECTL_POSTGRES_BIN_DIR="$TEST_DIR/slowbin" "$STATECTL" backup create --type full >"$TEST_DIR/slow.out" 2>&1 &
SLOW=$!
wait_for 60 '[[ $(ls "$TEST_DIR/repo/backups" | wc -l) -ge 4 ]]' || fail "the slow full did not start"
sleep 1
kill -9 "$SLOW"
wait "$SLOW" 2>/dev/null || true
pkill -f "pg_basebackup.*-p $PGPORT" || true
expect_exit 0 statectl -o json backup list
assert_eq "$(json_get "$OUT" '[(b["type"], b["status"]) for b in j["backups"]][3]')" "('full', 'incomplete')" "the killed full"
expect_exit 0 statectl -o json backup create --type incr
I2=$(json_get "$OUT" 'j["id"]')
assert_eq "$(json_get "$OUT" 'j["depends_on"]')" "$I" "the incr after the killed one is based on"
pass "a backup killed half-way is incomplete; the next incr $I2 depends on $I"

# Retention of one daily backup: the newest (the incr) keeps its whole chain.
cat >>"$TEST_DIR/statectl.toml" <<'TOML'
retention_daily = 1
retention_weekly = 0
retention_monthly = 0
TOML
expect_exit 0 statectl -o json backup prune
assert_eq "$(json_get "$OUT" '[(b["id"], b["action"]) for b in j["backups"] if b["type"] != "unknown"]')" \
  "[('$F', 'keep'), ('$D', 'keep'), ('$I', 'keep'), ('$I2', 'keep')]" "prune with daily 1"
assert_contains "$OUT" "needed by $D"
assert_eq "$(json_get "$OUT" 'j["wal_kept_from"]')" "$(json_get "$TEST_DIR/repo/backups/$F/manifest.json" 'j["start_wal"]')" "WAL kept from the full's start"
expect_exit 0 statectl backup verify
pass "prune keeps full $F, diff $D and incr $I that the newest incr $I2 depends on, and the WAL from $F's start"

# A new full: the old chain expires as a whole, with the WAL only it needed.
sql "INSERT INTO t SELECT generate_series(4001, 5000)"
expect_exit 0 statectl -o json backup create --type full
F2=$(json_get "$OUT" 'j["id"]')
F2_START=$(json_get "$TEST_DIR/repo/backups/$F2/manifest.json" 'j["start_wal"]')
OLD_START=$(json_get "$TEST_DIR/repo/backups/$F/manifest.json" 'j["start_wal"]')
expect_exit 0 statectl -o json backup prune
assert_eq "$(json_get "$OUT" '[b["id"] for b in j["backups"] if b["action"] == "remove" and b["type"] != "unknown"]')" "['$F', '$D', '$I', '$I2']" "removed chain"
expect_exit 0 statectl -o json backup list
assert_eq "$(json_get "$OUT" '[b["id"] for b in j["backups"]]')" "['$F2']" "backups after the new full"
assert_eq "$(ls "$TEST_DIR/repo/wal/00000001/" | head -1 | cut -c1-24)" "$F2_START" "oldest archived WAL after prune"
ls "$TEST_DIR/repo/wal/00000001/" | grep -q "^$OLD_START-" && fail "WAL $OLD_START of the expired chain is still archived"
expect_exit 0 statectl backup verify
pass "a new full $F2 expires the old chain ($F, $D, $I, $I2) and the WAL before $F2_START"

# [backup] wal_retention: kept backups that stopped before the window keep only the WAL that
# makes them consistent; the window is covered from the start of the newest backup before it.
sql "INSERT INTO t SELECT generate_series(5001, 6000)"
expect_exit 0 statectl -o json backup create --type incr
I3=$(json_get "$OUT" 'j["id"]')
sql "INSERT INTO t SELECT generate_series(6001, 7000)"
expect_exit 0 statectl -o json backup create --type full
F3=$(json_get "$OUT" 'j["id"]')
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
backdate "$F2" 4
backdate "$I3" 3
sed -i 's/^retention_daily = 1$/retention_daily = 2/' "$TEST_DIR/statectl.toml"
echo 'wal_retention = "2d"' >>"$TEST_DIR/statectl.toml"
F2_STOP=$(json_get "$TEST_DIR/repo/backups/$F2/manifest.json" 'j["stop_wal"]')
I3_START=$(json_get "$TEST_DIR/repo/backups/$I3/manifest.json" 'j["start_wal"]')
# WAL names compare as strings: an all-digit name such as 000000010000000000000011 would otherwise
# compare as a number, beyond a double's precision (it rounds to ...12).
mapfile -t BETWEEN < <(ls "$TEST_DIR/repo/wal/00000001/" | cut -c1-24 | awk -v a="$F2_STOP" -v b="$I3_START" '($0 "") > (a "") && ($0 "") < (b "")')
((${#BETWEEN[@]} > 0)) || fail "no archived WAL between $F2_STOP and $I3_START"
expect_exit 0 statectl -o json backup prune
assert_eq "$(json_get "$OUT" '[(b["id"], b["action"]) for b in j["backups"]]')" "[('$F2', 'keep'), ('$I3', 'keep'), ('$F3', 'keep')]" "prune with daily 2"
assert_eq "$(json_get "$OUT" '(j["wal_consistency_only"], j["wal_kept_from"])')" "(['$F2'], '$I3_START')" "WAL kept"
for seg in "${BETWEEN[@]}"; do
  ls "$TEST_DIR/repo/wal/00000001/" | grep -q "^$seg-" && fail "WAL $seg outside the window and after $F2's stop is still archived"
done
ls "$TEST_DIR/repo/wal/00000001/" | grep -q "^$F2_STOP-" || fail "WAL $F2_STOP that makes $F2 consistent was removed"
expect_exit 0 statectl -o json backup verify
assert_eq "$(json_get "$OUT" 'j["ok"]')" True "verify after WAL expiry"
expect_exit 0 statectl restore --to "$TEST_DIR/r-old" --backup "$F2" --target-immediate --start --port "$P"
on_exit "stop_restored $TEST_DIR/r-old"
assert_eq "$(sql_at "$P" "SELECT count(*) FROM t")" 5000 "rows of the old full restored to its consistent point"
stop_restored "$TEST_DIR/r-old"
expect_exit 1 statectl restore --to "$TEST_DIR/r-old2" --backup "$F2" --latest
assert_contains "$ERR" "there is a WAL gap before it"
pass "wal_retention 2d: $F2 (before the window) keeps only WAL to $F2_STOP, ${#BETWEEN[@]} segments after it removed, the window kept from $I3_START; verify ok"
