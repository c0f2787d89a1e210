#!/usr/bin/env bash
# Encryption at rest ([backup] cipher = "aes-256-gcm"): the key is made on first use in the
# secret store with a 0600 copy for the archiver; no stored file is a plain zstd frame or plain
# JSON; restore through the archiver's WAL lands on the exact row count; a byte flipped in a
# base backup, a WAL object or a manifest is reported by verify as damage (exit 1).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/backup_lib.sh"
cd "$TEST_DIR"
start_backup_pg "$(port 1)"
echo 'cipher = "aes-256-gcm"' >>"$TEST_DIR/statectl.toml"

sql "CREATE TABLE t AS SELECT generate_series(1, 1000) AS a"
expect_exit 0 statectl -o json backup create
B1=$(json_get "$OUT" 'j["id"]')
assert_eq "$(json_get "$OUT" 'j["status"]')" valid "encrypted backup status"
[[ -s $TEST_DIR/state/secrets/backup_cipher_key ]] || fail "no backup_cipher_key in the secret store"
[[ $(stat -c '%a %U' "$TEST_DIR/state/backup-cipher-key") == "600 postgres" ]] || fail "key copy: $(stat -c '%a %U' "$TEST_DIR/state/backup-cipher-key")"
assert_eq "$(tr -d '\n' <"$TEST_DIR/state/backup-cipher-key")" "$(tr -d '\n' <"$TEST_DIR/state/secrets/backup_cipher_key")" "archiver's key copy"
KEY=$(tr -d '\n' <"$TEST_DIR/state/backup-cipher-key")
pass "backup $B1 with a key made on first use (secret store + 0600 copy for the archiver)"

sql "INSERT INTO t SELECT generate_series(1001, 3000)"
SEG=$(sql "SELECT pg_walfile_name(pg_switch_wal())")
wait_until 30 archived "$SEG" || fail "segment $SEG not archived"
n=0
while IFS= read -r -d '' f; do
  n=$((n + 1))
  [[ $(head -c 8 "$f") == "STCGCM1" ]] || fail "$f is not sealed: $(head -c 8 "$f" | od -An -tx1)"
  if grep -qF "$KEY" "$f"; then fail "$f holds the key"; fi
done < <(find "$TEST_DIR/repo/backups" "$TEST_DIR/repo/wal" -type f -print0)
((n >= 4)) || fail "only $n files in the repository"
if grep -rlF '"system_identifier"' "$TEST_DIR/repo"; then fail "a manifest is stored in plain"; fi
if grep -rlF "$KEY" "$TEST_DIR/repo" "$OUT" "$ERR"; then fail "the key appears in the repository or the output"; fi
pass "all $n stored files are sealed (no plain zstd frame, no plain JSON)"

P=$(port 20)
expect_exit 0 statectl -o json restore --to "$TEST_DIR/r1" --latest --start --port "$P"
on_exit "stop_restored $TEST_DIR/r1"
assert_eq "$(sql_at "$P" "SELECT count(*) FROM t")" 3000 "rows after restoring the encrypted backup and WAL"
stop_restored "$TEST_DIR/r1"
expect_exit 0 statectl -o json backup verify
assert_eq "$(json_get "$OUT" 'j["ok"]')" True "verify of the intact encrypted repository"
pass "restore decrypts base backup and WAL to exactly 3000 rows; verify ok"

sql "INSERT INTO t SELECT generate_series(3001, 3500)"
sql "CHECKPOINT"
expect_exit 0 statectl -o json backup create --type diff
B2=$(json_get "$OUT" 'j["id"]')
assert_eq "$(json_get "$OUT" '(j["type"], j["depends_on"])')" "('diff', '$B1')" "encrypted diff"
[[ $(head -c 8 "$TEST_DIR/repo/backups/$B2/base.tar.zst") == "STCGCM1" ]] || fail "the diff's base.tar.zst is not sealed"
if grep -rlF '"reference"' "$TEST_DIR/repo"; then fail "the diff's manifest is stored in plain"; fi
expect_exit 0 statectl -o json restore --to "$TEST_DIR/r2" --backup "$B2" --target-immediate --start --port "$P"
on_exit "stop_restored $TEST_DIR/r2"
assert_eq "$(sql_at "$P" "SELECT count(*) FROM t")" 3500 "rows after restoring the encrypted diff"
stop_restored "$TEST_DIR/r2"
pass "an encrypted diff $B2 is sealed and restores from its chain to exactly 3500 rows"

# restore --delta of the encrypted diff onto r1 (B1 replayed to 3000 rows and promoted): only the
# sealed records of the frames holding changed files are read, each authenticated.
rm -f "$TEST_DIR/r1/$(sql "SELECT pg_relation_filepath('t')")"
expect_exit 0 statectl restore --delta --to "$TEST_DIR/r1" --backup "$B2" --target-immediate --start --port "$P"
assert_contains "$ERR" "delta restore: decompressed "
assert_eq "$(sql_at "$P" "SELECT count(*) FROM t")" 3500 "rows after a delta restore of the encrypted diff"
stop_restored "$TEST_DIR/r1"
pass "restore --delta of the encrypted diff $B2 reads only the frames it needs and lands on exactly 3500 rows"

# flip FILE OFFSET: inverts one byte in place.
flip() { python3 -c 'import sys; p, o = sys.argv[1], int(sys.argv[2]); b = bytearray(open(p, "rb").read()); b[min(o, len(b) - 1)] ^= 0xFF; open(p, "wb").write(b)' "$1" "$2"; }
tamper() {
  local file=$1 offset=$2 name=$3
  cp -p "$file" "$TEST_DIR/saved"
  flip "$file" "$offset"
  expect_exit 1 statectl -o json backup verify
  assert_eq "$(json_get "$OUT" 'j["ok"]')" False "verify after flipping a byte of $name"
  assert_contains "$OUT" "$name"
  cp -p "$TEST_DIR/saved" "$file"
  pass "a byte flipped in $name is reported by verify (exit 1)"
}
tamper "$TEST_DIR/repo/backups/$B1/base.tar.zst" 2000 "backups/$B1/base.tar.zst"
WAL=$(ls "$TEST_DIR"/repo/wal/00000001/"$SEG"-*.zst)
tamper "$WAL" 300 "wal/00000001/$(basename "$WAL")"
tamper "$TEST_DIR/repo/backups/$B1/manifest.json" 40 "backups/$B1/manifest.json"
expect_exit 0 statectl -o json backup verify
