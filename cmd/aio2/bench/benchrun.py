"""What the benchmark scripts beside it share: run one tool's job and read
its fio-style JSON."""
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
