#!/usr/bin/env bash
# Rendered Terraform for AWS, GCP and Azure is `terraform fmt` clean and contains no secret
# literal (passwords are sensitive variables).
source "$(dirname "$0")/lib.sh"
command -v terraform >/dev/null || skip "terraform is not installed"
export CHECKPOINT_DISABLE=1
cd "$TEST_DIR"
printf '[postgres]\nreplicas = 3\n[redis]\nreplicas = 2\n[terraform]\nstorage_gb = 250\n' >custom.toml
printf '' >default.toml

for c in default custom; do
  for cloud in aws gcp azure; do
    expect_exit 0 statectl -c $c.toml render --target terraform --cloud $cloud --out tf-$c-$cloud
    for f in versions.tf main.tf variables.tf outputs.tf; do [[ -f tf-$c-$cloud/$f ]] || fail "$c/$cloud: $f missing"; done
    run terraform fmt -check -diff -recursive tf-$c-$cloud
    [[ $RC == 0 ]] || fail "$c/$cloud: terraform fmt -check failed"
    grep -q 'sensitive   = true' tf-$c-$cloud/variables.tf || fail "$c/$cloud: no sensitive password variable"
    ! grep -Eq 'password *= *"' tf-$c-$cloud/*.tf || fail "$c/$cloud: a password literal"
  done
done
pass "terraform fmt -check passes for aws, gcp and azure (default and custom)"

grep -q 'default     = 2$' tf-custom-aws/variables.tf || fail "custom: 2 read replicas (3 standbys minus the Multi-AZ one) expected"
grep -q 'availability_type = "REGIONAL"' tf-default-gcp/main.tf || fail "gcp: regional HA missing"
grep -q 'mode                      = "ZoneRedundant"' tf-default-azure/main.tf || fail "azure: zone redundancy missing"
pass "HA settings per cloud are rendered"
