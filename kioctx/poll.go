package kioctx

import (
	"golang.org/x/sys/unix"

	"github.com/aio2/aio2/abi"
)

// The poll path: reads and writes on sockets, pipes and FIFOs. Native AIO
// would run them synchronously inside io_submit (and block it on an empty
// socket), so they are done as io_uring does: try the IO with RWF_NOWAIT;
// on EAGAIN arm a one-shot IOCB_CMD_POLL through native AIO and try again
// when it fires. The submitter never blocks and nothing silently becomes
// synchronous.

// pollEvents is the POLL mask that readiness for slot s's IO needs.
func pollEvents(op uint16) uint32 {
	if op == abi.OpPread || op == abi.OpPreadv {
		return unix.POLLIN
	}
	return unix.POLLOUT
}

// tryNowait does slot s's read or write without blocking. It returns
// -EAGAIN when the fd is not ready.
func tryNowait(s *slot) int64 {
	nr := uintptr(unix.SYS_PREADV2)
	if s.cb.Opcode == abi.OpPwrite || s.cb.Opcode == abi.OpPwritev {
		nr = unix.SYS_PWRITEV2
	}
	// Offset -1: pipes and sockets have no position; RWF_NOWAIT turns
	// into MSG_DONTWAIT on sockets and O_NONBLOCK behaviour on pipes.
	return rwvRaw(nr, s.cb.Fd, s.iovAddr(), s.rwCnt, -1, s.cb.RWFlags|unix.RWF_NOWAIT)
}

// armPollLocked prepares slot idx's lcb as a one-shot POLL for what its IO
// waits for (or for the POLL opcode's own mask) and queues it.
func (c *Context) armPollLocked(idx int32, events uint32) {
	s := &c.slots[idx]
	s.state = stPoll
	s.lcb = abi.LegacyIocb{
		Data:   s.key(idx),
		Opcode: abi.IOCB_CMD_POLL,
		Fildes: uint32(s.cb.Fd),
		Buf:    uint64(events),
		Flags:  abi.IOCB_FLAG_RESFD,
		Resfd:  uint32(c.nat.efdN),
	}
	c.nat.queueLocked(idx)
}

// pollReadyLocked handles a POLL completion of slot idx: the POLL opcode
// completes with the revents mask; a read or write is tried again and
// re-armed on EAGAIN. A cancelled slot completes with -ECANCELED whatever
// the kernel said (io_cancel of a POLL also posts an event).
func (c *Context) pollReadyLocked(idx int32, res int64) {
	s := &c.slots[idx]
	if s.cancel {
		c.completeLocked(idx, -int64(unix.ECANCELED), 0, false)
		return
	}
	if s.cb.Opcode == abi.OpPoll || res < 0 {
		c.completeLocked(idx, res, 0, false)
		return
	}
	r := tryNowait(s)
	if r != -int64(unix.EAGAIN) {
		c.completeLocked(idx, r, 0, false)
		return
	}
	// Not ready after all (another reader took the data): wait again.
	if e := c.nat.resubmitLocked(idx); e != 0 {
		c.completeLocked(idx, -int64(e), 0, false)
	}
}
