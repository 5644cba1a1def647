package kioctx

import (
	"context"
	"errors"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/aio2/aio2/abi"
)

func TestSetupRules(t *testing.T) {
	base := abi.Params{Size: abi.ParamsSize, Version: 2, Eventfd: -1}
	for _, tc := range []struct {
		name  string
		edit  func(*abi.Params)
		errno unix.Errno
	}{
		{"unknown flag", func(p *abi.Params) { p.Flags = 1 << 7 }, unix.EINVAL},
		{"reserved", func(p *abi.Params) { p.Reserved = 1 }, unix.EINVAL},
		{"reserved2", func(p *abi.Params) { p.Reserved2[1] = 1 }, unix.EINVAL},
		{"small size", func(p *abi.Params) { p.Size = 32 }, unix.EINVAL},
		{"version 0", func(p *abi.Params) { p.Version = 0 }, unix.EINVAL},
		{"not an eventfd", func(p *abi.Params) { p.Eventfd = int32(os.Stdin.Fd()) }, unix.EINVAL},
		{"closed eventfd", func(p *abi.Params) { p.Eventfd = 1 << 20 }, unix.EBADF},
	} {
		p := base
		tc.edit(&p)
		c, err := Setup(&p)
		if c != nil {
			c.Destroy()
		}
		if !errors.Is(err, tc.errno) {
			t.Errorf("%s: err %v, want %v", tc.name, err, tc.errno)
		}
	}

	// A larger params block: zero extra bytes are fine, others are E2BIG.
	raw := abi.AppendParams(nil, &abi.Params{Size: 80, Version: 3, Eventfd: -1, RingBytes: 5000, MaxInflight: 1 << 20})
	raw = append(raw, make([]byte, 16)...)
	c, err := SetupRaw(raw)
	if err != nil {
		t.Fatalf("SetupRaw: %v", err)
	}
	var got abi.Params
	if err := abi.DecodeParams(raw, &got); err != nil {
		t.Fatal(err)
	}
	if got.Version != 2 || got.RingBytes != 8192 || got.MaxInflight != MaxMaxInflight || got.MaxEventBytes != 2048 || got.Eventfd < 0 {
		t.Errorf("granted %+v", got)
	}
	want := uint64(abi.FeatNoDrop | abi.FeatAttrs | abi.FeatSyscall | abi.FeatPoll | abi.FeatShared | abi.FeatCASReap | abi.FeatIssueSync)
	if got.Features != want {
		t.Errorf("features %#x, want %#x", got.Features, want)
	}
	if got.Attrs&(1<<abi.AttrLatency) == 0 || got.Attrs&(1<<abi.AttrTag) == 0 {
		t.Errorf("attrs %#x lacks latency or tag", got.Attrs)
	}
	c.Destroy()
	raw[70] = 1
	if _, err := SetupRaw(raw); !errors.Is(err, unix.E2BIG) {
		t.Errorf("non-zero extra byte: %v, want E2BIG", err)
	}

	// The caller's eventfd is used, and not closed by Destroy.
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(efd)
	p := abi.Params{Size: abi.ParamsSize, Version: 2, Eventfd: int32(efd)}
	c, err = Setup(&p)
	if err != nil {
		t.Fatal(err)
	}
	if c.Eventfd() != efd || p.Eventfd != int32(efd) {
		t.Errorf("eventfd %d, want %d", c.Eventfd(), efd)
	}
	c.Destroy()
	if _, err := unix.FcntlInt(uintptr(efd), unix.F_GETFD, 0); err != nil {
		t.Errorf("Destroy closed the caller's eventfd: %v", err)
	}
}

// Ported from gVisor's test/syscalls/linux/aio.cc: the edge cases of the
// legacy interface, as they apply to io_submit2 and friends.
func TestGvisorEdgeCases(t *testing.T) {
	c := newCtx(t, 8, 0, 0)
	f, _ := directFile(t, 8192)
	buf := alignedBuf(t, 4096)

	// BadFd: a closed fd is refused by Submit with EBADF.
	g, _ := os.CreateTemp(t.TempDir(), "x")
	bad := int32(g.Fd())
	g.Close()
	if _, err := c.Submit([]Iocb{{Opcode: abi.OpPread, Fd: bad, Buf: buf}}); !errors.Is(err, unix.EBADF) {
		t.Errorf("closed fd: %v, want EBADF", err)
	}
	// BadOffset: a negative offset is EINVAL.
	if _, err := c.Submit([]Iocb{{Opcode: abi.OpPwrite, Fd: int32(f.Fd()), Buf: buf, Offset: -1}}); !errors.Is(err, unix.EINVAL) {
		t.Errorf("negative offset: %v, want EINVAL", err)
	}
	// ZeroTimeout: getevents with no events and a zero timeout returns
	// at once with nothing.
	out := make([]byte, 8*c.maxEv)
	start := time.Now()
	n, err := c.GetEvents(1, out, 0)
	if n != 0 || !errors.Is(err, ErrTimeout) || time.Since(start) > 50*time.Millisecond {
		t.Errorf("zero timeout: %d, %v after %v", n, err, time.Since(start))
	}
	n, err = c.GetEvents(0, out, 0)
	if n != 0 || err != nil {
		t.Errorf("min 0, zero timeout: %d, %v", n, err)
	}
	// A short timeout waits about that long.
	start = time.Now()
	if _, err := c.GetEvents(1, out, 10*time.Millisecond); !errors.Is(err, ErrTimeout) || time.Since(start) < 10*time.Millisecond {
		t.Errorf("10ms timeout: %v after %v", err, time.Since(start))
	}
	// A buffer smaller than max_event_bytes is refused.
	if _, err := c.GetEvents(0, out[:40], 0); !errors.Is(err, ErrBufTooSmall) {
		t.Errorf("tiny buffer: %v", err)
	}
	// Unknown opcode.
	if _, err := c.Submit([]Iocb{{Opcode: 4}}); !errors.Is(err, unix.EINVAL) {
		t.Errorf("opcode 4: %v", err)
	}
}

func TestMisalignedDirectIO(t *testing.T) {
	c := newCtx(t, 8, 0, 0)
	f, _ := directFile(t, 8192)
	a, err := DIOAlign(int(f.Fd()))
	if err != nil {
		skipOrFail(t, "no STATX_DIOALIGN here: %v", err)
	}
	buf := alignedBuf(t, 8192)
	cases := []Iocb{
		{Opcode: abi.OpPread, Fd: int32(f.Fd()), Buf: buf[:4096], Offset: int64(a.Offset) + 1},
	}
	if a.Mem > 1 {
		cases = append(cases, Iocb{Opcode: abi.OpPread, Fd: int32(f.Fd()), Buf: buf[1 : 4096+1]})
	}
	if a.Offset > 1 {
		cases = append(cases, Iocb{Opcode: abi.OpPread, Fd: int32(f.Fd()), Buf: buf[:a.Offset+1]})
	}
	for _, cb := range cases {
		_, err := c.Submit([]Iocb{cb})
		if !errors.Is(err, unix.EINVAL) || !strings.Contains(err.Error(), "aligned to") {
			t.Errorf("misaligned %+v: %v", cb.Offset, err)
		}
	}
	if c.Inflight() != 0 {
		t.Errorf("refused iocbs count in flight: %d", c.Inflight())
	}
}

func TestMaxInflight(t *testing.T) {
	c := newCtx(t, 4, 0, 0)
	cbs := make([]Iocb, 6)
	for i := range cbs {
		cbs[i] = Iocb{Opcode: abi.OpNoop, Data: uint64(i)}
	}
	n, err := c.Submit(cbs)
	if n != 4 || err != nil {
		t.Fatalf("Submit 6 into 4: %d, %v", n, err)
	}
	if _, err := c.Submit(cbs[4:]); !errors.Is(err, unix.EAGAIN) || !errors.Is(err, ErrInflightFull) {
		t.Fatalf("5th: %v, want EAGAIN", err)
	}
	// Reaping from the ring, without a syscall and without the context's
	// lock, makes room: the producer sees head move.
	dst := make([]byte, c.maxEv)
	if k, err := c.Reap(dst); err != nil || k == 0 {
		t.Fatalf("Reap: %d, %v", k, err)
	}
	if n, err := c.Submit(cbs[4:5]); n != 1 || err != nil {
		t.Fatalf("after one reap: %d, %v", n, err)
	}
	waitEvents(t, c, 4)
	if c.Inflight() != 0 {
		t.Fatalf("Inflight %d", c.Inflight())
	}
}

func TestCancel(t *testing.T) {
	c := newCtx(t, 8, 0, 0)
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	cbs := []Iocb{{Opcode: abi.OpPread, Fd: int32(fds[0]), Buf: make([]byte, 8), Offset: -1, Data: 1}}
	if _, err := c.Submit(cbs); err != nil {
		t.Fatal(err)
	}
	key := cbs[0].Key
	if err := c.Cancel(key); err != nil {
		t.Fatalf("Cancel pending socket read: %v", err)
	}
	ev := waitEvents(t, c, 1)[0]
	if ev.Res != -int64(unix.ECANCELED) || ev.Obj != key {
		t.Fatalf("cancelled event %+v", ev)
	}
	if err := c.Cancel(key); !errors.Is(err, ErrAlreadyDone) {
		t.Errorf("Cancel twice: %v", err)
	}
	if err := c.Cancel(key + 1<<32); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("Cancel of a future key: %v", err)
	}
	if err := c.Cancel(0); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("Cancel(0): %v", err)
	}
	// No stray second event for the cancelled read, even once data comes.
	unix.Write(fds[1], []byte("late"))
	out := make([]byte, 4*c.maxEv)
	if n, _ := c.GetEvents(1, out, 30*time.Millisecond); n != 0 {
		t.Fatalf("a second event after cancel: %v", events(t, out[:n]))
	}
}

func TestCancelQueuedPoolWork(t *testing.T) {
	p := abi.Params{Size: abi.ParamsSize, Version: 2, Eventfd: -1, MaxInflight: 8}
	c, err := Setup(&p, WithWorkers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Destroy()
	pp := newPipe(t)
	rb := alignedBuf(t, 8)
	// The only worker blocks in read(2) on the empty pipe.
	block := Iocb{Opcode: abi.OpSyscall, Sysno: unix.SYS_READ, Data: 1}
	block.Args = [6]uint64{uint64(pp[0]), addrOf(rb), 8}
	queued := Iocb{Opcode: abi.OpNoop, Data: 2}
	_ = queued
	f, err := os.CreateTemp(t.TempDir(), "q")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cbs := []Iocb{block, {Opcode: abi.OpPwrite, Fd: int32(f.Fd()), Buf: []byte("never"), Data: 2}}
	if n, err := c.Submit(cbs); n != 2 || err != nil {
		t.Fatalf("Submit: %d %v", n, err)
	}
	// Give the worker time to take the read.
	deadline := time.Now().Add(2 * time.Second)
	for {
		c.mu.Lock()
		st := c.slots[splitIdx(cbs[0].Key)].state
		c.mu.Unlock()
		if st == stRunning || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if err := c.Cancel(cbs[0].Key); !errors.Is(err, ErrInProgress) {
		t.Errorf("Cancel of a running read: %v", err)
	}
	if err := c.Cancel(cbs[1].Key); err != nil {
		t.Fatalf("Cancel of queued work: %v", err)
	}
	unix.Write(pp[1], []byte("go"))
	for _, ev := range waitEvents(t, c, 2) {
		switch ev.Data {
		case 1:
			if ev.Res != 2 {
				t.Errorf("read res %d", ev.Res)
			}
		case 2:
			if ev.Res != -int64(unix.ECANCELED) {
				t.Errorf("cancelled write res %d", ev.Res)
			}
		}
	}
	if st, _ := f.Stat(); st.Size() != 0 {
		t.Error("the cancelled write ran")
	}
}

func splitIdx(key uint64) int32 { i, _ := splitKey(key); return i }

func countFds(t testing.TB) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func TestDestroyWithIOInFlight(t *testing.T) {
	runtime.GC()
	fds0, g0 := countFds(t), runtime.NumGoroutine()
	f, _ := directFile(t, 1<<20)
	sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	fds0 += 3 // the file and the pair, opened after the count
	p := abi.Params{Size: abi.ParamsSize, Version: 2, Eventfd: -1, MaxInflight: 64, Flags: abi.SetupShared}
	c, err := Setup(&p)
	if err != nil {
		t.Fatal(err)
	}
	buf := alignedBuf(t, 32*4096)
	var cbs []Iocb
	for i := 0; i < 32; i++ {
		cbs = append(cbs, Iocb{Opcode: abi.OpPread, Fd: int32(f.Fd()), Buf: buf[i*4096 : (i+1)*4096], Offset: int64(i) * 4096})
	}
	cbs = append(cbs, Iocb{Opcode: abi.OpPread, Fd: int32(sp[0]), Buf: make([]byte, 8), Offset: -1})
	if n, err := c.Submit(cbs); n != len(cbs) || err != nil {
		t.Fatalf("Submit: %d %v", n, err)
	}
	unreaped, err := c.Destroy()
	if err != nil {
		t.Fatal(err)
	}
	if unreaped != len(cbs) {
		t.Errorf("unreaped %d, want %d (every accepted iocb yields one event)", unreaped, len(cbs))
	}
	if _, err := c.Submit(cbs[:1]); !errors.Is(err, ErrDestroyed) {
		t.Errorf("Submit after Destroy: %v", err)
	}
	if _, err := c.Destroy(); !errors.Is(err, ErrDestroyed) {
		t.Errorf("second Destroy: %v", err)
	}
	unix.Close(sp[0])
	unix.Close(sp[1])
	fds0 -= 2
	if n := countFds(t); n != fds0 {
		t.Errorf("%d fds open after Destroy, %d before", n, fds0)
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > g0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > g0 {
		t.Errorf("%d goroutines after Destroy, %d before", n, g0)
	}
}

func TestNoRing(t *testing.T) {
	c := newCtx(t, 8, 0, abi.SetupNoRing)
	if c.Region() != nil {
		t.Fatal("SETUP_NO_RING context has a region")
	}
	if _, err := c.Reap(make([]byte, 8192)); !errors.Is(err, ErrNoRing) {
		t.Fatalf("Reap: %v", err)
	}
	c.Submit([]Iocb{{Opcode: abi.OpNoop, Data: 3}})
	if ev := waitEvents(t, c, 1)[0]; ev.Data != 3 {
		t.Fatalf("event %+v", ev)
	}
}

func TestEventfdOncePerBatch(t *testing.T) {
	c := newCtx(t, 64, 0, 0)
	read := func() uint64 {
		var b [8]byte
		n, err := unix.Read(c.Eventfd(), b[:])
		if err == unix.EAGAIN {
			return 0
		}
		if err != nil || n != 8 {
			t.Fatalf("eventfd read: %d %v", n, err)
		}
		return uint64(b[0]) | uint64(b[1])<<8
	}
	cbs := make([]Iocb, 16)
	for i := range cbs {
		cbs[i] = Iocb{Opcode: abi.OpNoop}
	}
	c.Submit(cbs)
	if got := read(); got != 1 {
		t.Errorf("eventfd count after one batch of 16: %d, want 1", got)
	}
	waitEvents(t, c, 16)
	// UF_NO_EVENTFD: no signal.
	c.reg.SetUserFlags(abi.UFNoEventfd, 0)
	c.Submit(cbs[:4])
	if got := read(); got != 0 {
		t.Errorf("eventfd signalled with UF_NO_EVENTFD: %d", got)
	}
	c.reg.SetUserFlags(0, abi.UFNoEventfd)
	c.Submit(cbs[:1])
	if got := read(); got != 1 {
		t.Errorf("after clearing UF_NO_EVENTFD: %d", got)
	}
}

func TestGetEventsContext(t *testing.T) {
	c := newCtx(t, 8, 0, 0)
	fds, _ := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	c.Submit([]Iocb{{Opcode: abi.OpPread, Fd: int32(fds[0]), Buf: make([]byte, 8), Offset: -1, Data: 5}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	out := make([]byte, 8*c.maxEv)
	n, err := c.GetEventsContext(ctx, 1, out)
	if n != 0 || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("before the peer wrote: %d, %v", n, err)
	}
	go func() {
		time.Sleep(10 * time.Millisecond)
		unix.Write(fds[1], []byte("ctx"))
	}()
	n, err = c.GetEventsContext(context.Background(), 1, out)
	if err != nil || len(events(t, out[:n])) != 1 {
		t.Fatalf("after the peer wrote: %d, %v", n, err)
	}
}

func TestLegacySharedAndNoRing(t *testing.T) {
	p := abi.Params{Size: abi.ParamsSize, Version: 1, Eventfd: -1, Flags: abi.SetupShared}
	c, err := Setup(&p)
	if err != nil {
		t.Fatal(err)
	}
	if c.RingFile() == nil || c.Region() == nil {
		t.Fatal("shared legacy context without ring file or region")
	}
	c.Submit(noops(7, 1))
	waitIdle(t, c)
	if evs := libaioStyleReap(t, c.Region()); len(evs) != 1 || evs[0].Data != 7 {
		t.Fatalf("reaped %+v", evs)
	}
	c.Destroy()
	p = abi.Params{Size: abi.ParamsSize, Version: 1, Eventfd: -1, Flags: abi.SetupNoRing}
	c, err = Setup(&p)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Destroy()
	if c.Region() != nil {
		t.Fatal("SETUP_NO_RING legacy context has a region")
	}
	c.Submit(noops(9, 1))
	if ev := waitEvents(t, c, 1)[0]; ev.Data != 9 {
		t.Fatalf("event %+v", ev)
	}
}

// A GetEventsContext caller parked before the IO it waits for is
// submitted in lazy mode: it cannot own the kernel wait, so the background
// goroutine completes the IO, which must therefore signal the eventfd.
// Issued without IOCB_FLAG_RESFD (as lazy mode does for GetEvents
// callers), it was found only at the goroutine's 1 ms deadline.
func TestGetEventsContextParkedFirst(t *testing.T) {
	l := newLazyReads(t, 8, 4096, 10)
	c := l.c
	const rounds = 30
	late := l.parkThenSubmit(t, rounds, func() (int, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return c.GetEventsContext(ctx, 1, make([]byte, 8*c.maxEv))
	}, func() bool { return c.nat.ctxWaiters == 1 }, func() int { return c.nat.bgDeadlines })
	if late > 0 {
		t.Errorf("%d of %d reads were found only at the background goroutine's deadline", late, rounds)
	}
}

// GetEventsContext waiting on O_DIRECT IO after GetEvents callers made
// the context lazy: the background goroutine must take over at once.
func TestGetEventsContextAfterLazy(t *testing.T) {
	l := newLazyReads(t, 8, 4096, 10)
	c, one, out := l.c, l.one, l.out
	for i := 0; i < 50; i++ {
		c.Submit(one)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		n, err := c.GetEventsContext(ctx, 1, out)
		cancel()
		if err != nil || n == 0 {
			t.Fatalf("round %d: %d %v", i, n, err)
		}
	}
}
