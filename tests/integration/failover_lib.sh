# Helpers for the failover tests (sourced after lib.sh).
#
# failover_stack [EXTRA_TOML]: a local stack in this test's directory and ports (PostgreSQL
# primary + 1 synchronous standby behind PgBouncer, Redis master + 1 replica + 3 Sentinels with
# down-after 1 s), destroyed with its data at exit. EXTRA_TOML is appended to statectl.toml
# (e.g. a [postgres] ha = "patroni" section). Uses lib.sh's start_stack (Sentinels on
# $(port 50)...).
failover_require() {
  [[ -x /usr/lib/postgresql/15/bin/postgres ]] || skip "PostgreSQL 15 is not installed"
  local b
  for b in redis-server redis-sentinel pgbouncer "$@"; do
    command -v "$b" >/dev/null || [[ -x /usr/sbin/$b ]] || skip "$b is not installed"
  done
}

failover_stack() {
  local extra
  extra=$(printf '[redis]\ndown_after = "1s"\nfailover_timeout = "3s"\n%s\n' "${1:-}")
  start_stack "$extra"
}

# The role status reports for a member.
member_role() {
  statectl status -o json >"$TEST_DIR/status.json" 2>/dev/null || true
  json_get "$TEST_DIR/status.json" "[c['role'] for c in j['components'] if c['name'] == '$1'][0]"
}
