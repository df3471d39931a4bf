#!/usr/bin/python3
"""Prints the one summary table of scripts/bench.sh from the benchmarks' JSON lines.

Reads JSON lines (files or stdin); every object with ``"row": true`` is one row: workload,
lmusim, peer, ratio, target, met, plus the details. ``--markdown`` prints a Markdown table (for
benchmarks/README.md).
"""
import argparse
import json
import sys


def fmt(v, nd=1):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 10 else f"{v:.{nd}f}"
    return str(v)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("files", nargs="*")
    ap.add_argument("--markdown", action="store_true")
    a = ap.parse_args()
    lines = []
    for path in a.files or ["-"]:
        fh = sys.stdin if path == "-" else open(path)
        lines += [line for line in fh if line.startswith("{")]
    rows, machine, torch = [], None, None
    for line in lines:
        try:
            r = json.loads(line)
        except json.JSONDecodeError:
            continue
        if r.get("row"):
            rows.append(r)
        elif r.get("bench") == "machine":
            machine = r
        elif r.get("bench") == "torch":
            torch = r
    if machine:
        print(f"machine: {machine['cpu']}, {machine['cores']} cores, load {machine['load1']} (1 min) at start")
    if torch:
        print(f"torch {torch['torch']}: BLAS {'OpenBLAS' if torch['openblas'] else 'NOT OpenBLAS'} "
              f"({', '.join(l.rsplit('/', 1)[-1] for l in torch['blas_libs'])}), 1024x1024 GEMV {torch['gemv_1024_us']} us")
    head = ["workload", "lmusim", "peer", "ratio", "target", "met"]
    body = []
    for r in rows:
        ratio = r.get("ratio")
        peer = fmt(r.get("peer"))
        if r.get("peer_name"):
            peer += f" ({r['peer_name']})"
        met = {True: "yes", False: "NO", None: "-"}[r.get("met")]
        body.append([r["workload"], fmt(r.get("lmusim")), peer, f"{ratio:.2f}x" if ratio else "-", r.get("target", ""),
                     met])
    if a.markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for b in body:
            print("| " + " | ".join(b) + " |")
    else:
        w = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(head)]
        print("  ".join(h.ljust(w[i]) for i, h in enumerate(head)))
        print("  ".join("-" * x for x in w))
        for b in body:
            print("  ".join(c.ljust(w[i]) for i, c in enumerate(b)))
    details = [(r["workload"], r["detail"]) for r in rows if r.get("detail")]
    if details:
        print()
        for wl, d in details:
            print(f"  {wl}: {d}")


if __name__ == "__main__":
    main()
