package kioctx

import (
	"context"
	"errors"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/aio2/aio2/abi"
	"github.com/aio2/aio2/ring"
)

// timers reuses the timers of GetEvents with a timeout, so that waiting
// allocates nothing in steady state. Since Go 1.23 a stopped or reset
// timer never delivers a stale value, which makes reuse safe.
var timers = sync.Pool{New: func() any {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}}

// addWaiterLocked registers a waiter and returns its channel (capacity 1),
// from the free list when possible.
func (c *Context) addWaiterLocked() chan struct{} {
	var ch chan struct{}
	if n := len(c.chans); n > 0 {
		ch = c.chans[n-1]
		c.chans = c.chans[:n-1]
	} else {
		ch = make(chan struct{}, 1)
	}
	c.waitList = append(c.waitList, ch)
	return ch
}

// dropWaiterLocked unregisters ch (if a wake has not already done so),
// empties it and puts it back on the free list.
func (c *Context) dropWaiterLocked(ch chan struct{}) {
	for i, w := range c.waitList {
		if w == ch {
			last := len(c.waitList) - 1
			c.waitList[i] = c.waitList[last]
			c.waitList[last] = nil
			c.waitList = c.waitList[:last]
			break
		}
	}
	select {
	case <-ch:
	default:
	}
	c.chans = append(c.chans, ch)
}

// wakeWaitersLocked wakes every registered waiter once.
func (c *Context) wakeWaitersLocked() {
	for i, ch := range c.waitList {
		select {
		case ch <- struct{}{}:
		default:
		}
		c.waitList[i] = nil
	}
	c.waitList = c.waitList[:0]
}

func (c *Context) getEvents(ctx context.Context, min int, buf []byte, timeout time.Duration) (int, error) {
	if min < 0 {
		return 0, errorf("getevents", unix.EINVAL, "min %d is negative", min)
	}
	if len(buf) < c.maxEv {
		return 0, ErrBufTooSmall
	}
	var (
		n, got   int
		t        *time.Timer
		tc       <-chan time.Time
		done     <-chan struct{}
		deadline time.Time
	)
	if ctx != nil {
		done = ctx.Done()
	}
	defer func() {
		if t != nil {
			t.Stop()
			timers.Put(t)
		}
	}()
	for {
		c.mu.Lock()
		if c.destroyed {
			c.mu.Unlock()
			return n, ErrDestroyed
		}
		// Do the completion work inline: reap the kernel's ring here
		// rather than wait for another goroutine to be scheduled.
		c.nat.drainLocked()
		c.commitLocked()
		k, cnt, err := c.collectLocked(buf[n:])
		n += k
		got += cnt
		if cnt > 0 {
			c.nat.noteCame()
		}
		if err == nil {
			// A failed io_getevents (this caller's wait, or anyone's
			// drain) ends the call with what it collected: retrying it
			// here would spin.
			err = c.nat.takeFailedLocked()
		}
		if err != nil || got >= min || len(buf)-n < c.maxEv {
			if min > 0 && got >= min {
				c.nat.callersCompleteLocked()
			}
			c.nat.armLocked()
			c.mu.Unlock()
			return n, err
		}
		if timeout == 0 && ctx == nil {
			c.nat.armLocked()
			c.mu.Unlock()
			return n, ErrTimeout
		}
		if timeout > 0 && deadline.IsZero() {
			deadline = time.Now().Add(timeout)
		}
		if ctx == nil && c.nat.takeLocked() {
			// Own the driver eventfd: the kernel's completion wakes this
			// goroutine directly through the netpoller.
			timedOut := c.nat.kwaitLocked(deadline)
			c.nat.owner = ownNone
			c.commitLocked()
			if len(c.waitList) > 0 {
				c.wakeWaitersLocked() // one of them may take over
			}
			c.mu.Unlock()
			if timedOut {
				return c.lastLook(n, got, min, buf, ErrTimeout)
			}
			continue
		}
		// Someone else owns the completions, or this caller waits on a
		// context.Context (whose Done cannot interrupt io_getevents):
		// wait to be told of events. With nobody owning them, the
		// background goroutine must, now.
		if c.nat.owner == ownNone && c.nat.busy > 0 {
			c.nat.lazy = false
			c.nat.armLocked()
		}
		// A caller that could take the completions over asks the
		// background goroutine to let go (a context.Context waiter cannot).
		wanted := ctx == nil && c.nat.owner == ownBackground
		if wanted {
			c.nat.wantOwner++
			// At once: parked on the eventfd, it may not wake for up to
			// lazyCheck if the IO in flight was issued lazily.
			c.nat.askYieldLocked()
		}
		ch := c.addWaiterLocked()
		if ctx != nil {
			c.nat.ctxWaiters++
		}
		c.mu.Unlock()
		if timeout > 0 && t == nil {
			t = timers.Get().(*time.Timer)
			t.Reset(time.Until(deadline))
			tc = t.C
		}
		var stop error
		select {
		case <-ch:
		case <-tc:
			stop = ErrTimeout
		case <-done:
			stop = ctx.Err()
		}
		c.mu.Lock()
		if wanted {
			c.nat.wantOwner--
		}
		if ctx != nil {
			c.nat.ctxWaiters--
		}
		c.dropWaiterLocked(ch)
		c.mu.Unlock()
		if stop != nil {
			return c.lastLook(n, got, min, buf, stop)
		}
	}
}

// lastLook collects once more before GetEvents gives up with stop, so
// that events that raced the timeout are not left behind.
func (c *Context) lastLook(n, got, min int, buf []byte, stop error) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.destroyed {
		return n, ErrDestroyed
	}
	c.nat.drainLocked()
	c.commitLocked()
	k, cnt, err := c.collectLocked(buf[n:])
	c.nat.armLocked()
	n += k
	got += cnt
	if err == nil {
		err = c.nat.takeFailedLocked()
	}
	if err != nil {
		return n, err
	}
	if got >= min {
		return n, nil
	}
	return n, stop
}

// collectLocked copies whole EVENT records into dst: from the ring first
// (older), then, as the ring empties, from the overflow list, which it
// flushes into the ring (or, when the ring is dead, pops directly). It
// takes no more records than surely fit: at most len/max_event_bytes per
// reap, because a claimed record cannot be given back.
func (c *Context) collectLocked(dst []byte) (n, cnt int, err error) {
	if c.leg != nil {
		n, cnt, err = c.leg.collect(dst, &c.acct)
		c.noteHeadLocked()
		return n, cnt, err
	}
	for {
		max := (len(dst) - n) / c.maxEv
		if max == 0 {
			break
		}
		if dead, _ := c.prod.Dead(); dead {
			out, ok := c.prod.PopOverflow(dst[n:n])
			if !ok {
				break
			}
			n += len(out)
			cnt++
			c.acct.notePopped()
			continue
		}
		out, k, rerr := c.gevRp.Reap(dst[n:n], max)
		n += len(out)
		cnt += k
		if rerr != nil {
			err = rerr
			c.killCorruptLocked(rerr)
			break
		}
		if k == max {
			continue
		}
		// The ring is empty: move overflowed records in, if any.
		if c.prod.OverflowLen() == 0 {
			break
		}
		before := c.prod.OverflowLen()
		c.commitLocked()
		if c.prod.OverflowLen() == before {
			if dead, _ := c.prod.Dead(); !dead {
				break
			}
		}
	}
	c.noteHeadLocked()
	c.noteOverflowLocked()
	return n, cnt, err
}

// killCorruptLocked kills the ring if err says a reaper found it
// corrupt: someone sharing the ring overwrote head or records in a way the
// producer cannot see (a head inside the published range, but not at a
// record). The ring is then no longer used, as when the producer finds
// head corrupt: what follows comes through GetEvents from the overflow
// list, instead of every later call failing at the same head with the
// events queued behind. What is left in the ring past the corrupt record
// is lost (docs/abi.md, section 10, note 15).
func (c *Context) killCorruptLocked(err error) {
	var ce *ring.CorruptError
	if !errors.As(err, &ce) {
		return
	}
	if c.leg != nil {
		// Its events go to held, for GetEvents (legacy.kill).
		c.leg.kill(&c.acct)
		return
	}
	if dead, _ := c.prod.Dead(); dead {
		return
	}
	c.prod.Kill(ce)
	c.commitLocked()
	c.signalEventfd() // reapers asleep elsewhere must see F_DEAD
}

// Reap copies whole EVENT records from the ring into dst without a
// syscall, skipping PADs, and returns the bytes copied (0 if the ring is
// empty). On a version 2 context any number of goroutines may reap at
// once, with one another and with reapers in other processes (the CAS
// protocol of spec section 4). On version 1 at most one reaper may run at
// a time, counting GetEvents and reapers in other processes: the legacy
// ring counts slots modulo its size, so a reaper that stalls while others
// go round the ring can claim a stale copy (the ABA hazard;
// ring.NewLegacyCASReaperAt), which is why Setup grants CAS_REAP to
// version 2 only. It takes at most len(dst)/max_event_bytes records,
// since a claimed record cannot be given back. When the ring is empty
// and the overflow list is not, it flushes the list (taking the context's
// lock) and reaps again.
//
// dst[:n] holds whole events whatever the error: consume them. Errors:
// ErrDestroyed; ErrNoRing when the context has no ring (SETUP_NO_RING) or
// the ring is dead (its head or a record was found corrupt), from when on
// events come only through GetEvents; ErrBufTooSmall; a
// *ring.CorruptError for a record this call found malformed (the events
// before it are in dst, and the ring is killed, so later calls give
// ErrNoRing).
func (c *Context) Reap(dst []byte) (int, error) {
	if c.dead.Load() {
		return 0, ErrDestroyed
	}
	if c.region == nil {
		return 0, ErrNoRing
	}
	if c.leg == nil && c.reg.Flags()&abi.FDead != 0 {
		// Events go to the overflow list now, which only GetEvents
		// pops (found by review, 2026-11-22: Reap returned 0 for
		// ever, and a caller that only reaps stalled at max_inflight).
		return 0, ErrNoRing
	}
	max := len(dst) / c.maxEv
	if max == 0 {
		return 0, ErrBufTooSmall
	}
	var n int
	var err error
	if c.leg != nil {
		n, err = c.leg.reap(dst)
	} else {
		n, err = c.reapRing(dst, max)
	}
	if err != nil && errors.As(err, new(*ring.CorruptError)) {
		// As GetEvents' reaper does (collectLocked): otherwise every
		// later Reap fails at the same record, and the events produced
		// meanwhile wait behind it. (Checked only after an error: the
		// target of errors.As escapes, which would allocate per call.)
		c.mu.Lock()
		if !c.destroyed {
			c.killCorruptLocked(err)
		}
		c.mu.Unlock()
	}
	return n, err
}

// reapRing is Reap on a version 2 ring, for at most max records.
func (c *Context) reapRing(dst []byte, max int) (int, error) {
	rp, _ := c.reapers.Get().(*ring.Reaper)
	if rp == nil {
		r, err := ring.NewReaper(c.reg)
		if err != nil {
			return 0, err
		}
		rp = r
	}
	defer c.reapers.Put(rp)
	out, k, err := rp.Reap(dst[:0], max)
	if k == 0 && err == nil && c.overflowHint.Load() {
		c.mu.Lock()
		if c.destroyed {
			// Destroy ran since Reap's check (a Reap racing Destroy
			// breaks its contract; this keeps the commit off a
			// torn-down ring and a closed eventfd at least).
			c.mu.Unlock()
			return 0, ErrDestroyed
		}
		c.commitLocked()
		c.mu.Unlock()
		out, _, err = rp.Reap(dst[:0], max)
	}
	return len(out), err
}

var _ = abi.EventHeaderBytes
