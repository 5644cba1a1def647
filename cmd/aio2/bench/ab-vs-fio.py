#!/usr/bin/env python3
r"""Two or more builds of aio2 against fio in one run: fio's libaio job and
each build's `aio2 io` with the same flags, alternating (fio A B fio A B
...) so that drift on a noisy machine hits all of them alike. Prints, per
tool, the median IOPS, CPU per IO (usr+sys of the whole process, from
getrusage) and clat median, and the medians of the per-rep ratios to
fio's run of the same rep; with two builds or more, also each later
build's per-rep ratio to the first. It is how a change is measured end to end:
the old and the new build side by side, against the same reference.

  git worktree add /tmp/old HEAD~1 && (cd /tmp/old && go build -o /tmp/aio2-old ./cmd/aio2)
  go build -o /tmp/aio2-new ./cmd/aio2
  python3 cmd/aio2/bench/ab-vs-fio.py --filename /dev/zram0 --iodepth 1 --reps 9 --runtime 3 /tmp/aio2-old /tmp/aio2-new

A build may carry extra flags after a comma: /tmp/aio2-new,--attrs=latency.
With --aa fio's job runs twice a rep, and the second's ratio to the first
says how far apart two runs of the same tool come out here; --shuffle
runs each rep's tools in a random order:

  python3 cmd/aio2/bench/ab-vs-fio.py --filename F --iodepth 32 --reps 21 --runtime 3 --aa --shuffle /tmp/aio2

--fio-variant runs fio's job once more a rep with extra flags (comma-
separated; repeat it for more variants), such as aio2's submit pattern in
fio's terms:

  python3 cmd/aio2/bench/ab-vs-fio.py --filename F --iodepth 32 --shuffle \
      --fio-variant=--iodepth_batch_submit=4,--iodepth_batch_complete_max=32 /tmp/aio2
"""
import argparse, random, statistics, sys

from benchrun import add_job_args, aio2_cmd, fio_cmd, job_flags, run


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_job_args(ap, iodepth=1, reps=9)
    ap.add_argument("builds", nargs="*", help="aio2 binaries, each optionally followed by ,FLAG,FLAG")
    ap.add_argument("--aa", action="store_true",
                    help="run fio's job a second time in each rep, as 'fio (A/A)': its ratio to the first is "
                         "what the machine's noise alone gives, the yardstick for the builds' ratios")
    ap.add_argument("--shuffle", action="store_true",
                    help="run the tools of each rep in a random order (seed 1), not always fio first: "
                         "a tool's place in the rep cannot then favour it")
    ap.add_argument("--fio-variant", action="append", default=[], metavar="FLAG,FLAG",
                    help="also run fio's job with these extra flags each rep, reported as 'fio FLAG,FLAG'")
    a = ap.parse_args()
    common = job_flags(a)
    tools = {"fio": fio_cmd(common)}
    if a.aa:
        tools["fio (A/A)"] = fio_cmd(common)
    for v in a.fio_variant:
        tools["fio " + v] = fio_cmd(common) + [x for x in v.split(",") if x]
    for b in a.builds:
        tools[b] = aio2_cmd(b, common)
    res = {k: [] for k in tools}
    order = list(tools)
    rng = random.Random(1)
    for r in range(a.reps):
        if a.shuffle:
            rng.shuffle(order)
        got = {k: run(tools[k]) for k in order}
        for k in tools:
            res[k].append(got[k])
        print(f"rep {r + 1}: " + "  ".join(f"{k}: {got[k]['iops']:.0f}" for k in order), file=sys.stderr)
    print(f"randread bs={a.bs} QD{a.iodepth} O_DIRECT on {a.filename}, {a.reps} {'shuffled' if a.shuffle else 'alternating'} "
          f"reps of {a.runtime}s; ratios are medians of same-rep ratios to fio")
    for k, v in res.items():
        iops = statistics.median(x["iops"] for x in v)
        cpu = statistics.median(x["cpu_us"] for x in v)
        ratios = [x["iops"] / f["iops"] for x, f in zip(v, res["fio"])]
        ri = statistics.median(ratios)
        rc = statistics.median(x["cpu_us"] / f["cpu_us"] for x, f in zip(v, res["fio"]))
        lo, hi = median_interval(ratios)
        p50 = statistics.median(x["p50"] for x in v)
        rp = statistics.median(x["p50"] / f["p50"] for x, f in zip(v, res["fio"]) if f["p50"] > 0)
        print(f"{k:40s} IOPS {iops:9.0f} ratio {ri:.3f} [{lo:.3f}, {hi:.3f}]   CPU/IO {cpu:6.2f}us ratio {rc:.3f}"
              f"   clat p50 {p50:7.1f}us ratio {rp:.3f}")
    print("[lo, hi]: a 95 % bootstrap interval of the median IOPS ratio (resampling the reps, 2000 times, seed 1)")
    # Each later build against the first, rep by rep: the A/B a change
    # is judged by, free of fio's own noise.
    for k in a.builds[1:]:
        ratios = [x["iops"] / f["iops"] for x, f in zip(res[k], res[a.builds[0]])]
        lo, hi = median_interval(ratios)
        print(f"{k:40s} IOPS ratio to {a.builds[0]} {statistics.median(ratios):.3f} [{lo:.3f}, {hi:.3f}], "
              f"above 1.0 in {sum(r > 1 for r in ratios)} of {len(ratios)} reps")
    if a.aa:
        # Against the mean of the rep's two fio runs: a reference less
        # noisy than either, and with no one place in the rep.
        for k in a.builds:
            ratios = [2 * x["iops"] / (f["iops"] + g["iops"]) for x, f, g in zip(res[k], res["fio"], res["fio (A/A)"])]
            lo, hi = median_interval(ratios)
            print(f"{k:40s} IOPS ratio to the mean of both fio runs {statistics.median(ratios):.3f} [{lo:.3f}, {hi:.3f}], "
                  f"below 1.0 in {sum(r < 1 for r in ratios)} of {len(ratios)} reps")


def median_interval(xs, n=2000, seed=1):
    """A percentile bootstrap interval (95 %) of the median of xs: how far
    the median ratio could move on another series of as many reps."""
    rng = random.Random(seed)
    meds = sorted(statistics.median(rng.choices(xs, k=len(xs))) for _ in range(n))
    return meds[int(0.025 * n)], meds[int(0.975 * n) - 1]


if __name__ == "__main__":
    main()
