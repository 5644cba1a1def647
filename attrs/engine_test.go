package attrs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/aio2/aio2/abi"
)

func TestMask(t *testing.T) {
	var m Mask
	m = m.With(1).With(63).With(64).With(1000)
	if !m.Has(1) || !m.Has(63) || m.Has(64) || m.Has(1000) || m.Has(2) {
		t.Fatalf("mask %#x", uint64(m))
	}
	if m != 1<<1|1<<63 {
		t.Fatalf("mask %#x", uint64(m))
	}
}

func TestKindString(t *testing.T) {
	if KindDirect.String() != "direct" || KindNoop.String() != "noop" || Kind(200).String() != "unknown" {
		t.Fatal("kind names")
	}
}

// fake is a collector with fixed answers, to test the engine alone.
type fake struct {
	name         string
	serves       [numKinds]Mask
	avail        bool
	begins, ends int
}

func (f *fake) Name() string                   { return f.name }
func (f *fake) Serves(k Kind) Mask             { return f.serves[k] }
func (f *fake) Available(uint16, *Target) bool { return f.avail }
func (f *fake) Begin(*Target, *Stamp)          { f.begins++ }
func (f *fake) End(*Target, *Stamp)            { f.ends++ }
func (f *fake) Append(dst []byte, id uint16, _ *Target, _ *Stamp) []byte {
	return abi.AppendAttrU64(dst, id, uint64(len(f.name)))
}

func TestEngineSupportedIsUnion(t *testing.T) {
	a := &fake{name: "a", avail: true}
	a.serves[KindDirect] = 1 << abi.AttrDevice
	b := &fake{name: "bb", avail: true}
	b.serves[KindBuffered] = 1 << abi.AttrCache
	e := NewEngine(Clock{}, a, b)
	want := clockIDs | 1<<abi.AttrDevice | 1<<abi.AttrCache
	if e.Supported() != want {
		t.Fatalf("Supported %#x, want %#x", uint64(e.Supported()), uint64(want))
	}
	if got := NewEngine(Clock{}).Supported(); got != clockIDs {
		t.Fatalf("clock only: %#x", uint64(got))
	}
	if len(e.Collectors()) != 3 {
		t.Fatal("collectors")
	}
}

func TestEngineFirstCollectorWins(t *testing.T) {
	a := &fake{name: "a", avail: true}
	a.serves[KindBuffered] = 1 << abi.AttrCache
	b := &fake{name: "bbbb", avail: true}
	b.serves[KindBuffered] = 1<<abi.AttrCache | 1<<abi.AttrDevice
	e := NewEngine(a, b)
	reqs := reqsFor(abi.AttrCache)
	tg := Target{Kind: KindBuffered, Want: Wanted(reqs)}
	var s Stamp
	e.Begin(&tg, &s)
	e.End(&tg, &s)
	out, _ := e.Encode(nil, reqs, &tg, &s, 1<<10)
	v, _ := attrMap(t, out)[abi.AttrCache].U64()
	if v != 1 {
		t.Fatalf("CACHE served by collector with name length %d, want a", v)
	}
	// b won only DEVICE, which this IO does not want: its hooks must not
	// run.
	if a.begins != 1 || a.ends != 1 || b.begins != 0 || b.ends != 0 {
		t.Fatalf("hooks: a %d/%d b %d/%d", a.begins, a.ends, b.begins, b.ends)
	}
}

// hookless is a fake that says its hooks do nothing.
type hookless struct{ fake }

func (*hookless) Hookless() {}

// TestEngineSkipsHookless: a Hookless collector's Begin and End are never
// called, while it still serves its ids; a collector with hooks that
// serves another wanted id still gets its calls.
func TestEngineSkipsHookless(t *testing.T) {
	h := &hookless{fake{name: "h", avail: true}}
	h.serves[KindDirect] = 1 << abi.AttrLatency
	d := &fake{name: "dd", avail: true}
	d.serves[KindDirect] = 1 << abi.AttrCache
	e := NewEngine(h, d)
	var s Stamp
	for _, c := range []struct {
		ids           []uint16
		dBegins, dEnd int
	}{
		{[]uint16{abi.AttrLatency}, 0, 0},
		{[]uint16{abi.AttrLatency, abi.AttrCache}, 1, 1},
	} {
		h.begins, h.ends, d.begins, d.ends = 0, 0, 0, 0
		reqs := reqsFor(c.ids...)
		tg := Target{Kind: KindDirect, Want: Wanted(reqs)}
		e.Begin(&tg, &s)
		e.End(&tg, &s)
		if h.begins != 0 || h.ends != 0 || d.begins != c.dBegins || d.ends != c.dEnd {
			t.Errorf("%v: hooks h %d/%d d %d/%d, want h 0/0 d %d/%d", c.ids, h.begins, h.ends, d.begins, d.ends, c.dBegins, c.dEnd)
		}
		out, _ := e.Encode(nil, reqs, &tg, &s, 1<<10)
		if v, _ := attrMap(t, out)[abi.AttrLatency].U64(); v != 1 {
			t.Errorf("%v: LATENCY from the hookless collector: %d, want 1", c.ids, v)
		}
	}
}

// preparer is a fake with setup to do: it records the ids it was asked
// to prepare and fails for those in fail.
type preparer struct {
	fake
	prepared []uint16
	fail     Mask
}

func (p *preparer) Prepare(id uint16) error {
	p.prepared = append(p.prepared, id)
	if p.fail.Has(id) {
		return errors.New("no privilege")
	}
	return nil
}

// TestEnginePrepare: Prepare asks each collector to prepare the wanted
// ids it won, once per id whatever the kinds it serves them for, and
// nothing else; collectors without setup are skipped; failures come back
// joined, each naming the collector and the attribute.
func TestEnginePrepare(t *testing.T) {
	a := &preparer{fake: fake{name: "a", avail: true}, fail: 1 << abi.AttrDevice}
	a.serves[KindDirect] = 1<<abi.AttrDevice | 1<<abi.AttrCache
	a.serves[KindBuffered] = 1 << abi.AttrCache
	b := &preparer{fake: fake{name: "b", avail: true}}
	b.serves[KindBuffered] = 1<<abi.AttrCache | 1<<abi.AttrCPU // CACHE is a's
	e := NewEngine(Clock{}, a, b)
	err := e.Prepare(1<<abi.AttrDevice | 1<<abi.AttrCache | 1<<abi.AttrLatency)
	if len(a.prepared) != 2 || a.prepared[0] != abi.AttrCache || a.prepared[1] != abi.AttrDevice || len(b.prepared) != 0 {
		t.Fatalf("prepared: a %v, b %v; want a [cache device], b none", a.prepared, b.prepared)
	}
	if err == nil || !strings.Contains(err.Error(), "a: device: no privilege") || strings.Contains(err.Error(), "cache") {
		t.Fatalf("error %v, want a's DEVICE failure alone", err)
	}
	if err := e.Prepare(1 << abi.AttrCPU); err != nil || len(b.prepared) != 0 {
		t.Fatalf("CPU is the clock's, not b's: %v, b prepared %v", err, b.prepared)
	}
}

func TestEncodeStatuses(t *testing.T) {
	dev := &fake{name: "dev", avail: false}
	dev.serves[KindDirect] = 1 << abi.AttrDevice
	e := NewEngine(Clock{}, dev)
	// 40: catalogue id nobody serves; 64, 1000: experimental ids.
	// DEVICE on buffered IO: served for another kind, so UNAVAILABLE.
	ids := []uint16{40, abi.AttrLatency, 64, abi.AttrDevice, 1000, abi.AttrCache, abi.AttrCPU}
	reqs := reqsFor(ids...)
	for _, k := range []Kind{KindBuffered, KindDirect} {
		tg := Target{Kind: k, Want: Wanted(reqs)}
		s := Stamp{SubmitNs: 100, IssueNs: 150, CompleteNs: 1100, SubmitCPU: 1, CompleteCPU: 0}
		out, trunc := e.Encode(nil, reqs, &tg, &s, 1<<10)
		if trunc {
			t.Fatal("truncated")
		}
		// Every asked id exactly once, in request order.
		it := abi.NewAttrIter(out)
		var got []uint16
		st := map[uint16]uint16{}
		for {
			a, ok := it.Next()
			if !ok {
				break
			}
			got = append(got, a.ID)
			st[a.ID] = a.Status
		}
		if len(got) != len(ids) {
			t.Fatalf("%v: %d attributes for %d requests", k, len(got), len(ids))
		}
		for i := range ids {
			if got[i] != ids[i] {
				t.Fatalf("%v: order %v, want %v", k, got, ids)
			}
		}
		want := map[uint16]uint16{
			40: abi.AttrUnsupported, 64: abi.AttrUnsupported, 1000: abi.AttrUnsupported,
			abi.AttrCache:   abi.AttrUnsupported,
			abi.AttrLatency: abi.AttrOK, abi.AttrCPU: abi.AttrOK,
			abi.AttrDevice: abi.AttrUnavailable,
		}
		for id, w := range want {
			if st[id] != w {
				t.Errorf("%v: id %d status %s, want %s", k, id, abi.StatusName(st[id]), abi.StatusName(w))
			}
		}
		m := attrMap(t, out)
		if v, _ := m[abi.AttrLatency].U64(); v != 1000 {
			t.Errorf("latency %d", v)
		}
		if a, b, _ := m[abi.AttrCPU].U32Pair(); a != 1 || b != 0 {
			t.Errorf("cpu %d %d", a, b)
		}
	}
}

func TestCheckRequireAttrs(t *testing.T) {
	dev := &fake{name: "dev", avail: false}
	dev.serves[KindDirect] = 1 << abi.AttrDevice
	e := NewEngine(Clock{}, dev)
	tg := Target{Kind: KindDirect}
	if err := e.Check(reqsFor(abi.AttrLatency, abi.AttrTimestamps, abi.AttrCPU), &tg); err != nil {
		t.Fatalf("clock ids refused: %v", err)
	}
	if err := e.Check(abi.AppendAttrReq(nil, abi.AttrTag, []byte("x")), &tg); err != nil {
		t.Fatalf("TAG refused: %v", err)
	}
	for _, reqs := range [][]byte{reqsFor(abi.AttrLatency, 40), reqsFor(abi.AttrDevice), reqsFor(70), reqsFor(abi.AttrCache)} {
		err := e.Check(reqs, &tg)
		if !errors.Is(err, syscall.EOPNOTSUPP) {
			t.Fatalf("Check(%x) = %v, want EOPNOTSUPP", reqs, err)
		}
	}
	dev.avail = true
	if err := e.Check(reqsFor(abi.AttrDevice), &tg); err != nil {
		t.Fatalf("available DEVICE refused: %v", err)
	}
}

// TestRequireAttrsEndToEnd goes from iocb2 bytes with IOCB_F_REQUIRE_ATTRS
// through abi.DecodeIocb to Check, as kioctx's submit does.
func TestRequireAttrsEndToEnd(t *testing.T) {
	e := NewEngine(Clock{})
	cb := abi.Iocb{Opcode: abi.OpNoop, Flags: abi.IocbRequireAttrs}
	for _, c := range []struct {
		ids []uint16
		ok  bool
	}{{[]uint16{abi.AttrLatency}, true}, {[]uint16{abi.AttrLatency, abi.AttrDevice}, false}, {[]uint16{99}, false}} {
		buf := abi.AppendIocb(nil, &cb, reqsFor(c.ids...))
		var got abi.Iocb
		reqs, _, err := abi.DecodeIocb(buf, 0, &got)
		if err != nil {
			t.Fatal(err)
		}
		err = e.Check(reqs, &Target{Kind: KindNoop})
		if (err == nil) != c.ok {
			t.Fatalf("ids %v: Check = %v", c.ids, err)
		}
	}
}

func TestTagRoundTrip(t *testing.T) {
	e := NewEngine(Clock{})
	for _, n := range []int{0, 1, 7, 8, 255, 256} {
		tag := bytes.Repeat([]byte{0xA5}, n)
		for i := range tag {
			tag[i] = byte(i * 7)
		}
		cb := abi.Iocb{Opcode: abi.OpNoop}
		reqs := abi.AppendAttrReq(nil, abi.AttrLatency, nil)
		reqs = abi.AppendAttrReq(reqs, abi.AttrTag, tag)
		buf := abi.AppendIocb(nil, &cb, reqs)
		var got abi.Iocb
		dreqs, _, err := abi.DecodeIocb(buf, 0, &got)
		if err != nil {
			t.Fatalf("tag %d: %v", n, err)
		}
		tg := Target{Kind: KindNoop, Want: Wanted(dreqs)}
		out, _ := e.Encode(nil, dreqs, &tg, &Stamp{}, 1<<12)
		m := attrMap(t, out)
		a := m[abi.AttrTag]
		if a.Status != abi.AttrOK || !bytes.Equal(a.Value, tag) {
			t.Fatalf("tag %d: status %d value %x", n, a.Status, a.Value)
		}
		if len(out) != abi.AttrBytes(8)+abi.AttrBytes(n) {
			t.Fatalf("tag %d: %d bytes", n, len(out))
		}
	}
	// 257 bytes: refused at decode, with a typed error naming the fault.
	cb := abi.Iocb{Opcode: abi.OpNoop}
	buf := abi.AppendIocb(nil, &cb, abi.AppendAttrReq(nil, abi.AttrTag, make([]byte, 257)))
	var got abi.Iocb
	_, _, err := abi.DecodeIocb(buf, 0, &got)
	var ae *abi.Error
	if !errors.As(err, &ae) || !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("257-byte tag: %v", err)
	}
	// And if undecoded bytes reach Encode anyway, it answers ERROR rather
	// than emit a TAG the spec forbids.
	reqs := abi.AppendAttrReq(nil, abi.AttrTag, make([]byte, 257))
	out, _ := e.Encode(nil, reqs, &Target{Kind: KindNoop, Want: Wanted(reqs)}, &Stamp{}, 1<<12)
	if a := attrMap(t, out)[abi.AttrTag]; a.Status != abi.AttrError {
		t.Fatalf("257-byte tag through Encode: status %s", abi.StatusName(a.Status))
	}
}

func TestEncodeTruncates(t *testing.T) {
	e := NewEngine(Clock{})
	reqs := reqsFor(abi.AttrLatency, abi.AttrTimestamps, abi.AttrCPU)
	tg := Target{Kind: KindNoop, Want: Wanted(reqs)}
	full, trunc := e.Encode(nil, reqs, &tg, &Stamp{}, 1<<10)
	if trunc || len(full) != 16+32+16 {
		t.Fatalf("full: %d bytes trunc %v", len(full), trunc)
	}
	for room, keep := range map[int]int{0: 0, 15: 0, 16: 1, 47: 1, 48: 2, 63: 2, 64: 3} {
		prefix := []byte("prefix")
		out, trunc := e.Encode(prefix, reqs, &tg, &Stamp{}, room)
		if !bytes.HasPrefix(out, prefix) {
			t.Fatal("prefix lost")
		}
		if got := len(attrMap(t, out[len(prefix):])); got != keep || trunc != (keep < 3) {
			t.Fatalf("room %d: %d attributes, trunc %v", room, got, trunc)
		}
	}
}

func TestClockStamps(t *testing.T) {
	a := Now()
	b := Now()
	if a <= 0 || b < a {
		t.Fatalf("Now %d then %d", a, b)
	}
	// Now is CLOCK_MONOTONIC, the clock of bpf_ktime_get_ns.
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		t.Fatal(err)
	}
	c := Now()
	if m := ts.Nano(); m < b || m > c {
		t.Fatalf("CLOCK_MONOTONIC %d not within [%d, %d]", m, b, c)
	}
	runtime.LockOSThread()
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		t.Fatal(err)
	}
	cpu := CPU()
	runtime.UnlockOSThread()
	if !set.IsSet(int(cpu)) {
		t.Fatalf("CPU %d is not in this thread's affinity set", cpu)
	}
	e := NewEngine(Clock{})
	reqs := reqsFor(abi.AttrTimestamps)
	s := Stamp{SubmitNs: 10, IssueNs: 20, CompleteNs: 30}
	out, _ := e.Encode(nil, reqs, &Target{Kind: KindSyscall}, &s, 100)
	sub, iss, comp, ok := attrMap(t, out)[abi.AttrTimestamps].Timestamps()
	if !ok || sub != 10 || iss != 20 || comp != 30 {
		t.Fatalf("timestamps %d %d %d", sub, iss, comp)
	}
}

func TestClockHotPathAllocs(t *testing.T) {
	e := NewEngine(Clock{})
	reqs := reqsFor(abi.AttrLatency, abi.AttrTimestamps, abi.AttrCPU)
	reqs = abi.AppendAttrReq(reqs, abi.AttrTag, []byte("tag"))
	tg := Target{Kind: KindDirect, Want: Wanted(reqs)}
	dst := make([]byte, 0, 256)
	// The stamp lives in kioctx's in-flight slot, allocated once.
	s := new(Stamp)
	n := testing.AllocsPerRun(1000, func() {
		*s = Stamp{}
		s.SubmitNs = Now()
		s.SubmitCPU = CPU()
		e.Begin(&tg, s)
		e.End(&tg, s)
		s.CompleteNs = Now()
		dst, _ = e.Encode(dst[:0], reqs, &tg, s, 256)
	})
	if n != 0 {
		t.Fatalf("%v allocations per IO", n)
	}
	// The refusal path is pre-boxed too.
	bad := reqsFor(99)
	if n := testing.AllocsPerRun(1000, func() { _ = e.Check(bad, &tg) }); n != 0 {
		t.Fatalf("Check refusal: %v allocations", n)
	}
}

// TestEncodeLoneRequest: Encode's shortcut for one request without a
// value gives the bytes and the truncation the general walk gives, for
// every id, kind and room, and for requests that are not one plain
// header (a value, a nonzero length) it leaves them to the walk.
func TestEncodeLoneRequest(t *testing.T) {
	e := Default()
	s := Stamp{SubmitNs: 100, IssueNs: 150, CompleteNs: 1100, SubmitCPU: 1, CompleteCPU: 0}
	for k := Kind(0); k <= numKinds; k++ {
		for id := uint16(0); id < 70; id++ {
			for _, reqs := range [][]byte{
				abi.AppendAttrReq(nil, id, nil),
				abi.AppendAttrReq(nil, id, []byte("tagvalue")),
				binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(nil, uint32(id)), 8),
			} {
				tg := Target{Kind: k, Want: Wanted(reqs)}
				for _, room := range []int{0, 8, 15, 16, 31, 32, 64} {
					got, gt := e.Encode(nil, reqs, &tg, &s, room)
					want, wt := e.encodeWalk(nil, reqs, &tg, &s, room)
					if !bytes.Equal(got, want) || gt != wt {
						t.Fatalf("kind %v id %d reqs % x room %d: Encode % x %v, walk % x %v", k, id, reqs, room, got, gt, want, wt)
					}
				}
			}
		}
	}
	// The shortcut is taken: LATENCY alone allocates nothing and comes
	// back as one attribute.
	reqs := reqsFor(abi.AttrLatency)
	tg := Target{Kind: KindDirect, Want: Wanted(reqs)}
	dst := make([]byte, 0, 64)
	if n := testing.AllocsPerRun(100, func() { dst, _ = e.Encode(dst[:0], reqs, &tg, &s, 64) }); n != 0 {
		t.Fatalf("%v allocations", n)
	}
	if v, ok := attrMap(t, dst)[abi.AttrLatency].U64(); !ok || v != 1000 {
		t.Fatalf("LATENCY %d %v", v, ok)
	}
}
