#!/usr/bin/env bash
# Runs docs/examples/reap.c against the real command line: `aio2 io
# --reaper external` publishes a SETUP_SHARED ring and reaps nothing
# itself; the C program, built from abi/aio2_abi.h alone, reaps every event
# by the spec's CAS protocol until the producer sets F_DEAD. It must see
# exactly the IOs that were asked for, each with its two attributes OK.
#   bash docs/examples/run-reap-example.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

go build -o "$tmp/aio2" ./cmd/aio2
gcc -O2 -std=c11 -Wall -Wextra -Werror -I abi -o "$tmp/reap" docs/examples/reap.c

n=3000
"$tmp/aio2" io --directory="$tmp" --size=16M --bs=4k --rw=randread --number=$n --iodepth=16 \
  --reaper=external --attrs=latency,cpu --timeout=120 >"$tmp/out" 2>"$tmp/err" &
pid=$!
for _ in $(seq 300); do
  if grep -q '^ring: ' "$tmp/out" 2>/dev/null; then break; fi
  kill -0 "$pid" 2>/dev/null || { cat "$tmp/err"; echo "aio2 io exited early"; exit 1; }
  sleep 0.1
done
path=$(sed -n '1s/^ring: //p' "$tmp/out")
[ -n "$path" ] || { echo "first line of stdout is not 'ring: PATH'"; head -3 "$tmp/out"; exit 1; }
echo "reaping $path"

"$tmp/reap" "$path" | tee "$tmp/reap.out"
wait "$pid"; pid=
want="reaped $n events, "
grep -q "^$want" "$tmp/reap.out" || { echo "expected '$want...'"; exit 1; }
grep -q "attributes (OK $((2 * n)), UNSUPPORTED 0, UNAVAILABLE 0, ERROR 0), errors 0" "$tmp/reap.out" ||
  { echo "expected $((2 * n)) OK attributes"; exit 1; }
echo "C reaper: OK"
