#!/usr/bin/env python3
"""Reads `go test -json` output on stdin and fails if any test skipped.

CI makes every test mandatory (AIO2_REQUIRE_PRIV=1, AIO2_REQUIRE_TOOLS=1),
so a skip means a test did not run. Plain `go test` prints no line for a
skipped test unless -v is given, which is why CI reads the JSON events.
OPT_IN lists the tests that skip by design: they run only when asked.
"""
import json
import sys

OPT_IN = {
    ("github.com/aio2/aio2/sim", "TestSizeReport"),  # -sim.size prints docs/sim.md's table
    ("github.com/aio2/aio2/sim", "TestCheckBound"),  # -sim.bound: the long suites
    ("github.com/aio2/aio2/attrs", "TestPrivDropChild"),  # TestPrivDrop's child process
}

skipped, failed, passed = [], [], 0
output = {}  # (package, test or "") -> its output lines, for failures
for line in sys.stdin:
    try:
        ev = json.loads(line)
    except ValueError:
        print(line, end="")  # not an event: go's own message, shown as is
        continue
    key = (ev.get("Package", ""), ev.get("Test", ""))
    act = ev.get("Action")
    if act == "output":
        output.setdefault(key, []).append(ev.get("Output", ""))
    elif act == "skip" and key[1] and key not in OPT_IN:
        skipped.append(key)
    elif act == "fail":
        failed.append(key)  # a test, or a package (build error, panic, timeout)
    elif act == "pass" and key[1]:
        passed += 1
for key in failed:
    print(f"--- FAIL {key[0]} {key[1] or '(package)'}")
    print("".join(output.get(key, [])[-60:]), end="")
for key in skipped:
    print(f"--- SKIP {key[0]} {key[1]}: {''.join(output.get(key, [])[-3:]).strip()}")
print(f"{passed} tests passed, {len(failed)} failures, {len(skipped)} skipped outside the opt-in list")
sys.exit(1 if failed or skipped else 0)
