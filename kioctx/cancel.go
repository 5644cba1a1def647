package kioctx

import (
	"time"

	"golang.org/x/sys/unix"
)

// Cancel asks for the iocb with key to be cancelled (io_cancel2). nil
// means it was, or will be: its event carries -ECANCELED. ErrInProgress
// means it cannot be stopped (it is in the device, or running in a pool
// worker); its event carries its result. ErrAlreadyDone means its event was
// produced; ErrUnknownKey that this context never assigned key. Whatever
// the answer, every accepted iocb yields exactly one event.
//
// What can be cancelled: iocbs queued for the pool and not started, and
// POLL waits (the poll path's reads and writes included). Native O_DIRECT
// IO and FSYNC cannot: Linux has no cancel method for them.
func (c *Context) Cancel(key uint64) error {
	idx, gen := splitKey(key)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.destroyed {
		return ErrDestroyed
	}
	if gen == 0 || idx < 0 || int(idx) >= len(c.slots) {
		return ErrUnknownKey
	}
	s := &c.slots[idx]
	switch d := int32(s.gen - gen); {
	case d < 0:
		return ErrUnknownKey
	case d > 0 || s.state == stFree:
		return ErrAlreadyDone
	}
	return c.cancelLocked(idx)
}

// cancelLocked cancels the live iocb in slot idx if it can.
func (c *Context) cancelLocked(idx int32) error {
	s := &c.slots[idx]
	switch s.state {
	case stQueued:
		c.pool.removeLocked(idx)
		c.completeLocked(idx, -int64(unix.ECANCELED), 0, false)
		c.commitLocked()
		return nil
	case stPoll:
		if !s.cancel {
			s.cancel = true
			// The kernel posts the POLL's event either way: -ECANCELED
			// if the cancel won, the readiness if the poll fired first.
			// pollReadyLocked sees s.cancel and completes with
			// -ECANCELED in both cases.
			ioCancel(c.nat.ctx, &s.lcb)
			c.nat.armLocked()
		}
		return nil
	}
	return ErrInProgress
}

// Destroy cancels what can be cancelled, waits for everything else in
// flight to complete, sets F_DEAD on the ring, stops the context's
// goroutines, closes the fds it made and unmaps the ring. It returns how
// many events were produced but never reaped (they are lost with a private
// ring; a SETUP_SHARED ring stays readable by processes that mapped it).
// A pool worker stuck in a syscall that never returns (a read on a pipe
// nobody writes, through SYSCALL) makes Destroy wait for it.
func (c *Context) Destroy() (unreaped int, err error) {
	c.mu.Lock()
	if c.destroyed {
		c.mu.Unlock()
		return 0, ErrDestroyed
	}
	c.destroyed = true
	c.dead.Store(true)
	if c.nat.owner == ownWaiter {
		c.nat.poke() // a GetEvents caller in io_getevents: let it see
	}
	for i := range c.slots {
		if st := c.slots[i].state; st == stQueued || st == stPoll {
			_ = c.cancelLocked(int32(i))
		}
	}
	c.commitLocked()
	for c.busy > 0 {
		c.nat.drainLocked()
		c.commitLocked()
		if c.busy == 0 {
			break
		}
		c.nat.armLocked()
		ch := c.addWaiterLocked()
		c.mu.Unlock()
		// The completion goroutine and the workers wake us; the tick is
		// a guard against a completion the kernel posts without the
		// eventfd (none is known).
		select {
		case <-ch:
		case <-time.After(50 * time.Millisecond):
		}
		c.mu.Lock()
		c.dropWaiterLocked(ch)
	}
	c.noteHeadLocked()
	unreaped = int(c.acct.produced - c.acct.reaped - c.acct.popped)
	if c.leg == nil {
		c.prod.SetDead()
		// A reaper asleep on the eventfd (in another process, maybe)
		// must wake to see F_DEAD; nothing else would wake it.
		c.signalEventfd()
	}
	c.wakeWaitersLocked()
	c.mu.Unlock()
	c.teardown()
	return unreaped, nil
}
