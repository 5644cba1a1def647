package kioctx

import (
	"errors"
	"os"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/aio2/aio2/abi"
	"github.com/aio2/aio2/attrs"
)

// native is the driver over Linux native AIO: one kernel context sized for
// max_inflight (plus the poke POLL).
//
// Who waits for completions matters for cost: a completion handed from
// one goroutine to another wakes a second thread (30 us when it is on the
// other, idle vCPU). So one party at a time owns the completions: a
// GetEvents caller that has to wait (it blocks in io_getevents and
// completes the IO on its own goroutine; see kwaitLocked), or, when nobody
// waits, the background completion goroutine, parked in the netpoller on
// a driver eventfd that the iocbs signal (IOCB_FLAG_RESFD). The background
// goroutine is kicked when IO is left in the kernel with no owner, unless
// GetEvents callers have been seen owning the completions, or finding
// their events without having to wait ("lazy"): then iocbs are issued
// without IOCB_FLAG_RESFD, and a timer checks every lazyCheck (doubling up
// to lazyCheckMax) whether GetEvents callers still come, handing over to
// the background goroutine if a whole period passed with IO in flight and
// no GetEvents call. The timer is armed at most once per period: arming a
// timer wakes an idle thread (wakep), the very cost this avoids. The
// submitter itself drains the kernel's ring right after io_submit
// (drainAfterSubmitLocked), so IO the device completed inside io_submit
// needs no background wake at all.
// docs/kioctx.md has the figures.
type native struct {
	c    *Context
	ctx  aioCtx
	kr   kring
	efd  *os.File // non-blocking, so waits park in the netpoller
	rc   syscall.RawConn
	efdN int
	done chan struct{}
	kick chan struct{} // wakes the background goroutine
	// timer is the lazy mode's check (see lazyCheck).
	timer *time.Timer
	// readFn is readEfd as a func value made once, so waiting allocates
	// nothing.
	readFn func(uintptr) bool
	// pokeFd is an eventfd with a standing IOCB_CMD_POLL on it while a
	// GetEvents caller waits in io_getevents: writing it wakes the
	// caller for an event the kernel did not post (a pool worker's).
	pokeFd  int
	pokeLcb abi.LegacyIocb
	kevs    []abi.IoEvent // the io_getevents owner's buffer

	// Guarded by c.mu.
	evs       []abi.IoEvent     // scratch for reaping
	batch     []*abi.LegacyIocb // iocbs queued for the next io_submit
	bidx      []int32           // their slots
	closed    bool
	owner     uint8 // ownNone, ownBackground, ownWaiter
	busy      int   // slots whose iocb the kernel holds (stNative, stPoll)
	kicked    bool  // kick sent, background not yet run
	armed     bool  // timer armed
	lazy      bool  // GetEvents callers own the eventfd: arm lazily
	wantOwner int   // GetEvents callers waiting for the background to let go
	kwait     bool  // the owner is in io_getevents: leave the kernel ring alone
	pokeArmed bool  // the poke POLL is in the kernel
	silent    int   // native iocbs in the kernel without IOCB_FLAG_RESFD
	// ctxWaiters counts GetEventsContext callers parked: they cannot own
	// the kernel wait, so the background goroutine completes their IO,
	// and it must be issued with IOCB_FLAG_RESFD even in lazy mode.
	ctxWaiters  int
	bgWakes     int    // times the background goroutine woke to drain (kick or eventfd); for tests
	bgDeadlines int    // of those, wakes at the lazyCheck deadline (silent iocbs); for tests
	multiP      bool   // GOMAXPROCS > 1 when last read (see holdP)
	holdReads   uint32 // holdP calls, to re-read GOMAXPROCS now and then
	// failed is the errno of an io_getevents that failed (not EINTR),
	// for the next GetEvents call to report (takeFailedLocked), whoever
	// made the call: a GetEvents caller, the background goroutine or
	// Destroy.
	failed unix.Errno
	// gone says the kernel context no longer exists (io_getevents said
	// EINVAL): its iocbs were completed by failLocked, and nothing calls
	// io_getevents or reads the kernel ring any more.
	gone bool
	// came says a GetEvents call waited or took events since the timer
	// was armed or last found one. It is set under c.mu (see noteCame)
	// but taken by the timer's check without it, so that a check that
	// finds GetEvents still coming does not contend with them.
	came atomic.Bool
	// yieldReq asks the background goroutine, parked in the netpoller,
	// to let go of the eventfd and go lazy (callersCompleteLocked). Set
	// under c.mu; read by readEfd, which runs without it.
	yieldReq atomic.Bool
	period   atomic.Int64 // the check's period now, in ns (lazyCheck..lazyCheckMax)
}

// eventfd owners.
const (
	ownNone = iota
	ownBackground
	ownWaiter
)

// lazyCheck is the first period of the lazy mode's check, and
// lazyCheckMax its longest: each check that finds GetEvents callers still
// coming doubles the period, because each check wakes an idle thread (at
// QD1 on zram, 1 000 checks a second were 1-4 % of the process's CPU). A
// caller that stops calling GetEvents and waits on the context's eventfd
// instead sees its completions delayed by at most twice the period then
// in force (16 ms), once.
const (
	lazyCheck    = time.Millisecond
	lazyCheckMax = 8 * time.Millisecond
)

func newNative(c *Context, nr uint32) (*native, error) {
	ctx, e := ioSetup(nr + 1) // + the poke POLL
	if e == unix.EAGAIN {
		return nil, errorf("setup", e, "io_setup(%d): the system-wide number of AIO events would exceed /proc/sys/fs/aio-max-nr (in use: /proc/sys/fs/aio-nr); raise fs.aio-max-nr or ask for a smaller max_inflight", nr)
	}
	if e != 0 {
		return nil, errorf("setup", e, "io_setup(%d): %v", nr, e)
	}
	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		ioDestroy(ctx)
		return nil, errorf("setup", errnoOf(err), "driver eventfd: %v", err)
	}
	pfd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(fd)
		ioDestroy(ctx)
		return nil, errorf("setup", errnoOf(err), "poke eventfd: %v", err)
	}
	n := &native{
		c:       c,
		ctx:     ctx,
		kr:      newKring(ctx),
		efd:     os.NewFile(uintptr(fd), "aio2-driver-eventfd"),
		efdN:    fd,
		done:    make(chan struct{}),
		kick:    make(chan struct{}, 1),
		timer:   time.NewTimer(time.Hour),
		evs:     make([]abi.IoEvent, 64),
		kevs:    make([]abi.IoEvent, 64),
		pokeFd:  pfd,
		pokeLcb: abi.LegacyIocb{Data: pokeKey, Opcode: abi.IOCB_CMD_POLL, Fildes: uint32(pfd), Buf: unix.POLLIN},
		batch:   make([]*abi.LegacyIocb, 0, nr),
		bidx:    make([]int32, 0, nr),
	}
	n.timer.Stop()
	if n.rc, err = n.efd.SyscallConn(); err != nil {
		n.efd.Close()
		unix.Close(pfd)
		ioDestroy(ctx)
		return nil, errorf("setup", unix.EINVAL, "driver eventfd: %v", err)
	}
	n.readFn = n.readEfd
	go n.loop()
	return n, nil
}

// readEfd is the RawConn.Read callback of waitEfd: true ends the wait.
// RawRead forgets readiness seen before it starts (it expects the callback
// to look for itself), so the callback looks where a completion shows
// first: the kernel's ring, whose tail moves before the kernel signals the
// eventfd; a completion is either seen here or signalled after the wait
// began. With a usable kernel ring the eventfd is never read: its count
// only grows, every signal is still an edge for epoll, and a read per wake
// is saved. Without one, the count is consumed; EINTR cannot happen on a
// non-blocking read, and EAGAIN means nothing came yet.
func (n *native) readEfd(fd uintptr) bool {
	if n.yieldReq.Load() {
		return true
	}
	if n.kr.ok {
		return n.kr.pending()
	}
	var b [8]byte
	_, err := unix.Read(int(fd), b[:])
	return err != unix.EAGAIN
}

// waitEfd parks the owner in the netpoller until the kernel signals a
// completion (or deadline passes, or the eventfd is closed).
func (n *native) waitEfd(deadline time.Time) error {
	if !deadline.IsZero() {
		n.efd.SetReadDeadline(deadline)
		defer n.efd.SetReadDeadline(time.Time{})
	}
	return n.rc.Read(n.readFn)
}

// loop is the background completion goroutine. It owns the eventfd while
// the kernel holds iocbs and no GetEvents caller wants it, drains and
// publishes on every wake, and sleeps on kick or timer otherwise.
func (n *native) loop() {
	defer close(n.done)
	c := n.c
	for {
		fired := false
		select {
		case <-n.kick:
		case <-n.timer.C:
			fired = true
			// The common case in lazy mode: GetEvents callers came
			// during the period. Look again later without taking c.mu,
			// which a submitter most likely holds across io_submit:
			// contending for it here would wake a thread per period.
			// armed stays true, so nobody else resets the timer.
			if n.came.Swap(false) {
				p := min(2*time.Duration(n.period.Load()), lazyCheckMax)
				n.period.Store(int64(p))
				n.timer.Reset(p)
				continue
			}
		}
		c.mu.Lock()
		if fired {
			n.armed = false
			if n.owner == ownNone && n.busy > 0 && n.lazy {
				if n.came.Load() {
					// GetEvents callers still come: look again later.
					n.armLocked()
				} else {
					// A whole period with IO in the kernel and no
					// GetEvents: from now on, complete eagerly.
					n.lazy = false
				}
			}
		} else {
			n.kicked = false
			n.bgWakes++
		}
		for !n.closed && !n.lazy && n.owner == ownNone && n.busy > 0 && n.wantOwner == 0 {
			n.owner = ownBackground
			var dl time.Time
			if n.silent > 0 {
				// iocbs submitted for io_getevents waiters never signal
				// the eventfd: look for them every lazyCheck.
				dl = time.Now().Add(lazyCheck)
			}
			c.mu.Unlock()
			err := n.waitEfd(dl)
			c.mu.Lock()
			n.owner = ownNone
			if n.yieldReq.Load() {
				// GetEvents callers complete the IO themselves; the
				// loop ends here, with the timer armed below.
				n.yieldReq.Store(false)
				n.lazy = true
			}
			if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
				break
			}
			n.bgWakes++
			if err != nil {
				n.bgDeadlines++
			}
			n.drainLocked()
			c.commitLocked()
		}
		if n.lazy {
			// IO left in the kernel without an owner needs the check.
			n.armLocked()
		}
		if n.wantOwner > 0 {
			// Let a waiting GetEvents caller take the eventfd.
			c.wakeWaitersLocked()
		}
		closed := n.closed
		c.mu.Unlock()
		if closed {
			return
		}
	}
}

// pokeKey is the data of the poke POLL; no slot key has it (slot
// indexes are below 2^31).
const pokeKey = ^uint64(0)

// poke wakes a GetEvents caller waiting in io_getevents for an event the
// kernel did not post.
func (n *native) poke() {
	_, _ = unix.Write(n.pokeFd, one[:])
}

// kwaitLocked is the wait of a GetEvents caller that owns the completions:
// it blocks in io_getevents(min 1), the kernel's own wait, which wakes this
// thread directly, and finishes what it returns. c.mu is held on entry and
// on return, not during the wait. It reports whether deadline passed.
// While it waits, nobody else touches the kernel's ring (kwait), since
// io_getevents moves head under a lock user space cannot take. EINTR (a
// signal for the Go runtime) restarts the wait with the time left.
func (n *native) kwaitLocked(deadline time.Time) (timedOut bool) {
	c := n.c
	if !n.pokeArmed {
		cbs := [1]*abi.LegacyIocb{&n.pokeLcb}
		if _, e := ioSubmit(n.ctx, cbs[:], n.holdP()); e == 0 {
			n.pokeArmed = true
		}
	}
	// Without the poke armed (io_submit refused it, EAGAIN), nothing
	// could end the wait for an event the kernel does not post (a pool
	// worker's, a NOOP's): wait a millisecond at a time then, and arm it
	// again on the next turn (found by review, 2026-11-22).
	// The caller's deadline decides timedOut; wait may come sooner.
	wait := deadline
	if !n.pokeArmed {
		if d := time.Now().Add(time.Millisecond); wait.IsZero() || d.Before(wait) {
			wait = d
		}
	}
	hold := n.holdP()
	n.kwait = true
	c.mu.Unlock()
	var k int
	var e unix.Errno
	for {
		var tsp *unix.Timespec
		var ts unix.Timespec
		if !wait.IsZero() {
			left := time.Until(wait)
			if left <= 0 {
				timedOut = wait.Equal(deadline)
				break
			}
			ts = unix.NsecToTimespec(int64(left))
			tsp = &ts
		}
		if hold {
			k, e = ioGeteventsHold(n.ctx, 1, n.kevs, tsp)
		} else {
			k, e = ioGetevents(n.ctx, 1, n.kevs, tsp)
		}
		if e == unix.EINTR {
			// The runtime's preemption signal, most likely: yield here,
			// so that a stop-the-world reaches this goroutine whatever
			// the compiler inlined (the loop has no other call when
			// there is no deadline).
			runtime.Gosched()
			continue
		}
		if e != 0 || k == 0 {
			timedOut = e == 0 && !deadline.IsZero() && !time.Now().Before(deadline)
		}
		break
	}
	c.mu.Lock()
	n.kwait = false
	if e != 0 && e != unix.EINTR {
		// Retrying would fail the same way at once: GetEvents would
		// spin on it until its deadline, or for ever without one. Its
		// next look reports the errno instead (found by review,
		// 2026-11-22).
		n.failLocked(e)
		return false
	}
	n.completeLocked(n.kevs[:k])
	return timedOut
}

// failLocked records that io_getevents failed with e (not EINTR), for
// the next GetEvents call to report. EINVAL, with the arguments this
// driver passes, means the kernel no longer knows the context (it was
// io_destroyed, or this is a child of fork, whose mm has no AIO
// contexts): the events of the iocbs it held will never come. So that
// each still yields exactly one event, they complete here, with -EIO
// (the outcome is unknown: a write may have been done), or -ECANCELED
// for one whose Cancel was accepted, as Cancel promised. From then on
// nothing looks at the kernel ring (which io_destroy unmaps) or calls
// io_getevents, and a later native iocb gets io_submit's EINVAL in its
// event. Any other errno leaves the iocbs to the kernel, which may still
// write into their buffers; the next wait tries again.
func (n *native) failLocked(e unix.Errno) {
	n.failed = e
	// A waiter parked on its channel (GetEventsContext, or a GetEvents
	// that does not own the kernel wait) must look now: the error is
	// for the next caller to see, and nothing else may wake it.
	n.c.wakeWaitersLocked()
	if e != unix.EINVAL || n.gone {
		return
	}
	n.gone = true
	n.pokeArmed = false
	// Forget the id: it is the address of the kernel's ring mapping,
	// which the next io_setup in this process may well get again, and
	// an io_submit, io_cancel or io_destroy with it would then act on
	// another context (found by review, 2026-11-22: a native POLL was
	// accepted into the next context set up, and Destroy hung). No
	// context has id 0, so each of those now fails with EINVAL: queued
	// native iocbs complete with -EINVAL in flushLocked, and close's
	// io_destroy does nothing.
	n.ctx = nil
	c := n.c
	for i := range c.slots {
		s := &c.slots[i]
		if s.state != stNative && s.state != stPoll {
			continue
		}
		res := -int64(unix.EIO)
		if s.cancel {
			res = -int64(unix.ECANCELED)
		}
		c.completeLocked(int32(i), res, 0, false)
	}
}

// takeFailedLocked returns, once, the error for an io_getevents that
// failed since the last call, or nil.
func (n *native) takeFailedLocked() error {
	e := n.failed
	if e == 0 {
		return nil
	}
	n.failed = 0
	if n.gone {
		return errorf("getevents", e, "io_getevents: %v: the native AIO context is gone (io_destroyed, or this process is a child of fork); the iocbs it held completed with -EIO, and native IO submitted from now on fails with EINVAL", e)
	}
	return errorf("getevents", e, "io_getevents: %v", e)
}

// holdP reports whether io_submit and the wait in io_getevents may keep
// the P (ioSubmit, ioGeteventsHold): whether GOMAXPROCS is above 1.
// runtime.GOMAXPROCS takes the scheduler's lock, which cost 1 % of the
// CPU at QD1 on zram when read per submission, so it is re-read every
// 1024 calls; a change is seen that much later. c.mu is held.
func (n *native) holdP() bool {
	if n.holdReads&1023 == 0 {
		n.multiP = runtime.GOMAXPROCS(0) > 1
	}
	n.holdReads++
	return n.multiP
}

// armLocked makes sure someone will drain completions of iocbs the kernel
// holds when nobody owns the eventfd: it wakes the GetEvents callers
// parked, if any, so that one takes them over (a caller that parked while
// the kernel held nothing had nothing to own; left asleep, its IO waited
// for the lazy mode's check and then for the background goroutine's
// deadline), and it kicks the background goroutine, or in lazy mode arms
// the check timer if it is not armed already.
func (n *native) armLocked() {
	if n.owner != ownNone || n.busy == 0 || n.closed {
		return
	}
	if len(n.c.waitList) > 0 {
		n.c.wakeWaitersLocked()
	}
	if n.lazy {
		if !n.armed {
			n.armed = true
			n.came.Store(false)
			n.period.Store(int64(lazyCheck))
			n.timer.Reset(lazyCheck)
		}
		return
	}
	if !n.kicked {
		n.kicked = true
		select {
		case n.kick <- struct{}{}:
		default:
		}
	}
}

// takeLocked makes a GetEvents caller the owner if nobody is; it reports
// whether it did.
func (n *native) takeLocked() bool {
	if n.owner != ownNone || n.busy == 0 || n.closed || n.gone {
		return false
	}
	n.owner = ownWaiter
	n.lazy = true
	n.noteCame()
	return true
}

// callersCompleteLocked records that a GetEvents caller that would have
// waited found its events without waiting: it completes the IO itself,
// as one that owns the completions does (takeLocked), so the background
// goroutine need not wake for every batch (at QD32 on zram it did, on a
// second thread: 10-15 % of the CPU). With nobody owning the eventfd the
// context goes lazy at once. With the background goroutine parked on it,
// that must not happen behind its back: iocbs issued lazily never signal
// the eventfd, and a caller found draining the kernel ring first keeps
// it from seeing the ones that do, so it could stay parked as the owner
// with nobody to hand over to a caller that then has to wait. It is
// asked to let go instead, and woken by a write to its eventfd, once.
func (n *native) callersCompleteLocked() {
	switch n.owner {
	case ownNone:
		n.lazy = true
	case ownBackground:
		n.askYieldLocked()
	}
}

// askYieldLocked asks the background goroutine, parked on the eventfd, to
// let go of it now (yieldReq, and a write to wake it), once. Without the
// write it would notice only at its next wake-up, which for iocbs issued
// lazily (no IOCB_FLAG_RESFD) is its lazyCheck deadline.
func (n *native) askYieldLocked() {
	if !n.yieldReq.Load() {
		n.yieldReq.Store(true)
		_, _ = unix.Write(n.efdN, one[:])
	}
}

// noteCame records a GetEvents call for the lazy mode's check. Once per
// period is enough, and a load is cheaper than a store (an XCHG on amd64)
// on every call.
func (n *native) noteCame() {
	if !n.came.Load() {
		n.came.Store(true)
	}
}

// drainLocked takes every completion the kernel has posted and finishes
// it. The kernel ring is read from user space when its header allows
// (abi.AioRing.Usable), io_getevents otherwise; both under c.mu, so the
// two never race on head. A failing io_getevents goes to failLocked (a
// caller that loops on drainLocked, such as Destroy, must not retry it
// for ever: with EINVAL the iocbs are completed there).
func (n *native) drainLocked() {
	if n.closed || n.kwait || n.gone {
		return
	}
	for {
		var k int
		ok := false
		if n.kr.ok {
			k, ok = n.kr.reap(n.evs)
		}
		if !ok {
			var e unix.Errno
			k, e = ioGeteventsNow(n.ctx, n.evs)
			if e != 0 {
				n.failLocked(e)
				return
			}
		}
		n.completeLocked(n.evs[:k])
		if k < len(n.evs) {
			return
		}
	}
}

// completeLocked finishes the completions the kernel posted together,
// which share one reading of the clock (stampDoneLocked).
func (n *native) completeLocked(evs []abi.IoEvent) {
	n.c.beginDrainLocked()
	for i := range evs {
		n.c.nativeDoneLocked(&evs[i])
	}
	n.c.endDrainLocked()
}

// drainAfterSubmitLocked takes what io_submit completed before it returned
// (a RAM-backed device, a POLL on a ready fd), so that it is published
// before Submit returns. Without a GetEvents caller coming (an application
// reaping from the ring only, or a reaper in another process), the
// background goroutine would otherwise be woken on another thread to
// produce those events, one wakeup later. With GetEvents callers it moves
// their drain earlier in the same round trip, which measured the same
// (docs/kioctx.md). It reads the kernel's ring from user space only: where
// that ring is not usable, draining would cost an io_getevents per submit.
func (n *native) drainAfterSubmitLocked() {
	if n.busy == 0 || !n.kr.ok {
		return
	}
	n.drainLocked()
}

// queueLocked adds slot idx's lcb to the next io_submit.
func (n *native) queueLocked(idx int32) {
	n.busy++
	n.batch = append(n.batch, &n.c.slots[idx].lcb)
	n.bidx = append(n.bidx, idx)
}

// flushLocked issues the queued iocbs. io_submit may take fewer than
// asked: the rest are submitted again; an iocb the kernel refuses outright
// completes with its errno as the event's res, so no accepted iocb is
// lost.
func (n *native) flushLocked() {
	if len(n.batch) == 0 {
		return
	}
	c := n.c
	var issue int64 // one reading for the batch, and only for TIMESTAMPS
	for _, idx := range n.bidx {
		s := &c.slots[idx]
		if n.lazy && n.ctxWaiters == 0 && s.state == stNative {
			// GetEvents callers wait in io_getevents: the eventfd
			// signal would only wake the netpoller's thread for nothing.
			s.lcb.Flags &^= abi.IOCB_FLAG_RESFD
			s.silent = true
			n.silent++
		}
		if s.t.Want != 0 {
			c.eng.Begin(&s.t, &s.s)
			if s.t.Want.Has(abi.AttrTimestamps) {
				if issue == 0 {
					issue = attrs.Now()
				}
				s.s.IssueNs = issue
			}
		}
	}
	for i := 0; i < len(n.batch); {
		k, e := ioSubmit(n.ctx, n.batch[i:], n.holdP())
		if e != 0 {
			c.completeLocked(n.bidx[i], -int64(e), 0, false)
			i++
			continue
		}
		i += k
	}
	// Not cleared: the pointers are into c.slots, which lives as long as
	// n, and clearing a pointer slice costs a write-barrier check per call.
	n.batch = n.batch[:0]
	n.bidx = n.bidx[:0]
}

// resubmitLocked issues one slot's lcb at once (re-arming a POLL).
func (n *native) resubmitLocked(idx int32) unix.Errno {
	cbs := [1]*abi.LegacyIocb{&n.c.slots[idx].lcb}
	_, e := ioSubmit(n.ctx, cbs[:], n.holdP())
	return e
}

// close stops the completion goroutine and destroys the kernel context.
// The caller has drained everything in flight.
func (n *native) close() {
	n.c.mu.Lock()
	n.closed = true
	n.c.mu.Unlock()
	// Stop the goroutine before the kernel's ring goes away: a wake
	// looks at the ring.
	n.efd.Close()
	select {
	case n.kick <- struct{}{}:
	default:
	}
	<-n.done
	n.timer.Stop()
	ioDestroy(n.ctx)
	unix.Close(n.pokeFd)
}

// nativeDoneLocked finishes one kernel completion. ev.Data is the slot's
// key, or pokeKey; a completion whose key does not match a slot in the
// kernel is ignored (it cannot happen unless something else submits on our
// context).
func (c *Context) nativeDoneLocked(ev *abi.IoEvent) {
	if ev.Data == pokeKey {
		c.nat.pokeArmed = false
		var b [8]byte
		_, _ = unix.Read(c.nat.pokeFd, b[:])
		return
	}
	idx, gen := splitKey(ev.Data)
	if idx < 0 || int(idx) >= len(c.slots) {
		return
	}
	s := &c.slots[idx]
	if s.gen != gen {
		return
	}
	switch s.state {
	case stNative:
		c.completeLocked(idx, ev.Res, ev.Res2, false)
	case stPoll:
		c.pollReadyLocked(idx, ev.Res)
	}
}
