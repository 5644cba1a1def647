package main

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aio2/aio2/abi"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"4k": 4096, "4K": 4096, "4KiB": 4096, "16M": 16 << 20, "1g": 1 << 30, "512": 512, "2t": 2 << 40, "8kb": 8192} {
		got, err := parseSize(in)
		if err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "k", "-1", "4x", "1.5k", "99999999999999t"} {
		if _, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) succeeded", in)
		}
	}
}

func TestParseAttrs(t *testing.T) {
	ids, err := parseAttrs("latency, DEVICE,latency,tag")
	if err != nil || len(ids) != 3 || ids[0] != abi.AttrLatency || ids[1] != abi.AttrDevice || ids[2] != abi.AttrTag {
		t.Fatalf("got %v, %v", ids, err)
	}
	all, err := parseAttrs("all")
	if err != nil || len(all) != 6 {
		t.Fatalf("all: %v, %v", all, err)
	}
	if _, err := parseAttrs("latency,speed"); err == nil {
		t.Fatal("unknown name accepted")
	}
}

// TestPercentileKeys: fio prints percentile keys with %f.
func TestPercentileKeys(t *testing.T) {
	if pctKey(99) != "99.000000" || pctKey(99.99) != "99.990000" || pctKey(1) != "1.000000" {
		t.Fatal(pctKey(99), pctKey(99.99))
	}
	h := newLatHist()
	for i := int64(1); i <= 100000; i++ {
		h.record(i * 100)
	}
	l := h.fio(true)
	if l.N != 100000 || l.Min != 100 {
		t.Fatalf("%+v", l)
	}
	// 2 significant digits: within 1/128 of the exact value, as fio's
	// percentiles are.
	for p, exact := range map[float64]float64{1: 1e5, 50: 5e6, 99: 9.9e6, 99.99: 9.999e6} {
		got := float64(l.Percentile[pctKey(p)])
		if math.Abs(got-exact) > exact/128 {
			t.Errorf("p%v = %v, want %v within 1/128", p, got, exact)
		}
	}
}

// eventWithAll builds an EVENT record carrying every attribute, as a
// context returns it.
func eventWithAll(buf []byte, data uint64, tag uint64) []byte {
	start := len(buf)
	buf = abi.BeginEvent(buf, data, data, 4096, 0)
	buf = abi.AppendAttrU64(buf, abi.AttrLatency, 40000)
	buf = abi.AppendAttrTimestamps(buf, 1000, 2000, 41000)
	buf = abi.AppendAttrStatus(buf, abi.AttrCache, abi.AttrUnavailable)
	buf = abi.AppendAttrDevice(buf, 30000, 1)
	buf = abi.AppendAttrU32Pair(buf, abi.AttrCPU, 0, 1)
	var tb [8]byte
	for k := range tb {
		tb[k] = byte(tag >> (8 * k))
	}
	buf = abi.AppendAttr(buf, abi.AttrTag, abi.AttrOK, tb[:])
	return abi.EndEvent(buf, start, 0)
}

// TestConsumeAccountsAndDoesNotAllocate feeds consume a batch of events
// with every attribute: the counts come out right, and the reaping path
// (decode, validate, histograms, attribute accounting) allocates nothing.
func TestConsumeAccountsAndDoesNotAllocate(t *testing.T) {
	o := &ioOptions{attrs: []uint16{abi.AttrLatency, abi.AttrTimestamps, abi.AttrCache, abi.AttrDevice, abi.AttrCPU, abi.AttrTag}, bs: 4096}
	j := &job{o: o, slots: make([]slot, 32)}
	for i := range j.slots {
		j.slots[i].buf = make([]byte, 4096)
		j.slots[i].seq = uint64(100 + i)
	}
	rs := newReapState(o, 4096)
	var batch []byte
	for i := range 32 {
		batch = eventWithAll(batch, uint64(i), uint64(100+i))
	}
	freed := 0
	release := func(int32) { freed++ }
	n, err := j.consume(rs, batch, 1e6, release)
	if err != nil || n != 32 || freed != 32 {
		t.Fatalf("consume: %d, %v, freed %d", n, err, freed)
	}
	a := rs.attrs
	if a.status[abi.AttrLatency][abi.AttrOK] != 32 || a.status[abi.AttrCache][abi.AttrUnavailable] != 32 ||
		a.tagOK != 32 || a.tagBad != 0 || a.cpuCompl[1] != 32 || a.deviceReqs != 32 || a.status[abi.AttrCPU][4] != 0 {
		t.Fatalf("accounting: %+v", a.status[:7])
	}
	if f := a.deviceNs / a.deviceTotalNs; f < 0.74 || f > 0.76 {
		t.Fatalf("device fraction %v, want 0.75 (30 of 40 µs)", f)
	}
	allocs := testing.AllocsPerRun(200, func() {
		if _, err := j.consume(rs, batch, 1e6, release); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("consume allocates %v times per batch", allocs)
	}
}

func TestConsumeRejectsForeignData(t *testing.T) {
	o := &ioOptions{bs: 4096}
	j := &job{o: o, slots: make([]slot, 4)}
	rs := newReapState(o, 4096)
	ev := abi.EndEvent(abi.BeginEvent(nil, 99, 0, 0, 0), 0, 0)
	if _, err := j.consume(rs, ev, 0, func(int32) {}); err == nil {
		t.Fatal("an event with data 99 for 4 slots was accepted")
	}
	if _, err := j.consume(rs, []byte{1, 2, 3}, 0, func(int32) {}); err == nil {
		t.Fatal("3 bytes accepted as an event")
	}
}

// TestConsumeRejectsMalformedAttrs: consume validates every event as
// abi.ValidateEvent does (it does so inside observe, in one walk), stops
// at the first bad one with ValidateEvent's description, and neither
// counts that event as done nor frees its slot.
func TestConsumeRejectsMalformedAttrs(t *testing.T) {
	bad := []struct {
		name string
		rec  func(start int, b []byte) []byte
		want string
	}{
		{"unknown status", func(_ int, b []byte) []byte { return abi.AppendAttrHeader(b, abi.AttrLatency, 9, 0) }, "unknown status"},
		{"value on UNAVAILABLE", func(_ int, b []byte) []byte {
			return abi.AppendAttr(b, abi.AttrCache, abi.AttrUnavailable, make([]byte, 8))
		}, "only OK may"},
		{"LATENCY of 4 bytes", func(_ int, b []byte) []byte { return abi.AppendAttr(b, abi.AttrLatency, abi.AttrOK, make([]byte, 4)) }, "want 8"},
		{"value past the record", func(start int, b []byte) []byte {
			b = abi.AppendAttrU64(b, abi.AttrLatency, 1)
			binary.LittleEndian.PutUint32(b[len(b)-12:], 64) // value len 64 in the 16 bytes left
			return b
		}, "does not fit"},
		{"unknown event flag", func(start int, b []byte) []byte {
			binary.LittleEndian.PutUint16(b[start+6:], 0x8000)
			return b
		}, "unknown flags"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			o := &ioOptions{attrs: []uint16{abi.AttrLatency}, bs: 4096}
			j := &job{o: o, slots: make([]slot, 4)}
			for i := range j.slots {
				j.slots[i].buf = make([]byte, 4096)
			}
			rs := newReapState(o, 4096)
			batch := eventWithAll(nil, 0, 0) // a good one first
			start := len(batch)
			rec := abi.BeginEvent(batch, 1, 1, 4096, 0)
			rec = c.rec(start, rec)
			flags := binary.LittleEndian.Uint16(rec[start+6:])
			batch = abi.EndEvent(rec, start, flags)
			var freed []int32
			n, err := j.consume(rs, batch, 1e6, func(s int32) { freed = append(freed, s) })
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "malformed") {
				t.Fatalf("error %v, want a malformed-event error saying %q", err, c.want)
			}
			if n != 1 || len(freed) != 1 || freed[0] != 0 || rs.read.ios != 1 {
				t.Fatalf("consumed %d, freed %v, %d IOs counted; want only the good event", n, freed, rs.read.ios)
			}
		})
	}
}

// TestSteadyStateDoesNotAllocate drives a real context: prepare, submit,
// reap and consume a full queue, over and over, and counts allocations.
func TestSteadyStateDoesNotAllocate(t *testing.T) {
	j := newTestJob(t, "inline", 0, abi.AttrLatency, abi.AttrCPU, abi.AttrTag)
	o := j.o
	rs := j.states[0]
	cycle := func() {
		lim := limits{}
		j.prepareUpTo(&lim, 0, len(j.free))
		if _, err := j.submit(j.pushFree); err != nil {
			t.Fatal(err)
		}
		for j.inflight > 0 {
			evs, err := j.reapOnce(rs)
			if err != nil {
				t.Fatal(err)
			}
			n, err := j.consume(rs, evs, 1, j.pushFree)
			j.inflight -= n
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	for range 20 {
		cycle()
	}
	allocs := testing.AllocsPerRun(50, cycle)
	// Each cycle is 16 IOs: nothing may allocate. Under -race the runtime
	// drops sync.Pool items at random (kioctx reuses its GetEvents timers
	// through one), so there the bound is "less than one per cycle": still
	// no allocation per IO.
	limit := 0.0
	if raceEnabled {
		limit = 1
	}
	if allocs > limit {
		t.Fatalf("a cycle of %d IOs allocates %v times", o.iodepth, allocs)
	}
}

// moments gives what a direct two-pass computation gives, merged or not,
// and clamps as latHist does.
func TestMoments(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	vals := make([]int64, 1000)
	for i := range vals {
		vals[i] = 1 + r.Int64N(5_000_000)
	}
	var whole, a, b moments
	for i, v := range vals {
		whole.record(v)
		if i < 300 {
			a.record(v)
		} else {
			b.record(v)
		}
	}
	a.merge(&b)
	var sum float64
	lo, hi := vals[0], vals[0]
	for _, v := range vals {
		sum += float64(v)
		lo, hi = min(lo, v), max(hi, v)
	}
	mean := sum / float64(len(vals))
	var ss float64
	for _, v := range vals {
		ss += (float64(v) - mean) * (float64(v) - mean)
	}
	sd := math.Sqrt(ss / float64(len(vals)-1))
	for name, m := range map[string]*moments{"one pass": &whole, "merged": &a} {
		f := m.fio()
		if f.N != int64(len(vals)) || f.Min != lo || f.Max != hi {
			t.Errorf("%s: N %d min %d max %d, want %d %d %d", name, f.N, f.Min, f.Max, len(vals), lo, hi)
		}
		if math.Abs(f.Mean-mean) > 1e-6*mean || math.Abs(f.Stddev-sd) > 1e-6*sd {
			t.Errorf("%s: mean %f stddev %f, want %f %f", name, f.Mean, f.Stddev, mean, sd)
		}
	}
	// Large values with a small spread (a slow device after a fast
	// start would do this to float sums): still exact.
	var big moments
	const base = int64(3_000_000_000_000)
	for i := range int64(300_000) {
		big.record(base + i%3)
	}
	if f := big.fio(); f.Mean != float64(base+1) || math.Abs(f.Stddev-math.Sqrt(2.0/3*300_000/299_999)) > 1e-12 {
		t.Errorf("large values: mean %f stddev %.15f, want %d and %.15f", f.Mean, f.Stddev, base+1, math.Sqrt(2.0/3*300_000/299_999))
	}
	var c moments
	c.record(0)
	c.record(histMaxNs + 1)
	if f := c.fio(); f.Min != 1 || f.Max != histMaxNs {
		t.Errorf("clamping: min %d max %d", f.Min, f.Max)
	}
	var empty moments
	empty.merge(&whole)
	if empty != whole {
		t.Error("merging into an empty moments does not copy")
	}
}

// TestSharedCountersCatchUp checks what the progress line and the
// per-second samples read: the job's shared counters lag the reapers by
// at most publishEvery events or publishAfter, and hold every reaped IO
// once the run ends (publish with force).
func TestSharedCountersCatchUp(t *testing.T) {
	o := &ioOptions{bs: 4096}
	j := &job{o: o, slots: make([]slot, 4)}
	for i := range j.slots {
		j.slots[i].buf = make([]byte, 4096)
	}
	j.slots[3].write = true
	rs := newReapState(o, 4096)
	one := func(data uint64) []byte { return abi.EndEvent(abi.BeginEvent(nil, data, data, 4096, 0), 0, 0) }
	consume := func(data uint64, now int64) {
		t.Helper()
		if n, err := j.consume(rs, one(data), now, func(int32) {}); n != 1 || err != nil {
			t.Fatalf("consume: %d, %v", n, err)
		}
	}
	consume(0, 1)
	consume(3, 2)
	require.Zero(t, j.rIOs.Load()+j.wIOs.Load(), "two events within publishAfter: not published yet")
	consume(1, 2+publishAfter)
	require.Equal(t, [4]int64{2, 8192, 1, 4096}, [4]int64{j.rIOs.Load(), j.rBytes.Load(), j.wIOs.Load(), j.wBytes.Load()})
	for i := range publishEvery - 1 {
		consume(2, 3+publishAfter+int64(i))
	}
	require.Equal(t, int64(2), j.rIOs.Load(), "%d events: one short of publishEvery", publishEvery-1)
	consume(2, 4+publishAfter)
	require.Equal(t, int64(2+publishEvery), j.rIOs.Load())
	consume(0, 5+publishAfter)
	j.publish(rs, 0, true)
	require.Equal(t, [4]int64{3 + publishEvery, (3 + publishEvery) * 4096, 1, 4096}, [4]int64{j.rIOs.Load(), j.rBytes.Load(), j.wIOs.Load(), j.wBytes.Load()})
	require.Equal(t, rs.read.ios, j.rIOs.Load(), "the shared counters end equal to the report's")
}

// TestObserveLoneLatency: observe's fast path for --attrs=latency counts
// and accepts or refuses exactly what the general walk does, for the valid
// attribute and for every 16-byte attribute that differs from it in one
// byte, and for random ones.
func TestObserveLoneLatency(t *testing.T) {
	good := abi.AppendAttrU64(nil, abi.AttrLatency, 123456)
	cases := [][]byte{good}
	for i := range good {
		for _, v := range []byte{0, 1, 8, 0x80, 0xff} {
			b := bytes.Clone(good)
			b[i] = v
			cases = append(cases, b)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		b := bytes.Clone(good)
		for range rng.IntN(3) + 1 {
			b[rng.IntN(len(b))] = byte(rng.Uint32())
		}
		cases = append(cases, b)
	}
	for _, b := range cases {
		for _, flags := range []uint16{0, abi.EventAttrsTruncated} {
			fast, walk := newAttrStats([]uint16{abi.AttrLatency}), newAttrStats([]uint16{abi.AttrLatency})
			walk.loneLatency = false
			ev := abi.Event{Flags: flags, Attrs: b}
			okF, okW := fast.observe(&ev, 1000, 0), walk.observe(&ev, 1000, 0)
			if okF != okW || fast.status != walk.status || fast.truncated != walk.truncated ||
				fast.latency.count() != walk.latency.count() || fast.latency.h.Max() != walk.latency.h.Max() {
				t.Fatalf("attribute % x flags %#x: fast path %v %v, walk %v %v", b, flags, okF, fast.status[abi.AttrLatency], okW, walk.status[abi.AttrLatency])
			}
		}
	}
	a := newAttrStats([]uint16{abi.AttrLatency})
	if !a.loneLatency || !a.observe(&abi.Event{Attrs: good}, 0, 0) || a.latency.count() != 1 || a.status[abi.AttrLatency][abi.AttrOK] != 1 {
		t.Fatalf("the valid LATENCY attribute was not counted: %+v", a.status[abi.AttrLatency])
	}
}

// An IO that fails is counted but not timed, as in fio; its errno is the
// job's error; and the job stops issuing (fio's continue_on_error=none).
// Found by review, 2026-11-22: failures went into the latency figures and
// the error was always reported as 5.
func TestConsumeFailedIO(t *testing.T) {
	o := &ioOptions{bs: 4096}
	j := &job{o: o, slots: make([]slot, 4)}
	for i := range j.slots {
		j.slots[i].buf = make([]byte, 4096)
	}
	rs := newReapState(o, 4096)
	var batch []byte
	batch = abi.EndEvent(abi.BeginEvent(batch, 0, 0, 4096, 0), 0, 0)
	start := len(batch)
	batch = abi.EndEvent(abi.BeginEvent(batch, 1, 1, -int64(syscall.EINVAL), 0), start, 0)
	start = len(batch)
	batch = abi.EndEvent(abi.BeginEvent(batch, 2, 2, -int64(syscall.ENOSPC), 0), start, 0)
	if n, err := j.consume(rs, batch, 1e6, func(int32) {}); n != 3 || err != nil {
		t.Fatalf("consume: %d %v", n, err)
	}
	r := &rs.read
	if r.ios != 3 || r.errs != 2 || r.lat.n != 1 || r.clatM.n != 1 || r.clat.count() != 1 || r.slat.n != 1 {
		t.Fatalf("ios %d errs %d, timed: lat %d clat %d/%d slat %d; want 3, 2 and one IO timed",
			r.ios, r.errs, r.lat.n, r.clatM.n, r.clat.count(), r.slat.n)
	}
	if !j.failed.Load() {
		t.Fatal("the job was not told to stop issuing")
	}
	jr := &jobResult{read: rs.read, write: rs.write}
	if got := jr.errno(); got != int64(syscall.EINVAL) {
		t.Fatalf("errno %d, want the first failure's, %d (EINVAL)", got, syscall.EINVAL)
	}
}

// clat's min, max and mean are exact, as slat's and lat's are: from the
// histogram they were bucket bounds, and clat's max could exceed lat's.
// Bandwidth samples are whole KiB/s before their statistics, so the mean
// lies between min and max. runtime is at least 1 ms when there was IO.
func TestSideStatsFio(t *testing.T) {
	s := newSideStats(false)
	for _, v := range []int64{1000050, 2000} {
		s.ios++
		s.clat.record(v)
		s.clatM.record(v)
		s.lat.record(v + 50)
		s.slat.record(50)
	}
	s.bsamp = []int64{512512, 512512}
	s.samples = []int64{1001, 1001}
	f := s.fio(500 * time.Microsecond)
	if f.ClatNs.Max != 1000050 || f.ClatNs.Min != 2000 || f.ClatNs.Mean != 501025 || f.ClatNs.Max > f.LatNs.Max {
		t.Errorf("clat min %d max %d mean %v (lat max %d); want 2000, 1000050, 501025, not above lat's",
			f.ClatNs.Min, f.ClatNs.Max, f.ClatNs.Mean, f.LatNs.Max)
	}
	if f.ClatNs.Percentile == nil {
		t.Error("clat has no percentiles")
	}
	if f.BwMin != 500 || f.BwMax != 500 || f.BwMean != 500 {
		t.Errorf("bw min %d max %d mean %v; want 500 each (512512 B/s in whole KiB/s)", f.BwMin, f.BwMax, f.BwMean)
	}
	if f.Runtime != 1 {
		t.Errorf("runtime %d ms for 0.5 ms of IO, want 1", f.Runtime)
	}
	if f := noTrim.fio(0); f.Runtime != 0 {
		t.Errorf("runtime %d without IO, want 0", f.Runtime)
	}
}

// Sequential workloads keep one cursor per direction, as fio does: with
// --rw=rw reads and writes each stream over the whole file.
func TestSequentialCursorPerDirection(t *testing.T) {
	o := &ioOptions{rw: "rw", bs: 4096, rwmixread: 50}
	j := &job{o: o, blocks: 8, rng: rand.New(rand.NewPCG(1, 2))}
	next := [2]int64{}
	for range 200 {
		off, write := j.nextOffset()
		d := dirIndex(write)
		if off != next[d] {
			t.Fatalf("%v offset %d, want %d: each direction streams on its own", map[bool]string{true: "write", false: "read"}[write], off, next[d])
		}
		next[d] = (next[d] + 4096) % (8 * 4096)
	}
}

// A job that has ended is not sampled on while other jobs run: its
// samples would be zeros, which set iops_min to 0.
func TestSamplerSkipsEndedJobs(t *testing.T) {
	a, b := &job{samples: &sampler{}}, &job{samples: &sampler{}}
	p := &progress{jobs: []*job{a, b}}
	a.rIOs.Store(100)
	b.rIOs.Store(100)
	p.sample()
	a.done.Store(true)
	b.rIOs.Store(200)
	p.sample()
	p.sample()
	if len(a.samples.rIOs) != 1 || len(b.samples.rIOs) != 3 {
		t.Fatalf("samples: ended job %v, running job %v; want 1 and 3", a.samples.rIOs, b.samples.rIOs)
	}
}

// Durations in seconds beyond a year, infinite or NaN are refused: the
// conversion to time.Duration was undefined (on amd64, no limit at all).
func TestParseSecondsBounds(t *testing.T) {
	for _, s := range []string{"inf", "+Inf", "nan", "1e10", "31536001"} {
		if d, err := parseSeconds(s); err == nil {
			t.Errorf("parseSeconds(%q) = %v, want an error", s, d)
		}
	}
	if d, err := parseSeconds("31536000"); err != nil || d != 365*24*time.Hour {
		t.Errorf("parseSeconds(a year) = %v, %v", d, err)
	}
}
