#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The writewatch tool against hostile input. Usage:
test_cli_hostile.py WRITEWATCH CASE   (exit 0 pass, 1 fail, 77 skip)

Cases (issue 16, items 6 and 11):
  names     the watched process names a mapping (a file it maps) and its
            own command line with terminal escapes (OSC, CSI, BEL), C1
            controls raw and UTF-8 encoded, bytes that are not UTF-8, a
            bidirectional override and XML metacharacters. The live view (on
            a pseudo-terminal), plain lines, JSON Lines and the SVG must carry
            none of it raw: no control byte but the view's own screen clear
            and line ends, valid UTF-8 everywhere, every JSON line parses,
            the SVG is well-formed XML, and the name is still recognisable.
  numbers   nan, inf and out-of-range values of every numeric option are
            refused (exit 2) before anything starts.
  duration  -d ends the session at its time even when the interval is far
            longer (-i 50) or absurd (-i 1e308): end "duration", with the
            command still running.
  output    a report that cannot be written (--svg /dev/full, --output
            /dev/full, a closed standard output) fails the command (exit 1).
"""
import json
import os
import pty
import re
import select
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

WW, CASE = sys.argv[1], sys.argv[2]
PY = sys.executable


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def skip(msg):
    print("SKIP:", msg)
    sys.exit(77)


def check(cond, msg):
    if not cond:
        fail(msg)


def probe():
    r = subprocess.run([WW, "probe", "--json", "--pid", str(os.getpid())],
                       capture_output=True, text=True)
    try:
        info = json.loads(r.stdout)
    except ValueError:
        skip("writewatch probe gave no JSON: " + r.stderr.strip())
    for b in info["backends"]:
        if b["name"] == "pagemap-scan" and not b["works"]:
            skip("pagemap-scan for another process: " + b["reason"])


# Every way a name can attack a terminal, a JSON reader or an XML parser.
EVIL = (b"ww-\x1b]0;pwned\x07-\x1b[31mred\x1b[0m-\x9b2J-\xc2\x9b2J-\xff\xfe-"
        b"\xe2\x80\xaeevil-<&>\"'-\x7f-end")
# Writes a page of a file with the evil name, shared, then stays a while.
TARGET = r"""
import mmap, os, sys, time
d = sys.argv[1].encode()
path = os.path.join(d, %r)
fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
os.ftruncate(fd, 1 << 16)
m = mmap.mmap(fd, 1 << 16, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
for r in range(6):
    for p in range(16):
        m[p * 4096] = r + 1
    time.sleep(0.1)
""" % EVIL


def bad_bytes(data, allow_clear=False):
    """The first unsafe thing in data (bytes), or None."""
    if allow_clear:
        data = data.replace(b"\x1b[H\x1b[2J", b"")
    for i, c in enumerate(data):
        if (c < 0x20 and c not in (0x0a, 0x0d)) or c == 0x7f:
            return "control byte %#x at %d: %r" % (c, i, data[max(0, i - 20):i + 20])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        return "not UTF-8: %s" % e
    for ch in text:
        o = ord(ch)
        if 0x80 <= o < 0xa0 or 0x202a <= o <= 0x202e or 0x2066 <= o <= 0x2069:
            return "C1 or bidirectional control U+%04X" % o
    return None


def evil_run(d, opts, **kw):
    args = [WW, "run"] + opts + ["-i", "0.1", "--", PY, "-c", TARGET, d,
                                 b"\x1b]2;argv-title\x07\x9b\xff".decode("latin-1")]
    return subprocess.run(args, timeout=120, **kw)


def case_names():
    with tempfile.TemporaryDirectory() as d:
        plain, js, svg = (os.path.join(d, n) for n in ("plain.txt", "r.jsonl", "h.svg"))
        for opts in (["--plain", "-o", plain], ["--json", "-o", js, "--svg", svg]):
            r = evil_run(d, opts, capture_output=True)
            check(r.returncode == 0, "run %s exited %d: %r" % (opts, r.returncode, r.stderr))
            why = bad_bytes(r.stderr)
            check(why is None, "writewatch's standard error: %s" % why)
        with open(plain, "rb") as f:
            data = f.read()
        why = bad_bytes(data)
        check(why is None, "plain lines: %s" % why)
        check(b"ww-\\x1b]0;pwned\\x07" in data, "plain lines lost the name: %r" % data[-2000:])
        with open(js, "rb") as f:
            data = f.read()
        why = bad_bytes(data)
        check(why is None, "JSON Lines: %s" % why)
        names = set()
        for line in data.decode().splitlines():
            o = json.loads(line)
            for m in o.get("mappings", []):
                names.add(m["name"])
        check(any("ww-\\x1b]0;pwned" in n for n in names), "JSON lost the name: %s" % names)
        with open(svg, "rb") as f:
            data = f.read()
        why = bad_bytes(data)
        check(why is None, "SVG: %s" % why)
        try:
            ET.fromstring(data)
        except ET.ParseError as e:
            fail("SVG is not well-formed XML: %s" % e)
        # the live view, on a terminal
        master, slave = pty.openpty()
        p = subprocess.Popen([WW, "run", "-i", "0.1", "--", PY, "-c", TARGET, d,
                              b"\x1b]2;argv-title\x07".decode()],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=slave)
        os.close(slave)
        data = b""
        deadline = time.time() + 60
        while time.time() < deadline:
            rl, _, _ = select.select([master], [], [], 1)
            if rl:
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                data += chunk
            elif p.poll() is not None:
                break
        p.wait(timeout=30)
        os.close(master)
        check(b"\x1b[2J" in data and b"START" in data, "no live view: %r" % data[:300])
        why = bad_bytes(data, allow_clear=True)
        check(why is None, "live view: %s" % why)
        check(b"pwned" in data, "the live view lost the name")


def case_numbers():
    bad = [["-i", "nan"], ["-i", "inf"], ["-i", "-1"], ["-i", "1e400"], ["-d", "nan"],
           ["-d", "inf"], ["--bandwidth", "nan"], ["--bandwidth", "inf"],
           ["--bandwidth", "1e308G"], ["--max-downtime", "nan"], ["--max-downtime", "inf"],
           ["-n", "1e300"], ["-n", "nan"], ["--max-mapping", "inf"], ["--max-mapping", "nan"],
           ["--max-mapping", "1e30"], ["--exclude", "zz-1"], ["--exclude", "2000-1000"]]
    for opts in bad:
        for cmd in (["run"] + opts + ["--", "true"], ["attach"] + opts + ["1"]):
            r = subprocess.run([WW] + cmd, capture_output=True, text=True, timeout=30)
            check(r.returncode == 2, "%s: exit %d, want 2 (refused)" % (cmd, r.returncode))
            check(r.stdout == "" and "bad value" in r.stderr, "%s: %r" % (cmd, r.stderr))


def case_duration():
    for interval in ("50", "1e308"):
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "r.jsonl")
            # files, not pipes: the command outlives writewatch
            with open(os.path.join(d, "err"), "w+") as err:
                r = subprocess.run([WW, "run", "--json", "-o", out, "-d", "0.3", "-i",
                                    interval, "--", "sleep", "20"], stdout=err, stderr=err,
                                   timeout=120)
                err.seek(0)
                check(r.returncode == 0, "-i %s: exit %d: %s"
                      % (interval, r.returncode, err.read()))
            with open(out) as f:
                summary = [json.loads(l)["summary"] for l in f if '"summary"' in l][0]
        print("-i", interval, "summary end", summary["end"], "after", summary["duration_s"])
        check(summary["end"] == "duration", "-i %s: session ended by %s, not -d"
              % (interval, summary["end"]))
        check("exit_status" not in summary, "-i %s: the command ended first" % interval)


def case_output():
    for opts in (["--svg", "/dev/full", "--json"], ["-o", "/dev/full", "--json"],
                 ["-o", "/dev/full", "--plain"]):
        r = subprocess.run([WW, "run"] + opts + ["-i", "0.05", "--", "true"],
                           capture_output=True, text=True, timeout=60)
        check(r.returncode == 1, "%s: exit %d, want 1" % (opts, r.returncode))
        check("cannot write" in r.stderr, "%s: no message: %r" % (opts, r.stderr))
    r = subprocess.run([WW, "run", "-o", "-", "--json", "-i", "0.05", "--", "true"],
                       capture_output=True, text=True, timeout=60,
                       preexec_fn=lambda: os.close(1))
    check(r.returncode == 1, "closed standard output: exit %d, want 1" % r.returncode)


probe()
{"names": case_names, "numbers": case_numbers, "duration": case_duration,
 "output": case_output}[CASE]()
print("ok:", CASE)
