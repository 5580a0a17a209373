"""The tables of bench/whole-job.sh: reads the folder of one benchmark run (per round and side a
`rN-SIDE.log` and a `rN-SIDE.time` written by /usr/bin/time -f "%e %M") and prints the rounds, the
medians, the ratios toolkit / Python and the per-stage medians.

    python3 whole_job_table.py FOLDER

Sides: toolkit (the compiled `research adam-vs-radam`), py-ref (whole_job.py on Debian's reference
BLAS), py-openblas (whole_job.py on OpenBLAS, pthread build). Whole job: the process's wall time,
start-up included; toolkit "without check": the wall time minus the browser check it printed.
"""
import glob
import json
import os
import re
import statistics
import sys

SIDES = ["toolkit", "py-ref", "py-openblas"]
TOOLKIT_STAGES = ["training and recording", "analysis", "report", "browser check"]
PYTHON_STAGES = ["imports", "training", "shapiro", "multitest", "mixtures", "bootstrap", "figures"]


def read_time(path):
    wall, rss_kb = open(path).read().split()[-2:]
    return float(wall), int(rss_kb) / 1024.0


def stamped(log):
    """The log's lines as (arrival time, text): bench/whole-job.sh prefixes each with $EPOCHREALTIME."""
    out = []
    for line in open(log, encoding="utf-8"):
        stamp, _, text = line.rstrip("\n").partition(" ")
        out.append((float(stamp), text))
    return out


def analysis_stages(lines):
    """The toolkit's analysis by stage, summed over the optimizers, from the arrival times of its
    progress lines: 'analysing …' (trace loaded) → 'Shapiro–Wilk …' (with Holm and BH) → '… mixtures …'
    → 'bootstrap …'."""
    seconds = {"shapiro + multitest": 0.0, "mixtures": 0.0, "bootstrap": 0.0}
    start = None
    for t, text in lines:
        s = text.strip()
        if s.startswith("analysing "):
            start = t
        elif start is not None and s.startswith("Shapiro–Wilk on "):
            seconds["shapiro + multitest"] += t - start
            start = t
        elif start is not None and " mixtures (k = " in s:
            seconds["mixtures"] += t - start
            start = t
        elif start is not None and s.startswith("bootstrap Var"):
            seconds["bootstrap"] += t - start
            start = None
    return seconds


def toolkit(log):
    lines = stamped(log)
    text = "\n".join(t for _, t in lines)
    m = re.search(r"^time: ([\d.]+) s of study steps \((.*)\); (.*)$", text, re.M)
    if not m:
        raise SystemExit(f"{log}: no 'time: … s of study steps' line; the toolkit run failed? (see the log)")
    stages = {}
    for part in (m.group(2) + ", " + m.group(3)).split(", "):
        name, seconds = re.match(r"(.*) ([\d.]+) s$", part).groups()
        stages[name] = float(seconds)
    counts = {}
    for label, body in re.findall(r"analysing (\S+) \(\w+\):.*?\n(.*?)(?=\n\s*analysing |\Z)", text, re.S):
        s = re.search(r"Shapiro–Wilk on \d+ series: (\d+)/(\d+) rejected .*?; Holm (\d+), BH (\d+)", body)
        b = re.search(r"for (\d+) normal and (\d+) non-normal weights", body)
        if s:
            counts[label] = {"rejected": int(s.group(1)), "tested": int(s.group(2)), "holm": int(s.group(3)),
                             "bh": int(s.group(4)), "normal": int(b.group(1)) if b else -1,
                             "non_normal": int(b.group(2)) if b else -1}
    check = re.search(r"browser check (passed|FAILED[^\n]*|skipped[^\n]*)", text)
    return {"stages": stages, "analysis": analysis_stages(lines), "counts": counts, "check": check.group(1) if check else "?"}


def python(log):
    lines = [text for _, text in stamped(log) if text.startswith("RESULT ")]
    if not lines:
        raise SystemExit(f"{log}: no RESULT line; the Python run failed? (see the log)")
    r = json.loads(lines[-1][len("RESULT "):])
    return {"stages": r["stages"], "counts": r["runs"], "blas": r["blas"], "total": r["total"]}


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def main():
    folder = sys.argv[1]
    rounds = sorted({int(re.match(r"r(\d+)-", os.path.basename(p)).group(1))
                     for p in glob.glob(os.path.join(folder, "r*-*.time"))})
    rows = []
    for r in rounds:
        row = {"round": r}
        for side in SIDES:
            base = os.path.join(folder, f"r{r}-{side}")
            if not os.path.exists(base + ".time"):
                continue
            wall, rss = read_time(base + ".time")
            parsed = toolkit(base + ".log") if side == "toolkit" else python(base + ".log")
            parsed.update(wall=wall, rss=rss)
            row[side] = parsed
        rows.append(row)

    print("\nRounds (seconds of wall time, start-up included; peak RSS in MiB)")
    print(f"{'round':>5}  {'toolkit':>8} {'w/o check':>9} {'check':>6} {'RSS':>6}  {'py-ref':>8} {'RSS':>6}  "
          f"{'py-openblas':>11} {'RSS':>6}  {'tk/ref':>6} {'tk/ob':>6} {'w/o:ref':>7} {'w/o:ob':>6}")
    for row in rows:
        tk, ref, ob = row.get("toolkit"), row.get("py-ref"), row.get("py-openblas")

        def f(x, w=8):
            return f"{x:{w}.1f}" if x is not None else " " * (w - 1) + "–"

        tk_wall = tk["wall"] if tk else None
        tk_wo = tk["wall"] - tk["stages"].get("browser check", 0.0) if tk else None
        ratio = lambda a, b: f"{a / b:6.3f}" if a is not None and b is not None else "     –"  # noqa: E731
        print(f"{row['round']:>5}  {f(tk_wall)} {f(tk_wo, 9)} {f(tk and tk['stages'].get('browser check'), 6)} "
              f"{f(tk and tk['rss'], 6)}  {f(ref and ref['wall'])} {f(ref and ref['rss'], 6)}  "
              f"{f(ob and ob['wall'], 11)} {f(ob and ob['rss'], 6)}  "
              f"{ratio(tk_wall, ref and ref['wall'])} {ratio(tk_wall, ob and ob['wall'])} "
              f" {ratio(tk_wo, ref and ref['wall'])} {ratio(tk_wo, ob and ob['wall'])}")

    def side_values(side, key):
        return [row[side][key] for row in rows if side in row]

    tk_walls = side_values("toolkit", "wall")
    tk_wo = [row["toolkit"]["wall"] - row["toolkit"]["stages"].get("browser check", 0.0) for row in rows if "toolkit" in row]
    m = {"toolkit": med(tk_walls), "toolkit w/o check": med(tk_wo),
         "py-ref": med(side_values("py-ref", "wall")), "py-openblas": med(side_values("py-openblas", "wall"))}
    n = {side: len(side_values(side, "wall")) for side in SIDES}
    print(f"\nMedians over {len(rows)} round(s) (toolkit {n['toolkit']}, py-ref {n['py-ref']}, py-openblas {n['py-openblas']} runs)")
    print(f"  toolkit, whole job              {m['toolkit']:8.1f} s   peak RSS {med(side_values('toolkit', 'rss')):7.0f} MiB")
    print(f"  toolkit, without browser check  {m['toolkit w/o check']:8.1f} s")
    print(f"  Python, reference BLAS          {m['py-ref']:8.1f} s   peak RSS {med(side_values('py-ref', 'rss')):7.0f} MiB")
    print(f"  Python, OpenBLAS                {m['py-openblas']:8.1f} s   peak RSS {med(side_values('py-openblas', 'rss')):7.0f} MiB")
    print("\nRatios toolkit / Python (medians; target ≤ 0.33 on reference BLAS, ≤ 0.5 on OpenBLAS)")
    for blas, target in (("py-ref", 0.33), ("py-openblas", 0.5)):
        for what in ("toolkit", "toolkit w/o check"):
            r = m[what] / m[blas]
            print(f"  {what:<18} / {blas:<11} {r:6.3f}   {'met' if r <= target else 'not met'} (≤ {target})")

    print("\nPer-stage medians (seconds)")
    print("  toolkit (the runner's time line; 'start-up and rest' = wall − the four)")
    for s in TOOLKIT_STAGES:
        print(f"    {s:<26} {med([row['toolkit']['stages'].get(s, float('nan')) for row in rows if 'toolkit' in row]):8.1f}")
    for s in ("shapiro + multitest", "mixtures", "bootstrap"):
        print(f"      analysis: {s:<16} {med([row['toolkit']['analysis'][s] for row in rows if 'toolkit' in row]):8.1f}")
    print(f"    {'start-up and rest':<26} "
          f"{med([row['toolkit']['wall'] - sum(row['toolkit']['stages'].values()) for row in rows if 'toolkit' in row]):8.1f}")
    print(f"  {'Python':<28} {'ref BLAS':>8} {'OpenBLAS':>9}  ('interpreter and rest' = wall − the stages)")
    for s in PYTHON_STAGES:
        print(f"    {s:<26} {med([row['py-ref']['stages'][s] for row in rows if 'py-ref' in row]):8.1f} "
              f"{med([row['py-openblas']['stages'][s] for row in rows if 'py-openblas' in row]):9.1f}")
    rest = {side: med([row[side]["wall"] - row[side]["total"] for row in rows if side in row]) for side in ("py-ref", "py-openblas")}
    print(f"    {'interpreter and rest':<26} {rest['py-ref']:8.1f} {rest['py-openblas']:9.1f}")
    tk_train = med([row["toolkit"]["stages"]["training and recording"] for row in rows if "toolkit" in row])
    tk_after = med([row["toolkit"]["stages"]["analysis"] + row["toolkit"]["stages"]["report"] for row in rows if "toolkit" in row])
    for side in ("py-ref", "py-openblas"):
        py_train = med([row[side]["stages"]["training"] for row in rows if side in row])
        py_after = med([sum(row[side]["stages"][s] for s in PYTHON_STAGES[2:]) for row in rows if side in row])
        print(f"  training: toolkit / {side} {tk_train / py_train:6.3f};  analysis + report: toolkit / {side} "
              f"(shapiro … figures) {tk_after / py_after:6.3f}")

    print("\nSanity: Shapiro–Wilk rejections at α = 0.05 / tested, Holm, BH; ψ weights normal + non-normal (last round)")
    last = rows[-1]
    for side in SIDES:
        if side not in last:
            continue
        parts = [f"{label} {c['rejected']}/{c['tested']}, Holm {c['holm']}, BH {c['bh']}, ψ {c['normal']}+{c['non_normal']}"
                 for label, c in last[side]["counts"].items()]
        print(f"  {side:<12} " + "; ".join(parts))
    for side in ("py-ref", "py-openblas"):
        if side in last:
            print(f"  {side} BLAS loaded: {', '.join(last[side]['blas'])}")
    if "toolkit" in last:
        print(f"  toolkit browser check: {last['toolkit']['check']}")


if __name__ == "__main__":
    main()
