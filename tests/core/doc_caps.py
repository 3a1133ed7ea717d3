#!/usr/bin/env python3
"""The documents' guarantee tables against the library's capability bits.

Usage: doc_caps.py WRITEWATCH SOURCE_ROOT BACKEND...

Each backend declares its row of the guarantee table as WW_CAP_* bits
(src/backend/*.c, ww_backend_caps(3)); `writewatch probe --json` lists them
by name. A table row that names a bit (`WW_CAP_EXACT` in its first cell) is
that bit: each of its backend cells must begin with "yes" where the backend
has the bit and with "no" where it does not. README.md and writewatch(7)
hold the guarantee table: each must have one such row for every bit the
public header defines, and a column for every backend given (the public
ones, from meson's ww_backends; a test-only backend is not documented).
docs/*.md may name bits in their tables too, and are held to the same
rule. Fails, naming file, line, bit and backend, on any disagreement.
"""
import json
import os
import re
import subprocess
import sys

CAP_RE = re.compile(r"\bWW_CAP_[A-Z_]+\b")

# The documents whose tables are checked; True: it must hold the whole
# guarantee table (a row for every bit).
DOCS = [
    ("README.md", True),
    ("man/writewatch.7", True),
    ("docs/memkinds.md", False),
    ("docs/backends.md", False),
]


def plain(cell):
    """A cell's text without markup: markdown emphasis and code, roff fonts."""
    cell = re.sub(r"\\f[BIRP]", "", cell)
    return re.sub(r"[`*]", "", cell).strip()


def md_tables(text):
    """Markdown tables: lists of (line number, [cells]), header first."""
    tables, cur = [], None
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if line.startswith("|") and i + 1 < len(lines) and re.match(r"^\|(\s*:?-+:?\s*\|)+\s*$", lines[i + 1]):
            cur = []
            tables.append(cur)
        if line.startswith("|") and cur is not None:
            if re.match(r"^\|(\s*:?-+:?\s*\|)+\s*$", line):
                continue
            cells = [c.replace("\\|", "|").strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            cur.append((i + 1, cells))
        elif not line.startswith("|"):
            cur = None
    return tables


def tbl_tables(text):
    """tbl(1) tables between .TS and .TE: cells split by tabs, a T{ ... T}
    block is one cell. Lists of (line number, [cells])."""
    tables, table, in_table, in_format = [], None, False, False
    cells, block, start = [], None, None
    for i, line in enumerate(text.split("\n"), 1):
        if line.strip() == ".TS":
            table, in_table, in_format = [], True, True
            tables.append(table)
            continue
        if not in_table:
            continue
        if in_format:  # options (';') and format lines, the last ending in '.'
            in_format = not line.rstrip().endswith(".")
            continue
        if line.strip() == ".TE":
            in_table = False
            continue
        if block is not None:
            if not line.startswith("T}"):
                block.append(line)
                continue
            cells.append(" ".join(block))
            block, parts = None, line[2:].split("\t")[1:]
        else:
            start, parts = i, line.split("\t")
        for k, part in enumerate(parts):
            if part == "T{" and k == len(parts) - 1:
                block = []
            else:
                cells.append(part)
        if block is None:
            table.append((start, cells))
            cells = []
    return tables


def main():
    if len(sys.argv) < 4:
        print(__doc__)
        return 2
    tool, root, public = sys.argv[1], sys.argv[2], sys.argv[3:]
    probe = json.loads(subprocess.run([tool, "probe", "--json"], capture_output=True, text=True,
                                      check=False).stdout)
    caps = {b["name"]: set(b["caps"]) for b in probe["backends"]}
    header = open(os.path.join(root, "include", "writewatch.h")).read()
    defined = sorted(set(re.findall(r"^#define (WW_CAP_[A-Z_]+)\s", header, re.M)))
    problems = []
    for b in public:
        if b not in caps:
            problems.append(f"library: no backend {b} in `writewatch probe --json`")
    for b, c in caps.items():
        for n in c - set(defined):
            problems.append(f"library: {b} has {n}, which include/writewatch.h does not define")
    checked = 0
    for rel, whole in DOCS:
        path = os.path.join(root, rel)
        if not os.path.exists(path):
            if whole:
                problems.append(f"{rel}: missing")
            continue
        text = open(path).read()
        tables = tbl_tables(text) if rel.startswith("man/") else md_tables(text)
        rows_of = {}
        for table in tables:
            if not table:
                continue
            hline, head = table[0]
            cols = {plain(h).split(" ")[0]: k for k, h in enumerate(head) if plain(h).split(" ")[0] in caps}
            caprows = [(ln, r) for ln, r in table[1:] if r and CAP_RE.search(r[0])]
            if not caprows:
                continue
            for b in public:
                if b not in cols:
                    problems.append(f"{rel}:{hline}: the table naming WW_CAP_* bits has no {b} column")
            for ln, r in caprows:
                named = set(CAP_RE.findall(r[0]))
                if len(named) != 1:
                    problems.append(f"{rel}:{ln}: a row names {len(named)} bits: {', '.join(sorted(named))}")
                    continue
                cap = named.pop()
                if cap not in defined:
                    problems.append(f"{rel}:{ln}: {cap} is no bit include/writewatch.h defines")
                    continue
                if cap in rows_of:
                    problems.append(f"{rel}:{ln}: {cap} has a row already (line {rows_of[cap]})")
                rows_of[cap] = ln
                for b, k in cols.items():
                    if b not in public:
                        continue
                    if k >= len(r):
                        problems.append(f"{rel}:{ln}: {cap}: no cell for {b}")
                        continue
                    m = re.match(r"(yes|no)\b", plain(r[k]), re.I)
                    has = cap in caps[b]
                    if not m:
                        problems.append(f"{rel}:{ln}: {cap}, {b}: the cell begins neither yes nor no: "
                                        f"'{plain(r[k])[:40]}'; the library says {'yes' if has else 'no'}")
                    elif (m.group(1).lower() == "yes") != has:
                        problems.append(f"{rel}:{ln}: {cap}, {b}: the cell says {m.group(1).lower()}, "
                                        f"the library says {'yes' if has else 'no'} "
                                        f"({b} {'has' if has else 'lacks'} {cap})")
                    checked += 1
        if whole:
            for cap in defined:
                if cap not in rows_of:
                    problems.append(f"{rel}: the guarantee table has no row for {cap}")
    for p in problems:
        print(p)
    print(f"{checked} cells checked against the library's capability bits"
          f" ({len(public)} backends, {len(defined)} bits), {len(problems)} disagreements")
    return 1 if problems or not checked else 0


if __name__ == "__main__":
    sys.exit(main())
