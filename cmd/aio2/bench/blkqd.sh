#!/bin/bash
# Runs a command and prints, from the block device's own counters
# (/sys/block/DEV/stat, Documentation/block/stat.rst), the reads per
# second, the average number of requests in the block layer
# (time_in_queue's rate) and the time each read spent there.
#
#   bash cmd/aio2/bench/blkqd.sh vda fio --name=x --filename=F --rw=randread --bs=4k --iodepth=32 --ioengine=libaio --direct=1 --time_based --runtime=4
#   bash cmd/aio2/bench/blkqd.sh vda aio2 io --filename=F --iodepth=32 --runtime=4s
#
# With BLKQD_WINDOW="FROM TO" (seconds into the run) the counters are read
# at those two moments instead of around the whole command, so that the
# tool's start and end (no IO in flight) do not dilute the figures; the
# command must run past TO:
#
#   BLKQD_WINDOW="1 3" bash cmd/aio2/bench/blkqd.sh vda aio2 io --filename=F --iodepth=32 --runtime=4
set -eu
dev=$1; shift
if [ -n "${BLKQD_WINDOW:-}" ]; then
	read -r from to <<<"$BLKQD_WINDOW"
	"$@" >/dev/null 2>&1 &
	pid=$!
	sleep "$from"
	s0=($(cat /sys/block/$dev/stat)); t0=$(date +%s%N)
	sleep "$(python3 -c "print($to - $from)")"
	s1=($(cat /sys/block/$dev/stat)); t1=$(date +%s%N)
	wait $pid
else
	s0=($(cat /sys/block/$dev/stat)); t0=$(date +%s%N)
	"$@" >/dev/null 2>&1
	s1=($(cat /sys/block/$dev/stat)); t1=$(date +%s%N)
fi
ms=$(( (t1 - t0) / 1000000 ))
reads=$(( s1[0] - s0[0] )); ticks=$(( s1[3] - s0[3] )); tiq=$(( s1[10] - s0[10] ))
python3 -c "print('$(basename $1)', 'reads/s %.0f' % ($reads * 1000 / $ms), 'in the block layer %.2f' % ($tiq / $ms), 'us per read %.1f' % ($ticks * 1000 / max($reads, 1)))"
