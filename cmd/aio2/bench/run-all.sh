#!/bin/sh
# The measurements of docs/benchmarks.md, in one go (about 25 minutes).
# Run as root from the module root:  sh cmd/aio2/bench/run-all.sh [OUTDIR]
# It builds aio2, runs shared/bench/vs-fio.py on a 1 GiB file on the disk,
# on a loop device over a 1 GiB file in /dev/shm (RAM) and on a 1 GiB
# zram device (RAM, no worker thread), and attr-overhead.py on each; the
# loop device, its file and the zram device are removed at the end. Raw
# output goes to OUTDIR (default /tmp/aio2-bench).
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
losetup -d $loop; rm -f $img
trap - EXIT

# RAM without a worker thread: zram, where a read completes inside
# io_submit, so only software is measured (needs /sys/block/zram0 unused,
# disksize 0; it is filled with random data, which zram stores as is).
if [ -e /sys/block/zram0 ] && [ "$(cat /sys/block/zram0/disksize)" = 0 ]; then
	echo 1G >/sys/block/zram0/disksize
	trap 'echo 1 >/sys/block/zram0/reset' EXIT
	dd if=/dev/urandom of=/dev/zram0 bs=1M count=1024 oflag=direct status=none
	python3 "$shared/bench/vs-fio.py" --filename /dev/zram0 --size 1G --qd 1 32 --reps 5 --runtime 5 --aio2 "$bin" | tee "$out/zram-vs-fio.txt"
	python3 "$shared/bench/vs-fio.py" --filename /dev/zram0 --size 1G --qd 1 32 --reps 5 --runtime 5 --aio2 "$bin" --aio2-extra=--attrs=latency | tee "$out/zram-vs-fio-attrs-latency.txt"
	for qd in 32 1; do
		python3 cmd/aio2/bench/attr-overhead.py --filename /dev/zram0 --iodepth $qd --reps 5 --runtime 5 --aio2 "$bin" \
			--sets none latency latency,timestamps,cpu | tee "$out/zram-attr-overhead-qd$qd.txt"
	done
else
	echo "zram0 missing or in use: zram rows skipped" | tee "$out/zram-skipped.txt"
fi
uptime | tee "$out/load-after.txt"
