#!/usr/bin/env bash
# Point-in-time restore in the style of PostgreSQL's 003_recovery_targets: batches of rows with
# a recorded xid, time, restore point and LSN between them; restore to each kind of target and
# count the rows. Also the refusals: a target before the oldest backup, beyond the archive, a
# WAL gap before the target, a non-empty directory.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/backup_lib.sh"
cd "$TEST_DIR"
start_backup_pg "$(port 1)"

sql "CREATE TABLE tab_int AS SELECT generate_series(1, 1000) AS a"
expect_exit 0 statectl -o json backup create
B1=$(json_get "$OUT" 'j["id"]')
assert_eq "$(json_get "$OUT" 'j["status"]')" valid "first backup status"

sql "INSERT INTO tab_int VALUES (generate_series(1001, 2000))"
XID=$(sql "SELECT pg_current_xact_id()")
sql "INSERT INTO tab_int VALUES (generate_series(2001, 3000))"
TIME=$(sql "SELECT now()")
sleep 0.1
sql "INSERT INTO tab_int VALUES (generate_series(3001, 4000))"
sql "SELECT pg_create_restore_point('my_target')" >/dev/null
sql "INSERT INTO tab_int VALUES (generate_series(4001, 5000))"
LSN=$(sql "SELECT pg_current_wal_lsn()")
sql "INSERT INTO tab_int VALUES (generate_series(5001, 6000))"
expect_exit 0 statectl -o json backup create
B2=$(json_get "$OUT" 'j["id"]')
sql "INSERT INTO tab_int VALUES (generate_series(6001, 7000))"
SEG=$(sql "SELECT pg_walfile_name(pg_switch_wal())")
wait_until 30 archived "$SEG" || fail "segment $SEG not archived"
pass "two backups and seven batches with xid $XID, time $TIME, restore point, LSN $LSN"

# restore_to NAME EXPECTED_ROWS EXPECTED_BACKUP ARGS...: restores, starts, counts rows, stops.
n=20
restore_to() {
  local name=$1 rows=$2 backup=$3
  shift 3
  n=$((n + 1))
  local p
  p=$(port $n)
  expect_exit 0 statectl -o json restore --to "$TEST_DIR/r-$name" --start --port "$p" "$@"
  on_exit "stop_restored $TEST_DIR/r-$name"
  assert_eq "$(json_get "$OUT" 'j["backup"]')" "$backup" "$name: backup chosen"
  assert_eq "$(sql_at "$p" "SELECT count(*) FROM tab_int")" "$rows" "$name: rows after restore"
  grep -q "archive_mode = 'off'" "$TEST_DIR/r-$name/postgresql.auto.conf" || fail "$name: restored copy keeps archiving"
  stop_restored "$TEST_DIR/r-$name"
  pass "restore to $name: exactly $rows rows from backup $backup"
}
restore_to immediate 1000 "$B1" --backup "$B1" --target-immediate
restore_to xid 2000 "$B1" --target-xid "$XID"
restore_to time 3000 "$B1" --target-time "$TIME"
restore_to name 4000 "$B1" --target-name my_target
restore_to lsn 5000 "$B1" --target-lsn "$LSN"
restore_to latest 7000 "$B2" --latest
assert_eq "$(json_get "$OUT" 'j["state"]')" promoted "latest: state"

# pause at the target: the server stays in recovery, read-only, at the target.
P=$(port 40)
expect_exit 0 statectl -o json restore --to "$TEST_DIR/r-pause" --start --port "$P" --target-lsn "$LSN" --target-action pause
on_exit "stop_restored $TEST_DIR/r-pause"
assert_eq "$(json_get "$OUT" 'j["state"]')" "paused at the target" "pause state"
assert_eq "$(sql_at "$P" "SELECT pg_is_in_recovery()")" t "paused server is in recovery"
assert_eq "$(sql_at "$P" "SELECT count(*) FROM tab_int")" 5000 "paused rows"
stop_restored "$TEST_DIR/r-pause"
pass "--target-action pause stops in recovery at the target"

expect_exit 2 statectl restore --to "$TEST_DIR/r-early" --target-time "2000-01-01 00:00:00+00"
assert_contains "$ERR" "statectl: error: target --target-time 2000-01-01 00:00:00+00 is before the end of the oldest backup"
assert_contains "$ERR" "hint: the earliest point you can restore to is"
[[ ! -e $TEST_DIR/r-early ]] || fail "refused restore left a directory"
pass "a target before the oldest backup exits 2 and says what is possible"

expect_exit 1 statectl restore --to "$TEST_DIR/r-far" --target-lsn "FF/0"
assert_contains "$ERR" "statectl: error: cannot reach the target LSN FF/0: the archive ends at LSN"
FUTURE=$(date -u -d '+1 hour' '+%Y-%m-%d %H:%M:%S+00')
expect_exit 1 statectl restore --to "$TEST_DIR/r-far" --target-time "$FUTURE"
assert_contains "$ERR" "cannot reach the target time"
[[ ! -e $TEST_DIR/r-far ]] || fail "refused restore left a directory"
pass "an unreachable target exits 1 before anything is written"

mkdir -p "$TEST_DIR/nonempty" && touch "$TEST_DIR/nonempty/x"
expect_exit 2 statectl restore --to "$TEST_DIR/nonempty" --latest
assert_contains "$ERR" "the directory is not empty"
pass "a non-empty --to exits 2"

# A WAL gap after the second backup: --latest is refused, an earlier target still works.
sql "INSERT INTO tab_int VALUES (generate_series(7001, 8000))"
GAP=$(sql "SELECT pg_walfile_name(pg_switch_wal())")
sql "INSERT INTO tab_int VALUES (generate_series(8001, 9000))"
LAST=$(sql "SELECT pg_walfile_name(pg_switch_wal())")
wait_until 30 archived "$LAST" || fail "segment $LAST not archived"
mkdir -p "$TEST_DIR/aside"
mv "$TEST_DIR/repo/wal/00000001/$GAP"-* "$TEST_DIR/aside/"
expect_exit 1 statectl restore --to "$TEST_DIR/r-gap" --latest
assert_contains "$ERR" "there is a WAL gap before it"
assert_contains "$ERR" "segment $GAP is missing from the archive"
expect_exit 1 statectl backup verify
assert_contains "$OUT" "WAL gap: segment $GAP is missing"
mv "$TEST_DIR/aside/$GAP"-* "$TEST_DIR/repo/wal/00000001/"
expect_exit 0 statectl backup verify
pass "a WAL gap before the target exits 1 naming the missing segment"
