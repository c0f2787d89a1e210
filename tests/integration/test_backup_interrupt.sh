#!/usr/bin/env bash
# backup create stopped by SIGTERM / SIGINT stops its pg_basebackup too (no process left behind,
# no half backup listed) and exits 130; backup verify --restore-test without pg_ctl is exit 3
# (a missing tool), not "damaged".
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/backup_lib.sh"
cd "$TEST_DIR"
start_backup_pg "$(port 1)"
sql "CREATE TABLE t AS SELECT g AS a, repeat('x', 200) AS pad FROM generate_series(1, 20000) g"

# A slow pg_basebackup (rate-limited wrapper), so the backup is still running when the signal
# comes. The wrapper execs the real one: the pid it leaves is pg_basebackup's.
mkdir -p "$TEST_DIR/slowbin"
printf '#!/bin/sh\nexec %s/pg_basebackup --max-rate=32k "$@"\n' "$PG_BIN" >"$TEST_DIR/slowbin/pg_basebackup"
chmod +x "$TEST_DIR/slowbin/pg_basebackup"
basebackups() { pgrep -f "pg_basebackup.*-p $PGPORT" || pgrep -f "pg_basebackup.*port=$PGPORT" || true; }

for sig in TERM INT; do
  STATECTL_POSTGRES_BIN_DIR="$TEST_DIR/slowbin" "$STATECTL" backup create >"$TEST_DIR/slow.out" 2>&1 &
  slow=$!
  on_exit "kill -9 $slow"
  wait_for 60 '[[ -n $(basebackups) ]]' || fail "pg_basebackup did not start: $(cat "$TEST_DIR/slow.out")"
  kill -"$sig" "$slow"
  set +e
  wait "$slow"
  rc=$?
  set -e
  [[ $rc == 130 ]] || fail "backup create after SIG$sig exited $rc: $(cat "$TEST_DIR/slow.out")"
  assert_contains "$TEST_DIR/slow.out" "statectl: error: interrupted"
  # The child is stopped (TERM, then KILL after its grace) before statectl exits: nothing remains.
  left=$(basebackups)
  [[ -z $left ]] || fail "pg_basebackup still running after SIG$sig to backup create: $(ps -o pid,stat,args -p "$left")"
  expect_exit 0 statectl backup list -o json
  assert_eq "$(json_get "$OUT" 'len(j["backups"])')" 0 "backups listed after an interrupted create"
done
pass "SIGTERM/SIGINT to backup create stop pg_basebackup, leave no backup, exit 130"

# A valid backup, then verify --restore-test on a machine without pg_ctl: exit 3 (missing tool),
# and the backup is not called damaged.
expect_exit 0 statectl backup create
mkdir -p "$TEST_DIR/nobin"
STATECTL_POSTGRES_BIN_DIR="$TEST_DIR/nobin" PATH=/usr/bin:/bin expect_exit 3 statectl backup verify --restore-test
assert_contains "$ERR" "statectl: error: cannot run the restore test: cannot run 'pg_ctl': not found on PATH"
assert_not_contains "$OUT" "DAMAGED"
expect_exit 0 statectl backup verify
pass "backup verify --restore-test without pg_ctl exits 3 and calls nothing damaged"
