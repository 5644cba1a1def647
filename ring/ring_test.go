package ring

import (
	"errors"
	"syscall"
	"testing"

	"github.com/aio2/aio2/abi"
)

func mustHeap(t testing.TB, ringBytes, maxEv uint32) *Region {
	t.Helper()
	r, err := NewHeap(ringBytes, maxEv)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestNewHeapRefusesBadGeometry(t *testing.T) {
	for _, c := range []struct{ ring, maxEv uint32 }{
		{4095, 40}, {4096 + 8, 40}, {4096, 32}, {4096, 1025 * 8 / 8 * 8}, {4096, 44}, {1 << 31, 4096},
	} {
		_, err := NewHeap(c.ring, c.maxEv)
		var ae *abi.Error
		if !errors.As(err, &ae) || !errors.Is(err, syscall.EINVAL) {
			t.Errorf("NewHeap(%d, %d) = %v, want *abi.Error wrapping EINVAL", c.ring, c.maxEv, err)
		}
	}
	r := mustHeap(t, 8192, 1024)
	if r.RingBytes() != 8192 || r.MaxEventBytes() != 1024 || len(r.Bytes()) != abi.HeaderBytes+8192 || r.Fd() != -1 || r.Path() != "" {
		t.Fatalf("geometry %d %d %d fd %d path %q", r.RingBytes(), r.MaxEventBytes(), len(r.Bytes()), r.Fd(), r.Path())
	}
	var h abi.RingHeader
	if err := abi.DecodeRingHeader(r.Bytes(), &h); err != nil {
		t.Fatal(err)
	}
	if r.Header() != h {
		t.Fatalf("Header() %+v != decoded %+v", r.Header(), h)
	}
}

func TestRoundTripWithPadAtWrap(t *testing.T) {
	r := mustHeap(t, 4096, 1024)
	r.SetStart(4096 - 48) // a 40-byte event fits, the next one must wrap
	p := NewProducer(r)
	rp, err := NewReaper(r)
	if err != nil {
		t.Fatal(err)
	}
	var rec []byte
	for seq := uint64(0); seq < 3; seq++ {
		rec = appendTestEvent(rec[:0], seq, 40)
		if err := p.Append(rec); err != nil {
			t.Fatal(err)
		}
	}
	if got := rp.Pending(); got != 0 {
		t.Fatalf("Pending before Commit = %d, want 0 (nothing published)", got)
	}
	if !p.Commit() {
		t.Fatal("Commit did not ask for a signal")
	}
	// 40 + PAD of 8 + 40 + 40 bytes.
	if got := rp.Pending(); got != 128 {
		t.Fatalf("Pending = %d, want 128", got)
	}
	out, n, err := rp.Reap(nil, 10)
	if err != nil || n != 3 {
		t.Fatalf("Reap = %d, %v", n, err)
	}
	for i, rec := range records(t, out) {
		if seq := checkTestEvent(t, rec); seq != uint64(i) {
			t.Fatalf("record %d has seq %d", i, seq)
		}
	}
	if r.Head() != r.Tail() || r.Tail() != 4096-48+128 {
		t.Fatalf("head %#x tail %#x", r.Head(), r.Tail())
	}
	if _, n, _ := rp.Reap(nil, 10); n != 0 {
		t.Fatalf("Reap of empty ring = %d", n)
	}
}

func TestBatchReapAndMax(t *testing.T) {
	r := mustHeap(t, 4096, 256)
	p := NewProducer(r)
	rp, _ := NewSingleReaper(r)
	var rec []byte
	for seq := uint64(0); seq < 10; seq++ {
		rec = appendTestEvent(rec[:0], seq, 40+8*int(seq))
		if err := p.Append(rec); err != nil {
			t.Fatal(err)
		}
	}
	p.Commit()
	next := uint64(0)
	for _, max := range []int{1, 3, 0, 4, 5} {
		out, n, err := rp.Reap(nil, max)
		if err != nil {
			t.Fatal(err)
		}
		want := min(max, 10-int(next))
		if n != want {
			t.Fatalf("Reap(max %d) = %d, want %d", max, n, want)
		}
		for _, rec := range records(t, out) {
			if seq := checkTestEvent(t, rec); seq != next {
				t.Fatalf("seq %d, want %d", seq, next)
			}
			next++
		}
	}
	if next != 10 {
		t.Fatalf("reaped %d", next)
	}
}

func TestAppendRefusesMalformedRecords(t *testing.T) {
	r := mustHeap(t, 4096, 128)
	p := NewProducer(r)
	good := appendTestEvent(nil, 1, 48)
	bad := [][]byte{
		good[:32],
		append(append([]byte{}, good...), 0, 0, 0, 0, 0, 0, 0, 0), // len field != len
		appendTestEvent(nil, 1, 136),                              // > max_event_bytes
	}
	pad := append([]byte{}, good...)
	pad[4] = abi.RecPad
	bad = append(bad, pad)
	for i, rec := range bad {
		err := p.Append(rec)
		var ae *abi.Error
		if !errors.As(err, &ae) || !errors.Is(err, syscall.EINVAL) {
			t.Errorf("case %d: Append = %v, want *abi.Error(EINVAL)", i, err)
		}
	}
	if p.Commit() || r.Tail() != 0 || p.OverflowLen() != 0 {
		t.Fatal("a refused record was kept")
	}
}

func TestOverflowKeepsOrderAndFlag(t *testing.T) {
	r := mustHeap(t, 4096, 1024)
	p := NewProducer(r)
	rp, _ := NewReaper(r)
	var rec []byte
	const n = 200 // 200*40 bytes does not fit in 4096
	for seq := uint64(0); seq < n; seq++ {
		rec = appendTestEvent(rec[:0], seq, 40)
		if err := p.Append(rec); err != nil {
			t.Fatal(err)
		}
	}
	p.Commit()
	inRing := 4096 / 40
	if p.OverflowLen() != n-inRing || r.Flags()&abi.FOverflow == 0 || r.Overflowed() != uint64(n-inRing) {
		t.Fatalf("overflow %d flags %#x overflowed %d, want %d, F_OVERFLOW", p.OverflowLen(), r.Flags(), r.Overflowed(), n-inRing)
	}
	var next uint64
	var buf []byte
	for next < n {
		var k int
		var err error
		buf, k, err = rp.Reap(buf[:0], 7)
		if err != nil {
			t.Fatal(err)
		}
		for _, rec := range records(t, buf) {
			if seq := checkTestEvent(t, rec); seq != next {
				t.Fatalf("seq %d, want %d", seq, next)
			}
			next++
		}
		if k == 0 {
			if r.Flags()&abi.FOverflow == 0 {
				t.Fatalf("ring empty at %d without F_OVERFLOW", next)
			}
			if err := p.Flush(); err != nil {
				t.Fatal(err)
			}
			p.Commit()
		}
		if (p.OverflowLen() > 0) != (r.Flags()&abi.FOverflow != 0) {
			t.Fatalf("F_OVERFLOW %v with %d on the list", r.Flags()&abi.FOverflow != 0, p.OverflowLen())
		}
	}
	if r.Overflowed() != uint64(n-inRing) {
		t.Fatalf("overflowed changed to %d", r.Overflowed())
	}
}

func TestCommitSignalAndUserFlags(t *testing.T) {
	r := mustHeap(t, 4096, 1024)
	p := NewProducer(r)
	if p.Commit() {
		t.Fatal("Commit with nothing appended asked for a signal")
	}
	rec := appendTestEvent(nil, 0, 40)
	p.Append(rec)
	r.SetUserFlags(abi.UFNoEventfd, 0)
	if r.UserFlags() != abi.UFNoEventfd {
		t.Fatalf("user flags %#x", r.UserFlags())
	}
	if p.Commit() {
		t.Fatal("Commit asked for a signal under UF_NO_EVENTFD")
	}
	if r.Tail() != 40 {
		t.Fatalf("tail %d", r.Tail())
	}
	r.SetUserFlags(0, abi.UFNoEventfd)
	p.Append(rec)
	if !p.Commit() {
		t.Fatal("Commit did not ask for a signal")
	}
}

func TestTryAppendNeverOverflows(t *testing.T) {
	r := mustHeap(t, 4096, 1024)
	p := NewProducer(r)
	rec := appendTestEvent(nil, 0, 40)
	k := 0
	for {
		ok, err := p.TryAppend(rec)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		k++
	}
	if k != 4096/40 || p.OverflowLen() != 0 || r.Flags() != 0 {
		t.Fatalf("TryAppend took %d, overflow %d, flags %#x", k, p.OverflowLen(), r.Flags())
	}
}

func TestCorruptHeadKillsRingAndKeepsRecords(t *testing.T) {
	r := mustHeap(t, 4096, 1024)
	p := NewProducer(r)
	rec := appendTestEvent(nil, 0, 1024)
	for seq := uint64(0); seq < 3; seq++ {
		if err := p.Append(appendTestEvent(rec[:0], seq, 1024)); err != nil {
			t.Fatal(err)
		}
	}
	p.Commit()
	// Two more appended but not committed when head goes bad.
	for seq := uint64(3); seq < 4; seq++ {
		if err := p.Append(appendTestEvent(rec[:0], seq, 1024)); err != nil {
			t.Fatal(err)
		}
	}
	r.head.Store(r.Tail() + 4096) // past the published tail
	err := p.Append(appendTestEvent(rec[:0], 4, 1024))
	var ce *CorruptError
	if !errors.As(err, &ce) || !errors.Is(err, ErrCorrupt) || ce.Field != "head" || ce.Value != uint64(r.Tail()+4096) {
		t.Fatalf("Append = %v, want *CorruptError on head", err)
	}
	if dead, derr := p.Dead(); !dead || derr != err {
		t.Fatalf("Dead() = %v, %v", dead, derr)
	}
	if r.Flags() != abi.FDead|abi.FOverflow {
		t.Fatalf("flags %#x, want F_DEAD|F_OVERFLOW", r.Flags())
	}
	if err := p.Append(appendTestEvent(rec[:0], 5, 1024)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Append after death = %v", err)
	}
	if err := p.Flush(); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Flush after death = %v", err)
	}
	if p.Commit() {
		t.Fatal("Commit on a dead ring published")
	}
	// The unpublished record 3 and the later 4 and 5 wait on the list, in order.
	var buf []byte
	for want := uint64(3); want < 6; want++ {
		var ok bool
		buf, ok = p.PopOverflow(buf[:0])
		if !ok {
			t.Fatalf("list empty at %d", want)
		}
		if seq := checkTestEvent(t, buf); seq != want {
			t.Fatalf("popped %d, want %d", seq, want)
		}
	}
	if _, ok := p.PopOverflow(nil); ok || r.Flags() != abi.FDead {
		t.Fatalf("after popping all: flags %#x", r.Flags())
	}
}

func TestHeadBehindLastSeenIsCorrupt(t *testing.T) {
	r := mustHeap(t, 4096, 1024)
	p := NewProducer(r)
	rp, _ := NewReaper(r)
	rec := appendTestEvent(nil, 0, 1024)
	for i := 0; i < 4; i++ {
		p.Append(rec)
	}
	p.Commit()
	rp.Reap(nil, 2)
	p.Append(rec) // loads head (ring was full): head = 2048
	p.Commit()
	r.head.Store(1024) // backwards
	rp.Reap(nil, 10)
	r.head.Store(1024)
	p.Append(rec)
	p.Append(rec)
	if err := p.Append(rec); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("head moved backwards, Append = %v", err)
	}
}

// A head stored past the published tail is caught at the next batch's
// first record, before the producer publishes past it: with room to
// spare, the head last seen alone would never be reloaded, the bad head
// would come to lie inside the published range, and reapers would stall
// on it with the ring alive (found by review, 2026-11-22).
func TestHeadPastTailCaughtAtNextBatch(t *testing.T) {
	r := mustHeap(t, 4096, 1024)
	p := NewProducer(r)
	rec := appendTestEvent(nil, 0, 40)
	if err := p.Append(rec); err != nil {
		t.Fatal(err)
	}
	p.Commit() // tail 40
	r.head.Store(48)
	var ce *CorruptError
	if err := p.Append(rec); !errors.As(err, &ce) || ce.Field != "head" {
		t.Fatalf("Append with head past the published tail = %v, want a CorruptError on head", err)
	}
	if tail := r.tail.Load(); tail != 40 {
		t.Fatalf("tail %d: published past the bad head", tail)
	}
	if r.Flags() != abi.FDead|abi.FOverflow {
		t.Fatalf("flags %#x, want F_DEAD|F_OVERFLOW", r.Flags())
	}
	// The record is not lost: getevents serves it from the list.
	if got, ok := p.PopOverflow(nil); !ok || string(got) != string(rec) {
		t.Fatalf("PopOverflow = %x %v, want the record", got, ok)
	}
}

func TestSetDead(t *testing.T) {
	r := mustHeap(t, 4096, 1024)
	p := NewProducer(r)
	rec := appendTestEvent(nil, 7, 40)
	p.Append(rec)
	p.SetDead()
	if err := p.Append(rec); err != nil {
		t.Fatalf("Append after SetDead = %v", err)
	}
	if r.Flags() != abi.FDead|abi.FOverflow || p.OverflowLen() != 2 || p.Commit() {
		t.Fatalf("flags %#x overflow %d", r.Flags(), p.OverflowLen())
	}
}

func TestReaperReportsCorruptRecord(t *testing.T) {
	for _, c := range []struct {
		field string
		poke  func(r *Region)
	}{
		{"len", func(r *Region) { r.data[0] = 12 | abi.RecEvent<<32 }},
		{"len", func(r *Region) { r.data[0] = 4096 | abi.RecEvent<<32 }},
		{"type", func(r *Region) { r.data[0] = 40 | 9<<32 }},
		{"head", func(r *Region) { r.head.Store(3) }},
		{"tail", func(r *Region) { r.tail.Store(40 + 4096) }},
	} {
		r := mustHeap(t, 4096, 1024)
		p := NewProducer(r)
		p.Append(appendTestEvent(nil, 0, 40))
		p.Append(appendTestEvent(nil, 1, 40))
		p.Commit()
		c.poke(r)
		for _, mk := range []func(*Region) (*Reaper, error){NewReaper, NewSingleReaper} {
			rp, _ := mk(r)
			_, n, err := rp.Reap(nil, 10)
			var ce *CorruptError
			if n != 0 || !errors.As(err, &ce) || ce.Field != c.field || !errors.Is(err, syscall.EUCLEAN) {
				t.Errorf("%s: Reap = %d, %v", c.field, n, err)
			}
		}
	}
}

func TestReaperDeliversPrefixBeforeCorruption(t *testing.T) {
	r := mustHeap(t, 4096, 1024)
	p := NewProducer(r)
	rp, _ := NewReaper(r)
	for seq := uint64(0); seq < 3; seq++ {
		p.Append(appendTestEvent(nil, seq, 40))
	}
	p.Commit()
	r.data[80/8] = 7 // third record's len
	out, n, err := rp.Reap(nil, 10)
	if err != nil || n != 2 || len(out) != 80 {
		t.Fatalf("Reap = %d, %v", n, err)
	}
	if _, _, err := rp.Reap(nil, 10); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("second Reap = %v", err)
	}
}

func TestNewReaperRefusesUnknownIncompat(t *testing.T) {
	r := mustHeap(t, 4096, 1024)
	u32At(r.mem, abi.OffIncompatFeatures).Store(1 << 5)
	if _, err := NewReaper(r); !errors.Is(err, syscall.EOPNOTSUPP) {
		t.Fatalf("NewReaper = %v, want EOPNOTSUPP", err)
	}
}

func TestFromBytes(t *testing.T) {
	r := mustHeap(t, 4096, 1024)
	p := NewProducer(r)
	p.Append(appendTestEvent(nil, 42, 64))
	p.Commit()
	// Shares aligned memory.
	r2, err := FromBytes(r.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	rp, _ := NewReaper(r2)
	out, n, err := rp.Reap(nil, 1)
	if err != nil || n != 1 || checkTestEvent(t, out) != 42 || r.Head() != 64 {
		t.Fatalf("Reap = %d, %v, head %d", n, err, r.Head())
	}
	// Copies unaligned memory.
	buf := make([]byte, len(r.Bytes())+1)
	copy(buf[1:], r.Bytes())
	r3, err := FromBytes(buf[1:])
	if err != nil {
		t.Fatal(err)
	}
	if !aligned8(r3.Bytes()) {
		t.Fatal("not aligned")
	}
	// Bad headers are refused.
	for _, off := range []int{abi.OffMagic, abi.OffVersion, abi.OffRingBytes, abi.OffRingMask, abi.OffMaxEventBytes} {
		b := append([]byte{}, r.Bytes()...)
		b[off] ^= 0x55
		if _, err := FromBytes(b); err == nil {
			t.Errorf("header corrupted at %d accepted", off)
		}
	}
	if _, err := FromBytes(r.Bytes()[:len(r.Bytes())-8]); err == nil {
		t.Error("short region accepted")
	}
}

func TestSteadyStateAllocatesNothing(t *testing.T) {
	r := mustHeap(t, 65536, 4096)
	r.SetStart(^uint32(0) - 4095)
	p := NewProducer(r)
	for _, mk := range []func(*Region) (*Reaper, error){NewReaper, NewSingleReaper} {
		rp, _ := mk(r)
		rec := appendTestEvent(nil, 1, 104)
		buf := make([]byte, 0, 64*104)
		allocs := testing.AllocsPerRun(1000, func() {
			for i := 0; i < 64; i++ {
				if err := p.Append(rec); err != nil {
					t.Fatal(err)
				}
			}
			p.Commit()
			var n int
			buf, n, _ = rp.Reap(buf[:0], 64)
			if n != 64 {
				t.Fatalf("reaped %d", n)
			}
		})
		if allocs != 0 {
			t.Fatalf("%v allocations per 64 produce+reap", allocs)
		}
	}
	// The overflow path, once its buffer has grown, allocates nothing either.
	rp, _ := NewReaper(r)
	rec := appendTestEvent(nil, 1, 104)
	buf := make([]byte, 0, 1<<20)
	cycle := func() {
		for i := 0; i < 1000; i++ { // 104000 bytes: some overflow
			p.Append(rec)
		}
		p.Commit()
		for p.OverflowLen() > 0 || rp.Pending() > 0 {
			buf, _, _ = rp.Reap(buf[:0], 1000)
			p.Flush()
			p.Commit()
		}
	}
	cycle()
	if allocs := testing.AllocsPerRun(20, cycle); allocs != 0 {
		t.Fatalf("%v allocations per overflow cycle", allocs)
	}
}

// F_OVERFLOW clears only once the records flushed from the list are
// published: a reaper that finds the ring empty and the flag clear must be
// able to conclude that nothing is pending (spec section 5 publishes, then
// clears; found by review, 2026-11-22: Flush cleared it before Commit).
func TestOverflowFlagClearsAfterPublish(t *testing.T) {
	r := mustHeap(t, 4096, 1024)
	p := NewProducer(r)
	rp, _ := NewReaper(r)
	rec := appendTestEvent(nil, 0, 1024)
	for i := 0; i < 5; i++ {
		if err := p.Append(rec); err != nil {
			t.Fatal(err)
		}
	}
	p.Commit()
	if p.OverflowLen() != 1 || r.Flags()&abi.FOverflow == 0 {
		t.Fatalf("overflow list %d, flags %#x: want one record on the list, F_OVERFLOW", p.OverflowLen(), r.Flags())
	}
	if _, n, err := rp.Reap(nil, 1); n != 1 || err != nil {
		t.Fatalf("Reap: %d %v", n, err)
	}
	if err := p.Flush(); err != nil {
		t.Fatal(err)
	}
	if p.OverflowLen() != 0 || r.Flags()&abi.FOverflow == 0 {
		t.Fatalf("after Flush: list %d, flags %#x; want the list empty and F_OVERFLOW still set (nothing published yet)", p.OverflowLen(), r.Flags())
	}
	p.Commit()
	if r.Flags()&abi.FOverflow != 0 {
		t.Fatalf("after Commit: flags %#x, want F_OVERFLOW clear", r.Flags())
	}
}
