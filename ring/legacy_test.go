package ring

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"unsafe"

	"github.com/aio2/aio2/abi"
	"golang.org/x/sys/unix"
)

func legacyEvent(seq uint64) abi.IoEvent {
	return abi.IoEvent{Data: seq, Obj: word(seq, 0), Res: int64(seq), Res2: -int64(seq)}
}

func TestLegacyRoundTripAndFull(t *testing.T) {
	for _, mk := range []func(uint32) (*LegacyRegion, error){
		NewLegacyHeap,
		func(nr uint32) (*LegacyRegion, error) { return NewLegacyMemfd("aio2-legacy-test", nr) },
	} {
		lr, err := mk(8)
		if err != nil {
			t.Fatal(err)
		}
		lr.SetStart(5)
		var hdr abi.AioRing
		b := lr.Bytes()
		hdr.Nr, hdr.Magic = *(*uint32)(unsafe.Pointer(&b[4])), *(*uint32)(unsafe.Pointer(&b[16]))
		hdr.HeaderLength = *(*uint32)(unsafe.Pointer(&b[28]))
		if !hdr.Usable() || hdr.Nr != 8 || len(b) != 32+8*32 {
			t.Fatalf("header %+v, %d bytes", hdr, len(b))
		}
		p := NewLegacyProducer(lr)
		rp, err := NewLegacyReaperAt(lr.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		var seq, next uint64
		for round := 0; round < 5; round++ {
			for {
				err := p.Append(legacyEvent(seq))
				if errors.Is(err, ErrLegacyFull) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				seq++
			}
			if !errors.Is(ErrLegacyFull, syscall.EAGAIN) {
				t.Fatal("ErrLegacyFull does not wrap EAGAIN")
			}
			if rp.Pending() != 0 || !p.Commit() || rp.Pending() != 7 {
				t.Fatalf("round %d: Pending %d after commit, want nr-1 = 7", round, rp.Pending())
			}
			dst := make([]abi.IoEvent, 3)
			for rp.Pending() > 0 {
				n, err := rp.Reap(dst)
				if err != nil {
					t.Fatal(err)
				}
				for _, ev := range dst[:n] {
					if ev != legacyEvent(next) {
						t.Fatalf("reaped %+v, want seq %d", ev, next)
					}
					next++
				}
			}
		}
		if next != seq || seq != 35 {
			t.Fatalf("produced %d reaped %d", seq, next)
		}
		if err := lr.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLegacyReaperRefuses(t *testing.T) {
	lr, _ := NewLegacyHeap(8)
	good := lr.Bytes()
	for name, b := range map[string][]byte{
		"short":     good[:16],
		"truncated": good[:len(good)-8],
		"magic":     func() []byte { c := clone8(good); c[16] ^= 1; return c }(),
		"incompat":  func() []byte { c := clone8(good); c[24] = 1; return c }(),
		"hdrlen":    func() []byte { c := clone8(good); c[28] = 64; return c }(),
		"nr0":       func() []byte { c := clone8(good); c[4] = 0; return c }(),
		"unaligned": clone8(append([]byte{0}, good...))[1:],
	} {
		if _, err := NewLegacyReaperAt(b); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("%s: %v, want EINVAL", name, err)
		}
	}
	if _, err := NewLegacyHeap(1); err == nil {
		t.Error("nr 1 accepted")
	}
	// Head and tail out of range are corruption.
	rp, _ := NewLegacyReaperAt(good)
	lr.head.Store(8)
	if _, err := rp.Reap(make([]abi.IoEvent, 1)); !errors.Is(err, ErrCorrupt) {
		t.Errorf("head 8: %v", err)
	}
	if err := NewLegacyProducer(lr).Append(abi.IoEvent{}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("producer, head 8: %v", err)
	}
	lr.head.Store(0)
	lr.tail.Store(1 << 31)
	if _, err := rp.Reap(make([]abi.IoEvent, 1)); !errors.Is(err, ErrCorrupt) {
		t.Errorf("tail 2^31: %v", err)
	}
}

func clone8(b []byte) []byte {
	c := alignedBytes(len(b))
	copy(c, b)
	return c
}

// TestLegacyCASReapingHasABA shows the hazard of spec section 4: reaper A
// copies the event at head, stalls while reaper B reaps exactly nr events,
// and A's compare-and-swap then succeeds on a stale copy, delivering event
// 0 twice and losing event nr. The version 2 ring, in the same schedule,
// fails A's CAS: its head moved nr*40 bytes, not back to the same value.
func TestLegacyCASReapingHasABA(t *testing.T) {
	const nr = 8
	lr, _ := NewLegacyHeap(nr)
	p := NewLegacyProducer(lr)
	a, _ := NewLegacyCASReaperAt(lr.Bytes())
	b, _ := NewLegacyCASReaperAt(lr.Bytes())
	seq := uint64(0)
	produce := func() {
		if err := p.Append(legacyEvent(seq)); err != nil {
			t.Fatal(err)
		}
		seq++
		p.Commit()
	}
	produce()
	var stale [1]abi.IoEvent
	h, n, err := a.Snapshot(stale[:])
	if err != nil || n != 1 || stale[0].Data != 0 {
		t.Fatalf("A's snapshot: %d %v %+v", n, err, stale[0])
	}
	var one [1]abi.IoEvent
	for k := 0; k < nr; k++ { // B reaps events 0..nr-1 while A stalls
		if k > 0 {
			produce()
		}
		if n, err := b.Reap(one[:]); n != 1 || err != nil || one[0].Data != uint64(k) {
			t.Fatalf("B: %d %v %+v", n, err, one[0])
		}
	}
	produce() // event nr lands in slot 0, where event 0 was
	if !a.Claim(h, 1) {
		t.Fatal("legacy: A's stale CAS failed; expected the ABA hazard")
	}
	t.Logf("legacy ring, nr %d: A's CAS succeeded after %d events; it delivers event %d again and event %d is lost", nr, nr, stale[0].Data, nr)
	if b2, _ := b.Reap(one[:]); b2 != 0 {
		t.Fatalf("event %d should be lost (head already past it), B reaped %+v", nr, one[0])
	}

	// Version 2, same schedule.
	r := mustHeap(t, 4096, 1024)
	vp := NewProducer(r)
	va, _ := NewReaper(r)
	vb, _ := NewReaper(r)
	vprod := func(seq uint64) {
		vp.Append(appendTestEvent(nil, seq, 40))
		vp.Commit()
	}
	vprod(0)
	vh, consumed, _, vn, err := va.Snapshot(nil, 1)
	if err != nil || vn != 1 {
		t.Fatal(vn, err)
	}
	for k := 0; k < nr; k++ {
		if k > 0 {
			vprod(uint64(k))
		}
		if _, n, err := vb.Reap(nil, 1); n != 1 || err != nil {
			t.Fatal(n, err)
		}
	}
	vprod(nr)
	if va.Claim(vh, consumed) {
		t.Fatal("version 2: A's stale CAS succeeded")
	}
}

// TestV2ABANeeds2To32Bytes shows that the version 2 ABA window is exactly
// 2^32 bytes: A's stale CAS fails after any amount short of 2^32 bytes
// reaped by B, and succeeds after exactly 2^32. It moves 4 GiB, so it runs
// only without -short and without the race detector.
func TestV2ABANeeds2To32Bytes(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("moves 4 GiB through the ring")
	}
	const R, ev = 4096, 1024 // 1024 divides 4096: no PADs, head - h == bytes reaped
	r := mustHeap(t, R, ev)
	p := NewProducer(r)
	a, _ := NewReaper(r)
	b, _ := NewSingleReaper(r) // B is alone while A stalls
	rec := appendTestEvent(nil, 0, ev)
	fill := func() {
		for {
			if ok, err := p.TryAppend(rec); !ok || err != nil {
				break
			}
		}
		p.Commit()
	}
	fill()
	h, consumed, _, _, _ := a.Snapshot(nil, 1)
	buf := make([]byte, 0, R)
	var moved uint64
	for moved < 1<<32-R {
		fill()
		var n int
		buf, n, _ = b.Reap(buf[:0], 4)
		if n == 0 {
			t.Fatal("stalled")
		}
		moved += uint64(len(buf))
	}
	for moved < 1<<32 { // the last ring's worth, one record at a time
		if r.Head() == h || a.Claim(h, consumed) {
			t.Fatalf("head back at %#x after %d bytes", h, moved)
		}
		fill()
		if _, n, err := b.Reap(buf[:0], 1); n != 1 || err != nil {
			t.Fatal(n, err)
		}
		moved += ev
	}
	if r.Head() != h || !a.Claim(h, consumed) {
		t.Fatalf("stale CAS failed after exactly 2^32 bytes (head %#x, h %#x)", r.Head(), h)
	}
	t.Logf("stale CAS succeeded after exactly 2^32 bytes reaped")
}

// TestKernelAioRing reaps the ring the kernel maps for io_setup, as kioctx
// does when abi.AioRing.Usable.
func TestKernelAioRing(t *testing.T) {
	// The context id is the address of the ring mapping; keeping it in an
	// unsafe.Pointer (the kernel writes it there) avoids converting a
	// uintptr back to a pointer. The mapping is not Go memory.
	var ctxp unsafe.Pointer
	if _, _, e := unix.Syscall(unix.SYS_IO_SETUP, 16, uintptr(unsafe.Pointer(&ctxp)), 0); e != 0 {
		skipOrFail(t, "io_setup: %v", e)
	}
	ctx := uintptr(ctxp)
	defer unix.Syscall(unix.SYS_IO_DESTROY, ctx, 0, 0)
	nr := (*abi.AioRing)(ctxp).Nr
	mem := unsafe.Slice((*byte)(ctxp), abi.AioRingHeaderBytes+int(nr)*abi.IoEventBytes)
	rp, err := NewLegacyReaperAt(mem)
	if err != nil {
		skipOrFail(t, "kernel aio_ring not usable: %v", err)
	}
	path := filepath.Join(t.TempDir(), "f")
	os.WriteFile(path, []byte("0123456789abcdef"), 0o600)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	bufs := make([][]byte, 5)
	iocbs := make([]abi.LegacyIocb, 5)
	ptrs := make([]*abi.LegacyIocb, 5)
	for i := range iocbs {
		bufs[i] = make([]byte, 4)
		iocbs[i] = abi.LegacyIocb{Data: uint64(100 + i), Opcode: abi.IOCB_CMD_PREAD, Fildes: uint32(f.Fd()),
			Buf: uint64(uintptr(unsafe.Pointer(&bufs[i][0]))), Nbytes: 4, Offset: int64(4 * (i % 4))}
		ptrs[i] = &iocbs[i]
	}
	n, _, e := unix.Syscall(unix.SYS_IO_SUBMIT, ctx, uintptr(len(ptrs)), uintptr(unsafe.Pointer(&ptrs[0])))
	if e != 0 || n != 5 {
		t.Fatalf("io_submit = %d, %v", n, e)
	}
	got := map[uint64]bool{}
	dst := make([]abi.IoEvent, 2)
	for spins := 0; len(got) < 5; spins++ {
		if spins > 1e7 {
			t.Fatalf("only %d events", len(got))
		}
		n, err := rp.Reap(dst)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range dst[:n] {
			i := ev.Data - 100
			if i >= 5 || ev.Res != 4 || ev.Obj != uint64(uintptr(unsafe.Pointer(ptrs[i]))) || got[ev.Data] {
				t.Fatalf("event %+v", ev)
			}
			got[ev.Data] = true
			if want := "0123456789abcdef"[4*(i%4) : 4*(i%4)+4]; string(bufs[i]) != want {
				t.Fatalf("buffer %d = %q, want %q", i, bufs[i], want)
			}
		}
	}
	// The kernel agrees that they were reaped: io_getevents finds nothing.
	var evs [1]abi.IoEvent
	ts := unix.Timespec{}
	n, _, e = unix.Syscall6(unix.SYS_IO_GETEVENTS, ctx, 0, 1, uintptr(unsafe.Pointer(&evs[0])), uintptr(unsafe.Pointer(&ts)), 0)
	if e != 0 || n != 0 {
		t.Fatalf("io_getevents after user-space reaping = %d, %v", n, e)
	}
}
