#!/usr/bin/env bash
# `cpack -G DEB` builds a package with the binary, the man page, three completion files and the
# templates folder; the installer is idempotent.
source "$(dirname "$0")/lib.sh"
: "${STATECTL_BUILD_DIR:?}"
command -v cpack >/dev/null || skip "cpack not installed"
command -v dpkg-deb >/dev/null || skip "dpkg-deb not installed"

run "$STATECTL_SOURCE_DIR/packaging/install-deps.sh"
[[ $RC == 0 ]] || fail "install-deps.sh failed"
assert_contains "$ERR" "install-deps: everything is installed"
pass "installer is idempotent"

run cpack -G DEB --config "$STATECTL_BUILD_DIR/CPackConfig.cmake" -B "$TEST_DIR/pkg"
[[ $RC == 0 ]] || fail "cpack failed"
deb=$(ls "$TEST_DIR"/pkg/statectl_*.deb)
dpkg-deb -c "$deb" | awk '{print $6}' >"$TEST_DIR/contents"
for f in ./usr/bin/statectl ./usr/share/man/man1/statectl.1.gz \
  ./usr/share/bash-completion/completions/statectl ./usr/share/zsh/vendor-completions/_statectl \
  ./usr/share/fish/vendor_completions.d/statectl.fish ./usr/share/statectl/templates/ \
  ./usr/share/doc/statectl/copyright ./usr/share/doc/statectl/changelog.gz; do
  grep -qx -- "$f" "$TEST_DIR/contents" || fail "package lacks $f"
done
dpkg-deb -f "$deb" Package Version Depends >"$TEST_DIR/control"
assert_contains "$TEST_DIR/control" "Package: statectl"
assert_contains "$TEST_DIR/control" "Depends:"
pass "the .deb holds the binary, man page, completions and templates"

dpkg-deb -x "$deb" "$TEST_DIR/root"
# The man page renders and has the sections of a real one.
if command -v man >/dev/null; then
  MANWIDTH=100 man -l "$TEST_DIR/root/usr/share/man/man1/statectl.1.gz" >"$TEST_DIR/man.txt" 2>/dev/null || true
  for section in "config show" EXAMPLES FILES ENVIRONMENT "EXIT STATUS" "SEE ALSO" "statectl backup create --type logical"; do
    assert_contains "$TEST_DIR/man.txt" "$section"
  done
fi
pass "man page generated from the command tree, with EXAMPLES, FILES, ENVIRONMENT, EXIT STATUS, SEE ALSO"

# The unpacked package finds its own templates (next to its binary: ../share/statectl/templates),
# not the source tree this build came from.
mkdir "$TEST_DIR/elsewhere"
cd "$TEST_DIR/elsewhere"
installed="$TEST_DIR/root/usr/bin/statectl"
expect_exit 0 "$installed" version -o json
assert_eq "$(json_get "$OUT" 'j["templates_dir"]')" "$TEST_DIR/root/usr/share/statectl/templates" "installed template dir"
expect_exit 0 "$installed" render --target compose --out "$TEST_DIR/elsewhere/out"
[[ -s $TEST_DIR/elsewhere/out/docker-compose.yml ]] || fail "render from the package wrote no docker-compose.yml: $(ls -R "$TEST_DIR/elsewhere/out")"
expect_exit 0 statectl version -o json
assert_eq "$(json_get "$OUT" 'j["templates_dir"]')" "$STATECTL_SOURCE_DIR/templates" "build-tree template dir"
# Every template with a #! line is executable in the package (lintian: script-not-executable).
while read -r script; do
  [[ -x $script ]] || fail "template script ${script#"$TEST_DIR/root"} is not executable in the package"
done < <(grep -rl '^#!' "$TEST_DIR/root/usr/share/statectl/templates")
cd "$TEST_DIR"
pass "the unpacked package renders with its own templates; template scripts are executable"

# lintian, errors and warnings.
if command -v lintian >/dev/null; then
  run lintian --fail-on error,warning "$deb"
  [[ $RC == 0 ]] || fail "lintian: $(cat "$OUT" "$ERR")"
  pass "lintian reports no error and no warning"
else
  echo "lintian not installed (packaging/install-deps.sh --test installs it): not checked" >&2
fi
