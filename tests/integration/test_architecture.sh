#!/usr/bin/env bash
# The architecture stays visible: `cli -> commands -> core`, arrows only downwards, and inside
# core/ the rooms (targets, clients, backends, operations) form no include cycle at all. No
# `__has_include` fallbacks (a renamed header must break the build, not silently compile a "not
# available" path). The command layer also keeps the server libraries out of its sources.
source "$(dirname "$0")/lib.sh"

python3 - "$STATECTL_SOURCE_DIR" <<'EOF' || fail "architecture check failed (above)"
import os, re, sys
src = sys.argv[1]
problems = []
include = re.compile(r'#\s*include\s+"((cli|commands|core)/[^"]+)"')

def layer_room(path):
    parts = path.split("/")
    if parts[0] != "core": return parts[0], parts[0]
    return "core", parts[1] if len(parts) > 2 else "core"

edges = {}
for top in ("cli", "commands", "core"):
    for root, _, files in os.walk(os.path.join(src, top)):
        for f in files:
            if not f.endswith((".cpp", ".h")): continue
            rel = os.path.relpath(os.path.join(root, f), src)
            layer, room = layer_room(rel)
            text = open(os.path.join(src, rel), encoding="utf-8").read()
            if "__has_include" in text: problems.append(f"{rel}: uses __has_include")
            if layer in ("cli", "commands"):
                for lib in re.findall(r'#\s*include\s+<((?:libpq-fe|hiredis/|toml\+\+/|zstd|openssl/|curl/)[^>]*)>', text):
                    problems.append(f"{rel}: includes <{lib}> (server and format libraries are private to core/)")
            for m in include.finditer(text):
                to_layer, to_room = layer_room(m.group(1))
                order = {"cli": 2, "commands": 1, "core": 0}
                if order[to_layer] > order[layer]:
                    problems.append(f"{rel}: {layer} includes {m.group(1)} (arrows point downwards only)")
                if layer == "core" and to_layer == "core" and room != to_room:
                    edges.setdefault(room, {}).setdefault(to_room, rel)

# Strongly connected components of the room graph (Tarjan).
index, low, stack, on, comps, n = {}, {}, [], set(), [], [0]
def visit(v):
    index[v] = low[v] = n[0]; n[0] += 1; stack.append(v); on.add(v)
    for w in edges.get(v, {}):
        if w not in index: visit(w); low[v] = min(low[v], low[w])
        elif w in on: low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = stack.pop(); on.discard(w); comp.append(w)
            if w == v: break
        if len(comp) > 1: comps.append(sorted(comp))
rooms = sorted(set(edges) | {w for v in edges for w in edges[v]})
for v in rooms:
    if v not in index: visit(v)
for comp in comps:
    detail = "; ".join(f"{a} -> {b} ({edges[a][b]})" for a in comp for b in comp if b in edges.get(a, {}))
    problems.append(f"include cycle between core rooms {' '.join(comp)}: {detail}")
for p in problems: print("FAIL: " + p, file=sys.stderr)
print(f"core rooms: {' '.join(rooms)}; cycles: {comps}", file=sys.stderr)
sys.exit(1 if problems else 0)
EOF
pass "cli -> commands -> core; core rooms acyclic; no __has_include; no server library in commands/"
