package kioctx

import (
	"encoding/binary"
	"errors"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/aio2/aio2/abi"
	"github.com/aio2/aio2/ring"
)

// libaioStyleReap reaps a struct aio_ring the way libaio-era code does,
// knowing nothing but that layout (fs/aio.c): check magic and
// header_length, copy io_events from head to tail, store head.
func libaioStyleReap(t *testing.T, mem []byte) []abi.IoEvent {
	t.Helper()
	le := binary.LittleEndian
	if m := le.Uint32(mem[16:]); m != 0xa10a10a1 {
		t.Fatalf("magic %#x", m)
	}
	if hl := le.Uint32(mem[28:]); hl != 32 {
		t.Fatalf("header_length %d", hl)
	}
	nr := le.Uint32(mem[4:])
	headp := (*atomic.Uint32)(unsafe.Pointer(&mem[8]))
	tailp := (*atomic.Uint32)(unsafe.Pointer(&mem[12]))
	var out []abi.IoEvent
	h, tl := headp.Load(), tailp.Load()
	for h != tl {
		e := mem[32+32*int(h):]
		out = append(out, abi.IoEvent{Data: le.Uint64(e), Obj: le.Uint64(e[8:]), Res: int64(le.Uint64(e[16:])), Res2: int64(le.Uint64(e[24:]))})
		if h++; h == nr {
			h = 0
		}
	}
	headp.Store(h)
	return out
}

func TestLegacyContext(t *testing.T) {
	p := abi.Params{Size: abi.ParamsSize, Version: 1, Eventfd: -1, RingBytes: 4096, MaxInflight: 1000}
	c, err := Setup(&p)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Destroy()
	if p.Version != 1 || p.MaxInflight != 127 || p.Attrs != 0 || p.Features&abi.FeatAttrs != 0 {
		t.Fatalf("granted %+v", p)
	}
	f, _ := directFile(t, 1<<16)
	buf := alignedBuf(t, 8*4096)
	cbs := noops(0, 100)
	for i := 0; i < 8; i++ {
		cbs = append(cbs, Iocb{Opcode: abi.OpPread, Fd: int32(f.Fd()), Buf: buf[i*4096 : (i+1)*4096], Offset: int64(i) * 4096, Data: uint64(1000 + i)})
	}
	if n, err := c.Submit(cbs); n != len(cbs) || err != nil {
		t.Fatalf("Submit: %d %v", n, err)
	}
	waitIdle(t, c)
	evs := libaioStyleReap(t, c.Region())
	if len(evs) != len(cbs) {
		t.Fatalf("reaped %d, want %d", len(evs), len(cbs))
	}
	for i, ev := range evs {
		if i < 100 && (ev.Data != uint64(i) || ev.Res != 0 || ev.Obj != cbs[i].Key) {
			t.Fatalf("event %d: %+v", i, ev)
		}
		if i >= 100 && ev.Res != 4096 {
			t.Fatalf("read event %+v", ev)
		}
	}
	if c.Inflight() != 0 {
		t.Fatalf("Inflight %d", c.Inflight())
	}
	// nr-1 unreaped events at most.
	n, _ := c.Submit(noops(0, 200))
	if n != 127 {
		t.Fatalf("accepted %d, want 127", n)
	}
	if _, err := c.Submit(noops(0, 1)); !errors.Is(err, unix.EAGAIN) {
		t.Fatalf("128th: %v", err)
	}
	// GetEvents hands them out as 40-byte EVENT records, and Reap too.
	out := make([]byte, 64*40)
	k, err := c.Reap(out[:40*27])
	if err != nil || k != 27*40 {
		t.Fatalf("Reap: %d %v", k, err)
	}
	all := events(t, out[:k])
	for len(all) < 127 {
		k, err := c.GetEvents(1, out, 1e9)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, events(t, out[:k])...)
	}
	for i, ev := range all {
		if ev.Data != uint64(i) {
			t.Fatalf("event %d has data %d", i, ev.Data)
		}
	}
	// Attributes cannot be carried: refused, not dropped.
	if _, err := c.Submit([]Iocb{{Opcode: abi.OpNoop, Attrs: abi.AppendAttrReq(nil, abi.AttrLatency, nil)}}); !errors.Is(err, unix.EOPNOTSUPP) {
		t.Fatalf("attrs on v1: %v", err)
	}
}

// Submit refuses attributes on a version 1 context and points to
// IssueSync, whose event goes to the caller's buffer, not to the legacy
// ring: its attributes are not cut to the ring's 40-byte events (found by
// review, 2026-11-22: every one was truncated away).
func TestLegacyIssueSyncAttributes(t *testing.T) {
	p := abi.Params{Size: abi.ParamsSize, Version: 1, Eventfd: -1, RingBytes: 4096}
	c, err := Setup(&p)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Destroy()
	lat := abi.AppendAttrReq(nil, abi.AttrLatency, nil)
	if _, err := c.Submit([]Iocb{{Opcode: abi.OpNoop, Attrs: lat}}); !errors.Is(err, unix.EOPNOTSUPP) {
		t.Fatalf("Submit with attributes on version 1: %v, want EOPNOTSUPP", err)
	}
	rec, err := c.IssueSync(&Iocb{Opcode: abi.OpNoop, Data: 5, Attrs: lat}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ev := events(t, rec)[0]
	_, m := attrMap(t, ev)
	if ev.Flags&abi.EventAttrsTruncated != 0 || m[abi.AttrLatency].Status != abi.AttrOK {
		t.Fatalf("IssueSync on version 1: flags %#x, attributes %v; want LATENCY OK, not truncated", ev.Flags, m)
	}
}

// A reaper that writes a bad head into a version 1 ring (beyond nr, or
// just past tail, where the ring looks full) makes the ring unusable, but
// every event is still delivered exactly once, through GetEvents, and no
// event is made up (found by review, 2026-11-22: the events were dropped
// and Inflight never came back to 0, or GetEvents handed out a ring's
// worth of zeroed events nobody produced).
func TestLegacyBadHeadLosesNothing(t *testing.T) {
	for _, bad := range []struct {
		name string
		head func(tail, nr uint32) uint32
	}{
		{"beyond nr", func(_, nr uint32) uint32 { return nr + 1000 }},
		{"just past tail", func(tail, nr uint32) uint32 { return (tail + 1) % nr }},
	} {
		t.Run(bad.name, func(t *testing.T) {
			p := abi.Params{Size: abi.ParamsSize, Version: 1, Eventfd: -1, RingBytes: 4096, MaxInflight: 8}
			c, err := Setup(&p)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Destroy()
			if _, err := c.Submit(noops(0, 2)); err != nil {
				t.Fatal(err)
			}
			waitEvents(t, c, 2)
			head := c.leg.head
			old := head.Load()
			head.Store(bad.head(c.leg.prod.Published(), c.leg.nr))
			out := make([]byte, 128*abi.EventHeaderBytes)
			n, err := c.GetEvents(0, out, 0)
			if !errors.Is(err, ring.ErrCorrupt) || n != 0 {
				t.Fatalf("GetEvents with a bad head and nothing produced: %d bytes, %v; want none and ErrCorrupt", n, err)
			}
			if n, err := c.Submit(noops(100, 3)); n != 3 || err != nil {
				t.Fatalf("Submit after the bad head: %d %v", n, err)
			}
			head.Store(old) // the reaper puts it back: too late, the ring is dead
			// Reap sends the caller to GetEvents, which serves the events
			// held since (before, it returned 0 and no error for ever).
			if n, err := c.Reap(out); n != 0 || !errors.Is(err, ErrNoRing) {
				t.Fatalf("Reap on the dead legacy ring = %d, %v; want 0, ErrNoRing", n, err)
			}
			got := map[uint64]int{}
			for len(got) < 3 {
				n, err := c.GetEvents(1, out, time.Second)
				if err != nil {
					t.Fatalf("GetEvents after %v: %v", got, err)
				}
				for _, ev := range events(t, out[:n]) {
					if ev.Data < 100 || ev.Data > 102 {
						t.Fatalf("event with data %d: not one that was submitted", ev.Data)
					}
					got[ev.Data]++
				}
			}
			for d, k := range got {
				if k != 1 {
					t.Fatalf("event %d delivered %d times", d, k)
				}
			}
			if n := c.Inflight(); n != 0 {
				t.Fatalf("Inflight %d after every event was delivered", n)
			}
			// The whole of max_inflight is usable again.
			if n, err := c.Submit(noops(200, 8)); n != 8 || err != nil {
				t.Fatalf("Submit of max_inflight after the ring died: %d %v", n, err)
			}
			if evs := waitEvents(t, c, 8); len(evs) != 8 {
				t.Fatalf("%d events, want 8", len(evs))
			}
		})
	}
}

// ring_bytes is granted for version 1 as for version 2: a larger ask gets
// the largest legacy ring (ring.MaxLegacyNr events) rather than EINVAL.
func TestLegacyLargeRingGranted(t *testing.T) {
	p := abi.Params{Size: abi.ParamsSize, Version: 1, Eventfd: -1, RingBytes: 1 << 30}
	c, err := Setup(&p)
	if err != nil {
		t.Fatalf("Setup of a version 1 context asking for 1 GiB: %v", err)
	}
	defer c.Destroy()
	if want := uint32(ring.MaxLegacyNr * abi.IoEventBytes); p.RingBytes != want {
		t.Fatalf("granted ring_bytes %d, want %d", p.RingBytes, want)
	}
}

// Reap on a version 1 ring that its reaper finds corrupt kills the ring,
// as GetEvents does: that call returns the CorruptError, later Reaps
// ErrNoRing, and what completes afterwards comes through GetEvents.
// Before (found by review, 2026-11-22), every Reap returned the same
// CorruptError and the ring lived on.
func TestLegacyReapKillsCorruptRing(t *testing.T) {
	p := abi.Params{Size: abi.ParamsSize, Version: 1, Eventfd: -1, RingBytes: 4096, MaxInflight: 8}
	c, err := Setup(&p)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Destroy()
	c.leg.head.Store(c.leg.nr + 1000)
	out := make([]byte, 64*abi.EventHeaderBytes)
	if n, err := c.Reap(out); n != 0 || !errors.Is(err, ring.ErrCorrupt) {
		t.Fatalf("Reap with head beyond nr: %d, %v; want 0, ErrCorrupt", n, err)
	}
	if n, err := c.Reap(out); n != 0 || !errors.Is(err, ErrNoRing) {
		t.Fatalf("Reap after: %d, %v; want 0, ErrNoRing", n, err)
	}
	if n, err := c.Submit(noops(100, 3)); n != 3 || err != nil {
		t.Fatalf("Submit after the ring died: %d %v", n, err)
	}
	if evs := waitEvents(t, c, 3); len(evs) != 3 {
		t.Fatalf("%d events, want 3", len(evs))
	}
}
