#!/usr/bin/env bash
# deploy/scale --target terraform against a recording fake `terraform`: init, plan, summary,
# apply of the plan file; --dry-run stops after the plan; passwords reach terraform only as
# TF_VAR_ variables; a failed plan exits 4; a missing terraform exits 3.
source "$(dirname "$0")/lib.sh"
source "$STATECTL_SOURCE_DIR/tests/fakes/lib.sh"
cd "$TEST_DIR"

fake_tools bin terraform
FAKE_PATH="$(fake_path "$TEST_DIR/bin")"
# Only statectl (and the fakes it runs) see the fake PATH: no real docker/kubectl/terraform.
statectl() { PATH="$FAKE_PATH" "$STATECTL" "$@"; }
export FAKE_LOG="$TEST_DIR/calls.log" FAKE_SCENARIO="$TEST_DIR/scenario"
export FAKE_ENV="CHECKPOINT_DISABLE TF_IN_AUTOMATION" FAKE_ENV_PRESENT="TF_VAR_postgres_password TF_VAR_redis_password"
STATE="$TEST_DIR/.statectl"
D="-chdir=$STATE/terraform/aws"
printf '[project]\ntarget = "terraform"\n' >statectl.toml
{
  printf 'terraform * plan *\t0\tTerraform will perform the following actions:\\n\\nPlan: 9 to add, 0 to change, 0 to destroy.\n'
  printf 'terraform * output -json *\t0\t{"postgres_endpoint": {"sensitive": false, "type": "string", "value": "orders.rds.amazonaws.com:5432"}, "secret_out": {"sensitive": true, "type": "string", "value": "hidden-value"}}\n'
} >"$FAKE_SCENARIO"

expect_exit 0 statectl deploy
cat >expected <<EXP
terraform $D init -input=false -no-color
terraform $D plan -input=false -no-color -out=statectl.tfplan
terraform $D apply -input=false -no-color statectl.tfplan
terraform $D output -json -no-color
EXP
fake_calls >actual
diff -u expected actual >&2 || fail "unexpected command sequence for a terraform deploy"
assert_eq "$(grep -c '  env TF_VAR_postgres_password set' "$FAKE_LOG")" 4 "postgres password variable on every call"
assert_eq "$(grep -c '  env TF_VAR_redis_password set' "$FAKE_LOG")" 4 "redis password variable on every call"
assert_eq "$(grep -c '  env CHECKPOINT_DISABLE=1' "$FAKE_LOG")" 4 "CHECKPOINT_DISABLE"
assert_contains "$ERR" "plan: 9 to add, 0 to change, 0 to destroy"
assert_contains "$OUT" "postgres_endpoint = orders.rds.amazonaws.com:5432"
assert_not_contains "$OUT" "hidden-value"
for f in versions.tf main.tf variables.tf outputs.tf; do [[ -f $STATE/terraform/aws/$f ]] || fail "$f not rendered"; done
pass "deploy runs init, plan, apply of the plan file, output; passwords only as TF_VAR_ variables"

# status: nothing until terraform has a state; then its resources and non-sensitive outputs.
: >"$FAKE_LOG"
expect_exit 1 statectl status
assert_contains "$ERR" "statectl: error: no terraform deploy for aws in $STATE/terraform/aws"
[[ ! -s $FAKE_LOG ]] || fail "status without a state ran $(fake_calls)"
touch "$STATE/terraform/aws/terraform.tfstate"
cp "$FAKE_SCENARIO" deploy-scenario
printf 'terraform * state list\t0\taws_db_instance.postgres\\naws_elasticache_replication_group.redis\\ndata.aws_vpc.selected\n' >>"$FAKE_SCENARIO"
expect_exit 0 statectl -o json status
cat >expected <<EXP
terraform $D state list
terraform $D output -json -no-color
EXP
fake_calls >actual
diff -u expected actual >&2 || fail "unexpected command sequence for status"
assert_eq "$(json_get "$OUT" '[c["name"] for c in j["components"]]')" "['aws_db_instance.postgres', 'aws_elasticache_replication_group.redis']" "resources"
assert_eq "$(json_get "$OUT" 'j["outputs"]')" "{'postgres_endpoint': 'orders.rds.amazonaws.com:5432'}" "outputs"
assert_not_contains "$OUT" "hidden-value"
! grep -q 'env TF_VAR_.* set$' "$FAKE_LOG" || fail "status passed passwords to terraform"
expect_exit 0 statectl status
assert_contains "$OUT" "postgres_endpoint = orders.rds.amazonaws.com:5432"
cp deploy-scenario "$FAKE_SCENARIO"
pass "status lists terraform's resources and non-sensitive outputs, without passwords"
expect_exit 2 statectl psql -- -c 'SELECT 1'
assert_contains "$ERR" "statectl: error: statectl psql cannot enter a managed database"

expect_exit 0 statectl -o json deploy --cloud gcp
assert_eq "$(json_get "$OUT" 'j["changes"]["add"]')" 9 "plan summary in JSON"
assert_eq "$(json_get "$OUT" 'j["cloud"]')" gcp "cloud"
pass "-o json reports the plan summary"

: >"$FAKE_LOG"
snapshot() { (cd "$STATE" && find . -type f -print0 | sort -z | xargs -0 md5sum); }
snapshot >before
expect_exit 0 statectl --dry-run deploy
# init and plan run in a temporary copy of the directory: the state directory is not written.
cat >expected <<EXP
terraform -chdir=PLANDIR init -input=false -no-color
terraform -chdir=PLANDIR plan -input=false -no-color -out=statectl.tfplan
EXP
fake_calls | sed -E 's|-chdir=[^ ]*/statectl-plan-[A-Za-z0-9]+|-chdir=PLANDIR|' >actual
diff -u expected actual >&2 || fail "--dry-run must stop after the plan"
snapshot >after
diff -u before after >&2 || fail "--dry-run wrote into the state directory"
assert_contains "$OUT" "# would apply the plan: 9 to add, 0 to change, 0 to destroy"
assert_contains "$OUT" "terraform $D apply -input=false -no-color statectl.tfplan"
pass "--dry-run stops after the plan and prints the apply it would run"

: >"$FAKE_LOG"
expect_exit 2 statectl scale postgres --replicas 0
expect_exit 2 statectl scale pooler --replicas 2
[[ ! -s $FAKE_LOG ]] || fail "invalid scale ran commands"
expect_exit 0 statectl scale postgres --replicas 3
fake_calls | grep -q "apply -input=false -no-color statectl.tfplan" || fail "scale did not apply"
grep -A3 'variable "postgres_read_replicas"' "$STATE/terraform/aws/variables.tf" | grep -q 'default     = 2' || fail "3 standbys = Multi-AZ + 2 read replicas"
expect_exit 0 statectl render
assert_contains "$OUT" 'default     = 2'
pass "scale re-plans and applies with the new count, recorded for render"

{
  printf 'terraform * plan *\t1\t\tError: No valid credential sources found\n'
} >"$FAKE_SCENARIO"
expect_exit 4 statectl deploy
assert_contains "$ERR" "statectl: error: terraform plan failed: exit code 1: Error: No valid credential sources found"
fake_calls | tail -1 | grep -q ' plan ' || fail "nothing may run after a failed plan"
pass "a failed plan exits 4 with terraform's error"

# destroy: refused without --purge (a managed database is its data); init, plan -destroy, apply
# of that plan; --dry-run stops after the plan; deletion protection gets a hint.
printf 'terraform * plan -destroy *\t0\tPlan: 0 to add, 0 to change, 9 to destroy.\n' >"$FAKE_SCENARIO"
: >"$FAKE_LOG"
expect_exit 2 statectl destroy
assert_contains "$ERR" "statectl: error: destroy --target terraform deletes the managed databases of aws and their data"
assert_contains "$ERR" "hint: take a backup first"
[[ ! -s $FAKE_LOG ]] || fail "destroy without --purge ran $(fake_calls)"
expect_exit 0 statectl --dry-run destroy --purge
cat >expected <<EXP
terraform -chdir=PLANDIR init -input=false -no-color
terraform -chdir=PLANDIR plan -destroy -input=false -no-color -out=statectl-destroy.tfplan
EXP
fake_calls | sed -E 's|-chdir=[^ ]*/statectl-plan-[A-Za-z0-9]+|-chdir=PLANDIR|' >actual
diff -u expected actual >&2 || fail "--dry-run destroy must stop after the plan"
assert_contains "$OUT" "# would apply the plan: 9 to destroy"
assert_contains "$OUT" "terraform $D apply -input=false -no-color statectl-destroy.tfplan"
{
  printf 'terraform * plan -destroy *\t0\tPlan: 0 to add, 0 to change, 9 to destroy.\n'
  printf 'terraform * apply *\t1\t\tError: deleting RDS DB Instance (orders-postgres): InvalidParameterCombination: Cannot delete protected DB Instance, please disable deletion protection and try again.\t1\n'
} >"$FAKE_SCENARIO"
expect_exit 4 statectl destroy --purge
assert_contains "$ERR" "statectl: error: terraform destroy failed"
assert_contains "$ERR" "hint: set [terraform] deletion_protection = false"
[[ -f $STATE/terraform/aws/main.tf ]] || fail "a failed destroy removed the terraform directory"
printf '[terraform]\ndeletion_protection = false\n' >>statectl.toml
expect_exit 0 statectl render
assert_contains "$OUT" "deletion_protection          = false"
: >"$FAKE_LOG"
expect_exit 0 statectl -o json destroy --purge
cat >expected <<EXP
terraform $D init -input=false -no-color
terraform $D plan -destroy -input=false -no-color -out=statectl-destroy.tfplan
terraform $D apply -input=false -no-color statectl-destroy.tfplan
EXP
fake_calls >actual
diff -u expected actual >&2 || fail "unexpected command sequence for destroy"
assert_eq "$(json_get "$OUT" 'j["changes"]["destroy"]')" 9 "destroy count"
assert_eq "$(grep -c '  env TF_VAR_postgres_password set' "$FAKE_LOG")" 3 "postgres password variable on every destroy call"
[[ -f $STATE/terraform/aws/main.tf ]] || fail "destroy must keep terraform's directory (its state)"
expect_exit 0 statectl render
assert_contains "$OUT" 'default     = 1'
pass "destroy needs --purge, plans -destroy, applies that plan, hints at deletion protection, forgets the scaled count"

rm -f bin/terraform
expect_exit 3 statectl deploy
assert_contains "$ERR" "statectl: error: terraform not found on PATH"
pass "a missing terraform exits 3"
