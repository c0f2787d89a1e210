#!/usr/bin/env bash
# secrets tls --rotate --apply --target k8s against a recording fake `kubectl`: the Secret pushed
# again, a wait until each pod's /tls volume holds the new certificate (the fake serves the old
# one first, as a kubelet that has not synced yet), a reload inside every server's container
# (never a restart), and the check through the Services: `kubectl port-forward` is a small TLS
# server presenting whichever certificate the test chooses (PostgreSQL's SSLRequest included).
# Also: --dry-run, a pod that never syncs, a Service that still presents the old certificate, and
# the targets that refuse --apply.
source "$(dirname "$0")/lib.sh"
source "$STATECTL_SOURCE_DIR/tests/fakes/lib.sh"
cd "$TEST_DIR"

# The system python3 (a shim of a version manager would need the PATH the fakes take away).
PYTHON=$(PATH=/usr/bin:/bin command -v python3) || skip "python3 missing"
mkdir -p bin/.rec
cp "$STATECTL_SOURCE_DIR/tests/fakes/fake-tool" bin/.rec/kubectl
FAKE_PATH="$(fake_path "$TEST_DIR/bin")"
export FAKE_LOG="$TEST_DIR/calls.log" FAKE_SCENARIO="$TEST_DIR/scenario"
: >"$FAKE_SCENARIO"
export PYTHON MOUNT_DIR="$TEST_DIR/mount" SERVE_DIR="$TEST_DIR/serve"
mkdir -p "$MOUNT_DIR" "$SERVE_DIR"

# The TLS server behind every fake port-forward: TLS 1.3 with $SERVE_DIR/pair.pem (certificate
# and key in one file, replaced by rename, so a server never loads half a pair); for PostgreSQL's
# ports it first answers the 8-byte SSLRequest with 'S', as PostgreSQL and PgBouncer do.
cat >tls_stub.py <<'PY'
import os, socket, ssl, sys
port, remote = int(sys.argv[1]), sys.argv[2]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.minimum_version = ssl.TLSVersion.TLSv1_3
ctx.load_cert_chain(os.path.join(os.environ["SERVE_DIR"], "pair.pem"))
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port))
s.listen(16)
while True:
    c, _ = s.accept()
    try:
        c.settimeout(5)
        if remote in ("5432", "6432"):
            got = b""
            while len(got) < 8:
                chunk = c.recv(8 - len(got))
                if not chunk:
                    break
                got += chunk
            if len(got) < 8:
                c.close()
                continue
            c.sendall(b"S")
        t = ctx.wrap_socket(c, server_side=True)
        t.close()
    except Exception:
        c.close()
PY

# kubectl: recorded by the fake; `get pods` answers pods.json, `exec POD -c C -- cat
# /tls/tls.crt` answers the old certificate on its first call per container and then
# $MOUNT_DIR/tls.crt (or always the old one when $MOUNT_DIR/never names the pod), and
# `port-forward ... LOCAL:REMOTE` becomes the TLS stub on LOCAL.
cat >bin/kubectl <<'SH'
#!/usr/bin/env bash
here=${0%/*}
"$here/.rec/kubectl" "$@" </dev/null
args=("$@")
last=${args[$(($# - 1))]}
case " $* " in
  *" get pods "*) cat "$MOUNT_DIR/pods.json" ;;
  *" cat /tls/tls.crt "*)
    pod=${args[5]}
    seen="$MOUNT_DIR/seen.$pod.${args[7]}"
    if [[ ! -e $seen ]] || grep -qx "$pod" "$MOUNT_DIR/never" 2>/dev/null; then : >"$seen"; cat "$MOUNT_DIR/old.crt"; else cat "$MOUNT_DIR/tls.crt"; fi ;;
  *" port-forward "*) exec "$PYTHON" "$MOUNT_DIR/../tls_stub.py" "${last%%:*}" "${last##*:}" 2>>"$MOUNT_DIR/../stub.err" ;;
esac
SH
chmod +x bin/kubectl
statectl() { PATH="$FAKE_PATH" "$STATECTL" "$@"; }

cat >statectl.toml <<'TOML'
[project]
name = "orders"
target = "k8s"
[k8s]
context = "prod"
namespace = "state"
TOML
K="kubectl --context prod --namespace state"

# The stack's pods: four servers that mount the certificate, an exporter that mounts ca.crt
# only, and a pod that is not running.
pod() { # NAME CONTAINER ITEMS PHASE
  printf '{"metadata":{"name":"%s"},"spec":{"containers":[{"name":"%s","volumeMounts":[{"name":"tls","mountPath":"/tls"}]}],"volumes":[{"name":"tls","secret":{"secretName":"orders-secrets","items":[%s]}}]},"status":{"phase":"%s"}}' "$@"
}
ALL='{"key":"tls.crt","path":"tls.crt"},{"key":"tls.key","path":"tls.key"},{"key":"ca.crt","path":"ca.crt"}'
{
  printf '{"items":['
  pod orders-postgres-primary-0 postgres "$ALL" Running; printf ','
  pod orders-pgbouncer-7d9f-x2 pgbouncer "$ALL" Running; printf ','
  pod orders-redis-master-0 redis "$ALL" Running; printf ','
  pod orders-redis-sentinel-0 sentinel "$ALL" Running; printf ','
  pod orders-postgres-exporter-5c-q1 exporter '{"key":"ca.crt","path":"ca.crt"}' Running; printf ','
  pod orders-redis-replica-0 redis "$ALL" Pending
  printf ']}\n'
} >"$MOUNT_DIR/pods.json"

expect_exit 0 statectl secrets generate
expect_exit 0 statectl secrets tls
statectl secrets get tls.crt >"$MOUNT_DIR/old.crt"

# Whatever the store holds now is what the pods see once synced and the Services then present.
serve() { # CERT_FILE KEY_TEXT
  { cat "$1"; printf '%s\n' "$2"; } >"$SERVE_DIR/pair.tmp" && mv -f "$SERVE_DIR/pair.tmp" "$SERVE_DIR/pair.pem"
}
sync_mount() {
  local crt key
  crt=$(statectl secrets get tls.crt) && key=$(statectl secrets get tls.key) || return 0
  printf '%s\n' "$crt" >"$MOUNT_DIR/tls.tmp" && mv -f "$MOUNT_DIR/tls.tmp" "$MOUNT_DIR/tls.crt"
  serve "$MOUNT_DIR/tls.crt" "$key"
}
serial() { openssl x509 -noout -serial -in "$1" | cut -d= -f2; }

# --dry-run: plans the push, reloads nothing, changes nothing.
expect_exit 0 statectl --dry-run secrets tls --rotate --apply
assert_contains "$OUT" "would push"
calls=$(fake_calls)
[[ $calls != *" apply "* && $calls != *" exec "* ]] || fail "--dry-run ran a mutating kubectl call: $calls"
assert_eq "$(statectl secrets get tls.crt | serial /dev/stdin)" "$(serial "$MOUNT_DIR/old.crt")" "--dry-run changed the store"
pass "--dry-run plans only"

# The rotation itself: the fake serves the new pair as soon as the store has it.
: >"$FAKE_LOG"
rm -f "$MOUNT_DIR"/seen.*
# The stub and the mount must follow the store's new certificate: a background loop copies it.
( for _ in $(seq 1 300); do sync_mount 2>/dev/null; sleep 0.3; done ) &
SYNC=$!
on_exit "kill $SYNC 2>/dev/null || true"
expect_exit 0 statectl secrets tls --rotate --apply --timeout 30s
kill "$SYNC" 2>/dev/null || true
wait "$SYNC" 2>/dev/null || true
sync_mount
assert_contains "$OUT" "verified: every Service presents the new certificate"
new=$(serial "$MOUNT_DIR/tls.crt")
[[ $new != "$(serial "$MOUNT_DIR/old.crt")" ]] || fail "the store still holds the old certificate"
fake_calls >calls
grep -q "^$K apply --server-side" calls || grep -q "^kubectl .* apply .*-f -" calls || fail "the Secret was not pushed: $(cat calls)"
assert_contains calls "$K get pods -l app.kubernetes.io/instance=orders -o json"
for pc in orders-postgres-primary-0:postgres orders-pgbouncer-7d9f-x2:pgbouncer orders-redis-master-0:redis orders-redis-sentinel-0:sentinel; do
  n=$(grep -c -- "exec ${pc%%:*} -c ${pc##*:} -- cat /tls/tls.crt" calls || true)
  ((n >= 2)) || fail "${pc}: expected a wait for the kubelet (the first read is the old certificate), got $n reads"
done
assert_not_contains calls "orders-postgres-exporter"
assert_not_contains calls "exec orders-redis-replica-0"
assert_contains calls "$K exec orders-postgres-primary-0 -c postgres -- psql -U postgres -d postgres -v ON_ERROR_STOP=1 -tAc 'SELECT pg_reload_conf()'"
assert_contains calls "$K exec orders-pgbouncer-7d9f-x2 -c pgbouncer -- /bin/sh -c 'kill -HUP 1'"
assert_contains calls "$K exec orders-redis-master-0 -c redis -- /bin/sh -c 'REDISCLI_AUTH=\"\$(cat /secrets/redis)\" exec redis-cli --tls --cacert /tls/ca.crt CONFIG SET tls-cert-file /tls/tls.crt tls-key-file /tls/tls.key'"
assert_contains calls "$K exec orders-redis-sentinel-0 -c sentinel -- /bin/sh -c 'exec redis-cli --tls --cacert /tls/ca.crt -p 26379 CONFIG SET tls-cert-file /tls/tls.crt tls-key-file /tls/tls.key'"
for svc in pgbouncer postgres-primary postgres-replica redis-master; do assert_contains calls "port-forward --address 127.0.0.1 svc/orders-$svc"; done
# No restart of any kind, and no secret in argv or output.
grep -Eq " (rollout restart|delete pod|delete pods) " calls && fail "the rotation restarted pods"
for s in postgres app pgbouncer redis replication; do
  v=$(statectl secrets get "$s")
  ! grep -qF -- "$v" calls "$OUT" "$ERR" || fail "secret '$s' leaked into the kubectl argv or the output"
done
pass "rotation: pushed, waited for the kubelet, reloaded 4 servers in place, verified 4 Services (serial $new)"

# A pod whose volume never updates: exit 1 naming it, after --timeout.
: >"$FAKE_LOG"
rm -f "$MOUNT_DIR"/seen.*
echo orders-redis-master-0 >"$MOUNT_DIR/never"
( for _ in $(seq 1 300); do sync_mount 2>/dev/null; sleep 0.3; done ) &
SYNC=$!
expect_exit 1 statectl secrets tls --rotate --apply --timeout 20s
kill "$SYNC" 2>/dev/null || true
wait "$SYNC" 2>/dev/null || true
assert_contains "$ERR" "statectl: error: orders-redis-master-0/redis did not see the new certificate within 20s"
fake_calls >calls
assert_not_contains calls "CONFIG SET"
assert_not_contains calls "pg_reload_conf"
rm -f "$MOUNT_DIR/never"
pass "a pod that does not see the certificate: exit 1, no server reloaded"

# A Service that still presents the old certificate: exit 1.
: >"$FAKE_LOG"
rm -f "$MOUNT_DIR"/seen.*
# (the stub keeps serving pair.pem of the last rotation, which sync_mount wrote)
( for _ in $(seq 1 300); do crt=$(statectl secrets get tls.crt 2>/dev/null) && printf '%s\n' "$crt" >"$MOUNT_DIR/tls.tmp" && mv -f "$MOUNT_DIR/tls.tmp" "$MOUNT_DIR/tls.crt"; sleep 0.1; done ) &
SYNC=$!
expect_exit 1 statectl secrets tls --rotate --apply --timeout 30s
kill "$SYNC" 2>/dev/null || true
wait "$SYNC" 2>/dev/null || true
assert_contains "$ERR" "still presents another certificate"
pass "a Service still presenting the previous certificate: exit 1"

# Targets and configs that cannot take it: exit 2.
expect_exit 2 statectl secrets tls --apply --target terraform
assert_contains "$ERR" "statectl: error: --apply has nothing to roll out on terraform"
expect_exit 2 statectl secrets tls --apply --target compose
assert_contains "$ERR" "statectl: error: --apply rolls a certificate out to local and k8s stacks only"
expect_exit 2 env STATECTL_TLS_ENABLED=false PATH="$FAKE_PATH" "$STATECTL" secrets tls --apply
assert_contains "$ERR" "--apply needs a k8s stack with TLS"
before=$(statectl secrets get tls.crt)
expect_exit 2 statectl secrets tls --apply --timeout soon
assert_contains "$ERR" "invalid --timeout"
assert_eq "$(statectl secrets get tls.crt)" "$before" "a bad --timeout issued a certificate"
pass "terraform, compose, plain text and a bad --timeout: exit 2"
