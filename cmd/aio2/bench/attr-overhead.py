#!/usr/bin/env python3
"""Attribute overhead of `aio2 io`: the same job without attributes and with
each attribute set, alternating (A B C A B C ...) so that drift on a noisy
machine hits every configuration alike. Prints, per configuration, the
median IOPS and CPU per IO, and the median of the per-rep ratios to the
no-attribute run of the same rep.

  python3 cmd/aio2/bench/attr-overhead.py --filename /dev/loop0 --size 1G
  python3 cmd/aio2/bench/attr-overhead.py --sets none latency,timestamps,cpu device --reps 5 --runtime 5

Needs a built aio2 (--aio2, default: go build ./cmd/aio2).
"""
import argparse, os, statistics, subprocess, tempfile

from benchrun import run


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--filename", required=True)
    ap.add_argument("--size", default="1G")
    ap.add_argument("--bs", default="4k")
    ap.add_argument("--iodepth", type=int, default=32)
    ap.add_argument("--runtime", type=int, default=5)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--sets", nargs="+", default=["none", "latency,timestamps,cpu", "device"])
    ap.add_argument("--aio2", default=None)
    a = ap.parse_args()
    aio2 = a.aio2
    if not aio2:
        aio2 = os.path.join(tempfile.mkdtemp(prefix="attrov-"), "aio2")
        subprocess.run(["go", "build", "-o", aio2, "./cmd/aio2"], check=True)
    base = [aio2, "io", f"--filename={a.filename}", f"--size={a.size}", "--rw=randread", f"--bs={a.bs}",
            f"--iodepth={a.iodepth}", "--direct=1", f"--runtime={a.runtime}", "--output-format=json", "--progress=off"]
    res = {s: [] for s in a.sets}
    for rep in range(a.reps):
        for s in a.sets:
            res[s].append(run(base + ([] if s == "none" else [f"--attrs={s}"])))
        line = "  ".join(f"{s}: {res[s][-1]['iops']:.0f}" for s in a.sets)
        print(f"rep {rep + 1}: IOPS {line}", flush=True)
    ref = a.sets[0]
    print(f"\nrandread bs={a.bs} QD{a.iodepth} O_DIRECT on {a.filename}, {a.reps} alternating reps of {a.runtime}s; medians")
    print(f"{'attrs':<26} | {'IOPS':>9} {'ratio':>6} | {'CPU/IO':>8} {'ratio':>6} | {'clat p50':>9}   (ratio = median of same-rep ratios to '{ref}')")
    for s in a.sets:
        r = [x["iops"] / y["iops"] for x, y in zip(res[s], res[ref])]
        c = [x["cpu_us"] / y["cpu_us"] for x, y in zip(res[s], res[ref])]
        print(f"{s:<26} | {statistics.median(x['iops'] for x in res[s]):>9.0f} {statistics.median(r):>6.3f} |"
              f" {statistics.median(x['cpu_us'] for x in res[s]):>6.2f}us {statistics.median(c):>6.3f} |"
              f" {statistics.median(x['p50'] for x in res[s]):>7.1f}us")


if __name__ == "__main__":
    main()
