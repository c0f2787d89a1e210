#!/usr/bin/env bash
# An encrypted S3 repository ([backup] cipher = "aes-256-gcm") through the endpoint that checks
# every request's Signature V4: a full, a differential and an incremental backup in one chain,
# every object sealed (no plain zstd frame, no plain JSON) and opened by the test's own client
# (@aws-sdk/client-s3 + Node's AES-256-GCM) to a manifest whose checksums match the objects;
# restore of the incr from its chain; point-in-time restore to a target time landing on the
# exact row count from the diff and WAL fetched from S3; a byte flipped in a manifest, a data
# object or a WAL object reported by verify (exit 1); prune keeping a backup whose manifest is
# damaged (and all WAL), then, repaired, keeping the chain with its diff and expiring the WAL
# only the older full needed.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/backup_lib.sh"
source "$(dirname "$0")/s3_lib.sh"
cd "$TEST_DIR"
start_s3
start_backup_pg "$(port 1)"
use_s3_repo c1
echo 'cipher = "aes-256-gcm"' >>"$TEST_DIR/statectl.toml"
export AWS_ACCESS_KEY_ID=$KEY_ID AWS_SECRET_ACCESS_KEY=$SECRET

# About 7 MB of incompressible rows: the sealed base backup of a full goes up in 5 MiB parts.
sql "CREATE TABLE filler AS SELECT i, encode(sha512(i::text::bytea), 'base64') || encode(sha512((i + 1)::text::bytea), 'base64') AS pad FROM generate_series(1, 40000) i"
# Frozen and analyzed now, so that autovacuum does not rewrite it between the backups (it would
# then be a changed file of the diff or incr).
sql "VACUUM (FREEZE, ANALYZE) filler"
sql "CREATE TABLE t AS SELECT generate_series(1, 1000) AS a"
expect_exit 0 statectl -o json backup create
B0=$(json_get "$OUT" 'j["id"]')
KEY=$(tr -d '\n' <"$TEST_DIR/state/secrets/backup_cipher_key")
[[ ${#KEY} == 64 ]] || fail "no backup_cipher_key made on first use"
sql "INSERT INTO t SELECT generate_series(1001, 2000)"
expect_exit 0 statectl -o json backup create --type full
B1=$(json_get "$OUT" 'j["id"]')
sql "INSERT INTO t SELECT generate_series(2001, 3000)"
sql "CHECKPOINT"
expect_exit 0 statectl -o json backup create --type diff
B2=$(json_get "$OUT" 'j["id"]')
assert_eq "$(json_get "$OUT" '(j["type"], j["depends_on"])')" "('diff', '$B1')" "diff in S3"
sql "INSERT INTO t SELECT generate_series(3001, 4000)"
TIME=$(sql "SELECT now()")
sleep 0.1
sql "INSERT INTO t SELECT generate_series(4001, 5000)"
sql "CHECKPOINT"
expect_exit 0 statectl -o json backup create --type incr
B3=$(json_get "$OUT" 'j["id"]')
assert_eq "$(json_get "$OUT" '(j["type"], j["depends_on"])')" "('incr', '$B2')" "incr in S3"
sql "INSERT INTO t SELECT generate_series(5001, 6000)"
SEG=$(sql "SELECT pg_walfile_name(pg_switch_wal())")
s3_archived() { s3 list "c1/wal/${1:0:8}/$1-" | grep -q .; }
wait_until 60 s3_archived "$SEG" || fail "segment $SEG not archived to S3"
all_signed
grep -q '"method":"PUT".*partNumber=2' "$TEST_DIR/s3.log" || fail "no sealed base backup was uploaded in parts"
assert_not_contains "$ERR" "$SECRET"
pass "full $B0, full $B1, diff $B2, incr $B3 in encrypted s3://$BUCKET/c1, every request signed"

# Every object, read back by the other client: sealed, none a zstd frame or JSON, the key nowhere.
s3 mirror c1/ "$TEST_DIR/objects"
n=0
while IFS= read -r -d '' f; do
  n=$((n + 1))
  [[ $(head -c 8 "$f") == "STCGCM1" ]] || fail "${f#"$TEST_DIR"/objects/} is not sealed: $(head -c 8 "$f" | od -An -tx1)"
  [[ $(head -c 4 "$f" | od -An -tx1 | tr -d ' ') != 28b52ffd ]] || fail "${f#"$TEST_DIR"/objects/} is a plain zstd frame"
  if python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$f" 2>/dev/null; then fail "${f#"$TEST_DIR"/objects/} is plain JSON"; fi
  if grep -qF "$KEY" "$f"; then fail "${f#"$TEST_DIR"/objects/} holds the key"; fi
done < <(find "$TEST_DIR/objects" -type f -print0)
for b in "$B0" "$B1" "$B2" "$B3"; do
  [[ -f $TEST_DIR/objects/c1/backups/$b/manifest.json && -f $TEST_DIR/objects/c1/backups/$b/base.tar.zst ]] || fail "objects of $b missing"
done
ls "$TEST_DIR/objects/c1/wal/00000001/$SEG"-* >/dev/null || fail "WAL object of $SEG missing"
if grep -rlF '"system_identifier"' "$TEST_DIR/objects"; then fail "a manifest is stored in plain"; fi
if grep -rlF "$KEY" "$OUT" "$ERR"; then fail "the key appears in statectl's output"; fi
pass "all $n objects are sealed: no plain zstd frame, no plain JSON, no key"

# Opened with the key by the test's own AES-256-GCM: the diff's and the incr's manifests name
# their chain, their stored objects' SHA-256 is the manifest's and opens to a valid zstd frame.
export S3_CIPHER_KEY=$KEY
for b in "$B2" "$B3"; do
  s3 open "c1/backups/$b/manifest.json" "$TEST_DIR/m-$b.json"
  WANT=$(python3 -c 'import json,sys; print([f["stored_sha256"] for f in json.load(open(sys.argv[1]))["files"] if f["name"]=="base.tar.zst"][0])' "$TEST_DIR/m-$b.json")
  assert_eq "$(sha256sum "$TEST_DIR/objects/c1/backups/$b/base.tar.zst" | cut -d' ' -f1)" "$WANT" "stored sha256 of $b's base.tar.zst"
  s3 open "c1/backups/$b/base.tar.zst" "$TEST_DIR/base-$b.tar.zst"
  zstd -tq "$TEST_DIR/base-$b.tar.zst" || fail "$b's base.tar.zst does not open to a valid zstd frame"
done
assert_eq "$(json_get "$TEST_DIR/m-$B2.json" '(j["type"], j["prior"], j["references"])')" "('diff', '$B1', ['$B1'])" "diff manifest"
assert_eq "$(json_get "$TEST_DIR/m-$B3.json" '(j["type"], j["prior"], sorted(j["references"]))')" "('incr', '$B2', ['$B1', '$B2'])" "incr manifest"
WALOBJ=$(cd "$TEST_DIR/objects" && ls c1/wal/00000001/"$SEG"-*)
s3 open "$WALOBJ" "$TEST_DIR/seg.zst"
zstd -dq "$TEST_DIR/seg.zst" -o "$TEST_DIR/seg" && assert_eq "$(stat -c %s "$TEST_DIR/seg")" 16777216 "opened WAL segment size"
unset S3_CIPHER_KEY
B2_SIZE=$(stat -c %s "$TEST_DIR/objects/c1/backups/$B2/base.tar.zst")
B1_SIZE=$(stat -c %s "$TEST_DIR/objects/c1/backups/$B1/base.tar.zst")
((B2_SIZE * 10 < B1_SIZE)) || fail "the diff uploaded $B2_SIZE bytes, its full $B1_SIZE"
pass "sealed objects open with the key to manifests naming the chain ($B3 -> $B2 -> $B1), checksums match; diff $B2_SIZE bytes, full $B1_SIZE"

# The incr restored from its chain (full + diff + incr, all fetched and opened from S3).
P=$(port 20)
expect_exit 0 statectl -o json restore --to "$TEST_DIR/r3" --backup "$B3" --target-immediate --start --port "$P"
on_exit "stop_restored $TEST_DIR/r3"
assert_eq "$(sql_at "$P" "SELECT count(*) FROM t")" 5000 "rows after restoring incr $B3 from its chain"
stop_restored "$TEST_DIR/r3"
pass "incr $B3 restores from its encrypted chain in S3 to exactly 5000 rows"

# Point-in-time restore to a target time: the diff is the newest backup before it, the server
# fetches and opens the WAL from S3 as its own user and stops at the time.
expect_exit 0 statectl -o json restore --to "$TEST_DIR/rt" --target-time "$TIME" --start --port "$P"
on_exit "stop_restored $TEST_DIR/rt"
assert_eq "$(json_get "$OUT" 'j["backup"]')" "$B2" "backup chosen for --target-time"
assert_eq "$(sql_at "$P" "SELECT count(*) FROM t")" 4000 "rows after restoring to $TIME"
grep -q "wal fetch --repo s3://$BUCKET/c1 " "$TEST_DIR/rt/postgresql.auto.conf" || fail "restore_command does not fetch from S3"
stop_restored "$TEST_DIR/rt"
pass "restore --target-time $TIME from the encrypted diff $B2 and S3 WAL lands on exactly 4000 rows"

expect_exit 0 statectl -o json backup verify
assert_eq "$(json_get "$OUT" 'j["ok"]')" True "verify of the intact encrypted S3 repository"

# tamper KEY OFFSET EXPECTED...: flips one byte of an object (saved in $TEST_DIR/saved), verify
# exits 1 naming it and any further text expected.
tamper() {
  local key=$1 offset=$2 want
  shift 2
  s3 get "$key" "$TEST_DIR/saved"
  s3 flip "$key" "$offset"
  expect_exit 1 statectl -o json backup verify
  assert_eq "$(json_get "$OUT" 'j["ok"]')" False "verify after flipping a byte of $key"
  assert_contains "$OUT" "${key#c1/}"
  for want in "$@"; do assert_contains "$OUT" "$want"; done
}
tamper "c1/backups/$B2/base.tar.zst" 3000 "depends on backup $B2, which is damaged"
s3 put "c1/backups/$B2/base.tar.zst" "$TEST_DIR/saved"
pass "a byte flipped in the diff's data object is reported by verify (exit 1), also for the incr on it"
tamper "$WALOBJ" 5000 "AES-256-GCM authentication"
s3 put "$WALOBJ" "$TEST_DIR/saved"
pass "a byte flipped in the WAL object of $SEG is reported by verify (exit 1)"

oldest_wal() { grep -o 'wal/00000001/[0-9A-F]\{24\}-' "$1" | sort | head -1 | cut -d/ -f3 | tr -d -; }
S3_CIPHER_KEY=$KEY s3 open "c1/backups/$B1/manifest.json" "$TEST_DIR/m-$B1.json"
START1=$(json_get "$TEST_DIR/m-$B1.json" 'j["start_wal"]')
s3 list c1/ >"$TEST_DIR/before"
[[ $(oldest_wal "$TEST_DIR/before") < $START1 ]] || fail "no WAL older than $B1's start $START1 to expire"

# A byte flipped in the full's manifest: verify reports it and the chain built on it; prune
# (retention_daily = 1: the newest backup of the day, the incr, and its chain) removes the older
# full $B0 but keeps the damaged backup and, not knowing what WAL it needs, every WAL object.
tamper "c1/backups/$B1/manifest.json" 200 "it takes unchanged files from backup $B1"
assert_eq "$(json_get "$OUT" '[b["status"] for b in j["backups"] if b["id"] == "'"$B1"'"]')" "['damaged']" "status of $B1"
expect_exit 0 statectl -o json backup prune
assert_eq "$(json_get "$OUT" '[(b["id"], b["action"]) for b in j["backups"]]')" "[('$B0', 'remove'), ('$B1', 'keep'), ('$B2', 'keep'), ('$B3', 'keep')]" "prune with a damaged manifest"
assert_contains "$OUT" "damaged, never removed by prune"
assert_eq "$(json_get "$OUT" 'j["wal_removed"]')" 0 "WAL removed while a manifest is damaged"
s3 list c1/ >"$TEST_DIR/after"
if grep -q "backups/$B0/" "$TEST_DIR/after"; then fail "prune left $B0's objects"; fi
grep -q "backups/$B1/base.tar.zst" "$TEST_DIR/after" || fail "prune removed the damaged $B1"
pass "a byte flipped in $B1's manifest is reported by verify (exit 1); prune keeps $B1 and all WAL"

# The manifest put back: prune keeps the chain and expires the WAL only $B0 needed.
s3 put "c1/backups/$B1/manifest.json" "$TEST_DIR/saved"
expect_exit 0 statectl -o json backup verify
assert_eq "$(json_get "$OUT" 'j["ok"]')" True "verify after putting the objects back"
expect_exit 0 statectl -o json backup prune
s3 list c1/ >"$TEST_DIR/after"
for b in "$B1" "$B2" "$B3"; do
  grep -q "backups/$b/manifest.json" "$TEST_DIR/after" || fail "prune removed $b, in the chain of the kept incr $B3"
  grep -q "backups/$b/base.tar.zst" "$TEST_DIR/after" || fail "prune removed $b's data object"
done
grep -q "wal/00000001/$START1-" "$TEST_DIR/after" || fail "prune removed WAL $START1 that $B1 needs"
[[ $(oldest_wal "$TEST_DIR/after") == "$START1" ]] || fail "prune kept WAL $(oldest_wal "$TEST_DIR/after"), older than $B1's start $START1"
expect_exit 0 statectl -o json restore --to "$TEST_DIR/rl" --latest --start --port "$P"
on_exit "stop_restored $TEST_DIR/rl"
assert_eq "$(json_get "$OUT" 'j["backup"]')" "$B3" "backup chosen for --latest after prune"
assert_eq "$(sql_at "$P" "SELECT count(*) FROM t")" 6000 "rows after prune and restore --latest"
stop_restored "$TEST_DIR/rl"
pass "prune removes $B0 and WAL before $START1, keeps $B1 <- $B2 <- $B3, which restores to exactly 6000 rows"
