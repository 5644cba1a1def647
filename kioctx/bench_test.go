package kioctx

// Benchmarks: per-IO CPU cost of submit + complete + reap of 4 KiB random
// O_DIRECT reads on a 1 GiB file, through a kioctx context and through a
// plain Go io_submit/io_getevents loop, in the same run.
//
//	go test ./kioctx -run '^$' -bench DirectRead -benchtime 20000x -count 3
//
// The file is AIO2_BENCH_FILE, or /tmp/aio2-kioctx-bench.dat, written once
// (1 GiB of real data: reads of unwritten extents would never reach the
// device). A block device is read as it is and never written; it must
// hold at least 1 GiB. cpu-us/IO is getrusage(RUSAGE_SELF) user+system time over the
// timed loop divided by the IOs.

import (
	"fmt"
	"io"
	"os"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/aio2/aio2/abi"
)

const benchFileSize = 1 << 30

func benchFile(b *testing.B) *os.File {
	b.Helper()
	path := os.Getenv("AIO2_BENCH_FILE")
	if path == "" {
		path = "/tmp/aio2-kioctx-bench.dat"
	}
	st, err := os.Stat(path)
	switch {
	case err == nil && st.Mode()&os.ModeDevice != 0:
		// A block device (zram, a loop device) is read as it is, never
		// written: fill it first with the data to read (random data, so
		// that zram stores the pages as they are).
	case err != nil || st.Size() != benchFileSize:
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			b.Fatal(err)
		}
		chunk := make([]byte, 1<<20)
		for off := 0; off < benchFileSize; off += len(chunk) {
			for i := 0; i < len(chunk); i += 4096 {
				chunk[i] = byte(off>>20) ^ byte(i>>12)
			}
			if _, err := f.Write(chunk); err != nil {
				b.Fatal(err)
			}
		}
		f.Sync()
		f.Close()
	}
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_DIRECT, 0)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	if n, err := f.Seek(0, io.SeekEnd); err != nil || n < benchFileSize {
		b.Fatalf("%s: %d bytes (%v); the benchmark reads 1 GiB", path, n, err)
	}
	return f
}

// offsets is a xorshift stream of 4 KiB-aligned offsets in the file.
type offsets uint64

func (o *offsets) next() int64 {
	x := uint64(*o)
	x ^= x << 13
	x ^= x >> 7
	x ^= x << 17
	*o = offsets(x)
	return int64(x%(benchFileSize/4096)) * 4096
}

func cpuNs() int64 {
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func reportCPU(b *testing.B, start int64, wall time.Duration) {
	b.ReportMetric(float64(cpuNs()-start)/1e3/float64(b.N), "cpu-us/IO")
	b.ReportMetric(float64(b.N)/wall.Seconds(), "IOPS")
}

func BenchmarkDirectRead(b *testing.B) {
	for _, qd := range []int{1, 32} {
		b.Run(fmt.Sprintf("plain/qd=%d", qd), func(b *testing.B) { benchPlain(b, qd) })
		b.Run(fmt.Sprintf("kioctx/qd=%d", qd), func(b *testing.B) { benchKioctx(b, qd, false, nil) })
		b.Run(fmt.Sprintf("kioctx-reg/qd=%d", qd), func(b *testing.B) { benchKioctx(b, qd, true, nil) })
		b.Run(fmt.Sprintf("kioctx-reg-latency/qd=%d", qd), func(b *testing.B) {
			benchKioctx(b, qd, true, abi.AppendAttrReq(nil, abi.AttrLatency, nil))
		})
	}
}

// benchKioctx keeps qd reads in flight: submit, GetEvents for at least
// one, resubmit as many as came back. With reg, the file is registered
// (RegisterFile): no fcntl per Submit call. attrs are every iocb's
// attribute requests (what LATENCY costs in kioctx alone, without a
// command's accounting).
func benchKioctx(b *testing.B, qd int, reg bool, attrs []byte) {
	f := benchFile(b)
	p := abi.Params{Size: abi.ParamsSize, Version: 2, Eventfd: -1, MaxInflight: uint32(qd)}
	c, err := Setup(&p)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Destroy()
	// Nobody reads the eventfd here: a reaper that does not want it says
	// so, as the spec allows.
	c.reg.SetUserFlags(abi.UFNoEventfd, 0)
	if reg {
		if err := c.RegisterFile(int(f.Fd())); err != nil {
			b.Fatal(err)
		}
	}
	mem, err := AlignedBuf(qd * 4096)
	if err != nil {
		b.Fatal(err)
	}
	defer FreeBuf(mem)
	cbs := make([]Iocb, qd)
	o := offsets(88172645463325252)
	for i := range cbs {
		cbs[i] = Iocb{Opcode: abi.OpPread, Fd: int32(f.Fd()), Buf: mem[i*4096 : (i+1)*4096], Data: uint64(i), Attrs: attrs}
	}
	evbuf := make([]byte, qd*int(p.MaxEventBytes))
	refill := make([]Iocb, 0, qd)
	run := func(n int) {
		for i := range cbs {
			cbs[i].Offset = o.next()
		}
		if k, err := c.Submit(cbs); k != qd || err != nil {
			b.Fatalf("Submit: %d %v", k, err)
		}
		inflight, issued, done := qd, qd, 0
		for done < n {
			k, err := c.GetEvents(1, evbuf, -1)
			if err != nil {
				b.Fatal(err)
			}
			refill = refill[:0]
			for off := 0; off < k; {
				var ev abi.Event
				next, err := abi.NextEvent(evbuf[:k], off, &ev)
				if err != nil {
					b.Fatal(err)
				}
				if ev.Res != 4096 {
					b.Fatalf("res %d", ev.Res)
				}
				off = next
				done++
				inflight--
				if issued < n {
					cb := cbs[ev.Data]
					cb.Offset = o.next()
					refill = append(refill, cb)
					issued++
				}
			}
			if len(refill) > 0 {
				if k, err := c.Submit(refill); k != len(refill) || err != nil {
					b.Fatalf("resubmit: %d %v", k, err)
				}
				inflight += len(refill)
			}
		}
		for inflight > 0 {
			k, _ := c.GetEvents(1, evbuf, -1)
			for off := 0; off < k; {
				var ev abi.Event
				off, _ = abi.NextEvent(evbuf[:k], off, &ev)
				inflight--
			}
		}
	}
	run(qd * 4) // warm up: slots, buffers, timers
	b.ReportAllocs()
	b.ResetTimer()
	start, t0 := cpuNs(), time.Now()
	run(b.N)
	reportCPU(b, start, time.Since(t0))
}

// benchPlain is the reference: a plain Go loop of io_submit and a blocking
// io_getevents(min 1) on raw syscalls, no ring of its own, no attributes.
func benchPlain(b *testing.B, qd int) {
	f := benchFile(b)
	ctx, e := ioSetup(uint32(qd))
	if e != 0 {
		b.Fatal(e)
	}
	defer ioDestroy(ctx)
	mem, err := AlignedBuf(qd * 4096)
	if err != nil {
		b.Fatal(err)
	}
	defer FreeBuf(mem)
	iocbs := make([]abi.LegacyIocb, qd)
	ptrs := make([]*abi.LegacyIocb, qd)
	o := offsets(88172645463325252)
	for i := range iocbs {
		iocbs[i] = abi.LegacyIocb{Data: uint64(i), Opcode: abi.IOCB_CMD_PREAD, Fildes: uint32(f.Fd()),
			Buf: uint64(uintptr(unsafe.Pointer(&mem[i*4096]))), Nbytes: 4096}
	}
	evs := make([]abi.IoEvent, qd)
	sub := make([]*abi.LegacyIocb, 0, qd)
	run := func(n int) {
		for i := range iocbs {
			iocbs[i].Offset = o.next()
			ptrs[i] = &iocbs[i]
		}
		if k, e := ioSubmit(ctx, ptrs, false); k != qd || e != 0 {
			b.Fatalf("io_submit: %d %v", k, e)
		}
		inflight, issued, done := qd, qd, 0
		for inflight > 0 {
			k, _, e := unix.Syscall6(unix.SYS_IO_GETEVENTS, uintptr(ctx), 1, uintptr(qd), uintptr(unsafe.Pointer(&evs[0])), 0, 0)
			if e == unix.EINTR {
				continue
			}
			if e != 0 {
				b.Fatal(e)
			}
			sub = sub[:0]
			for _, ev := range evs[:k] {
				if ev.Res != 4096 {
					b.Fatalf("res %d", ev.Res)
				}
				done++
				inflight--
				if issued < n {
					cb := &iocbs[ev.Data]
					cb.Offset = o.next()
					sub = append(sub, cb)
					issued++
				}
			}
			if len(sub) > 0 {
				if k, e := ioSubmit(ctx, sub, false); k != len(sub) || e != 0 {
					b.Fatalf("io_submit: %d %v", k, e)
				}
				inflight += len(sub)
			}
		}
		_ = done
	}
	run(qd * 4)
	b.ReportAllocs()
	b.ResetTimer()
	start, t0 := cpuNs(), time.Now()
	run(b.N)
	reportCPU(b, start, time.Since(t0))
}
