package kioctx

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/aio2/aio2/abi"
	"github.com/aio2/aio2/ring"
)

func TestDirectWriteRead(t *testing.T) {
	c := newCtx(t, 32, 0, 0)
	f, _ := directFile(t, 1<<20)
	const bs = 4096
	w := alignedBuf(t, 8*bs)
	for i := range w {
		w[i] = byte(i*7 + i/bs)
	}
	var cbs []Iocb
	for i := 0; i < 8; i++ {
		cbs = append(cbs, Iocb{Opcode: abi.OpPwrite, Fd: int32(f.Fd()), Buf: w[i*bs : (i+1)*bs], Offset: int64(i) * bs, Data: uint64(100 + i)})
	}
	n, err := c.Submit(cbs)
	if err != nil || n != 8 {
		t.Fatalf("Submit writes: %d, %v", n, err)
	}
	seen := map[uint64]bool{}
	for _, ev := range waitEvents(t, c, 8) {
		if ev.Res != bs {
			t.Errorf("write event data %d: res %d", ev.Data, ev.Res)
		}
		if seen[ev.Data] {
			t.Errorf("event %d twice", ev.Data)
		}
		seen[ev.Data] = true
		if want := cbs[ev.Data-100].Key; ev.Obj != want {
			t.Errorf("event %d: obj %#x, want key %#x", ev.Data, ev.Obj, want)
		}
	}
	r := alignedBuf(t, 8*bs)
	// Vectored read of the 8 blocks, in two iovecs.
	cb := []Iocb{{Opcode: abi.OpPreadv, Fd: int32(f.Fd()), Iov: [][]byte{r[:3*bs], r[3*bs:]}, Data: 7}}
	if n, err := c.Submit(cb); err != nil || n != 1 {
		t.Fatalf("Submit readv: %d, %v", n, err)
	}
	ev := waitEvents(t, c, 1)[0]
	if ev.Res != 8*bs || ev.Data != 7 {
		t.Fatalf("readv event: %+v", ev)
	}
	if !bytes.Equal(r, w) {
		t.Fatal("read back differs from what was written")
	}
	// Vectored write of two blocks, read back with one PREAD.
	if n, err := c.Submit([]Iocb{{Opcode: abi.OpPwritev, Fd: int32(f.Fd()), Iov: [][]byte{w[5*bs : 6*bs], w[2*bs : 3*bs]}, Offset: 16 * bs}}); n != 1 || err != nil {
		t.Fatalf("Submit writev: %d, %v", n, err)
	}
	if ev := waitEvents(t, c, 1)[0]; ev.Res != 2*bs {
		t.Fatalf("writev res %d", ev.Res)
	}
	r2 := alignedBuf(t, 2*bs)
	c.Submit([]Iocb{{Opcode: abi.OpPread, Fd: int32(f.Fd()), Buf: r2, Offset: 16 * bs}})
	if ev := waitEvents(t, c, 1)[0]; ev.Res != 2*bs || !bytes.Equal(r2[:bs], w[5*bs:6*bs]) || !bytes.Equal(r2[bs:], w[2*bs:3*bs]) {
		t.Fatalf("read back of the vectored write: res %d", ev.Res)
	}
	if got := c.Inflight(); got != 0 {
		t.Errorf("Inflight after reaping everything: %d", got)
	}
}

// One IO at a time, each waited for with GetEvents: the pattern in which
// the caller owns the driver eventfd. A lost wakeup hangs here.
func TestQD1NoLostWakeup(t *testing.T) {
	c := newCtx(t, 1, 0, 0)
	f, _ := directFile(t, 1<<24)
	buf := alignedBuf(t, 4096)
	ev := make([]byte, 4096)
	errc := make(chan error, 1)
	go func() {
		o := offsets(1)
		for i := 0; i < 3000; i++ {
			if _, err := c.Submit([]Iocb{{Opcode: abi.OpPread, Fd: int32(f.Fd()), Buf: buf, Offset: o.next() % (1 << 24)}}); err != nil {
				errc <- err
				return
			}
			if _, err := c.GetEvents(1, ev, -1); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("stuck: kernel ring head %d tail %d, eventfd owner %d", c.nat.kr.head.Load(), c.nat.kr.tail.Load(), c.nat.owner)
	}
}

// After GetEvents callers have owned the completions (lazy mode, iocbs
// issued without the eventfd signal), a caller that switches to reaping
// from the ring on the context's eventfd still gets every event: the
// background goroutine takes over within a few lazyCheck periods.
func TestLazyHandover(t *testing.T) {
	l := newLazyReads(t, 16, 8*4096, 20)
	c, f, mem, out := l.c, l.f, l.mem, l.out
	if !locked(c, func() bool { return c.nat.lazy }) {
		t.Fatal("GetEvents callers did not put the context in lazy mode")
	}
	var cbs []Iocb
	for i := 0; i < 8; i++ {
		cbs = append(cbs, Iocb{Opcode: abi.OpPread, Fd: int32(f.Fd()), Buf: mem[i*4096 : (i+1)*4096], Offset: int64(i) * 4096})
	}
	start := time.Now()
	c.Submit(cbs)
	got := 0
	for got < 8 {
		if time.Since(start) > 5*time.Second {
			t.Fatalf("%d of 8 events after 5s without GetEvents", got)
		}
		// Wait on the context's eventfd, as an epoll loop would.
		fds := []unix.PollFd{{Fd: int32(c.Eventfd()), Events: unix.POLLIN}}
		unix.Poll(fds, 100)
		var b [8]byte
		unix.Read(c.Eventfd(), b[:])
		n, err := c.Reap(out)
		if err != nil {
			t.Fatal(err)
		}
		got += len(events(t, out[:n]))
	}
	t.Logf("8 events in %v without GetEvents", time.Since(start))
}

// A GetEvents caller that always finds its events without waiting
// completes the IO itself, as one that waits does: the context goes lazy
// and the background goroutine is not woken for every submission (which
// would cost a second thread per batch).
func TestLazyWithoutWaiting(t *testing.T) {
	c := newCtx(t, 16, 0, 0)
	f, _ := directFile(t, 1<<20)
	mem := alignedBuf(t, 4096)
	one := []Iocb{{Opcode: abi.OpPread, Fd: int32(f.Fd()), Buf: mem}}
	out := make([]byte, 16*c.maxEv)
	round := func() {
		t.Helper()
		if _, err := c.Submit(one); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			// A zero timeout never waits: the event is taken only once
			// the kernel has posted it.
			n, err := c.GetEvents(1, out, 0)
			if n > 0 {
				return
			}
			if err != nil && !errors.Is(err, ErrTimeout) {
				t.Fatal(err)
			}
			if time.Now().After(deadline) {
				t.Fatal("no event after 10s")
			}
		}
	}
	for i := 0; i < 5; i++ {
		round()
	}
	// The first submission, before any GetEvents, kicked the background
	// goroutine; let that wake happen before counting.
	settle := time.Now().Add(10 * time.Second)
	for {
		if locked(c, func() bool { return !c.nat.kicked && c.nat.owner != ownBackground }) {
			break
		}
		if time.Now().After(settle) {
			t.Fatal("the background goroutine did not settle in 10s")
		}
		time.Sleep(time.Millisecond)
	}
	bgWakes := func() int { return c.nat.bgWakes }
	before := locked(c, bgWakes)
	const rounds = 200
	for i := 0; i < rounds; i++ {
		round()
	}
	c.mu.Lock()
	wakes, lazy := c.nat.bgWakes-before, c.nat.lazy
	c.mu.Unlock()
	if !lazy {
		t.Error("GetEvents callers that never waited did not put the context in lazy mode")
	}
	if wakes > 0 {
		t.Errorf("the background goroutine woke %d times in %d submissions that a GetEvents caller completed", wakes, rounds)
	}
	// A caller that now has to wait still gets its event: nobody is left
	// owning the completions without being told of them.
	if _, err := c.Submit(one); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if n, err := c.GetEvents(1, out, 10*time.Second); err != nil || n == 0 {
		t.Fatalf("a waiting GetEvents after lazy callers: %d bytes, %v after %v", n, err, time.Since(start))
	}
}

// A GetEvents caller that parked while the kernel held nothing takes over
// the completions of IO submitted after it: the submit wakes it, and it
// waits in io_getevents. Before, nobody was woken; the lazy mode's check
// handed the IO to the background goroutine a period later, and with
// iocbs issued lazily (no IOCB_FLAG_RESFD) that goroutine found them only
// at its lazyCheck deadline: `aio2 io --reaper=goroutines=1` did 16 k
// IOPS on zram at QD32 where the inline reaper did 400 k.
func TestParkedWaiterTakesOver(t *testing.T) {
	l := newLazyReads(t, 16, 4096, 20)
	c := l.c
	const rounds = 50
	wakes := l.parkThenSubmit(t, rounds,
		func() (int, error) { return c.GetEvents(1, make([]byte, 16*c.maxEv), 10*time.Second) },
		func() bool { return len(c.waitList) == 1 },
		func() int { return c.nat.bgWakes })
	if wakes > 0 {
		t.Errorf("the background goroutine woke %d times in %d rounds whose IO a parked GetEvents caller could complete", wakes, rounds)
	}
}

// TestDestroySignalsEventfd: Destroy sets F_DEAD and then signals the
// eventfd once, so that a reaper asleep on it (in another process, say)
// wakes to see the flag. Nothing else would wake it: no event is coming.
func TestDestroySignalsEventfd(t *testing.T) {
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(efd)
	p := abi.Params{Size: abi.ParamsSize, Version: 2, Eventfd: int32(efd)}
	c, err := Setup(&p)
	if err != nil {
		skipOrFail(t, "Setup: %v", err)
	}
	reg, err := ring.FromBytes(c.Region())
	if err != nil {
		t.Fatal(err)
	}
	var b [8]byte
	if _, err := unix.Read(efd, b[:]); err != unix.EAGAIN {
		t.Fatalf("eventfd before Destroy: %v, want EAGAIN (nothing signalled)", err)
	}
	if _, err := c.Destroy(); err != nil {
		t.Fatal(err)
	}
	if reg.Flags()&abi.FDead == 0 {
		t.Fatal("F_DEAD not set")
	}
	if _, err := unix.Read(efd, b[:]); err != nil {
		t.Fatalf("eventfd after Destroy: %v, want a signal", err)
	}
}

// TestSubmitPublishesInlineCompletions: an IO that io_submit completed
// before returning (a POLL on a pipe that is already readable) is in the
// ring when Submit returns, with no GetEvents call. Before, the
// background goroutine, on another thread, was woken to produce it, and
// Reap right after Submit found nothing.
func TestSubmitPublishesInlineCompletions(t *testing.T) {
	c := newCtx(t, 8, 0, 0)
	p := newPipe(t)
	if _, err := unix.Write(p[1], []byte("x")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	for i := range 50 {
		if _, err := c.Submit([]Iocb{{Opcode: abi.OpPoll, Fd: int32(p[0]), PollEvents: unix.POLLIN}}); err != nil {
			t.Fatal(err)
		}
		n, err := c.Reap(buf)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			t.Fatalf("round %d: the POLL's event was not in the ring when Submit returned", i)
		}
		var ev abi.Event
		if err := abi.DecodeEvent(buf[:n], 0, &ev); err != nil || ev.Res&unix.POLLIN == 0 {
			t.Fatalf("round %d: event %+v, %v", i, ev, err)
		}
	}
}
