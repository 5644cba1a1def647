"""What the benchmark scripts beside it share: the job's flags, fio's
command for it, and running one tool's job and reading its fio-style JSON."""
import json, resource, subprocess, sys


def run(cmd):
    """Run cmd (fio, or aio2 io with --output-format=json) and return the
    read side's IOPS, the CPU per IO of the whole process (usr+sys, from
    getrusage of the child) in µs, and the clat median in µs."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        sys.exit(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr[-2000:]}")
    doc = json.loads(p.stdout[p.stdout.find("{"):])
    side = doc["jobs"][0]["read"]
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    ios = max(side["total_ios"], 1)
    return {"iops": side["iops"], "cpu_us": cpu * 1e6 / ios,
            "p50": side["clat_ns"]["percentile"]["50.000000"] / 1e3}


def add_job_args(ap, iodepth=1, reps=9):
    """Add the flags of a 4 KiB-style random-read job that fio and aio2 io
    both run: --filename, --iodepth, --bs, --runtime (s) and --reps."""
    ap.add_argument("--filename", required=True)
    ap.add_argument("--iodepth", type=int, default=iodepth)
    ap.add_argument("--bs", default="4k")
    ap.add_argument("--runtime", type=int, default=3)
    ap.add_argument("--reps", type=int, default=reps)


def job_flags(a):
    """The flags, common to fio and aio2 io, of the job add_job_args
    describes (a: the parsed arguments)."""
    return [f"--filename={a.filename}", "--rw=randread", f"--bs={a.bs}", f"--iodepth={a.iodepth}",
            f"--runtime={a.runtime}", "--output-format=json"]


def aio2_cmd(build, flags):
    """aio2 io with those flags, for a build given as PATH or
    PATH,FLAG,FLAG (its own extra flags, after the common ones)."""
    path, *extra = build.split(",")
    return [path, "io"] + flags + extra


def fio_cmd(flags):
    """fio's libaio job with those flags, as ../shared/bench/vs-fio.py runs
    it: without its random map (aio2 io keeps none either; the map costs
    fio CPU per IO) and with a fresh random seed. Before 2026-11-22 12:30
    UTC ab-vs-fio.py ran fio with the map, which flattered aio2's ratios by
    a few percent (docs/benchmarks.md, run 10)."""
    return ["fio", "--name=x", "--ioengine=libaio", "--direct=1", "--time_based",
            "--norandommap", "--randrepeat=0"] + flags
