#!/bin/sh
# Charts for BENCHMARKS.md from ww-bench JSON Lines:
#   bench/plot.sh RESULTS.jsonl [OUTDIR]     (OUTDIR defaults to docs/)
# writes OUTDIR/bench-collect.svg (collect+reset cost against region size,
# per backend, clean and 1/16 dirty) and OUTDIR/bench-first-write.svg
# (first write after reset, per page, per backend). Needs python3, gnuplot.
set -eu
in=${1:?usage: bench/plot.sh RESULTS.jsonl [OUTDIR]}
out=${2:-docs}
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

python3 - "$in" "$tmp" <<'PY'
import json, sys, collections
src, tmp = sys.argv[1], sys.argv[2]
rows = [json.loads(l) for l in open(src) if l.strip()]
coll = collections.defaultdict(list)
fw = []
for r in rows:
    if "skipped" in r or r.get("median") is None:
        continue
    if r["benchmark"] == "collect":
        coll[(r["backend"], str(r["params"]["dirty"]))].append(
            (r["params"]["size_mib"], r["median"], r["min"], r["max"]))
    elif r["benchmark"] == "first-write":
        fw.append((r["backend"], r["median"], r["min"], r["max"]))
backends = sorted({b for b, _ in coll}, key=lambda b: (b != "bare-kernel", b))
for dirty, tag in (("0", "clean"), ("1/16", "d16")):
    with open(f"{tmp}/collect-{tag}.plt", "w") as f:
        for b in backends:
            pts = sorted(coll.get((b, dirty), []))
            if not pts:
                continue
            with open(f"{tmp}/collect-{tag}-{b}.dat", "w") as d:
                for p in pts:
                    d.write("%g %g %g %g\n" % p)
            f.write(f"'{tmp}/collect-{tag}-{b}.dat' using 1:2:3:4 with yerrorlines title '{b}', \\\n")
with open(f"{tmp}/fw.dat", "w") as d:
    for i, (b, med, lo, hi) in enumerate(fw):
        d.write(f'{i} "{b}" {med:g} {lo:g} {hi:g}\n')
PY

plotlist() { sed '$ s/, \\$//' "$1"; }

gnuplot <<GP
set terminal svg size 960,420 dynamic font "sans,11"
set output "$out/bench-collect.svg"
set multiplot layout 1,2
set logscale xy
set format y "%g"
set xlabel "region (MiB)"
set ylabel "microseconds per call"
set key top left
set grid
set xtics ("4" 4, "64" 64, "1G" 1024, "4G" 4096)
set title "collect+reset, clean region (median, min-max)"
plot $(plotlist "$tmp/collect-clean.plt")
set title "collect+reset, 1/16 of pages written, scattered"
plot $(plotlist "$tmp/collect-d16.plt")
unset multiplot
GP

gnuplot <<GP
set terminal svg size 900,400 dynamic font "sans,11"
set output "$out/bench-first-write.svg"
set title "First write to a page after reset (median, min-max bars)"
set logscale y
set ylabel "nanoseconds per page (log)"
set style fill solid 0.6
set boxwidth 0.6
set grid ytics
unset key
set xtics nomirror font ",9"
set bmargin 3
plot "$tmp/fw.dat" using 1:3:xtic(2) with boxes, \
     "" using 1:3:4:5 with yerrorbars lc rgb "black" pt 0, \
     "" using 1:(\$5*1.6):(sprintf("%.0f", \$3)) with labels
GP
echo "wrote $out/bench-collect.svg $out/bench-first-write.svg"
