#!/usr/bin/env bash
# restore --delta into an existing data directory (pgBackRest's --delta): refused while the server
# runs, or into a directory that is not a data directory; after rows changed, a relation file was
# deleted, one corrupted and stray files added, the server's own directory is restored in place:
# unchanged files are kept (same inode and mtime), the others rewritten, strays removed, and the
# tree is the one a restore into an empty directory gives (every path, type, mode and checksum);
# --latest --start replays to the exact row count; a delta restore that fails half-way leaves the
# directory marked unfinished (no pg_control), which statectl and PostgreSQL refuse to start, and
# the same restore run again finishes it. Only the zstd frames holding the files written are
# decompressed (also of a diff's two archives); a backup without a frame index is read whole.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/backup_lib.sh"
cd "$TEST_DIR"
start_backup_pg "$(port 1)"
PGDIR=$TEST_DIR/pg

# Two static tables (one will be corrupted, one stays untouched) and a small one that changes.
sql "CREATE TABLE big AS SELECT g, md5(g::text) || md5((g + 1)::text) AS pad FROM generate_series(1, 150000) g"
sql "CREATE TABLE stable AS SELECT g, md5(g::text) AS pad FROM generate_series(1, 150000) g"
sql "CREATE TABLE t (a int)"
sql "INSERT INTO t SELECT generate_series(1, 1000)"
sql "VACUUM (FREEZE) big"
sql "VACUUM (FREEZE) stable"
sql "CHECKPOINT"
BIG_SUM=$(sql "SELECT md5(string_agg(pad, ',' ORDER BY g)) FROM big")
STABLE_SUM=$(sql "SELECT md5(string_agg(pad, ',' ORDER BY g)) FROM stable")
BIG_FILE=$(sql "SELECT pg_relation_filepath('big')")
STABLE_FILE=$(sql "SELECT pg_relation_filepath('stable')")
T_FILE=$(sql "SELECT pg_relation_filepath('t')")
expect_exit 0 statectl -o json backup create
F=$(json_get "$OUT" 'j["id"]')
sql "INSERT INTO t SELECT generate_series(1001, 2500)"
sql "DELETE FROM t WHERE a <= 100"
SEG=$(sql "SELECT pg_walfile_name(pg_switch_wal())")
wait_until 30 archived "$SEG" || fail "segment $SEG not archived"
# A diff after the change: t's file is stored anew, stable's referenced from the full.
expect_exit 0 statectl -o json backup create --type diff
D=$(json_get "$OUT" 'j["id"]')
assert_eq "$(json_get "$OUT" '(j["type"], j["depends_on"])')" "('diff', '$F')" "diff after the change"

# Refused while PostgreSQL runs on the directory, and into a directory that is not a data directory.
expect_exit 2 statectl restore --delta --to "$PGDIR" --target-immediate
assert_contains "$ERR" "statectl: error: cannot restore with --delta into $PGDIR: PostgreSQL is running on it (postmaster.pid: pid "
assert_contains "$ERR" "hint: stop it first"
[[ ! -e $PGDIR/statectl.restore-incomplete && -e $PGDIR/global/pg_control ]] || fail "the refused delta restore changed $PGDIR"
mkdir "$TEST_DIR/notpg" && echo keep >"$TEST_DIR/notpg/file"
expect_exit 2 statectl restore --delta --to "$TEST_DIR/notpg" --target-immediate
assert_contains "$ERR" "it is not a PostgreSQL data directory (no PG_VERSION)"
assert_eq "$(cat "$TEST_DIR/notpg/file")" keep "the file in the refused directory"
expect_exit 2 statectl restore --to "$PGDIR" --target-immediate
assert_contains "$ERR" "or --delta to restore into the data directory of a stopped server"
pass "restore --delta refuses a running server's directory and a non-data directory (exit 2, nothing changed)"

as_pg "$PG_BIN/pg_ctl" -D "$PGDIR" -m fast -w stop >/dev/null
# Damage the stopped server's directory: a relation file deleted, one corrupted, strays added.
rm "$PGDIR/$T_FILE"
python3 -c 'import sys; p = sys.argv[1]; b = bytearray(open(p, "rb").read()); b[5000] ^= 0xFF; open(p, "wb").write(b)' "$PGDIR/$BIG_FILE"
echo stray >"$PGDIR/base/stray.junk"
mkdir -p "$PGDIR/straydir/sub" && echo x >"$PGDIR/straydir/sub/f"
ln -s /nowhere "$PGDIR/pg_tblspc/99999"
STABLE_BEFORE=$(stat -c '%i %Y' "$PGDIR/$STABLE_FILE")
# A second name for the corrupted file keeps its inode alive: after the restore it must still
# hold the corrupted bytes under another inode than the restored file (an inode number alone can
# be reused once the old file is removed).
ln "$PGDIR/$BIG_FILE" "$TEST_DIR/big.before"
BIG_SHA_BEFORE=$(sha256sum "$TEST_DIR/big.before" | cut -d' ' -f1)
expect_exit 0 statectl --dry-run restore --delta --to "$PGDIR" --target-immediate
assert_contains "$OUT" "would keep the files of $PGDIR whose size and SHA-256 match the backup"
[[ -e $PGDIR/base/stray.junk && ! -e $PGDIR/statectl.restore-incomplete ]] || fail "--dry-run changed $PGDIR"

expect_exit 0 statectl -o json restore --delta --to "$PGDIR" --backup "$F" --target-immediate
assert_eq "$(json_get "$OUT" 'j["backup"]')" "$F" "backup restored"
KEPT=$(json_get "$OUT" 'j["delta"]["files_kept"]')
WRITTEN=$(json_get "$OUT" 'j["delta"]["files_written"]')
TOTAL=$(json_get "$TEST_DIR/repo/backups/$F/manifest.json" 'len(j["contents"])')
((KEPT > 0 && WRITTEN > 0 && KEPT + WRITTEN == TOTAL)) || fail "kept $KEPT + written $WRITTEN != $TOTAL files of the backup"
assert_contains "$ERR" "delta restore: "
# Only the frames of base.tar.zst holding the files written were decompressed, not the archive.
assert_contains "$ERR" "delta restore: decompressed "
[[ ! -e $PGDIR/base/stray.junk && ! -e $PGDIR/straydir && ! -L $PGDIR/pg_tblspc/99999 ]] || fail "strays left in $PGDIR"
[[ ! -e $PGDIR/statectl.restore-incomplete && -e $PGDIR/global/pg_control && ! -e $PGDIR/global/pg_control.statectl-restore ]] ||
  fail "the finished restore left its marker or no pg_control"
manifest_sha() { json_get "$TEST_DIR/repo/backups/$F/manifest.json" "[c['sha256'] for c in j['contents'] if c['path'] == '$1'][0]"; }
assert_eq "$(sha256sum "$PGDIR/$BIG_FILE" | cut -d' ' -f1)" "$(manifest_sha "$BIG_FILE")" "checksum of the corrupted $BIG_FILE"
assert_eq "$(sha256sum "$PGDIR/$T_FILE" | cut -d' ' -f1)" "$(manifest_sha "$T_FILE")" "checksum of the deleted $T_FILE"
assert_eq "$(stat -c '%i %Y' "$PGDIR/$STABLE_FILE")" "$STABLE_BEFORE" "inode and mtime of the unchanged $STABLE_FILE"
[[ $(stat -c '%i' "$PGDIR/$BIG_FILE") != "$(stat -c '%i' "$TEST_DIR/big.before")" ]] || fail "the corrupted $BIG_FILE was patched in place, not written anew"
assert_eq "$(sha256sum "$TEST_DIR/big.before" | cut -d' ' -f1)" "$BIG_SHA_BEFORE" "the corrupted file's old inode"
pass "restore --delta: $KEPT files kept ($STABLE_FILE untouched), $WRITTEN written (corrupted, deleted, changed), strays removed"

# The same tree as a restore into an empty directory: every path, type, mode and checksum.
expect_exit 0 statectl restore --to "$TEST_DIR/fresh" --backup "$F" --target-immediate
tree() {
  python3 - "$1" <<'PY'
import hashlib, os, stat, sys
root = sys.argv[1]
for d, dirs, files in os.walk(root):
    for n in sorted(dirs + files):
        p = os.path.join(d, n)
        st = os.lstat(p)
        rel = os.path.relpath(p, root)
        if stat.S_ISLNK(st.st_mode):
            what = "link " + os.readlink(p)
        elif stat.S_ISDIR(st.st_mode):
            what = "dir"
        else:
            data = open(p, "rb").read()
            if rel == "postgresql.auto.conf":  # names the directory (unix_socket_directories)
                data = data.replace(root.encode(), b"DIR")
            what = "file " + hashlib.sha256(data).hexdigest()
        print(rel, oct(st.st_mode), st.st_uid, what)
PY
}
tree "$PGDIR" | sort >"$TEST_DIR/delta.tree"
tree "$TEST_DIR/fresh" | sort >"$TEST_DIR/fresh.tree"
diff "$TEST_DIR/fresh.tree" "$TEST_DIR/delta.tree" >"$TEST_DIR/tree.diff" || fail "the delta-restored tree differs from a fresh restore: $(head -20 "$TEST_DIR/tree.diff")"
pass "the delta-restored directory equals a fresh restore ($(wc -l <"$TEST_DIR/delta.tree") entries: paths, types, modes, owners, checksums)"

# Point-in-time options work as with a plain restore: --latest replays the rows added after the backup.
P=$(port 20)
expect_exit 0 statectl -o json restore --delta --to "$PGDIR" --latest --start --port "$P"
on_exit "stop_restored $PGDIR"
assert_eq "$(json_get "$OUT" 'j["state"]')" promoted "recovery state"
assert_eq "$(sql_at "$P" "SELECT count(*) FROM t")" 2400 "rows of t after --delta --latest"
assert_eq "$(sql_at "$P" "SELECT md5(string_agg(pad, ',' ORDER BY g)) FROM big")" "$BIG_SUM" "big after --delta"
assert_eq "$(sql_at "$P" "SELECT md5(string_agg(pad, ',' ORDER BY g)) FROM stable")" "$STABLE_SUM" "stable after --delta"
stop_restored "$PGDIR"
pass "restore --delta --latest --start: exact rows (2400), both static tables intact"

# A backup made before statectl recorded the frame index, file offsets and tree (its manifest
# without them) is delta-restored from its whole archive, to the same tree.
cp -p "$TEST_DIR/repo/backups/$F/manifest.json" "$TEST_DIR/manifest.saved"
python3 - "$TEST_DIR/repo/backups/$F/manifest.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
m.pop("tree")
for f in m["files"]:
    f.pop("frames")
for c in m["contents"]:
    c.pop("offset", None)
json.dump(m, open(sys.argv[1], "w"), indent=2)
PY
rm "$PGDIR/$T_FILE"
echo stray >"$PGDIR/base/stray.junk"
expect_exit 0 statectl restore --delta --to "$PGDIR" --backup "$F" --target-immediate
assert_not_contains "$ERR" "delta restore: decompressed "
tree "$PGDIR" | sort >"$TEST_DIR/delta-old.tree"
diff "$TEST_DIR/fresh.tree" "$TEST_DIR/delta-old.tree" >"$TEST_DIR/tree.diff" || fail "the delta restore of an unindexed backup differs from a fresh restore: $(head -20 "$TEST_DIR/tree.diff")"
cp -p "$TEST_DIR/manifest.saved" "$TEST_DIR/repo/backups/$F/manifest.json"
pass "a backup without a frame index (made by an older statectl) is delta-restored from its whole archive, to the same tree"

# A delta restore that fails half-way (a damaged archive: a byte flipped in the frame holding
# global/pg_control, which every restore writes) leaves the directory marked unfinished.
cp -p "$TEST_DIR/repo/backups/$F/base.tar.zst" "$TEST_DIR/saved"
python3 - "$TEST_DIR/repo/backups/$F" <<'PY'
import json, sys
d = sys.argv[1]
m = json.load(open(d + "/manifest.json"))
at = [c["offset"] for c in m["contents"] if c["path"] == "global/pg_control"][0]
frames = [f for f in m["files"] if f["name"] == "base.tar.zst"][0]["frames"]
i = max(k for k in range(len(frames) - 1) if frames[k][0] <= at)
b = bytearray(open(d + "/base.tar.zst", "rb").read())
b[(frames[i][1] + frames[i + 1][1]) // 2] ^= 0xFF
open(d + "/base.tar.zst", "wb").write(b)
PY
expect_exit 1 statectl restore --delta --to "$PGDIR" --backup "$F" --target-immediate
assert_contains "$ERR" "statectl: error: backup $F is damaged"
assert_contains "$ERR" "$PGDIR is left marked as an unfinished restore"
[[ -e $PGDIR/statectl.restore-incomplete && ! -e $PGDIR/global/pg_control ]] || fail "the failed delta restore left no marker, or a pg_control"
run as_pg "$PG_BIN/pg_ctl" -D "$PGDIR" -l "$TEST_DIR/refused.log" -w -t 10 start
[[ $RC != 0 ]] || fail "PostgreSQL started on an unfinished restore"
expect_exit 2 statectl restore --to "$PGDIR" --target-immediate
assert_contains "$ERR" "it holds an unfinished restore"
assert_contains "$ERR" "finish it with --delta"
cp -p "$TEST_DIR/saved" "$TEST_DIR/repo/backups/$F/base.tar.zst"
expect_exit 0 statectl restore --delta --to "$PGDIR" --latest --start --port "$P"
assert_eq "$(sql_at "$P" "SELECT count(*) FROM t")" 2400 "rows of t after finishing the interrupted restore"
[[ ! -e $PGDIR/statectl.restore-incomplete ]] || fail "the finished restore left its marker"
stop_restored "$PGDIR"
pass "a failed delta restore leaves $PGDIR unfinished (marker, no pg_control: PostgreSQL and statectl refuse it); running it again finishes it"

# restore --delta of the diff: a file it references from the full (stable, deleted here) and one it
# stores itself (t, deleted too) are read from the frames of both archives.
rm "$PGDIR/$STABLE_FILE" "$PGDIR/$T_FILE"
expect_exit 0 statectl restore --delta --to "$PGDIR" --backup "$D" --target-immediate
assert_contains "$ERR" "in 2 backup archives to write "
diff_sha() { json_get "$TEST_DIR/repo/backups/$D/manifest.json" "[c['sha256'] for c in j['contents'] if c['path'] == '$1'][0]"; }
[[ $(json_get "$TEST_DIR/repo/backups/$D/manifest.json" "[c.get('reference', '') for c in j['contents'] if c['path'] == '$STABLE_FILE'][0]") == "$F" ]] ||
  fail "the diff $D does not reference $STABLE_FILE from $F"
assert_eq "$(sha256sum "$PGDIR/$STABLE_FILE" | cut -d' ' -f1)" "$(diff_sha "$STABLE_FILE")" "checksum of $STABLE_FILE from the full"
assert_eq "$(sha256sum "$PGDIR/$T_FILE" | cut -d' ' -f1)" "$(diff_sha "$T_FILE")" "checksum of $T_FILE from the diff"
pass "restore --delta of the diff $D writes files from the frames of both its archives ($D and the full $F)"
