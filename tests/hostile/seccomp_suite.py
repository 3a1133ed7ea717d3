#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Run the mprotect backend's whole suite inside a seccomp filter that denies
userfaultfd, as a container's default profile does (issue 16): every test
meson lists in the 'mprotect' suite, with its own arguments and environment,
under ww-nouffd, which first checks that AUTO picks mprotect there and then
passes AUTO's choice where the test's backend argument was. Each test keeps
its own meson timeout. Exit 0 when all pass or skip (and at least one
passed), 1 otherwise, 77 when the filter cannot be installed here.

    seccomp_suite.py BUILD_DIR NOUFFD
"""
import json
import os
import subprocess
import sys


def main():
    build = os.path.abspath(sys.argv[1])
    nouffd = sys.argv[2]
    if not os.path.isabs(nouffd):
        nouffd = os.path.join(build, nouffd)
    with open(os.path.join(build, "meson-info", "intro-tests.json")) as f:
        tests = json.load(f)
    check = subprocess.run([nouffd], capture_output=True, text=True, timeout=60)
    print(check.stdout.strip() or check.stderr.strip())
    if check.returncode != 0:
        return check.returncode
    picked = [t for t in tests
              if any(s.split(":")[-1] == "mprotect" for s in t["suite"])]
    passed, skipped, failed = [], [], []
    for t in sorted(picked, key=lambda t: t["name"]):
        cmd = [nouffd, t["cmd"][0]] + ["@auto" if a == "mprotect" else a
                                       for a in t["cmd"][1:]]
        env = dict(os.environ)
        env.update(t.get("env") or {})
        env.pop("WRITEWATCH_BACKEND", None)  # AUTO's choice, not a forced one
        if "WRITEWATCH_BACKEND" in (t.get("env") or {}):
            env["WRITEWATCH_BACKEND"] = t["env"]["WRITEWATCH_BACKEND"]
        try:
            r = subprocess.run(cmd, env=env, cwd=t.get("workdir") or None,
                               capture_output=True, text=True,
                               timeout=t.get("timeout") or 60)
            rc, out = r.returncode, r.stdout + r.stderr
        except subprocess.TimeoutExpired:
            rc, out = -1, "timed out"
        if rc == 0:
            passed.append(t["name"])
        elif rc == 77:
            skipped.append(t["name"])
        else:
            failed.append(t["name"])
            lines = [l for l in out.splitlines() if l.strip()]
            why = next((l for l in lines if "CHECK failed" in l or l.startswith("FAIL")),
                       lines[-1] if lines else "no output")
            print(f"FAIL {t['name']} (exit {rc}): {why}\n{out.strip()}\n")
    print(f"mprotect suite under a userfaultfd-denying seccomp filter: "
          f"{len(passed)} passed, {len(skipped)} skipped, {len(failed)} failed")
    for n in skipped:
        print(f"  skipped: {n}")
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
