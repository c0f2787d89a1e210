#!/usr/bin/env bash
# Rendered Compose files pass Debian's docker-compose (v1) validation; rendering is
# deterministic; --out equals the stdout form; a template with an unknown name fails (exit 2).
source "$(dirname "$0")/lib.sh"
command -v docker-compose >/dev/null || skip "docker-compose is not installed"
cd "$TEST_DIR"

cat >custom.toml <<'TOML'
[project]
name = "orders"
[postgres]
replicas = 3
[pgbouncer]
replicas = 2
[redis]
replicas = 2
TOML
printf '[postgres]\nreplicas = 0\n[redis]\nmode = "standalone"\n' >minimal.toml
printf '' >default.toml

for c in default custom minimal; do
  expect_exit 0 statectl -c $c.toml render --target compose --out out-$c
  [[ -f out-$c/docker-compose.yml && -x out-$c/postgres/replica-entrypoint.sh ]] || fail "$c: rendered tree incomplete"
  mkdir -p out-$c/secrets
  for s in postgres replication app pgbouncer redis; do echo x >out-$c/secrets/$s; done
  (cd out-$c && docker-compose -f docker-compose.yml config -q) >"$OUT" 2>"$ERR" || fail "$c: docker-compose config -q rejected the render"
  (cd out-$c && docker-compose -f docker-compose.yml config --services) >services.$c
done
assert_eq "$(sort services.default | tr '\n' ' ')" "pgbouncer postgres-primary postgres-replica redis-master redis-replica redis-sentinel " "default services"
assert_eq "$(sort services.minimal | tr '\n' ' ')" "pgbouncer postgres-primary redis-master " "minimal services"
pass "docker-compose config -q accepts default, custom and minimal renders"

(cd out-custom && docker-compose -f docker-compose.yml config) >custom-config.yml
grep -q 'replicas: 3' custom-config.yml || fail "custom: 3 postgres replicas not rendered"
grep -q '127.0.0.1:16432-16433:6432' custom-config.yml || fail "custom: pooler port range not rendered"
assert_not_contains custom-config.yml "POSTGRES_PASSWORD:"
pass "custom values reach the effective compose config; no password environment literals"

expect_exit 0 statectl -c custom.toml render --target compose
cp "$OUT" stdout.1
expect_exit 0 statectl -c custom.toml render --target compose
cmp -s stdout.1 "$OUT" || fail "two renders differ"
assert_contains "$OUT" "# ==> docker-compose.yml <=="
awk '/^# ==> docker-compose.yml <==$/{f=1;next} /^# ==> /{f=0} f' stdout.1 >from-stdout.yml
cmp -s from-stdout.yml out-custom/docker-compose.yml || fail "stdout form differs from --out"
pass "rendering is byte-identical and the stdout form matches --out"

mkdir -p tpl/compose
printf 'services:\n  x:\n    image: {{postgres.imag}}\n' >tpl/compose/docker-compose.yml
expect_exit 2 statectl render --target compose --templates tpl
assert_contains "$ERR" "statectl: error: cannot render template $TEST_DIR/tpl/compose/docker-compose.yml: no value for name 'postgres.imag'"
expect_exit 2 statectl -c default.toml render --target compose --out out-default --templates tpl
[[ -f out-default/postgres/postgresql.conf ]] || fail "a failed render touched the previous --out tree"
pass "a missing name exits 2 with the template path and the name; --out is left as it was"
