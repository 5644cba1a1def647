package kioctx

import (
	"golang.org/x/sys/unix"

	"github.com/aio2/aio2/abi"
	"github.com/aio2/aio2/attrs"
)

// one is the 8-byte count written to an eventfd.
var one = [8]byte{1}

// completeLocked turns the iocb in slot idx into its EVENT record,
// produces it and frees the slot. It is the only place a slot leaves the
// in-flight set, which is what makes "exactly one event per accepted
// iocb" a local property: every path that accepts an iocb ends here once.
// ended says the collectors' End hooks already ran (pool workers call End
// on their own thread right after the syscall).
func (c *Context) completeLocked(idx int32, res, res2 int64, ended bool) {
	s := &c.slots[idx]
	if s.t.Want != 0 {
		c.stampDoneLocked(s)
		if s.t.Want.Has(abi.AttrCPU) {
			s.s.CompleteCPU = attrs.CPU()
		}
		if !ended {
			c.eng.End(&s.t, &s.s)
		}
	}
	if c.leg != nil {
		// The legacy ring cannot be full here (max_inflight <= nr-1)
		// unless a reaper wrote a bad head: then the ring dies and the
		// event waits for GetEvents (legacy.produce).
		c.leg.produce(abi.IoEvent{Data: s.cb.Data, Obj: s.key(idx), Res: res, Res2: res2}, &c.acct)
		c.completed = true
		c.releaseLocked(idx)
		return
	}
	c.enc = c.encodeEvent(c.enc[:0], s, s.key(idx), res, res2)
	// Append fails only for a malformed record (ours are not) or when the
	// ring is dead because head was found corrupt: then the record is on
	// the overflow list, where GetEvents still finds it.
	_ = c.prod.Append(c.enc)
	c.acct.noteProduced(len(c.enc))
	c.completed = true
	c.releaseLocked(idx)
}

// stampDoneLocked stamps slot s, completing now, on the clock its
// submission was stamped on (stampSubmitLocked): one reading shared by a
// whole drain of the kernel's ring (beginDrainLocked to endDrainLocked),
// a fresh one otherwise.
func (c *Context) stampDoneLocked(s *slot) {
	switch {
	case s.s.SubmitTicks != 0:
		s.s.CompleteTicks = stampOnce(c.draining, &c.doneTicks, attrs.ReadTSC)
	case s.s.SubmitNs != 0:
		s.s.CompleteNs = stampOnce(c.draining, &c.doneNs, attrs.Now)
	}
}

// stampOnce returns a reading of clock shared through *cache when share
// is set (read at the first call, 0 meaning not yet), a fresh one
// otherwise.
func stampOnce[T int64 | uint64](share bool, cache *T, clock func() T) T {
	if !share {
		return clock()
	}
	if *cache == 0 {
		*cache = clock()
	}
	return *cache
}

// beginDrainLocked and endDrainLocked bracket the completion of a batch
// of events the kernel posted together.
func (c *Context) beginDrainLocked() { c.draining, c.doneNs, c.doneTicks = true, 0, 0 }
func (c *Context) endDrainLocked()   { c.draining, c.doneNs, c.doneTicks = false, 0, 0 }

// encodeEvent appends the EVENT record of slot s to dst, at most
// max_event_bytes long.
func (c *Context) encodeEvent(dst []byte, s *slot, key uint64, res, res2 int64) []byte {
	return c.encodeEventMax(dst, s, key, res, res2, c.maxEv)
}

// encodeEventMax is encodeEvent with the event's size limit given.
func (c *Context) encodeEventMax(dst []byte, s *slot, key uint64, res, res2 int64, maxEv int) []byte {
	start := len(dst)
	dst = abi.BeginEvent(dst, s.cb.Data, key, res, res2)
	var flags uint16
	if len(s.reqs) > 0 {
		var trunc bool
		dst, trunc = c.eng.Encode(dst, s.reqs, &s.t, &s.s, maxEv-abi.EventHeaderBytes)
		if trunc {
			flags = abi.EventAttrsTruncated
		}
	}
	return abi.EndEvent(dst, start, flags)
}

// releaseLocked frees slot idx: buffers unpinned, state free, index back
// on the free stack. The generation stays, so the old key reads as done.
func (c *Context) releaseLocked(idx int32) {
	s := &c.slots[idx]
	if s.state == stNative || s.state == stPoll {
		c.nat.busy--
	}
	if s.silent {
		s.silent = false
		c.nat.silent--
	}
	if s.pinned {
		s.pin.Unpin()
		s.pinned = false
	}
	s.state = stFree
	s.cancel = false
	c.free = append(c.free, idx)
	c.busy--
}

// commitLocked publishes what was produced since the last commit: it
// flushes the overflow list into the ring where there is room, stores
// tail once, signals the eventfd once if tail moved and no reaper set
// UF_NO_EVENTFD, records the publication for max_inflight accounting, and
// wakes GetEvents waiters.
func (c *Context) commitLocked() {
	if c.leg != nil {
		if c.leg.commit(&c.acct) {
			c.signalEventfd()
		}
		c.wakeCompletedLocked()
		return
	}
	if c.prod.OverflowLen() > 0 {
		_ = c.prod.Flush() // a dead ring keeps its records on the list
	}
	signal := c.prod.Commit()
	c.acct.notePublished(c.acct.produced-c.acct.popped-uint64(c.prod.OverflowLen()), c.reg.Tail())
	if dead, _ := c.prod.Dead(); dead {
		// Nothing in the ring can be trusted to be reaped any more;
		// what is left is on the overflow list, which GetEvents pops.
		c.acct.creditAll()
	}
	c.noteOverflowLocked()
	if signal {
		c.signalEventfd()
	}
	c.wakeCompletedLocked()
}

// wakeCompletedLocked wakes GetEvents waiters once if an event was produced
// since the last commit.
func (c *Context) wakeCompletedLocked() {
	if !c.completed {
		return
	}
	c.completed = false
	c.wakeWaitersLocked()
	if c.nat.owner == ownWaiter {
		// The owner waits for the kernel only; an event from a pool
		// worker or a cancel must wake it too.
		c.nat.poke()
	}
}

// noteOverflowLocked updates overflowHint. The hint rarely changes, and a
// load costs less than a store (an XCHG on amd64) on every commit and
// collect.
func (c *Context) noteOverflowLocked() {
	if v := c.prod.OverflowLen() > 0; c.overflowHint.Load() != v {
		c.overflowHint.Store(v)
	}
}

// signalEventfd adds 1 to the context's eventfd. EAGAIN means the counter
// is at its maximum, so a reader is due to wake anyway; EINTR cannot
// happen on a non-blocking eventfd write.
func (c *Context) signalEventfd() {
	_, _ = unix.Write(c.efd, one[:])
}

// outstandingLocked is what max_inflight bounds: iocbs submitted and not
// completed, plus events produced and not yet reaped (appended and not yet
// published, in the ring, or on the overflow list).
func (c *Context) outstandingLocked() int {
	return c.busy + int(c.acct.produced-c.acct.reaped-c.acct.popped)
}

func (c *Context) inflight() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.destroyed {
		return 0
	}
	c.noteHeadLocked()
	return c.outstandingLocked()
}

// noteHeadLocked credits what reapers took since we last looked.
func (c *Context) noteHeadLocked() {
	if c.leg != nil {
		c.leg.noteHead(&c.acct)
		return
	}
	c.acct.noteHead(c.reg.Head(), c.reg.Tail())
}

// noteProduced records an appended record of n bytes.
func (a *reapAcct) noteProduced(n int) {
	a.produced++
	a.lens.push(uint32(n))
}

// notePublished records that the first cum events ever published into the
// ring are there now, and checks the replay against the real tail.
func (a *reapAcct) notePublished(cum uint64, tail uint32) {
	for a.published < cum && a.lens.len() > 0 {
		n := a.lens.pop()
		if room := a.ringBytes - a.shadow&(a.ringBytes-1); n > room {
			a.shadow += room // the PAD
		}
		a.shadow += n
		a.ends.push(a.shadow)
		a.published++
	}
	if a.shadow != tail {
		// Cannot happen while the producer follows spec section 5; if it
		// does, stop trusting the replay: the records count as unreaped
		// until the ring is seen empty.
		a.shadow = tail
	}
}

// notePopped records a record taken off the overflow list directly.
func (a *reapAcct) notePopped() {
	a.popped++
	if a.lens.len() > 0 {
		a.lens.pop()
	}
}

// noteHead credits the records whose end head has passed. head is written
// by reapers, possibly in other processes: a value outside [last head
// seen, published tail] is not believed (the producer finds it corrupt on
// its next write and the ring dies).
func (a *reapAcct) noteHead(h, pubTail uint32) {
	base := a.head
	if h-base > pubTail-base {
		return
	}
	a.head = h
	for a.ends.len() > 0 && a.ends.front()-base <= h-base {
		a.ends.pop()
		a.reaped++
	}
	if h == pubTail && a.reaped != a.published {
		// The ring is empty: whatever the replay says, all is reaped.
		a.reaped = a.published
		a.ends.clear()
	}
}

// creditAll counts everything published as reaped (the ring is dead).
func (a *reapAcct) creditAll() {
	a.reaped = a.published
	a.ends.clear()
}
