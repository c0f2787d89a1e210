# Helpers for tests that drive docker, kubectl and terraform through the recording fake
# (tests/fakes/fake-tool; its header documents the log and scenario formats). Source after
# tests/integration/lib.sh.
#
#   fake_tools DIR TOOL...   makes DIR/TOOL a copy of the fake for each TOOL
#   fake_path DIR            a PATH with DIR first and no real docker/kubectl/terraform
#   fake_calls               the logged command lines (without the indented detail lines)
FAKES_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

fake_tools() {
  local dir=$1
  shift
  mkdir -p "$dir"
  local t
  for t in "$@"; do cp "$FAKES_DIR/fake-tool" "$dir/$t"; done
}

# The system directories, minus any tool a test must not reach for real: a PATH made of DIR and
# a directory of symlinks to the basic commands the fake itself needs.
fake_path() {
  local dir=$1
  local base="$dir/.base"
  mkdir -p "$base"
  local c
  for c in bash sh cat grep wc flock printf basename mkdir rm env sleep; do
    local p
    p=$(command -v "$c" 2>/dev/null) || continue
    [[ $p == /* ]] && ln -sf "$p" "$base/$c"
  done
  echo "$dir:$base"
}

fake_calls() { grep -v '^  ' "$FAKE_LOG" 2>/dev/null || true; }
