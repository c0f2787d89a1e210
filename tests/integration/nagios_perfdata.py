#!/usr/bin/env python3
"""Parses `capacity check` output back as a Nagios plugin's.

Usage: nagios_perfdata.py TEXT_OUTPUT JSON_OUTPUT CHECK...
Checks: the first line is "CAPACITY <STATE>: ..." with perfdata after '|'; every perfdata item
matches the plugin guidelines' grammar ('label'=value[UOM];warn;crit;min;max) with unique labels;
the items carry the JSON report's per-check perfdata labels, in order (text and JSON come from two
runs, so values may differ); each CHECK named on the
command line has at least one item, and its first item's value equals the JSON metric it reports.
"""
import json
import re
import sys

ITEM = re.compile(r"'([^'=]+)'=(-?[0-9]+(?:\.[0-9]+)?)(s|us|ms|%|B|KB|MB|TB|c)?"
                  r"(?:;([@~0-9.:-]*)(?:;([@~0-9.:-]*)(?:;(-?[0-9.]*)(?:;(-?[0-9.]*))?)?)?)?$")
RANGE = re.compile(r"^@?(?:(?:~|-?[0-9.]+):)?(?:-?[0-9.]+)?$")
# The JSON metric each check's first perfdata item must equal.
FIRST_METRIC = {
    "connections": "used", "database_size": "database_bytes", "replication_replicas": "streaming",
    "replication_lag": "lag_bytes", "wraparound": "age", "archive_ready": "ready", "longest_transaction": "seconds",
    "idle_in_transaction": "sessions", "pgbouncer_waiting": "clients_waiting", "redis_memory": "used_bytes",
    "redis_evictions": "evicted_keys", "redis_replicas": "connected", "backup_age": "age_seconds",
}


def split_items(text):
    items, cur, quoted = [], "", False
    for ch in text:
        if ch == "'":
            quoted = not quoted
        if ch == " " and not quoted:
            if cur:
                items.append(cur)
            cur = ""
        else:
            cur += ch
    if cur:
        items.append(cur)
    return items


def main():
    text = open(sys.argv[1]).read()
    report = json.load(open(sys.argv[2]))
    first, _, rest = text.partition("\n")
    if "|" in rest:
        sys.exit("a '|' after the first line: " + rest)
    status, bar, perf = first.partition(" | ")
    if not re.match(r"^CAPACITY (OK|WARNING|CRITICAL|UNKNOWN): ", status) or not bar:
        sys.exit("bad status line: " + first)
    items = split_items(perf)
    labels = set()
    for item in items:
        m = ITEM.match(item)
        if not m:
            sys.exit("perfdata item does not parse: " + item)
        for r in (m.group(4), m.group(5)):
            if r and not RANGE.match(r):
                sys.exit("bad threshold range in " + item)
        if m.group(1) in labels:
            sys.exit("duplicate label " + m.group(1))
        labels.add(m.group(1))
    # Two runs: the values may differ, the labels may not.
    expected = [ITEM.match(p).group(1) for c in report["checks"] for p in c["perfdata"]]
    got = [ITEM.match(i).group(1) for i in items]
    if got != expected:
        sys.exit("text perfdata labels %r differ from the JSON report's %r" % (got, expected))
    for name in sys.argv[3:]:
        checks = [c for c in report["checks"] if c["name"] == name]
        if not checks:
            sys.exit("no check " + name)
        for c in checks:
            if not c["perfdata"]:
                sys.exit("check %s has no perfdata" % name)
            key = FIRST_METRIC.get(name)
            if key is None:
                continue
            value = float(ITEM.match(c["perfdata"][0]).group(2))
            want = float(c["metrics"][key])
            if abs(value - want) > max(0.001, abs(want) * 1e-6):
                sys.exit("%s perfdata %s != metric %s %s" % (name, c["perfdata"][0], key, want))
    print("%d perfdata items parsed" % len(items))


main()
