package kioctx

import (
	"bytes"
	"encoding/binary"

	"golang.org/x/sys/unix"

	"github.com/aio2/aio2/abi"
	"github.com/aio2/aio2/attrs"
)

// req is one iocb on its way in, typed or raw.
type req struct {
	cb   abi.Iocb
	reqs []byte
	want attrs.Mask // the ids reqs asks for (reqsLocked)
	// typed: the Go buffers to pin; otherwise cb.Addr is a raw address.
	typed bool
	buf   []byte
	iov   [][]byte
	args  [6]uint64
}

// errLegacyAttrs refuses attribute requests on a version 1 context, whose
// events cannot carry them (never silently absent).
var errLegacyAttrs error = &Error{Op: "submit", Msg: "a version 1 (legacy ring) context cannot return attributes: use version 2, or IssueSync", Errno: unix.EOPNOTSUPP}

// errRequireAttrs is the pre-boxed refusal of IOCB_F_REQUIRE_ATTRS.
var errRequireAttrs error = &Error{Op: "submit", Msg: "IOCB_F_REQUIRE_ATTRS: an attribute asked for cannot be served for this IO", Errno: unix.EOPNOTSUPP}

// Submit submits cbs in order and returns how many it accepted, writing
// each accepted one's Key. It stops at the first iocb it refuses; it
// returns an error only if it accepted none. Refusals: ErrInflightFull
// (EAGAIN) once max_inflight iocbs are submitted and not yet reaped;
// EINVAL for a malformed iocb (unknown opcode or flags, bad attribute
// requests, misaligned O_DIRECT IO, naming the alignment); EBADF for a bad
// fd; EPERM for a SYSCALL outside the allowlist; EOPNOTSUPP for
// IOCB_F_REQUIRE_ATTRS when an attribute cannot be served. Buffers (Buf,
// Iov) are pinned until the iocb completes.
func (c *Context) Submit(cbs []Iocb) (int, error) {
	if err := c.beginSubmit(); err != nil {
		return 0, err
	}
	n := 0
	var err error
	for i := range cbs {
		u := &cbs[i]
		r := req{
			cb: abi.Iocb{
				Opcode: u.Opcode, Flags: u.Flags, Data: u.Data, Fd: u.Fd,
				RWFlags: u.RWFlags, Offset: u.Offset,
			},
			reqs:  u.Attrs,
			typed: true,
			buf:   u.Buf,
			iov:   u.Iov,
			args:  u.Args,
		}
		switch u.Opcode {
		case abi.OpPoll:
			r.cb.Arg = uint64(u.PollEvents)
		case abi.OpSyscall:
			r.cb.Arg = u.Sysno
		}
		if err = c.checkTyped(&r); err != nil {
			break
		}
		var key uint64
		if key, err = c.submitLocked(&r); err != nil {
			break
		}
		u.Key = key
		n++
	}
	return c.endSubmit(n, err)
}

// beginSubmit takes c.mu for a submit call (held on
// success until endSubmit) and starts a new fd-classification batch.
func (c *Context) beginSubmit() error {
	c.mu.Lock()
	if c.destroyed {
		c.mu.Unlock()
		return ErrDestroyed
	}
	c.fds.batchValid = false
	c.subNs, c.subTicks = 0, 0
	return nil
}

// stampSubmitLocked stamps slot s with the submission time of the
// current submit call, read when the first iocb that needs it asks, on
// the clock s's attributes need (attrs.Stamp): the TSC for an IO that
// wants no more than attrs.TickIDs, once calibrated; none at all if it
// wants neither LATENCY nor anything beyond those ids; CLOCK_MONOTONIC
// otherwise.
func (c *Context) stampSubmitLocked(s *slot) {
	w := s.t.Want
	switch {
	case w&^attrs.TickIDs == 0 && !w.Has(abi.AttrLatency):
		// CPU and TAG alone: nothing is timed.
	case onTSC(w):
		s.s.SubmitTicks = stampOnce(true, &c.subTicks, attrs.ReadTSC)
	default:
		s.s.SubmitNs = stampOnce(true, &c.subNs, attrs.Now)
	}
}

// onTSC reports whether an IO that wants w is timed on the TSC: it asks
// for LATENCY and for nothing that is compared with another clock (only
// attrs.TickIDs), and the process's calibration is done. Every path that
// stamps an IO (submit, issue-sync) decides with it.
func onTSC(w attrs.Mask) bool {
	return w&^attrs.TickIDs == 0 && w.Has(abi.AttrLatency) && attrs.ReadyTSC() != nil
}

// endSubmit ends a submit call: one io_submit for the native batch,
// one publish of what completed inline, then c.mu is released. n is what
// was accepted (iocbs or bytes); err counts only when nothing was.
func (c *Context) endSubmit(n int, err error) (int, error) {
	c.nat.flushLocked()
	c.nat.drainAfterSubmitLocked()
	c.commitLocked()
	c.nat.armLocked()
	c.mu.Unlock()
	if n > 0 {
		return n, nil
	}
	return 0, err
}

// checkTyped applies to a typed iocb the checks abi.DecodeIocb applies
// to a raw one, and sets r.want. It runs without c.mu (IssueSync).
func (c *Context) checkTyped(r *req) error {
	if !abi.KnownOpcode(r.cb.Opcode) {
		return errorf("submit", unix.EINVAL, "unknown opcode %d", r.cb.Opcode)
	}
	if r.cb.Flags&^abi.IocbFlagsKnown != 0 {
		return errorf("submit", unix.EINVAL, "unknown iocb flags %#x", r.cb.Flags&^abi.IocbFlagsKnown)
	}
	if len(r.reqs) > 0 {
		if err := abi.ValidateAttrReqs(r.reqs, 0); err != nil {
			return err
		}
		r.want = attrs.Wanted(r.reqs)
	}
	return nil
}

// reqsLocked validates an iocb's attribute requests (off is their offset,
// for errors) and returns the ids they ask for. It remembers the last
// requests that passed, with their ids: a workload usually sends the same
// requests with every iocb, and comparing their 8 or 16 bytes costs less
// than walking the TLVs twice (about 6 ns per IO with LATENCY in perf, at
// QD32 on zram). Equal bytes passed before, so they pass again.
func (c *Context) reqsLocked(reqs []byte, off int) (attrs.Mask, error) {
	if len(reqs) == 0 {
		return 0, nil
	}
	if bytes.Equal(reqs, c.lastReqs) {
		return c.lastWant, nil
	}
	if err := abi.ValidateAttrReqs(reqs, off); err != nil {
		return 0, err
	}
	c.lastWant = attrs.Wanted(reqs)
	c.lastReqs = append(c.lastReqs[:0], reqs...)
	return c.lastWant, nil
}

// SubmitRaw submits the iocb2 records in buf (spec section 7), writing each
// accepted record's key field, and returns the bytes accepted. It stops at
// the first record it refuses and fails only if it accepted none. Addresses
// in the records are used as they are: the caller keeps that memory valid
// until the events are reaped (AlignedBuf memory is outside the Go heap;
// Go memory must be pinned). A SYSCALL record's six arguments are read
// from its addr at submission (an unmapped addr is EFAULT).
func (c *Context) SubmitRaw(buf []byte) (int, error) {
	if err := c.beginSubmit(); err != nil {
		return 0, err
	}
	off := 0
	var err error
	for off < len(buf) {
		var r req
		var next int
		r.reqs, next, err = abi.DecodeIocbHeader(buf, off, &r.cb)
		if err != nil {
			break
		}
		if r.want, err = c.reqsLocked(r.reqs, off+abi.IocbHeaderBytes); err != nil {
			break
		}
		if r.cb.Opcode == abi.OpSyscall {
			var a [48]byte
			if e := readUser(a[:], r.cb.Addr); e != 0 {
				err = errorf("submit", e, "SYSCALL arguments at %#x: %v", r.cb.Addr, e)
				break
			}
			for i := range r.args {
				r.args[i] = binary.LittleEndian.Uint64(a[8*i:])
			}
		}
		var key uint64
		if key, err = c.submitLocked(&r); err != nil {
			break
		}
		binary.LittleEndian.PutUint64(buf[off+abi.OffIocbKey:], key)
		off = next
	}
	return c.endSubmit(off, err)
}

// submitLocked admits one iocb: capacity, driver choice, slot, buffers,
// stamps, dispatch. It returns the key.
func (c *Context) submitLocked(r *req) (uint64, error) {
	if c.destroyed {
		return 0, ErrDestroyed
	}
	if c.outstandingLocked() >= len(c.slots) {
		// Reapers (maybe in other processes) may have moved head since
		// we last looked.
		c.noteHeadLocked()
		if c.outstandingLocked() >= len(c.slots) {
			return 0, ErrInflightFull
		}
	}
	op := r.cb.Opcode
	if c.leg != nil && len(r.reqs) > 0 {
		return 0, errLegacyAttrs
	}
	if op == abi.OpSyscall && !SyscallAllowed(r.cb.Arg) {
		return 0, ErrNotPermitted
	}
	if err := checkPollEvents(op, r.cb.Arg); err != nil {
		return 0, err
	}
	drv, kind, align, err := c.classifyLocked(r.cb.Fd, op)
	if err != nil {
		return 0, err
	}
	if r.cb.Offset < 0 && isRW(op) && drv != drvPoll {
		return 0, errorf("submit", unix.EINVAL, "offset %d is negative", r.cb.Offset)
	}

	idx := c.free[len(c.free)-1]
	c.free = c.free[:len(c.free)-1]
	c.busy++
	s := &c.slots[idx]
	if s.gen++; s.gen == 0 {
		s.gen = 1 // key 0 is never assigned
	}
	// Field by field here and below, not whole-struct copies: r.cb was
	// just written with narrow stores, and a struct copy reads it back
	// with 16-byte loads that the CPU cannot forward from them (measured:
	// the largest single cost of this function at QD1 on zram).
	setIocb(&s.cb, &r.cb)
	s.drv = drv
	s.cancel = false
	s.reqs = append(s.reqs[:0], r.reqs...)
	s.t.Kind, s.t.Opcode, s.t.Fd, s.t.Offset = kind, op, r.cb.Fd, r.cb.Offset
	s.t.Nbytes, s.t.Want = 0, r.want
	s.t.AioObj, s.t.AioData = 0, 0
	s.s = attrs.Stamp{}
	s.args = r.args
	s.rawIov, s.rwCnt = 0, 0
	s.iov = s.iov[:0]
	if err := c.setBuffers(s, r); err != nil {
		c.rollbackLocked(idx)
		return 0, err
	}
	s.t.Nbytes = ioBytes(s)
	if drv == drvNative && align.Mem != 0 && isRW(op) {
		if err := checkAlign(s, align); err != nil {
			c.rollbackLocked(idx)
			return 0, err
		}
	}
	if r.cb.Flags&abi.IocbRequireAttrs != 0 && len(s.reqs) > 0 {
		if err := c.eng.Check(s.reqs, &s.t); err != nil {
			c.rollbackLocked(idx)
			return 0, errRequireAttrs
		}
	}
	if s.t.Want != 0 {
		c.stampSubmitLocked(s)
		if s.t.Want.Has(abi.AttrCPU) {
			s.s.SubmitCPU = attrs.CPU()
		}
	}
	key := s.key(idx)

	switch drv {
	case drvNoop:
		s.state = stRunning
		if s.t.Want.Has(abi.AttrTimestamps) {
			s.s.IssueNs = s.s.SubmitNs // a NOOP is issued as it is submitted
		}
		c.completeLocked(idx, 0, 0, false)
	case drvPool:
		s.state = stQueued
		c.pool.enqueueLocked(idx)
	case drvNative:
		s.state = stNative
		l := &s.lcb
		l.Data, l.Key, l.RWFlags, l.Opcode, l.Reqprio = key, 0, s.cb.RWFlags, op, 0
		l.Fildes, l.Buf, l.Nbytes, l.Offset = uint32(s.cb.Fd), s.cb.Addr, s.cb.Nbytes, s.cb.Offset
		l.Reserved2, l.Flags, l.Resfd = 0, abi.IOCB_FLAG_RESFD, uint32(c.nat.efdN)
		if s.t.Want != 0 {
			// What the kernel's aio_kiocb records: DEVICE joins by it.
			s.t.AioObj, s.t.AioData = iocbAddr(l), key
		}
		c.nat.queueLocked(idx)
	case drvPoll:
		if op == abi.OpPoll {
			c.armPollLocked(idx, uint32(s.cb.Arg))
			break
		}
		// Try first: data may be there already. The try is the issue;
		// if it must wait, the POLL armed below is (native.go).
		if s.t.Want.Has(abi.AttrTimestamps) {
			s.s.IssueNs = attrs.Now()
		}
		if res := tryNowait(s); res != -int64(unix.EAGAIN) {
			s.state = stRunning
			c.completeLocked(idx, res, 0, false)
			break
		}
		c.armPollLocked(idx, pollEvents(op))
	}
	return key, nil
}

// checkPollEvents refuses a POLL whose event mask does not fit in the 16
// bits of struct pollfd's events: the kernel's aio poll refuses it too
// (fs/aio.c, aio_poll), and IssueSync's poll(2) would cut it.
func checkPollEvents(op uint16, events uint64) error {
	if op == abi.OpPoll && events > 0xffff {
		return errorf("submit", unix.EINVAL, "POLL events %#x do not fit in 16 bits", events)
	}
	return nil
}

// setIocb copies src to dst field by field (see submitLocked).
func setIocb(dst, src *abi.Iocb) {
	dst.Len, dst.Opcode, dst.Flags = src.Len, src.Opcode, src.Flags
	dst.Data, dst.Key, dst.Fd, dst.RWFlags = src.Data, src.Key, src.Fd, src.RWFlags
	dst.Addr, dst.Nbytes, dst.Offset, dst.Arg = src.Addr, src.Nbytes, src.Offset, src.Arg
}

// rollbackLocked frees a slot taken by an iocb that was then refused. Its
// generation was used, so the key it would have had reads as done, never
// as a live iocb.
func (c *Context) rollbackLocked(idx int32) { c.releaseLocked(idx) }

// isRW reports whether op is a read or a write.
func isRW(op uint16) bool {
	switch op {
	case abi.OpPread, abi.OpPwrite, abi.OpPreadv, abi.OpPwritev:
		return true
	}
	return false
}
