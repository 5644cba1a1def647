package kioctx

import (
	"runtime"

	"golang.org/x/sys/unix"

	"github.com/aio2/aio2/abi"
	"github.com/aio2/aio2/attrs"
)

// IssueSync runs one iocb in the calling goroutine, bypassing the ring
// and max_inflight, and appends its EVENT record, with the attributes
// asked, to dst (issue-sync: "issue this syscall with attributes"). The
// event's obj is 0: no key is assigned. The IO blocks the calling thread
// as a plain syscall would; reads and writes on sockets and pipes wait for
// readiness with poll(2). Errors of the IO itself come back in the event's
// res; IssueSync returns an error only for an iocb Submit would refuse.
// It is not on the allocation-free path: each call allocates its slot.
func (c *Context) IssueSync(cb *Iocb, dst []byte) ([]byte, error) {
	if c.dead.Load() {
		return dst, ErrDestroyed
	}
	r := req{
		cb: abi.Iocb{
			Opcode: cb.Opcode, Flags: cb.Flags, Data: cb.Data, Fd: cb.Fd,
			RWFlags: cb.RWFlags, Offset: cb.Offset,
		},
		reqs: cb.Attrs, typed: true, buf: cb.Buf, iov: cb.Iov, args: cb.Args,
	}
	switch cb.Opcode {
	case abi.OpPoll:
		r.cb.Arg = uint64(cb.PollEvents)
	case abi.OpSyscall:
		r.cb.Arg = cb.Sysno
	}
	if err := c.checkTyped(&r); err != nil {
		return dst, err
	}
	if err := checkPollEvents(r.cb.Opcode, r.cb.Arg); err != nil {
		return dst, err
	}
	if r.cb.Opcode == abi.OpSyscall && !SyscallAllowed(r.cb.Arg) {
		return dst, ErrNotPermitted
	}
	c.mu.Lock()
	c.fds.batchValid = false
	drv, kind, align, err := c.classifyLocked(r.cb.Fd, r.cb.Opcode)
	c.mu.Unlock()
	if err != nil {
		return dst, err
	}
	s := new(slot)
	s.cb = r.cb
	s.reqs = r.reqs
	s.args = r.args
	s.t = attrs.Target{Kind: kind, Opcode: r.cb.Opcode, Fd: r.cb.Fd, Offset: r.cb.Offset, Want: r.want}
	if err := c.setBuffers(s, &r); err != nil {
		return dst, err
	}
	defer func() {
		if s.pinned {
			s.pin.Unpin()
		}
	}()
	s.t.Nbytes = ioBytes(s)
	if r.cb.Offset < 0 && isRW(r.cb.Opcode) && drv != drvPoll {
		return dst, errorf("issue-sync", unix.EINVAL, "offset %d is negative", r.cb.Offset)
	}
	if drv == drvNative && align.Mem != 0 && isRW(r.cb.Opcode) {
		if err := checkAlign(s, align); err != nil {
			return dst, err
		}
	}
	if r.cb.Flags&abi.IocbRequireAttrs != 0 && len(s.reqs) > 0 {
		if err := c.eng.Check(s.reqs, &s.t); err != nil {
			return dst, errRequireAttrs
		}
	}
	if s.t.Want != 0 {
		// Stay on this thread from Begin to End: collectors recognise
		// the IO by the thread id.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		// As on the other paths (stampSubmitLocked): an IO that asks
		// for nothing compared with another clock is timed on the TSC.
		if onTSC(s.t.Want) {
			s.s.SubmitTicks = attrs.ReadTSC()
		} else {
			s.s.SubmitNs = attrs.Now()
		}
		if s.t.Want.Has(abi.AttrCPU) {
			s.s.SubmitCPU = attrs.CPU()
		}
		s.s.Tid = int32(unix.Gettid())
		c.eng.Begin(&s.t, &s.s)
		if s.t.Want.Has(abi.AttrTimestamps) {
			s.s.IssueNs = attrs.Now()
		}
	}
	var res int64
	switch {
	case drv == drvPoll && r.cb.Opcode == abi.OpPoll:
		res = pollWait(r.cb.Fd, int16(r.cb.Arg))
	case drv == drvPoll:
		for {
			if res = tryNowait(s); res != -int64(unix.EAGAIN) {
				break
			}
			if pr := pollWait(r.cb.Fd, int16(pollEvents(r.cb.Opcode))); pr < 0 {
				res = pr
				break
			}
		}
	default:
		res = runSync(s)
	}
	runtime.KeepAlive(cb)
	if s.t.Want != 0 {
		c.eng.End(&s.t, &s.s)
		if s.s.SubmitTicks != 0 {
			s.s.CompleteTicks = attrs.ReadTSC()
		} else {
			s.s.CompleteNs = attrs.Now()
		}
		if s.t.Want.Has(abi.AttrCPU) {
			s.s.CompleteCPU = attrs.CPU()
		}
	}
	// The event goes to dst, not to a ring: a version 1 context's 40
	// bytes are its ring's format, not a limit the caller chose, so the
	// default applies (found by review, 2026-11-22: IssueSync on version
	// 1, which Submit's refusal of attributes points to, truncated every
	// attribute).
	maxEv := c.maxEv
	if c.leg != nil {
		maxEv = abi.DefaultMaxEventBytes
	}
	return c.encodeEventMax(dst, s, 0, res, 0, maxEv), nil
}

// pollWait blocks in poll(2) until fd has one of events, and returns the
// revents (or -errno). EINTR restarts the wait: a signal for the Go
// runtime (preemption) must not end it.
func pollWait(fd int32, events int16) int64 {
	for {
		fds := [1]unix.PollFd{{Fd: fd, Events: events}}
		n, err := unix.Poll(fds[:], -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return -int64(errnoOf(err))
		}
		if n == 1 {
			return int64(fds[0].Revents)
		}
	}
}
