#!/usr/bin/env bash
# Backups in an S3 repository, for real: npm s3rver behind a proxy that checks every request's
# AWS Signature V4 against the configured key pair (tests/integration/s3/sigv4_server.js, its
# own implementation of the algorithm). Full backup in multipart upload, the archiver (the server
# user, without the AWS variables) pushing WAL with the 0600 credentials file, objects read back
# with @aws-sdk/client-s3, point-in-time restore from S3 to the exact row count, an incr restored
# from its chain, a flipped byte reported by verify (also for the incr depending on it), prune removing objects, and a wrong secret key refused with nothing listed.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/backup_lib.sh"
source "$(dirname "$0")/s3_lib.sh"
cd "$TEST_DIR"
start_s3

# The server starts without the AWS variables: its archiver must use the credentials file.
start_backup_pg "$(port 1)"
use_s3_repo cluster1
export AWS_ACCESS_KEY_ID=$KEY_ID AWS_SECRET_ACCESS_KEY=$SECRET

# About 13 MB of incompressible rows: the base backup is uploaded in 5 MiB parts.
sql "CREATE TABLE filler AS SELECT i, encode(sha512(i::text::bytea), 'base64') || encode(sha512((i + 1)::text::bytea), 'base64') AS pad FROM generate_series(1, 60000) i"
# Frozen and analyzed now, so that autovacuum does not rewrite it between the backups (it would
# then be a changed file of the diff or incr).
sql "VACUUM (FREEZE, ANALYZE) filler"
sql "CREATE TABLE t AS SELECT generate_series(1, 1000) AS a"
expect_exit 0 statectl -o json backup create
B1=$(json_get "$OUT" 'j["id"]')
assert_eq "$(json_get "$OUT" 'j["status"]')" valid "first backup status"
assert_not_contains "$ERR" "$SECRET"
[[ $(stat -c '%a %U' "$TEST_DIR/state/s3-credentials") == "600 postgres" ]] || fail "credentials file: $(stat -c '%a %U' "$TEST_DIR/state/s3-credentials")"
all_signed
grep -q '"method":"PUT".*partNumber=2' "$TEST_DIR/s3.log" || fail "the base backup was not uploaded in parts"
pass "full backup $B1 into s3://$BUCKET/cluster1, every request signed with the key pair, multipart upload"

# The objects, read back by another S3 client: the manifest matches, the stored base backup's
# SHA-256 is the manifest's and it is a valid zstd frame.
s3 list cluster1/ >"$TEST_DIR/objects"
grep -q "^cluster1/backups/$B1/manifest.json" "$TEST_DIR/objects" || fail "no manifest object: $(cat "$TEST_DIR/objects")"
grep -q "^cluster1/wal/00000001/0000000100000000000000.*\.zst" "$TEST_DIR/objects" || fail "no WAL object pushed by the archiver"
s3 get "cluster1/backups/$B1/manifest.json" "$TEST_DIR/manifest.json"
s3 get "cluster1/backups/$B1/base.tar.zst" "$TEST_DIR/base.tar.zst"
WANT=$(python3 -c 'import json,sys; print([f["stored_sha256"] for f in json.load(open(sys.argv[1]))["files"] if f["name"]=="base.tar.zst"][0])' "$TEST_DIR/manifest.json")
assert_eq "$(sha256sum "$TEST_DIR/base.tar.zst" | cut -d' ' -f1)" "$WANT" "stored base backup sha256"
zstd -tq "$TEST_DIR/base.tar.zst" || fail "base.tar.zst read back is not a valid zstd frame"
pass "objects read back with @aws-sdk/client-s3 match the manifest's checksums"

sql "INSERT INTO t SELECT generate_series(1001, 2500)"
expect_exit 0 statectl -o json backup create
B2=$(json_get "$OUT" 'j["id"]')
sql "INSERT INTO t SELECT generate_series(2501, 4000)"
SEG=$(sql "SELECT pg_walfile_name(pg_switch_wal())")
s3_archived() { s3 list "cluster1/wal/${1:0:8}/$1-" | grep -q .; }
wait_until 60 s3_archived "$SEG" || fail "segment $SEG not archived to S3"
expect_exit 0 statectl -o json backup list
assert_eq "$(json_get "$OUT" 'len(j["backups"])')" 2 "backups listed"

# Point-in-time restore from S3: the restored server fetches WAL as the server user.
P=$(port 20)
expect_exit 0 statectl -o json restore --to "$TEST_DIR/r1" --backup "$B1" --latest --start --port "$P"
on_exit "stop_restored $TEST_DIR/r1"
assert_eq "$(sql_at "$P" "SELECT count(*) FROM t")" 4000 "rows after restoring $B1 and replaying WAL from S3"
grep -q "wal fetch --repo s3://$BUCKET/cluster1 " "$TEST_DIR/r1/postgresql.auto.conf" || fail "restore_command does not fetch from S3"
stop_restored "$TEST_DIR/r1"
pass "restore of $B1 from S3 replays the archived WAL to exactly 4000 rows"

# An incremental backup in S3: only what changed is uploaded; restored from the chain.
sql "CHECKPOINT"
expect_exit 0 statectl -o json backup create --type incr
B3=$(json_get "$OUT" 'j["id"]')
assert_eq "$(json_get "$OUT" '(j["type"], j["depends_on"])')" "('incr', '$B2')" "incr in S3"
B2_SIZE=$(s3 list "cluster1/backups/$B2/base.tar.zst" | cut -f2)
B3_SIZE=$(s3 list "cluster1/backups/$B3/base.tar.zst" | cut -f2)
((B3_SIZE * 10 < B2_SIZE)) || fail "the incr uploaded $B3_SIZE bytes, the full $B2_SIZE"
expect_exit 0 statectl -o json restore --to "$TEST_DIR/r3" --backup "$B3" --latest --start --port "$P"
on_exit "stop_restored $TEST_DIR/r3"
assert_eq "$(sql_at "$P" "SELECT count(*) FROM t")" 4000 "rows after restoring incr $B3 from S3"
stop_restored "$TEST_DIR/r3"
pass "incr $B3 uploads $B3_SIZE bytes (full $B2: $B2_SIZE) and restores from its chain in S3 to exactly 4000 rows"

expect_exit 0 statectl -o json backup verify
assert_eq "$(json_get "$OUT" 'j["ok"]')" True "verify of intact S3 backups"
s3 flip "cluster1/backups/$B2/base.tar.zst" 5000
expect_exit 1 statectl -o json backup verify
assert_contains "$OUT" "backups/$B2/base.tar.zst"
assert_contains "$OUT" "depends on backup $B2, which is damaged"
pass "a byte flipped in an S3 object is reported by verify (exit 1)"

# A wrong secret key: a clear error, exit 3, nothing new listed, the secret never printed.
BEFORE=$(s3 list cluster1/backups/ | wc -l)
AWS_SECRET_ACCESS_KEY=wrong-$SECRET expect_exit 3 statectl backup create
assert_contains "$ERR" "statectl: error: cannot use the backup repository s3://$BUCKET/cluster1: the S3 endpoint refused the credentials"
assert_contains "$ERR" "SignatureDoesNotMatch"
assert_not_contains "$ERR" "$SECRET"
assert_eq "$(s3 list cluster1/backups/ | wc -l)" "$BEFORE" "objects after the refused backup"
expect_exit 0 statectl -o json backup list
assert_eq "$(json_get "$OUT" 'len(j["backups"])')" 3 "backups listed after the refused backup"
pass "a wrong secret key is refused (exit 3, SignatureDoesNotMatch) and leaves nothing listed"

# prune (retention_daily = 1) removes the older backup's objects and the WAL only it needed.
expect_exit 0 statectl -o json backup prune
s3 list cluster1/ >"$TEST_DIR/objects"
if grep -q "backups/$B1/" "$TEST_DIR/objects"; then fail "prune left $B1's objects"; fi
grep -q "backups/$B2/manifest.json" "$TEST_DIR/objects" || fail "prune removed $B2, which the kept incr $B3 needs"
grep -q "backups/$B3/manifest.json" "$TEST_DIR/objects" || fail "prune removed the newest backup $B3"
FIRST_WAL=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["start_wal"])' "$TEST_DIR/manifest.json")
if grep -q "wal/00000001/$FIRST_WAL-" "$TEST_DIR/objects"; then fail "prune kept WAL $FIRST_WAL that only $B1 needed"; fi
pass "prune removes $B1's objects and its WAL from S3, keeps $B3 and the full $B2 it depends on"
