package kioctx

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/aio2/aio2/abi"
)

// goneCtx points c's native driver at a kernel AIO context id that no
// longer exists (made and destroyed here), as if the kernel context had
// been torn down under the driver: every io_getevents, io_submit and
// io_cancel on it fails with EINVAL. The real context (and its ring,
// which the driver's user-space view kr still reads) is put back before
// the test's Destroy, which io_destroys it.
func goneCtx(t *testing.T, c *Context) {
	t.Helper()
	dead, e := ioSetup(1)
	if e != 0 {
		t.Fatalf("io_setup: %v", e)
	}
	if e := ioDestroy(dead); e != 0 {
		t.Fatalf("io_destroy: %v", e)
	}
	c.mu.Lock()
	real := c.nat.ctx
	c.nat.ctx = dead
	c.mu.Unlock()
	t.Cleanup(func() {
		c.mu.Lock()
		c.nat.ctx = real
		c.mu.Unlock()
	})
}

// A failing io_getevents (other than EINTR) ends GetEvents with a typed
// error instead of retrying it in a loop, and the iocbs the lost kernel
// context held still yield exactly one event each (-EIO, or -ECANCELED
// for one whose cancel was accepted). Both places that call it are
// covered: the owner's blocking wait (the kernel ring is read from user
// space, so only the wait calls io_getevents) and the drain (the ring is
// not used). Before the fix GetEvents spun on the failing call until its
// timeout (and without one, for ever), and the held iocbs never
// completed, so Destroy would have waited for them for ever.
func TestGetEventsNativeContextGone(t *testing.T) {
	for _, ringOK := range []bool{true, false} {
		t.Run(fmt.Sprintf("ring=%v", ringOK), func(t *testing.T) {
			c := newCtx(t, 8, 0, 0)
			if !ringOK {
				// Read completions through io_getevents, as on a kernel
				// whose ring header is not usable. Set before any IO, so
				// before the background goroutine first looks at it.
				c.mu.Lock()
				c.nat.kr.ok = false
				c.mu.Unlock()
			}
			p := newPipe(t) // nobody writes until the end: the POLLs wait
			cbs := []Iocb{
				{Opcode: abi.OpPoll, Fd: int32(p[0]), PollEvents: unix.POLLIN, Data: 1},
				{Opcode: abi.OpPoll, Fd: int32(p[0]), PollEvents: unix.POLLIN, Data: 2},
			}
			if n, err := c.Submit(cbs); n != 2 || err != nil {
				t.Fatalf("Submit: %d %v", n, err)
			}
			// One has been cancelled (Cancel answered nil, so its event
			// must carry -ECANCELED) but the kernel has not posted the
			// cancel yet when the context goes: the flag, without
			// io_cancel.
			c.mu.Lock()
			c.slots[int32(uint32(cbs[1].Key))].cancel = true
			c.mu.Unlock()
			goneCtx(t, c)
			// Cleanups run last-first: this one before the real context
			// is put back, so that whatever the code under test left in
			// it fires and Destroy does not wait for it.
			t.Cleanup(func() { unix.Write(p[1], []byte{1}) })

			buf := make([]byte, 16*c.maxEv)
			start := time.Now()
			n, err := c.GetEvents(1, buf, 2*time.Second)
			took := time.Since(start)
			if took > time.Second {
				t.Fatalf("GetEvents took %v (err %v): it retried the failing io_getevents instead of returning", took, err)
			}
			var ke *Error
			if !errors.As(err, &ke) || !errors.Is(err, unix.EINVAL) || ke.Op != "getevents" {
				t.Fatalf("GetEvents: err %v (%T), want a *kioctx.Error for getevents unwrapping to EINVAL", err, err)
			}
			evs := events(t, buf[:n])
			// The rest, if any, without waiting.
			k, err := c.GetEvents(0, buf, 0)
			if err != nil && !errors.Is(err, ErrTimeout) {
				t.Fatalf("second GetEvents: %v", err)
			}
			evs = append(evs, events(t, buf[:k])...)
			want := map[uint64]int64{1: -int64(unix.EIO), 2: -int64(unix.ECANCELED)}
			if len(evs) != len(want) {
				t.Fatalf("%d events, want %d: %+v", len(evs), len(want), evs)
			}
			for _, ev := range evs {
				if r, ok := want[ev.Data]; !ok || ev.Res != r {
					t.Errorf("event data %d res %d, want res %d", ev.Data, ev.Res, want[ev.Data])
				}
				delete(want, ev.Data)
			}

			// The context goes on: a NOOP completes, a native iocb is
			// refused by io_submit and completes with its errno, and a
			// wait with nothing coming times out instead of spinning.
			more := []Iocb{
				{Opcode: abi.OpNoop, Data: 3},
				{Opcode: abi.OpPoll, Fd: int32(p[0]), PollEvents: unix.POLLIN, Data: 4},
			}
			if n, err := c.Submit(more); n != 2 || err != nil {
				t.Fatalf("Submit after: %d %v", n, err)
			}
			got := map[uint64]int64{}
			for _, ev := range waitEvents(t, c, 2) {
				got[ev.Data] = ev.Res
			}
			if got[3] != 0 || got[4] != -int64(unix.EINVAL) {
				t.Fatalf("events after: %v, want 3:0 and 4:%d", got, -int64(unix.EINVAL))
			}
			start = time.Now()
			if _, err := c.GetEvents(1, buf, 50*time.Millisecond); !errors.Is(err, ErrTimeout) {
				t.Fatalf("idle GetEvents: %v, want ErrTimeout", err)
			}
			if got := c.Inflight(); got != 0 {
				t.Fatalf("Inflight %d after every event was reaped", got)
			}
		})
	}
}

// signalAllThreads sends sig to every thread of this process every
// period until stop is closed, as the Go runtime's preemption (SIGURG)
// or a process-directed signal may reach a pool worker blocked in a
// syscall. It returns how many signals it sent.
func signalAllThreads(t *testing.T, sig unix.Signal, period time.Duration, stop <-chan struct{}) <-chan int {
	t.Helper()
	sent := make(chan int, 1)
	pid := unix.Getpid()
	go func() {
		n := 0
		defer func() { sent <- n }()
		for {
			select {
			case <-stop:
				return
			case <-time.After(period):
			}
			ents, err := os.ReadDir("/proc/self/task")
			if err != nil {
				return
			}
			for _, e := range ents {
				tid, err := strconv.Atoi(e.Name())
				if err != nil {
					continue
				}
				if unix.Tgkill(pid, tid, sig) == nil {
					n++
				}
			}
		}
	}()
	return sent
}

// A SYSCALL iocb runs as it would in a kernel worker: signals sent to
// the process (here SIGURG, the Go runtime's preemption signal, to every
// thread) do not end it with -EINTR. A read on a socket with a receive
// timeout is the case SA_RESTART does not cover: the kernel returns
// EINTR for it after a handler ran (sock_intr_errno), and before the fix
// the event carried -EINTR. Both the pool (Submit) and IssueSync run it.
func TestSyscallNotInterruptedBySignals(t *testing.T) {
	for _, sync := range []bool{false, true} {
		t.Run(fmt.Sprintf("issuesync=%v", sync), func(t *testing.T) {
			c := newCtx(t, 8, 0, 0)
			sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(sp[0])
			defer unix.Close(sp[1])
			tv := unix.Timeval{Sec: 5}
			if err := unix.SetsockoptTimeval(sp[0], unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
				t.Fatal(err)
			}
			buf := alignedBuf(t, 4096)
			cb := Iocb{Opcode: abi.OpSyscall, Sysno: unix.SYS_READ, Data: 7,
				Args: [6]uint64{uint64(sp[0]), addrOf(buf), 64}}

			stop := make(chan struct{})
			sent := signalAllThreads(t, unix.SIGURG, 200*time.Microsecond, stop)
			go func() {
				time.Sleep(300 * time.Millisecond)
				close(stop)
				unix.Write(sp[1], []byte("hello"))
			}()
			var ev abi.Event
			if sync {
				out, err := c.IssueSync(&cb, nil)
				if err != nil {
					t.Fatalf("IssueSync: %v", err)
				}
				ev = events(t, out)[0]
			} else {
				if _, err := c.Submit([]Iocb{cb}); err != nil {
					t.Fatalf("Submit: %v", err)
				}
				ev = waitEvents(t, c, 1)[0]
			}
			n := <-sent
			if n == 0 {
				t.Fatal("no signal was sent")
			}
			if ev.Res != 5 || string(buf[:5]) != "hello" {
				t.Fatalf("read event res %d (%v) after %d signals, want 5 bytes, \"hello\"", ev.Res, unix.Errno(-ev.Res), n)
			}
		})
	}
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime(t *testing.T) time.Duration {
	t.Helper()
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// fillNowait writes chunk-sized pieces to fd without blocking until it
// refuses with EAGAIN, and returns the bytes written.
func fillNowait(t *testing.T, fd int, chunk int) int {
	t.Helper()
	b := make([]byte, chunk)
	total := 0
	for {
		n, err := unix.SendmsgN(fd, b, nil, nil, unix.MSG_DONTWAIT)
		if err == unix.ENOTSOCK {
			iov := [][]byte{b}
			n, err = unix.Pwritev2(fd, iov, -1, unix.RWF_NOWAIT)
		}
		if err == unix.EAGAIN {
			return total
		}
		if err != nil {
			t.Fatalf("fill: %v", err)
		}
		total += n
	}
}

// A poll-path write to a socket or pipe that has no room waits for
// POLLOUT without spinning, whatever the file: the POLL is armed once,
// the background goroutine is not woken again and again, and the process
// burns no CPU while the peer does not read; once the peer reads, the
// write completes, once. The suspicion was that a write that keeps
// getting EAGAIN after POLLOUT re-arms a POLL that fires at once, for
// ever. The files: a stream socketpair, a seqpacket socketpair, a
// datagram socket connected to a bound one that does not read, a pipe,
// and a packet-mode pipe. Each has data waiting to be read on the
// writer's own end where it can, so that a POLL for the wrong events
// would fire at once.
func TestPollWriteNoSpin(t *testing.T) {
	type pair struct{ w, r int }
	sockpair := func(typ int) func(t *testing.T) pair {
		return func(t *testing.T) pair {
			sp, err := unix.Socketpair(unix.AF_UNIX, typ|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { unix.Close(sp[0]); unix.Close(sp[1]) })
			// The writer's end is readable: a POLL for POLLIN would fire.
			if _, err := unix.Write(sp[1], []byte("x")); err != nil {
				t.Fatal(err)
			}
			return pair{sp[0], sp[1]}
		}
	}
	pipe := func(flags int) func(t *testing.T) pair {
		return func(t *testing.T) pair {
			var p [2]int
			if err := unix.Pipe2(p[:], unix.O_CLOEXEC|flags); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { unix.Close(p[0]); unix.Close(p[1]) })
			return pair{p[1], p[0]}
		}
	}
	cases := []struct {
		name  string
		make  func(t *testing.T) pair
		chunk int // fill and write size
	}{
		{"stream", sockpair(unix.SOCK_STREAM), 64 << 10},
		{"seqpacket", sockpair(unix.SOCK_SEQPACKET), 16 << 10},
		{"dgram-connected", func(t *testing.T) pair {
			r, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { unix.Close(r) })
			addr := &unix.SockaddrUnix{Name: fmt.Sprintf("@aio2-robust2-%d-%d", os.Getpid(), time.Now().UnixNano())}
			if err := unix.Bind(r, addr); err != nil {
				t.Fatal(err)
			}
			w, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { unix.Close(w) })
			if err := unix.Connect(w, addr); err != nil {
				t.Fatal(err)
			}
			return pair{w, r}
		}, 1 << 10},
		{"pipe", pipe(0), 64 << 10},
		{"packet-pipe", pipe(unix.O_DIRECT), 64 << 10},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newCtx(t, 8, 0, 0)
			p := tc.make(t)
			filled := fillNowait(t, p.w, tc.chunk)
			if filled == 0 {
				t.Fatal("nothing written before EAGAIN")
			}
			wbuf := alignedBuf(t, tc.chunk)
			wr := []Iocb{{Opcode: abi.OpPwrite, Fd: int32(p.w), Buf: wbuf, Data: 9}}
			if _, err := c.Submit(wr); err != nil {
				t.Fatalf("Submit: %v", err)
			}
			idx, _ := splitKey(wr[0].Key)
			if st := locked(c, func() uint8 { return c.slots[idx].state }); st != stPoll {
				t.Fatalf("slot state %d, want stPoll (the write should wait for POLLOUT)", st)
			}
			wakes0 := locked(c, func() int { return c.nat.bgWakes })
			cpu0 := cpuTime(t)
			time.Sleep(300 * time.Millisecond)
			cpu := cpuTime(t) - cpu0
			wakes := locked(c, func() int { return c.nat.bgWakes }) - wakes0
			if wakes > 20 || cpu > 150*time.Millisecond {
				t.Fatalf("while the write waited 300ms: %d background wakes, %v of CPU: it spins", wakes, cpu)
			}
			buf := make([]byte, 16*c.maxEv)
			if n, err := c.GetEvents(0, buf, 0); n != 0 || (err != nil && !errors.Is(err, ErrTimeout)) {
				t.Fatalf("an event before the peer read: %d %v", n, err)
			}
			// The peer reads everything; the write completes.
			if err := unix.SetNonblock(p.r, true); err != nil {
				t.Fatal(err)
			}
			stop, drained := make(chan struct{}), make(chan struct{})
			go func() {
				defer close(drained)
				b := make([]byte, 256<<10)
				for {
					if _, err := unix.Read(p.r, b); err == unix.EAGAIN {
						select {
						case <-stop:
							return
						case <-time.After(time.Millisecond):
						}
					} else if err != nil {
						return
					}
				}
			}()
			evs := waitEvents(t, c, 1)
			close(stop)
			<-drained
			if evs[0].Data != 9 || evs[0].Res <= 0 {
				t.Fatalf("write event data %d res %d, want data 9 and bytes written", evs[0].Data, evs[0].Res)
			}
		})
	}
}

// exhaustKernelCtx submits POLLs on fd (which must never become ready
// until the test says so) straight into c's kernel AIO context, from
// every CPU this thread may run on, until io_submit refuses with EAGAIN
// on each: the kernel keeps a cache of free request slots per CPU, so
// EAGAIN on one CPU does not mean none is left on another. Their keys
// match no slot, so the driver ignores their events. It returns how many
// it submitted.
func exhaustKernelCtx(t *testing.T, c *Context, fd int) int {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var all unix.CPUSet
	if err := unix.SchedGetaffinity(0, &all); err != nil {
		t.Fatal(err)
	}
	defer unix.SchedSetaffinity(0, &all)
	lcb := abi.LegacyIocb{Data: 0x7fffffff, Opcode: abi.IOCB_CMD_POLL, Fildes: uint32(fd), Buf: unix.POLLIN}
	cbs := []*abi.LegacyIocb{&lcb}
	n := 0
	for round := 0; round < 2; round++ { // a second pass finds slots freed to another CPU meanwhile
		for cpu := 0; cpu < 1024; cpu++ {
			if !all.IsSet(cpu) {
				continue
			}
			var one unix.CPUSet
			one.Set(cpu)
			if err := unix.SchedSetaffinity(0, &one); err != nil {
				t.Fatal(err)
			}
			for {
				k, e := ioSubmit(c.nat.ctx, cbs, false)
				if e == unix.EAGAIN {
					break
				}
				if e != 0 || k != 1 {
					t.Fatalf("io_submit: %d %v", k, e)
				}
				if n++; n > 1<<16 {
					t.Fatal("the kernel context never filled")
				}
			}
		}
	}
	return n
}

// A GetEvents caller that owns the kernel wait but could not arm its
// poke POLL (io_submit said EAGAIN: the kernel context is full) still
// sees events the kernel does not post, a NOOP's and a pool worker's,
// within a few milliseconds. Before the fix (commit 6272279) it waited in
// io_getevents for a kernel event until its deadline.
func TestGetEventsPokeNotArmed(t *testing.T) {
	c := newCtx(t, 8, 0, 0)
	p := newPipe(t)
	// Cleanups run last-first: this fires every POLL before Destroy.
	t.Cleanup(func() { unix.Write(p[1], []byte{1}) })
	// One iocb of the context's own in the kernel, so that a GetEvents
	// caller becomes the owner of the kernel wait.
	if _, err := c.Submit([]Iocb{{Opcode: abi.OpPoll, Fd: int32(p[0]), PollEvents: unix.POLLIN, Data: 1}}); err != nil {
		t.Fatal(err)
	}
	if n := exhaustKernelCtx(t, c, p[0]); n == 0 {
		t.Fatal("nothing submitted")
	}
	f := bufferedFile(t)
	for _, tc := range []struct {
		name string
		cb   Iocb
	}{
		{"noop", Iocb{Opcode: abi.OpNoop, Data: 2}},
		{"pool", Iocb{Opcode: abi.OpSyscall, Sysno: unix.SYS_FSYNC, Args: [6]uint64{uint64(f.Fd())}, Data: 3}},
	} {
		t.Run(tc.name, func(t *testing.T) { pokeNotArmedRound(t, c, tc.cb) })
	}
}

func pokeNotArmedRound(t *testing.T, c *Context, cb Iocb) {
	type result struct {
		n   int
		err error
		at  time.Time
	}
	done := make(chan result, 1)
	buf := make([]byte, 4*c.maxEv)
	go func() {
		n, err := c.GetEvents(1, buf, 3*time.Second)
		done <- result{n, err, time.Now()}
	}()
	// Wait until the caller owns the kernel wait without its poke.
	deadline := time.Now().Add(5 * time.Second)
	for !locked(c, func() bool { return c.nat.owner == ownWaiter && c.nat.kwait && !c.nat.pokeArmed }) {
		if time.Now().After(deadline) {
			t.Fatalf("op %d: the GetEvents caller never waited in io_getevents without its poke armed", cb.Opcode)
		}
		time.Sleep(100 * time.Microsecond)
	}
	start := time.Now()
	if _, err := c.Submit([]Iocb{cb}); err != nil {
		t.Fatalf("Submit op %d: %v", cb.Opcode, err)
	}
	r := <-done
	if took := r.at.Sub(start); took > 500*time.Millisecond || r.err != nil {
		t.Fatalf("op %d: GetEvents returned %d bytes, %v, %v after the submit; want its event at once", cb.Opcode, r.n, r.err, took)
	}
	evs := events(t, buf[:r.n])
	if len(evs) != 1 || evs[0].Data != cb.Data || evs[0].Res != 0 {
		t.Fatalf("op %d: events %+v, want one with data %d res 0", cb.Opcode, evs, cb.Data)
	}
}

// Reap, having found the ring empty and the overflow list not, takes the
// lock to flush the list; if Destroy ran since Reap checked the dead flag,
// it must not commit (Destroy has unmapped the ring and closed the
// eventfd by then) and answers ErrDestroyed. The interleaving is built by
// hand: the context is marked destroyed under c.mu, as Destroy does
// first, while the lock-free flag Reap checks first still reads false,
// as it did when Reap looked; nothing is torn down, so the test can see
// whether a commit happened (tail would move, the list would shrink).
// Before the fix (commit 6272279) Reap flushed and returned the events.
func TestReapNoCommitAfterDestroy(t *testing.T) {
	c := newCtx(t, 512, 4096, 0)
	if n, err := c.Submit(noops(0, 200)); n != 200 || err != nil {
		t.Fatalf("Submit: %d %v", n, err)
	}
	if locked(c, func() int { return c.prod.OverflowLen() }) == 0 || !c.overflowHint.Load() {
		t.Fatal("no overflow: the test needs events waiting on the overflow list")
	}
	dst := make([]byte, 512*c.maxEv)
	// Empty the ring; a Reap that finds records does not flush.
	if n, err := c.Reap(dst); n == 0 || err != nil {
		t.Fatalf("first Reap: %d %v", n, err)
	}
	c.mu.Lock()
	over, tail := c.prod.OverflowLen(), c.reg.Tail()
	c.destroyed = true
	c.mu.Unlock()
	n, err := c.Reap(dst)
	c.mu.Lock()
	over2, tail2 := c.prod.OverflowLen(), c.reg.Tail()
	c.destroyed = false // for the test's own Destroy
	c.mu.Unlock()
	if n != 0 || !errors.Is(err, ErrDestroyed) {
		t.Errorf("Reap on a context destroyed meanwhile: %d bytes, %v; want 0, ErrDestroyed", n, err)
	}
	if over2 != over || tail2 != tail {
		t.Errorf("Reap committed after Destroy: overflow list %d -> %d, tail %d -> %d", over, over2, tail, tail2)
	}
}

// After io_getevents says the kernel context is gone, the driver forgets
// its id: the id is the address of the kernel ring's mapping, which the
// next io_setup may get again, and a later io_submit with it put this
// context's POLL into that other context (found by review, 2026-11-22;
// the Destroy that followed hung). Here the kernel context is destroyed
// behind kioctx's back (its ring is not read from user space, so nothing
// faults), a second context is set up, and the first context's next
// native iocb must fail with EINVAL in its own event, and both contexts
// must end cleanly.
func TestGoneContextIdNotReused(t *testing.T) {
	c1 := newCtx(t, 8, 0, 0)
	c1.mu.Lock()
	c1.nat.kr.ok = false
	id := c1.nat.ctx
	c1.mu.Unlock()
	if e := ioDestroy(id); e != 0 {
		t.Fatalf("io_destroy: %v", e)
	}
	p := newPipe(t) // nobody writes: a POLL on it waits
	poll := []Iocb{{Opcode: abi.OpPoll, Fd: int32(p[0]), PollEvents: unix.POLLIN, Data: 1}}
	buf := make([]byte, 8*c1.maxEv)
	// The first POLL fails at io_submit (EINVAL, in its event); the wait
	// then meets io_getevents' EINVAL and marks the context gone.
	if _, err := c1.Submit(poll); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); !locked(c1, func() bool { return c1.nat.gone }); {
		if time.Now().After(deadline) {
			t.Fatal("the driver never noticed the kernel context was gone")
		}
		c1.GetEvents(0, buf, 10*time.Millisecond)
	}
	c2 := newCtx(t, 8, 0, 0)
	t.Logf("the second context's id is %s the first's", map[bool]string{true: "the same as", false: "not"}[c2.nat.ctx == id])
	poll[0].Data = 2
	if _, err := c1.Submit(poll); err != nil {
		t.Fatal(err)
	}
	var got []abi.Event
	for deadline := time.Now().Add(5 * time.Second); c1.Inflight() > 0; {
		if time.Now().After(deadline) {
			t.Fatalf("the POLL submitted after the context was gone never completed (in c2's kernel context: %d busy)",
				locked(c2, func() int { return c2.nat.busy }))
		}
		n, _ := c1.GetEvents(0, buf, 10*time.Millisecond)
		got = append(got, events(t, buf[:n])...)
	}
	for _, ev := range got {
		if ev.Data == 2 && ev.Res != -int64(unix.EINVAL) {
			t.Fatalf("the POLL after the context was gone: res %d, want -EINVAL", ev.Res)
		}
	}
	if n := locked(c2, func() int { return c2.nat.busy }); n != 0 {
		t.Fatalf("the second context holds %d native iocbs it was never given", n)
	}
	done := make(chan struct{})
	go func() { c1.Destroy(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Destroy of the first context hung")
	}
}

// A SYSCALL iocb runs with the asynchronous signals blocked, but not the
// ones the Go runtime sends to every thread and waits for: signal 33,
// with which syscall.Setuid (AllThreadsSyscall) has each thread make the
// call. Blocked, a pool thread in a long SYSCALL held the whole process
// until the call returned (found by review, 2026-11-22: a Setuid took
// 2.8 s while a read waited on a pipe written by another process after
// 3 s; 0.5 ms before the mask).
func TestSyscallLeavesRuntimeSignals(t *testing.T) {
	c := newCtx(t, 8, 0, 0)
	// *os.Files both, each closed once here: an os.File made over an fd
	// something else also closes would close a reused number when its
	// finalizer runs, in some later test.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// The writer is another process, so that a stuck Setuid cannot be
	// what keeps the write from coming.
	cmd := exec.Command("sh", "-c", "sleep 3; printf hi")
	cmd.Stdout = w
	err = cmd.Start()
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	buf := alignedBuf(t, 4096)
	rd := []Iocb{{Opcode: abi.OpSyscall, Sysno: unix.SYS_READ,
		Args: [6]uint64{uint64(r.Fd()), uint64(uintptr(unsafe.Pointer(&buf[0]))), 16}, Data: 5}}
	if _, err := c.Submit(rd); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // the pool worker is in read(2) by now
	start := time.Now()
	if err := syscall.Setuid(os.Getuid()); err != nil {
		t.Fatalf("setuid: %v", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("Setuid took %v while a SYSCALL read waited: the pool thread blocked the runtime's signal", took)
	}
	evs := waitEvents(t, c, 1)
	if evs[0].Res != 2 || string(buf[:2]) != "hi" {
		t.Fatalf("read: res %d, %q", evs[0].Res, buf[:2])
	}
}
