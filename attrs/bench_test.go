package attrs

import (
	"os"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/aio2/aio2/abi"
)

// BenchmarkDirectQD32 measures 4 KiB O_DIRECT random reads at queue depth
// 32 through native AIO, with no attributes and no eBPF programs loaded
// ("none"), with the clock attributes ("clock": LATENCY, TIMESTAMPS, CPU
// and an 8-byte TAG) and with eBPF DEVICE plus LATENCY ("ebpf"; the
// programs loaded, so their cost in the kernel counts), the hooks called
// where kioctx calls them. Each b.N iteration is a round that runs every
// variant for ioPerRound IOs back to back, in rotating order; the machine's
// noise moves whole rounds, so the ratios reported are medians over rounds
// of each variant's IO/s to "none"'s in the same round:
//
//	go test -run '^$' -bench DirectQD32 -benchtime 30x ./attrs
func BenchmarkDirectQD32(b *testing.B) {
	const size, ioPerRound = 64 << 20, 4000
	fd, _ := openDirect(b, size)
	needDevice(b)
	variants := []struct {
		name string
		e    *Engine
		reqs []byte
	}{
		{"none", NewEngine(Clock{}), nil},
		{"clock", NewEngine(Clock{}), append(reqsFor(abi.AttrLatency, abi.AttrTimestamps, abi.AttrCPU), abi.AppendAttrReq(nil, abi.AttrTag, []byte("12345678"))...)},
		{"ebpf", NewEngine(Clock{}, NewDevice()), reqsFor(abi.AttrLatency, abi.AttrDevice)},
	}
	var ratios [3][]float64
	total := make([]float64, len(variants))
	devOK, devIOs := 0, 0
	dst := make([]byte, 0, 256)
	round := 0
	for b.Loop() {
		var iops [3]float64
		for j := range variants {
			i := (round + j) % len(variants)
			v := variants[i]
			b.StopTimer()
			if i == 2 {
				needDevice(b)
			} else if g := deviceGroup.reset(); g != nil {
				g.close()
			}
			b.StartTimer()
			start := time.Now()
			directRun(b, v.e, fd, size, 4096, 32, ioPerRound, v.reqs, func(io *directIO) {
				if v.reqs == nil {
					return
				}
				dst, _ = v.e.Encode(dst[:0], v.reqs, &io.t, &io.s, 256)
				if i == 2 {
					it := abi.NewAttrIter(dst[16:])
					if a, _ := it.Next(); a.Status == abi.AttrOK {
						devOK++
					}
					devIOs++
				}
			})
			iops[i] = ioPerRound / time.Since(start).Seconds()
			total[i] += iops[i]
		}
		for i := range variants {
			ratios[i] = append(ratios[i], iops[i]/iops[0])
		}
		round++
	}
	for i, v := range variants {
		b.ReportMetric(total[i]/float64(round), "IO/s-"+v.name)
	}
	b.ReportMetric(median(ratios[1]), "clock/none")
	b.ReportMetric(median(ratios[2]), "ebpf/none")
	b.ReportMetric(float64(devOK)/float64(max(devIOs, 1)), "deviceOK")
}

func median(x []float64) float64 {
	if len(x) == 0 {
		return 0
	}
	s := slices.Clone(x)
	slices.Sort(s)
	return s[len(s)/2]
}

// BenchmarkHooks measures the attribute work alone, per IO: Begin, End and
// Encode (and, for CACHE, the claim and release of a slot), without the IO.
//
//	go test -run '^$' -bench Hooks ./attrs
func BenchmarkHooks(b *testing.B) {
	dir := tempDir(b)
	p := makeFile(b, dir, 1<<16)
	f, err := os.Open(p)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	fd := int32(f.Fd())
	cases := []struct {
		name string
		e    *Engine
		kind Kind
		reqs []byte
		need func(testing.TB)
	}{
		{"clock", NewEngine(Clock{}), KindDirect, reqsFor(abi.AttrLatency, abi.AttrTimestamps, abi.AttrCPU), nil},
		{"device", NewEngine(Clock{}, NewDevice()), KindDirect, reqsFor(abi.AttrLatency, abi.AttrDevice), func(tb testing.TB) { needDevice(tb) }},
		{"cache-ebpf", NewEngine(Clock{}, NewCache(CacheBPF)), KindBuffered, reqsFor(abi.AttrLatency, abi.AttrCache), func(tb testing.TB) { needCache(tb) }},
		{"cache-cachestat", NewEngine(Clock{}, NewCache(CacheCachestat)), KindBuffered, reqsFor(abi.AttrLatency, abi.AttrCache), nil},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			if c.need != nil {
				c.need(b)
			}
			tg := &Target{Kind: c.kind, Opcode: abi.OpPread, Fd: fd, Offset: 0, Nbytes: 4096, Want: Wanted(c.reqs)}
			s := new(Stamp)
			dst := make([]byte, 0, 128)
			runOnThread(func() {
				b.ReportAllocs()
				for b.Loop() {
					*s = Stamp{SubmitNs: Now(), SubmitCPU: CPU()}
					c.e.Begin(tg, s)
					c.e.End(tg, s)
					s.CompleteNs = Now()
					s.CompleteCPU = CPU()
					dst, _ = c.e.Encode(dst[:0], c.reqs, tg, s, 128)
				}
			})
		})
	}
}

// BenchmarkBufferedRead measures a 4 KiB buffered pread of a cached page
// (the cheapest IO there is, so the worst case for CACHE's relative cost)
// with no attributes, with CACHE from eBPF and with CACHE from
// cachestat(2), on one locked thread as a pool worker runs it:
//
//	go test -run '^$' -bench BufferedRead -count 5 ./attrs
func BenchmarkBufferedRead(b *testing.B) {
	dir := tempDir(b)
	p := makeFile(b, dir, 1<<20)
	f, err := os.Open(p)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	fd := int(f.Fd())
	buf := make([]byte, 4096)
	for off := int64(0); off < 1<<20; off += 4096 {
		unix.Pread(fd, buf, off) // warm the cache
	}
	for _, c := range []struct {
		name string
		e    *Engine
		reqs []byte
	}{
		{"none", NewEngine(Clock{}), nil},
		{"cache-ebpf", NewEngine(Clock{}, NewCache(CacheBPF)), reqsFor(abi.AttrCache)},
		{"cache-cachestat", NewEngine(Clock{}, NewCache(CacheCachestat)), reqsFor(abi.AttrCache)},
	} {
		b.Run(c.name, func(b *testing.B) {
			if c.name == "cache-ebpf" {
				needCache(b)
			}
			tg := &Target{Kind: KindBuffered, Opcode: abi.OpPread, Fd: int32(fd), Nbytes: 4096, Want: Wanted(c.reqs)}
			s := new(Stamp)
			dst := make([]byte, 0, 64)
			hits := 0
			runOnThread(func() {
				tid := int32(unix.Gettid())
				i := int64(0)
				for b.Loop() {
					tg.Offset = (i % 256) * 4096
					i++
					*s = Stamp{Tid: tid}
					c.e.Begin(tg, s)
					unix.Pread(fd, buf, tg.Offset)
					c.e.End(tg, s)
					if c.reqs != nil {
						dst, _ = c.e.Encode(dst[:0], c.reqs, tg, s, 64)
						it := abi.NewAttrIter(dst)
						if a, _ := it.Next(); a.Status == abi.AttrOK {
							if h, _, _ := a.U32Pair(); h == 1 {
								hits++
							}
						}
					}
				}
			})
			if c.reqs != nil && hits != b.N {
				b.Fatalf("%d of %d reads reported a hit", hits, b.N)
			}
		})
	}
}

// BenchmarkDeviceMissedCompletions counts the completions DEVICE's
// complete program does not run for (docs/attributes.md, Limits): each
// b.N iteration is a batch of 20,000 4 KiB O_DIRECT random reads at depth
// 32 through native AIO, and the programs' counters are read around it.
// "asked" asks for DEVICE on every IO (so End drains the ring), "not-asked"
// on none. The metrics are the batches whose Completes fell short of
// Issues, and the completions missed, over the run. A series of 40:
//
//	go test -run '^$' -bench DeviceMissedCompletions -benchtime 40x ./attrs
//
// AIO2_BENCH_RAW_TP=1 loads the raw_tp flavour instead of tp_btf. Other
// processes' block IO shows in the counters too: run it on a quiet machine.
func BenchmarkDeviceMissedCompletions(b *testing.B) {
	if os.Getenv("AIO2_BENCH_RAW_TP") == "1" {
		forceRawTP.Store(true)
		defer forceRawTP.Store(false)
	}
	g := needDevice(b)
	b.Logf("flavour %s", g.flavour)
	const size = 64 << 20
	const batch = 20_000
	fd, _ := openDirect(b, size)
	dev := NewDevice()
	for _, c := range []struct {
		name string
		e    *Engine
		reqs []byte
	}{
		{"asked", NewEngine(Clock{}, dev), reqsFor(abi.AttrDevice)},
		{"not-asked", NewEngine(Clock{}), nil},
	} {
		b.Run(c.name, func(b *testing.B) {
			var lost, short uint64
			for range b.N {
				before, err := dev.Counters()
				if err != nil {
					b.Fatal(err)
				}
				directRun(b, c.e, fd, size, 4096, 32, batch, c.reqs, func(*directIO) {})
				after, err := dev.Counters()
				if err != nil {
					b.Fatal(err)
				}
				if d := after.Sub(before); d.Issues > d.Completes {
					lost += d.Issues - d.Completes
					short++
				}
			}
			b.ReportMetric(float64(short), "short-batches")
			b.ReportMetric(float64(lost), "missed")
		})
	}
	// Leave the ring drained for whatever runs next.
	directRun(b, NewEngine(Clock{}, dev), fd, size, 4096, 1, 1, reqsFor(abi.AttrDevice), func(*directIO) {})
}
