#!/bin/sh
# The measurements of docs/benchmarks.md, in one go (about 15 minutes).
# Run as root from the module root:  sh cmd/aio2/bench/run-all.sh [OUTDIR]
# It builds aio2, runs shared/bench/vs-fio.py on a 1 GiB file on the disk
# and on a loop device over a 1 GiB file in /dev/shm (RAM), and
# attr-overhead.py on both; the loop device and its file are removed at
# the end. Raw output goes to OUTDIR (default /tmp/aio2-bench).
set -eu
out=${1:-/tmp/aio2-bench}
mkdir -p "$out"
shared=$(cd "$(dirname "$0")/../../../../shared" 2>/dev/null && pwd || echo ../shared)
bin="$out/aio2"
go build -o "$bin" ./cmd/aio2
uptime | tee "$out/load-before.txt"

# The disk: a 1 GiB file written by fio (vs-fio.py makes and removes it).
python3 "$shared/bench/vs-fio.py" --qd 1 32 --reps 3 --runtime 10 --aio2 "$bin" | tee "$out/disk-vs-fio.txt"
python3 "$shared/bench/vs-fio.py" --qd 1 32 --reps 3 --runtime 10 --aio2 "$bin" --aio2-extra=--attrs=latency | tee "$out/disk-vs-fio-attrs-latency.txt"
dd if=/dev/urandom of=/tmp/aio2-bench-disk.dat bs=1M count=1024 oflag=direct status=none
python3 cmd/aio2/bench/attr-overhead.py --filename /tmp/aio2-bench-disk.dat --reps 5 --runtime 5 --aio2 "$bin" \
	--sets none latency latency,timestamps,cpu device | tee "$out/disk-attr-overhead.txt"
rm -f /tmp/aio2-bench-disk.dat

# RAM: a loop device over a file in /dev/shm.
img=/dev/shm/aio2-bench.img
dd if=/dev/urandom of=$img bs=1M count=1024 status=none
loop=$(losetup --find --show $img)
trap 'losetup -d $loop; rm -f $img' EXIT
python3 "$shared/bench/vs-fio.py" --filename "$loop" --size 1G --qd 1 32 --reps 3 --runtime 10 --aio2 "$bin" | tee "$out/ram-vs-fio.txt"
python3 "$shared/bench/vs-fio.py" --filename "$loop" --size 1G --qd 1 32 --reps 3 --runtime 10 --aio2 "$bin" --aio2-extra=--attrs=latency | tee "$out/ram-vs-fio-attrs-latency.txt"
python3 cmd/aio2/bench/attr-overhead.py --filename "$loop" --reps 5 --runtime 5 --aio2 "$bin" \
	--sets none latency latency,timestamps,cpu device | tee "$out/ram-attr-overhead.txt"
uptime | tee "$out/load-after.txt"
