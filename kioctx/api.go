package kioctx

import (
	"context"
	"os"
	"time"

	"github.com/aio2/aio2/abi"
	"github.com/aio2/aio2/attrs"
)

// Iocb is the typed form of an iocb2 (spec section 7) for Go callers.
// Submit reads it, writes Key, and keeps what it needs: the caller may
// reuse the Iocb value at once, but not the memory its buffers point to
// until the iocb's event has been reaped.
type Iocb struct {
	// Opcode is one of abi.OpPread, OpPwrite, OpFsync, OpFdsync, OpPoll,
	// OpNoop, OpPreadv, OpPwritev, OpSyscall.
	Opcode uint16
	// Flags are IOCB_F_* (abi.IocbRequireAttrs).
	Flags uint16
	// Data is returned in the event's data field.
	Data uint64
	// Key is written by Submit: the id Cancel takes and the event's obj
	// carries.
	Key uint64
	// Fd is the file the IO is on (unused by NOOP and SYSCALL).
	Fd int32
	// RWFlags are RWF_* flags for reads and writes.
	RWFlags uint32
	// Offset is the file offset (at least 0); it is ignored on sockets,
	// pipes and FIFOs, which have none, and on other files that have no
	// position (ttys, eventfds), where the IO is done as read(2) and
	// write(2) would.
	Offset int64
	// Buf is the buffer of PREAD and PWRITE. It is pinned while in flight.
	Buf []byte
	// Iov are the buffers of PREADV and PWRITEV, each pinned while in
	// flight.
	Iov [][]byte
	// PollEvents is the POLL event mask (unix.POLLIN, ...).
	PollEvents uint32
	// Sysno and Args are the SYSCALL opcode's syscall number and its six
	// arguments. Memory that arguments point to must stay valid while in
	// flight; it is not pinned by Submit (use AlignedBuf or a
	// runtime.Pinner).
	Sysno uint64
	Args  [6]uint64
	// Attrs are the attribute requests, built with abi.AppendAttrReq.
	Attrs []byte
}

// Option configures Setup.
type Option func(*options)

type options struct {
	engine  *attrs.Engine
	workers int
}

// WithEngine sets the attribute engine; the default is attrs.Default()
// (clocks, page cache, device time; eBPF loads only when an IO first asks
// for CACHE or DEVICE).
func WithEngine(e *attrs.Engine) Option { return func(o *options) { o.engine = e } }

// WithWorkers sets the number of pool workers (default 4, at least 1).
// Buffered file IO and SYSCALL iocbs run on them, at most this many at a
// time.
func WithWorkers(n int) Option { return func(o *options) { o.workers = n } }

// Defaults and limits of Setup.
const (
	// DefaultMaxInflight is granted when params.max_inflight is 0.
	DefaultMaxInflight = 128
	// MaxMaxInflight is the largest max_inflight granted: each in-flight
	// iocb may hold a slot of the native context, whose size counts
	// against /proc/sys/fs/aio-max-nr.
	MaxMaxInflight = 4096
	// DefaultRingBytes is granted when params.ring_bytes is 0.
	DefaultRingBytes = 64 << 10
)

// Params returns the parameters as granted by Setup.
func (c *Context) Params() abi.Params { return c.params }

// Eventfd returns the context's eventfd: the caller's, if it passed one
// (params.eventfd; it must stay open until Destroy), or one the context
// made when params.eventfd was -1 (closed by Destroy). It is signalled
// once per batch of published events, unless a reaper set UF_NO_EVENTFD,
// and also, with no event, when the ring dies and at Destroy, so that
// reapers asleep on it see F_DEAD. While GetEvents callers are collecting
// native completions, the context leaves them unsignalled ("lazy" mode,
// docs/kioctx.md): a native completion then reaches the ring and the
// eventfd up to a few milliseconds late, once, when nobody calls
// GetEvents any more. It may be used in any epoll loop.
func (c *Context) Eventfd() int { return c.efd }

// Region returns the mapped ring: for version 2 the header and data area
// (abi.HeaderBytes + ring_bytes), for version 1 the legacy aio_ring and
// its io_events. It is nil with SETUP_NO_RING. It stays mapped until
// Destroy.
func (c *Context) Region() []byte { return c.region }

// RingFile returns the sealed memfd holding the ring of a SETUP_SHARED
// context (nil otherwise), for passing to another process, which maps it
// read-write to reap. The context owns it; Destroy closes it.
func (c *Context) RingFile() *os.File { return c.memfd }

// Inflight returns how many iocbs are submitted and not yet reaped (the
// quantity max_inflight bounds).
func (c *Context) Inflight() int { return c.inflight() }

// GetEventsContext is GetEvents with a context.Context in place of the
// timeout: it waits until min events are available or ctx is done (then
// it returns what it has with ctx.Err(), which wraps no errno).
func (c *Context) GetEventsContext(ctx context.Context, min int, buf []byte) (int, error) {
	return c.getEvents(ctx, min, buf, -1)
}

// GetEvents copies whole EVENT records (ring format, no PAD) into buf,
// first flushing the overflow list, and waits until at least min events
// have been copied or timeout expires. timeout < 0 waits forever; 0 does
// not wait. It returns the bytes written; walk them with abi.NextEvent.
// min counts events, not bytes. It also returns, with a nil error and
// possibly fewer than min events, once buf has less than max_event_bytes
// left: no next event is sure to fit (so for min events, give min times
// max_event_bytes, or loop).
//
// buf[:n] holds whole events whatever the error: consume them, or they
// are lost. Errors: ErrTimeout (fewer than min events came in time);
// ErrDestroyed (Destroy ran: it wakes every waiting caller, and is the
// way to end a GetEvents with timeout < 0 that nothing will satisfy);
// ErrBufTooSmall; a *ring.CorruptError (this call's reaper found the ring
// corrupt: the ring is killed, and later calls serve the overflow list);
// an *Error with Op "getevents" for a failing io_getevents, wrapping its
// errno (EINVAL: the kernel context is gone, and the iocbs it held were
// completed with -EIO).
func (c *Context) GetEvents(min int, buf []byte, timeout time.Duration) (int, error) {
	return c.getEvents(nil, min, buf, timeout)
}
