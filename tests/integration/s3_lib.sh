# Helpers for the S3 backup tests (sourced after lib.sh and backup_lib.sh): npm s3rver behind
# tests/integration/s3/sigv4_server.js, a proxy that checks every request's AWS Signature V4
# against one key pair, and s3, an independent client (@aws-sdk/client-s3).
command -v node >/dev/null || skip "node is not installed (packaging/install-deps.sh --test installs it)"
command -v npm >/dev/null || skip "npm is not installed (packaging/install-deps.sh --test installs it)"

# The npm packages, installed once into the shared test cache (reruns are offline).
NODE_DIR=${STATECTL_TEST_CACHE:-/var/cache/statectl-test}/s3-test
mkdir -p "$NODE_DIR"
(
  flock 9
  if [[ ! -d $NODE_DIR/node_modules/s3rver || ! -d $NODE_DIR/node_modules/@aws-sdk/client-s3 ]]; then
    timeout 300 npm install --prefix "$NODE_DIR" --no-audit --no-fund --silent s3rver@3 @aws-sdk/client-s3 >"$NODE_DIR/npm.log" 2>&1 || exit 77
  fi
) 9>"$NODE_DIR/.lock" || skip "npm could not install s3rver and @aws-sdk/client-s3 (see $NODE_DIR/npm.log)"
export NODE_PATH=$NODE_DIR/node_modules

# start_s3: starts the checking endpoint on port 60 (s3rver on 61) with bucket $BUCKET, sets
# ENDPOINT, KEY_ID, SECRET (a fresh random secret key) and AWS_REGION. Requests are logged to
# $TEST_DIR/s3.log. The AWS variables are not exported: the caller does that when it wants to.
BUCKET=statectl-test
start_s3() {
  export AWS_REGION=eu-central-1
  KEY_ID=AKIASTATECTLTEST0001
  SECRET=$(head -c 30 /dev/urandom | base64 | tr -d '/+=')
  local s3_port
  s3_port=$(port 60)
  mkdir -p "$TEST_DIR/s3data"
  S3_CHECK_KEY_ID=$KEY_ID S3_CHECK_SECRET=$SECRET S3_CHECK_REGION=$AWS_REGION \
    node "$STATECTL_SOURCE_DIR/tests/integration/s3/sigv4_server.js" "$s3_port" "$(port 61)" "$TEST_DIR/s3data" "$BUCKET" "$TEST_DIR/s3.log" \
    >"$TEST_DIR/s3server.out" 2>&1 &
  S3_PID=$!
  on_exit "kill_wait $S3_PID"
  wait_until 30 grep -q ready "$TEST_DIR/s3server.out" || { cat "$TEST_DIR/s3server.out" >&2; fail "the S3 test server did not start"; }
  ENDPOINT=http://127.0.0.1:$s3_port
}

# s3 OP ARGS...: the independent client (see s3/s3_client.js for the operations).
s3() { node "$STATECTL_SOURCE_DIR/tests/integration/s3/s3_client.js" "$ENDPOINT" "$BUCKET" "$@"; }

# use_s3_repo PREFIX: points $TEST_DIR/statectl.toml (written by start_backup_pg) at
# s3://$BUCKET/PREFIX through the checking endpoint, with daily retention 1.
use_s3_repo() {
  cat >>"$TEST_DIR/statectl.toml" <<TOML
repo = "s3://$BUCKET/$1"
s3_endpoint = "$ENDPOINT"
s3_region = "$AWS_REGION"
s3_uri_style = "path"
s3_part_size = "5MiB"
retention_daily = 1
retention_weekly = 0
retention_monthly = 0
TOML
  sed -i "s|^repo = \"$TEST_DIR/repo\"$||" "$TEST_DIR/statectl.toml"
}

# all_signed: every request that reached the endpoint passed the signature check.
all_signed() {
  grep -q '"verdict":"signed"' "$TEST_DIR/s3.log" || fail "no signed request reached the endpoint"
  if grep -v '"verdict":"signed"' "$TEST_DIR/s3.log"; then fail "a request from statectl failed the signature check"; fi
}
