"""A/B timing for bench/ scripts: statectl (A) and the reference tool (B) alternate over several
rounds in one run (A B, B A, A B, ...), so load on this shared machine hits both alike. Each
round gives one ratio A/B; the line printed is the median ratio with its spread (the lowest and
highest round), both medians in ms and statectl's peak resident memory. Never a single time.

    from ab import Case, run_case
    run_case(Case("redis: get", a=[S, "get", k], b=["redis-cli", "GET", k], ref_name="redis-cli GET"),
             rounds=11, goal=1.3)
"""
import os
import statistics
import subprocess
import time


class Case:
    def __init__(self, label, a, b, ref_name, stdin_a=None, stdin_b=None, prep_a=None, prep_b=None, repeat=1):
        self.label, self.a, self.b, self.ref_name = label, a, b, ref_name
        self.stdin_a, self.stdin_b = stdin_a, stdin_b
        self.prep_a, self.prep_b = prep_a, prep_b  # untimed set-up before each run (clean table)
        self.repeat = repeat  # runs per measurement (short commands): their total is timed


def _run(argv, stdin, repeat):
    """Wall seconds of `repeat` runs of argv and the largest peak RSS (KiB) among them."""
    total, peak = 0.0, 0
    for _ in range(repeat):
        f = open(stdin, "rb") if stdin else subprocess.DEVNULL
        start = time.perf_counter()
        p = subprocess.Popen(argv, stdin=f, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        err = p.stderr.read()
        _, status, usage = os.wait4(p.pid, 0)
        total += time.perf_counter() - start
        peak = max(peak, usage.ru_maxrss)
        if f is not subprocess.DEVNULL:
            f.close()
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            raise SystemExit(f"bench: {' '.join(argv)} exited {code}: {err.decode(errors='replace').strip()}")
    return total, peak


def run_case(case, rounds, goal=None):
    ratios, ta, tb, peaks = [], [], [], []
    for r in range(rounds):
        order = ("a", "b") if r % 2 == 0 else ("b", "a")
        got = {}
        for side in order:
            prep = case.prep_a if side == "a" else case.prep_b
            if prep:
                prep()
            argv, stdin = (case.a, case.stdin_a) if side == "a" else (case.b, case.stdin_b)
            got[side] = _run(argv, stdin, case.repeat)
        ta.append(got["a"][0])
        tb.append(got["b"][0])
        peaks.append(got["a"][1])
        ratios.append(got["a"][0] / got["b"][0])
    med = statistics.median(ratios)
    verdict = ""
    if goal is not None:
        verdict = f"  goal <= {goal:.2f}: {'met' if med <= goal else 'NOT met'}"
    per = case.repeat
    print(f"{case.label:<30} ratio {med:5.2f} [{min(ratios):.2f}-{max(ratios):.2f}]  "
          f"statectl {statistics.median(ta) / per * 1000:8.1f} ms  {case.ref_name:<26} "
          f"{statistics.median(tb) / per * 1000:8.1f} ms  peak {max(peaks) / 1024:6.1f} MiB{verdict}", flush=True)
    return med
