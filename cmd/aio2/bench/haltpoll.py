#!/usr/bin/env python3
"""aio2 against fio under two settings of the guest's halt polling, in one
run: how much of a gap to fio comes from waking an idle vCPU.

On a KVM guest whose cpuidle driver is haltpoll, an idle vCPU polls for up
to /sys/module/haltpoll/parameters/guest_halt_poll_ns before it halts; a
halted vCPU is woken through the host (an IPI and a VM entry), which is
slow. The development VM of docs/benchmarks.md runs with 0 (no polling).
This script runs fio's libaio job and `aio2 io` with the same flags under
each value given (default: 0, then the kernel's default 200000),
alternating within every rep (fio aio2 under the first value, fio aio2
under the second, ...), and prints the medians of the per-rep ratios to
fio under each. It needs root and the haltpoll driver, and puts the
parameter back to what it was when it ends, also on failure.

  go build -o /tmp/aio2 ./cmd/aio2
  python3 cmd/aio2/bench/haltpoll.py --filename /dev/loop0 --iodepth 32 --reps 7 /tmp/aio2

It is a diagnosis, not a benchmark to quote as aio2's speed: the goals of
docs/benchmarks.md are measured with the machine as it is.
"""
import argparse, statistics, sys

from benchrun import add_job_args, fio_cmd, job_flags, run

PARAM = "/sys/module/haltpoll/parameters/guest_halt_poll_ns"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_job_args(ap, iodepth=32, reps=7)
    ap.add_argument("--poll-ns", type=int, nargs="+", default=[0, 200000],
                    help="values of guest_halt_poll_ns to compare (default: 0 200000)")
    ap.add_argument("aio2", help="the aio2 binary")
    a = ap.parse_args()
    try:
        with open(PARAM) as f:
            saved = f.read().strip()
    except OSError as e:
        sys.exit(f"haltpoll.py: cannot read {PARAM} ({e}): this guest does not use the haltpoll cpuidle driver")
    common = job_flags(a)
    fio = fio_cmd(common)
    res = {v: [] for v in a.poll_ns}

    def setpoll(v):
        with open(PARAM, "w") as f:
            f.write(str(v))

    try:
        for r in range(a.reps):
            line = []
            for v in a.poll_ns:
                setpoll(v)
                f, x = run(fio), run([a.aio2, "io"] + common)
                res[v].append((f, x))
                line.append(f"poll {v}: fio {f['iops']:.0f} aio2 {x['iops']:.0f} ({x['iops'] / f['iops']:.3f})")
            print(f"rep {r + 1}: " + "  ".join(line), file=sys.stderr)
    finally:
        setpoll(saved)
    print(f"randread bs={a.bs} QD{a.iodepth} O_DIRECT on {a.filename}, {a.reps} reps of {a.runtime}s; "
          f"guest_halt_poll_ns restored to {saved}; ratios are medians of same-rep ratios to fio")
    for v, l in res.items():
        med = lambda xs: statistics.median(xs)
        print(f"guest_halt_poll_ns={v:<7d} fio {med(f['iops'] for f, _ in l):9.0f} IOPS {med(f['cpu_us'] for f, _ in l):5.2f}us/IO"
              f"   aio2 {med(x['iops'] for _, x in l):9.0f} IOPS {med(x['cpu_us'] for _, x in l):5.2f}us/IO"
              f"   IOPS ratio {med(x['iops'] / f['iops'] for f, x in l):.3f}  CPU/IO ratio {med(x['cpu_us'] / f['cpu_us'] for f, x in l):.3f}")


if __name__ == "__main__":
    main()
