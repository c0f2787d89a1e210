#!/usr/bin/env bash
# [postgres] audit = true: the local stack's PostgreSQL loads pgaudit (Debian's
# postgresql-15-pgaudit) and logs DDL and role changes as AUDIT lines, without the statements'
# parameters and without any password.
source "$(dirname "$0")/lib.sh"

[[ -e /usr/lib/postgresql/15/lib/pgaudit.so ]] || skip "postgresql-15-pgaudit is not installed"

start_stack $'[postgres]\naudit = true\nreplicas = 0'
pass "deploy with [postgres] audit = true"

expect_exit 0 statectl psql --direct -- -tAc "SHOW shared_preload_libraries"
assert_eq "$(cat "$OUT")" pgaudit "shared_preload_libraries"
expect_exit 0 statectl psql --direct -- -tAc "SELECT extname FROM pg_extension WHERE extname = 'pgaudit'"
assert_eq "$(cat "$OUT")" pgaudit "the pgaudit extension"

expect_exit 0 statectl psql -- -v ON_ERROR_STOP=1 -c "CREATE TABLE audited_t (id int)"
expect_exit 0 statectl psql -- -v ON_ERROR_STOP=1 -c "INSERT INTO audited_t VALUES (1)"
expect_exit 0 statectl psql -- -v ON_ERROR_STOP=1 -c "GRANT SELECT ON audited_t TO app"
LOG="$TEST_DIR/stack/postgres-0/postgres.log"
wait_for 10 "grep -q 'AUDIT: SESSION,.*,DDL,CREATE TABLE,.*audited_t' '$LOG'" || fail "no DDL audit line in $LOG"
assert_contains "$LOG" ",ROLE,GRANT,"
assert_not_contains "$LOG" "INSERT INTO audited_t"
pass "DDL and GRANT are audited; plain writes (class write not configured) are not"

# No password in the log: statectl sends SCRAM verifiers, and every secret stays out.
for s in postgres replication app pgbouncer; do
  ! grep -qF -- "$(cat "$TEST_DIR/stack/secrets/$s")" "$LOG" || fail "the $s password appears in the PostgreSQL log"
done
pass "no stack password in the audited log"
