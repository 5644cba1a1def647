package attrs

import (
	"encoding/binary"

	"github.com/aio2/aio2/abi"
)

// Mask is a set of attribute ids below 64: bit i is id i. It is the form of
// params.attrs.
type Mask uint64

// Has reports whether id is in m.
func (m Mask) Has(id uint16) bool { return id < 64 && m&(1<<id) != 0 }

// With returns m with id added (ids of 64 and up are ignored).
func (m Mask) With(id uint16) Mask {
	if id >= 64 {
		return m
	}
	return m | 1<<id
}

// Kind is what kind of IO an iocb turned out to be, as kioctx's driver
// selection decided. Collectors serve different ids for different kinds.
type Kind uint8

const (
	// KindDirect: O_DIRECT file or block-device IO through native AIO.
	KindDirect Kind = iota
	// KindBuffered: buffered file IO run by a pool worker.
	KindBuffered
	// KindSync: FSYNC/FDSYNC.
	KindSync
	// KindSyscall: the SYSCALL opcode, run by a pool worker.
	KindSyscall
	// KindPoll: POLL, or a read/write on a pollable fd (socket, pipe).
	KindPoll
	// KindNoop: NOOP.
	KindNoop
	numKinds
)

var kindNames = [...]string{"direct", "buffered", "sync", "syscall", "poll", "noop"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// Target describes one IO to the collectors. kioctx fills it at submission
// and keeps it, with the Stamp, in the IO's in-flight slot.
type Target struct {
	Kind   Kind
	Opcode uint16
	Fd     int32
	Offset int64
	Nbytes uint64
	// Want is the set of catalogue ids requested (ids >= 64 are not in it).
	Want Mask
	// AioObj and AioData identify the native AIO iocb that carries the IO:
	// its address as passed to io_submit, and its aio_data (the kernel's
	// struct aio_kiocb keeps both in ki_res). Both are 0 for IO that does
	// not go through native AIO. DEVICE joins its records by them, which
	// tells apart IOs of the same file and offset in flight at once.
	AioObj, AioData uint64
}

// Stamp holds one IO's measurements. It lives in kioctx's in-flight slot,
// so taking measurements allocates nothing. Times are CLOCK_MONOTONIC
// nanoseconds (the clock bpf_ktime_get_ns uses); CPUs are as getcpu(2)
// reports them.
//
// An IO that wants nothing beyond TickIDs (LATENCY, CPU, TAG) is timed
// with the TSC instead, where ReadyTSC has one: SubmitTicks and
// CompleteTicks hold ReadTSC values and the Ns fields stay 0 (Clock.Append
// converts); one of those that does not want LATENCY is not timed at all.
// Any other IO, or any IO before the calibration is done, has SubmitTicks
// 0 and its times in the Ns fields.
type Stamp struct {
	SubmitNs      int64
	IssueNs       int64
	CompleteNs    int64
	SubmitTicks   uint64
	CompleteTicks uint64
	SubmitCPU     uint32
	CompleteCPU   uint32
	// Tid is the thread that ran a synchronous IO (pool workers), 0 if none.
	Tid int32
	// Priv is scratch space for collectors (before/after snapshots).
	Priv [6]uint64
}

// Collector measures some attributes. Implementations are safe for
// concurrent use: kioctx calls them at once from Submit, IssueSync,
// GetEvents, Cancel and Destroy callers, pool workers and the completion
// goroutine.
//
// The Engine calls Begin and End only for an IO that wants an id the
// collector serves for t.Kind in that Engine (the first collector
// registered for a pair wins it), and never for a Hookless collector.
type Collector interface {
	// Name identifies the collector in `aio2 features` and in errors.
	Name() string
	// Serves returns the ids this collector can serve for IO of kind k.
	// An id served for no kind by any collector is UNSUPPORTED.
	Serves(k Kind) Mask
	// Available reports whether id can be measured right now for t (for
	// example, false without privilege); the id is then UNAVAILABLE.
	Available(id uint16, t *Target) bool
	// Begin is called on the thread that performs a synchronous IO (a
	// pool worker or an IssueSync caller), just before the syscall, or
	// on the submitting goroutine just before io_submit (native).
	Begin(t *Target, s *Stamp)
	// End is called once per IO, when it is done. After a synchronous
	// IO it runs on Begin's thread, just after the syscall. For native
	// IO it runs on whichever goroutine drains the completion: the
	// completion goroutine, a GetEvents caller, Destroy, or Submit
	// (which drains what io_submit completed). It also comes without any
	// Begin: for a queued iocb cancelled before a pool worker took it (on
	// the Cancel or Destroy caller), and for submitted NOOPs and the poll
	// driver's iocbs (POLL, or a read or write on a pollable fd, whether
	// its non-blocking first try in Submit finishes it or a poll
	// completion drained later does), which get no Begin. Then s holds
	// only kioctx's stamps and a zero Priv: End must tolerate that.
	End(t *Target, s *Stamp)
	// Append appends id's attribute (header, value, padding) for this IO.
	// It is called only for ids Serves(t.Kind) has and Available allowed.
	Append(dst []byte, id uint16, t *Target, s *Stamp) []byte
}

// Encode appends the attributes that reqs (an iocb2's attribute requests,
// already validated by abi.DecodeIocb) asks for, in request order, for the
// IO t measured in s, to dst. Each requested id yields exactly one
// attribute. If appending an attribute would make the attribute bytes
// exceed room, it and every later one are left out and truncated is true
// (the event then carries EVENT_ATTRS_TRUNCATED).
func (e *Engine) Encode(dst []byte, reqs []byte, t *Target, s *Stamp, room int) (out []byte, truncated bool) {
	if len(reqs) == abi.AttrHeaderBytes && binary.LittleEndian.Uint32(reqs[4:]) == 0 {
		// One request without a value (--attrs=latency, say): what the
		// walk below does for it, without the walk. In perf at QD1 on
		// zram, Encode, encodeOne and Clock.Append took 19 ns per IO (of
		// about 2.6 µs) through the walk, and 6 ns without it.
		start := len(dst)
		out = e.encodeOne(dst, abi.Attr{ID: binary.LittleEndian.Uint16(reqs)}, t, s)
		if len(out)-start > room {
			return out[:start], true
		}
		return out, false
	}
	return e.encodeWalk(dst, reqs, t, s, room)
}

// encodeWalk is Encode for any requests: one walk, one encodeOne each.
func (e *Engine) encodeWalk(dst []byte, reqs []byte, t *Target, s *Stamp, room int) (out []byte, truncated bool) {
	start := len(dst)
	it := abi.NewAttrIter(reqs)
	for {
		a, ok := it.Next()
		if !ok {
			break
		}
		mark := len(dst)
		dst = e.encodeOne(dst, a, t, s)
		if len(dst)-start > room {
			return dst[:mark], true
		}
	}
	return dst, false
}

func (e *Engine) encodeOne(dst []byte, a abi.Attr, t *Target, s *Stamp) []byte {
	c := e.serving(a.ID, t.Kind)
	if c == nil {
		if e.servedAtAll(a.ID) {
			return abi.AppendAttrStatus(dst, a.ID, abi.AttrUnavailable)
		}
		return abi.AppendAttrStatus(dst, a.ID, abi.AttrUnsupported)
	}
	if a.ID == abi.AttrTag {
		if len(a.Value) > abi.MaxTagBytes {
			// abi.DecodeIocb refuses this; never echo a TAG the spec
			// forbids if unvalidated bytes get here.
			return abi.AppendAttrStatus(dst, a.ID, abi.AttrError)
		}
		return abi.AppendAttr(dst, a.ID, abi.AttrOK, a.Value)
	}
	if _, ok := c.(Clock); ok {
		// Called directly: the clock is always available, and through
		// the interface this was two indirect calls, each through the
		// pointer wrapper of a value method, per attribute.
		return Clock{}.Append(dst, a.ID, t, s)
	}
	if !c.Available(a.ID, t) {
		return abi.AppendAttrStatus(dst, a.ID, abi.AttrUnavailable)
	}
	return c.Append(dst, a.ID, t, s)
}
