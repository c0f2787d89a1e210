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
for f in ./usr/bin/statectl ./usr/share/man/man1/statectl.1 \
  ./usr/share/bash-completion/completions/statectl ./usr/share/zsh/vendor-completions/_statectl \
  ./usr/share/fish/vendor_completions.d/statectl.fish ./usr/share/statectl/templates/; do
  grep -qx -- "$f" "$TEST_DIR/contents" || fail "package lacks $f"
done
dpkg-deb -f "$deb" Package Version Depends >"$TEST_DIR/control"
assert_contains "$TEST_DIR/control" "Package: statectl"
assert_contains "$TEST_DIR/control" "Depends:"
pass "the .deb holds the binary, man page, completions and templates"

# The man page renders and lists the commands of the tree.
if command -v man >/dev/null; then
  dpkg-deb -x "$deb" "$TEST_DIR/root"
  MANWIDTH=100 man -l "$TEST_DIR/root/usr/share/man/man1/statectl.1" >"$TEST_DIR/man.txt" 2>/dev/null || true
  [[ -s $TEST_DIR/man.txt ]] && assert_contains "$TEST_DIR/man.txt" "config show"
fi
pass "man page generated from the command tree"
