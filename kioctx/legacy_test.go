package kioctx

import (
	"encoding/binary"
	"errors"
	"sync/atomic"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/aio2/aio2/abi"
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
