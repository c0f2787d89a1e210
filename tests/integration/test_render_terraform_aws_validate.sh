#!/usr/bin/env bash
# `terraform validate` of the rendered AWS configuration with the provider in /opt/tf-plugins
# (skipped where that plug-in directory is absent; GCP and Azure have no provider here).
source "$(dirname "$0")/lib.sh"
command -v terraform >/dev/null || skip "terraform is not installed"
[[ -d /opt/tf-plugins/registry.terraform.io/hashicorp/aws ]] || skip "no AWS provider in /opt/tf-plugins"
export CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1
cd "$TEST_DIR"
printf '[postgres]\nreplicas = 3\n' >custom.toml
printf '' >default.toml
for c in default custom; do
  expect_exit 0 statectl -c $c.toml render --target terraform --cloud aws --out aws-$c
  run terraform -chdir=aws-$c init -backend=false -input=false -no-color -plugin-dir=/opt/tf-plugins
  [[ $RC == 0 ]] || fail "$c: terraform init failed"
  run terraform -chdir=aws-$c validate -no-color
  [[ $RC == 0 ]] || fail "$c: terraform validate failed"
  assert_contains "$OUT" "Success! The configuration is valid."
done
pass "terraform validate accepts the AWS render (default and custom)"
