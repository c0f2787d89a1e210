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
  for s in postgres replication app pgbouncer redis ca.crt tls.crt tls.key redis-acl redis-replication redis-sentinel; do echo x >out-$c/secrets/$s; done
  (cd out-$c && docker-compose -f docker-compose.yml config -q) >"$OUT" 2>"$ERR" || fail "$c: docker-compose config -q rejected the render"
  (cd out-$c && docker-compose -f docker-compose.yml config --services) >services.$c
done
assert_eq "$(sort services.default | tr '\n' ' ')" "pgbouncer postgres-primary postgres-replica redis-master redis-replica redis-sentinel " "default services"
assert_eq "$(sort services.minimal | tr '\n' ' ')" "pgbouncer postgres-primary redis-master " "minimal services"
pass "docker-compose config -q accepts default, custom and minimal renders"

# [postgres] ha = "patroni": etcd ×3, Patroni ×3, HAProxy ×2, PgBouncer ×2 on separate networks;
# only PgBouncer, HAProxy and Redis publish ports, on 127.0.0.1; the Patroni image is built from
# the rendered Dockerfile; HAProxy's configuration passes `haproxy -c`.
printf '[project]\nname = "orders"\n[postgres]\nha = "patroni"\n' >patroni.toml
expect_exit 0 statectl -c patroni.toml render --target compose --out out-patroni
mkdir -p out-patroni/secrets
for s in postgres replication app pgbouncer redis; do echo x >out-patroni/secrets/$s; done
(cd out-patroni && docker-compose -f docker-compose.yml config -q) >"$OUT" 2>"$ERR" || fail "patroni: docker-compose config -q rejected the render"
(cd out-patroni && docker-compose -f docker-compose.yml config) >patroni-config.yml
assert_eq "$(cd out-patroni && docker-compose -f docker-compose.yml config --services | sort | tr '\n' ' ')" \
  "etcd-1 etcd-2 etcd-3 haproxy-1 haproxy-2 patroni-1 patroni-2 patroni-3 pgbouncer redis-master redis-replica redis-sentinel " "patroni services"
[[ ! -e out-patroni/postgres/postgresql.conf && ! -e out-patroni/postgres/replica-entrypoint.sh && -x out-patroni/patroni/patroni-entrypoint.sh ]] ||
  fail "patroni: the bare-mode files are rendered or the entrypoint is missing"
python3 - patroni-config.yml <<'PY' || fail "patroni: networks or published ports"
import sys, yaml
c = yaml.safe_load(open(sys.argv[1]))
s = c["services"]
def nets(name): return sorted(s[name]["networks"])
assert all(nets(f"etcd-{i}") == ["dcs"] for i in (1, 2, 3)), "etcd networks"
assert all(nets(f"patroni-{i}") == ["dcs", "postgres"] for i in (1, 2, 3)), "member networks"
assert all(nets(f"haproxy-{i}") == ["clients", "postgres"] for i in (1, 2)), "haproxy networks"
assert nets("pgbouncer") == ["clients"], nets("pgbouncer")
assert s["haproxy-1"]["networks"]["clients"]["aliases"] == ["haproxy"]
published = {n: [p for p in v.get("ports", [])] for n, v in s.items() if v.get("ports")}
assert sorted(published) == ["haproxy-1", "haproxy-2", "pgbouncer", "redis-master", "redis-replica", "redis-sentinel"], sorted(published)
assert all(str(p).startswith("127.0.0.1:") for ps in published.values() for p in ps), published
assert s["haproxy-1"]["ports"] == ["127.0.0.1:15432:5000/tcp", "127.0.0.1:15433:5001/tcp"], s["haproxy-1"]["ports"]
assert s["haproxy-2"]["ports"] == ["127.0.0.1:15434:5000/tcp", "127.0.0.1:15435:5001/tcp"], s["haproxy-2"]["ports"]
assert s["pgbouncer"]["deploy"]["replicas"] == 2
assert s["patroni-1"]["build"]["context"].endswith("/patroni") and s["patroni-1"]["user"] == "999:999"
assert sorted(s["patroni-1"]["secrets"][i]["source"] for i in range(2)) == ["postgres", "replication"]
assert "PASSWORD" not in str(s["patroni-1"].get("environment"))
PY
grep -q '^FROM postgres:16.10-bookworm$' out-patroni/patroni/Dockerfile || fail "patroni: Dockerfile base"
grep -q '"patroni=${PATRONI_VERSION}" "python3-etcd=${PYTHON_ETCD_VERSION}"' out-patroni/patroni/Dockerfile || fail "patroni: pinned packages"
grep -q '^  hosts: \[etcd-1:2379, etcd-2:2379, etcd-3:2379\]$' out-patroni/patroni/patroni.yml || fail "patroni: etcd3 hosts"
grep -q '^    synchronous_mode: true$' out-patroni/patroni/patroni.yml || fail "patroni: synchronous_mode"
grep -q '^\* = host=haproxy port=5000$' out-patroni/pgbouncer/pgbouncer.ini || fail "patroni: PgBouncer points at HAProxy"
if command -v haproxy >/dev/null; then
  haproxy -c -f out-patroni/haproxy/haproxy.cfg >"$OUT" 2>"$ERR" || fail "haproxy -c rejected the rendered configuration: $(cat "$ERR")"
fi
grep -c 'check port 8008' out-patroni/haproxy/haproxy.cfg | grep -qx 6 || fail "patroni: HAProxy servers"
printf '[project]\nname = "orders"\n[postgres]\nha = "patroni"\nsynchronous = false\nreplicas = 4\n[pgbouncer]\nreplicas = 1\n' >patroni5.toml
expect_exit 0 statectl -c patroni5.toml render --target compose --out out-patroni5
grep -q '^    synchronous_mode: false$' out-patroni5/patroni/patroni.yml || fail "patroni: synchronous = false"
assert_eq "$(grep -c '^  patroni-[0-9]*:$' out-patroni5/docker-compose.yml)" 5 "members for replicas = 4"
grep -q '127.0.0.1:16432-16432:6432' out-patroni5/docker-compose.yml || fail "patroni: [pgbouncer] replicas = 1 kept"
pass "ha = patroni: etcd ×3, Patroni ×3, HAProxy ×2, PgBouncer ×2, separate networks, only client ports on 127.0.0.1, haproxy -c passes"

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
