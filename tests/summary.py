#!/usr/bin/env python3
"""Summarise a meson test run of writewatch (BUILD/meson-logs/testlog.json and
BUILD/install-contract.log): which backends ran, which were skipped and why,
every failure; then one closing line 'N passed, N failed, N skipped'.

Exit status 1 if any test failed, timed out or errored, or if a test was
skipped because its backend "does not work here" while `writewatch probe`
says that backend works (a skip must never hide a failure).
"""
import collections
import json
import os
import re
import subprocess
import sys

def why_failed(t):
    """The line of a failed test's output that says why, for the FAILED list
    (the tail of a CI log is often all there is to read): a CHECK or FAIL
    line, else an exception's last line, else the last line printed."""
    lines = [l.strip() for l in ((t.get("stderr") or "") + "\n" + (t.get("stdout") or "")).splitlines()
             if l.strip()]
    pick = next((l for l in lines if "CHECK failed" in l or l.startswith(("FAIL", "PROBLEM"))), None)
    if pick is None:
        pick = next((l for l in reversed(lines) if re.match(r"^\w+(Error|Exception|Expired)\b", l)), None)
    if pick is None and lines:
        pick = lines[-1]
    if t.get("returncode", 0) < 0:
        pick = f"killed by signal {-t['returncode']}" + (f"; last printed: {pick}" if pick else "")
    return f" ({pick[:400]})" if pick else ""


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    log = os.path.join(build, "meson-logs", "testlog.json")
    if not os.path.exists(log):
        print(f"summary: no test log at {log}: did the tests run?")
        return 1
    probe = json.loads(subprocess.run([os.path.join(build, "tools", "writewatch"), "probe", "--json"],
                                      capture_output=True, text=True).stdout)
    # the library's own list of mechanisms, in its order
    backends = [b["name"] for b in probe["backends"]]
    works = {b["name"]: b["works"] for b in probe["backends"]}
    reasons = {b["name"]: b["reason"] for b in probe["backends"]}

    passed = failed = skipped = 0
    per = collections.defaultdict(lambda: collections.Counter())
    failures, hidden, skips = [], [], []
    with open(log) as f:
        for line in f:
            t = json.loads(line)
            name, res = t["name"], t["result"]
            backend = next((b for b in backends if name.endswith("/" + b)), "-")
            out = (t.get("stdout") or "").strip()
            if res == "OK":
                passed += 1
                per[backend]["pass"] += 1
            elif res == "SKIP":
                skipped += 1
                per[backend]["skip"] += 1
                reason = next((l[5:].strip() for l in out.splitlines() if l.startswith("SKIP:")), "no reason printed")
                skips.append((name, reason))
                if backend in works and works[backend] and "does not work here" in reason:
                    hidden.append(name)
                if reason == "no reason printed":
                    hidden.append(name + " (skip without a reason)")
            else:
                failed += 1
                per[backend]["fail"] += 1
                failures.append(f"{name}: {res}" + why_failed(t))

    contract = os.path.join(build, "install-contract.log")
    if os.path.exists(contract):
        for line in open(contract):
            m = re.match(r"install-contract/(\S+): (OK|FAIL|SKIP)", line)
            if not m:
                continue
            b = m.group(1) if m.group(1) in backends else "-"
            if m.group(2) == "OK":
                passed += 1
                per[b]["pass"] += 1
            elif m.group(2) == "SKIP":
                skipped += 1
                per[b]["skip"] += 1
            else:
                failed += 1
                per[b]["fail"] += 1
                failures.append(line.strip())

    print()
    print(f"kernel {probe['kernel']} ({probe['machine']}), auto picks {probe['auto']}")
    zp = probe.get("zero_page")
    print("read faults on untouched memory: " + {True: "map the zero page", False: "allocate a page (no zero page)",
                                                 None: "unknown"}[zp] + f" ({probe.get('zero_page_effect')})")
    print(f"{'backend':<14}{'probe':<6}{'pass':>6}{'fail':>6}{'skip':>6}  ")
    for b in backends:
        c = per[b]
        state = "ran" if c["pass"] or c["fail"] else "SKIPPED"
        print(f"{b:<14}{'yes' if works.get(b) else 'no':<6}{c['pass']:>6}{c['fail']:>6}{c['skip']:>6}  {state}"
              + ("" if works.get(b) else f": {reasons.get(b)}"))
    c = per["-"]
    print(f"{'(core)':<14}{'':<6}{c['pass']:>6}{c['fail']:>6}{c['skip']:>6}")
    other = [(n, r) for n, r in skips if "does not work here" not in r]
    if other:
        print("\nskipped for other reasons:")
        for n, r in other:
            print(f"  {n}: {r}")
    if failures:
        print("\nFAILED:")
        for f_ in failures:
            print(f"  {f_}")
    if hidden:
        print("\nskips that hide a working backend (counted as failures):")
        for h in hidden:
            print(f"  {h}")
        failed += len(hidden)
    print()
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
