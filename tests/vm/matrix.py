#!/usr/bin/env python3
"""Print the kernel x backend x test matrix from runtests.sh lines.

usage: matrix.py RESULTS VM_KERNEL "EXPECTED BACKENDS"

RESULTS holds WWT|kernel|test|status|rc|reason, WWP|kernel|<probe line> and
WWDONE|kernel lines. VM_KERNEL is the release the VM booted ("" if it never
booted). Exits 1 if a test failed, a run did not finish, or a backend in
EXPECTED BACKENDS was skipped on the VM kernel. Ends with the
"N passed, N failed, N skipped" line CI counts.
"""
import sys

BACKENDS = ["pagemap-scan", "uffd-wp", "soft-dirty", "mprotect"]
MARK = {"pass": "pass", "skip": "skip", "fail": "FAIL"}


def main():
    path, vm_kernel, expect = sys.argv[1], sys.argv[2], sys.argv[3].split()
    runs, probe, done, order = {}, {}, set(), []
    for line in open(path, errors="replace"):
        f = line.rstrip("\n").split("|")
        if f[0] == "WWT" and len(f) >= 6:
            k = f[1]
            if k not in runs:
                runs[k] = []
                order.append(k)
            runs[k].append((f[2], f[3], f[5]))
        elif f[0] == "WWP" and len(f) >= 3:
            probe.setdefault(f[1], []).append("|".join(f[2:]))
        elif f[0] == "WWDONE":
            done.add(f[1])

    problems = []
    if not vm_kernel:
        problems.append("the VM did not boot (no WWBOOT line on its console)")
    elif vm_kernel not in done:
        problems.append(f"the VM ({vm_kernel}) did not finish the test list")
    npass = nfail = nskip = 0
    for k in order:
        tests, cells, reasons, treasons = [], {}, {}, {}
        for name, st, reason in runs[k]:
            base, _, b = name.rpartition("/")
            if b not in BACKENDS:
                base, b = name, "-"
            if base not in tests:
                tests.append(base)
            cells[(base, b)] = st
            treasons[(base, b)] = reason
            npass += st == "pass"
            nfail += st == "fail"
            nskip += st == "skip"
            if st == "fail":
                problems.append(f"{k}: {name} failed: {reason}")
            if st == "skip" and b != "-":
                reasons.setdefault(b, reason)
            if st == "skip" and b == "-":
                reasons.setdefault(name, reason)
        where = "VM" if k == vm_kernel else "host"
        print(f"\n== kernel {k} ({where})")
        w = max(len(t) for t in tests) + 2
        print("".ljust(w) + "".join(b.ljust(14) for b in BACKENDS + ["-"]))
        for t in tests:
            row = t.ljust(w)
            for b in BACKENDS + ["-"]:
                row += MARK.get(cells.get((t, b), ""), ".").ljust(14)
            print(row)
        for b in BACKENDS:
            ran = [cells[(t, b)] for t in tests if (t, b) in cells]
            if not ran:
                continue
            if all(s == "skip" for s in ran):
                print(f"  {b}: skipped: {reasons.get(b, '?')}")
            elif "skip" in ran:
                print(f"  {b}: some skips: {reasons.get(b, '?')}")
            else:
                print(f"  {b}: {ran.count('pass')} passed, {ran.count('fail')} failed")
            probe_skip = any(cells[(t, b)] == "skip" and "does not work here" in
                             treasons.get((t, b), "") for t in tests if (t, b) in cells)
            # The VM attaches an ext4 disk for the file-backed kinds: a
            # skip for want of one means the disk was lost, not a kernel gap.
            for t in tests:
                if (k == vm_kernel and cells.get((t, b)) == "skip" and
                        treasons.get((t, b), "").startswith("no disk file system")):
                    problems.append(f"{k}: {t}/{b} skipped: the VM's disk is missing: "
                                    f"{treasons[(t, b)]}")
            if k == vm_kernel and b in expect and probe_skip:
                problems.append(f"{k}: {b} is expected to work here but was skipped: "
                                f"{reasons.get(b, '?')}")
        for t in tests:
            if (t, "-") in cells and cells[(t, "-")] == "skip":
                print(f"  {t}: skipped: {reasons.get(t, '?')}")
        for p in probe.get(k, []):
            if p.startswith("auto picks"):
                print(f"  {p}")
        if k not in done:
            problems.append(f"{k}: the run did not finish")

    print()
    for p in problems:
        print("PROBLEM: " + p)
    # every failed test is one problem; so is a run that did not finish
    print(f"{npass} passed, {len(problems)} failed, {nskip} skipped")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
