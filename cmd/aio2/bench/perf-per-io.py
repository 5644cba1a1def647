#!/usr/bin/env python3
r"""Where each IO's time goes, by symbol, for two or more builds or flag
sets of `aio2 io`: each runs the same job under `perf record` (cpu-clock
samples at --freq), alternating (A B A B ...), and every symbol's samples
are turned into nanoseconds per IO (samples / freq / IOs). Prints, per
configuration, the kernel, user and total time per IO, then the symbols
whose time per IO differs most from the first configuration's.

  python3 cmd/aio2/bench/perf-per-io.py --filename /dev/zram0 --iodepth 32 \
      --reps 3 --runtime 4 --show 'RecordValues|rdtsc' /tmp/aio2 /tmp/aio2,--attrs=latency

It is for finding what a change or an attribute adds per IO, which IOPS
series on a noisy machine cannot resolve below a few percent. The figures
are inflated by the sampling itself (on this VM a QD1 zram IO took about
twice as long under perf as without), so compare them with each other,
not with IOPS from runs without perf. Needs perf (apt-get install -y
linux-perf) and root, for the kernel's symbols.
"""
import argparse, collections, json, os, re, subprocess, sys, tempfile

from benchrun import add_job_args, aio2_cmd, job_flags


def record(cmd, freq, data):
    """Run cmd under perf record; return the read side's IOs and the
    samples per symbol ("[k] name" in the kernel, "[.] name" in user
    space, without the binary's name, so that two builds compare)."""
    p = subprocess.run(["perf", "record", "-q", "-F", str(freq), "-o", data, "--"] + cmd,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        sys.exit(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr[-2000:]}")
    ios = json.loads(p.stdout[p.stdout.find("{"):])["jobs"][0]["read"]["total_ios"]
    rep = subprocess.run(["perf", "report", "-q", "-i", data, "--sort", "sym", "-F", "sample,sym"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, check=True)
    samples = collections.Counter()
    for line in rep.stdout.splitlines():
        f = line.split(None, 1)
        if len(f) == 2 and f[0].isdigit():
            samples[f[1].strip()] += int(f[0])
    return ios, samples


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_job_args(ap, iodepth=1, reps=3)
    ap.add_argument("--freq", type=int, default=9999, help="samples a second (perf record -F)")
    ap.add_argument("--top", type=int, default=25, help="symbols to list, by difference")
    ap.add_argument("--show", default=None, metavar="REGEX",
                    help="also print every configuration's time per IO in the symbols that match")
    ap.add_argument("builds", nargs="+", help="aio2 binaries, each optionally followed by ,FLAG,FLAG")
    a = ap.parse_args()
    ios = collections.Counter()
    samples = {b: collections.Counter() for b in a.builds}
    with tempfile.TemporaryDirectory(prefix="perf-per-io-") as tmp:
        for rep in range(a.reps):
            for name in a.builds:
                n, s = record(aio2_cmd(name, job_flags(a)), a.freq, os.path.join(tmp, "perf.data"))
                ios[name] += n
                samples[name].update(s)
            print(f"rep {rep + 1} done", flush=True)

    def ns(name, sym):
        return samples[name][sym] * 1e9 / a.freq / ios[name]

    print(f"randread bs={a.bs} QD{a.iodepth} on {a.filename}, {a.reps} reps of {a.runtime}s under perf "
          f"-F {a.freq}; ns per IO")
    for name in a.builds:
        kern = sum(ns(name, s) for s in samples[name] if s.startswith("[k]"))
        tot = sum(ns(name, s) for s in samples[name])
        print(f"{name:40} kernel {kern:7.0f}  user {tot - kern:6.0f}  total {tot:7.0f}  ({ios[name]} IOs)")
    if a.show:
        syms = sorted({s for name in a.builds for s in samples[name]
                       if re.search(a.show, s) and ns(name, s) >= 0.05})
        print(f"\nsymbols matching {a.show!r}, ns per IO")
        for s in syms:
            print(f"  {s}")
            for name in a.builds:
                print(f"    {name:40} {ns(name, s):7.1f}")
    base = a.builds[0]
    for name in a.builds[1:] if a.top > 0 else []:
        syms = set(samples[base]) | set(samples[name])
        rows = sorted(((ns(name, s) - ns(base, s), ns(base, s), ns(name, s), s) for s in syms),
                      key=lambda r: -abs(r[0]))
        print(f"\n{name} against {base}: the {a.top} largest differences")
        print(f"{'diff':>7} {'base':>7} {'this':>7}  symbol")
        for d, b, t, s in rows[:a.top]:
            print(f"{d:+7.1f} {b:7.1f} {t:7.1f}  {s}")


if __name__ == "__main__":
    main()
