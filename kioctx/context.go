package kioctx

import (
	"os"
	"runtime"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/aio2/aio2/abi"
	"github.com/aio2/aio2/attrs"
	"github.com/aio2/aio2/ring"
)

// Context is an io_setup2 context. Its methods are safe for concurrent
// use, with one exception: Destroy must be the last call. GetEvents and
// GetEventsContext callers already waiting when Destroy runs are woken
// and return ErrDestroyed, as do Submit, GetEvents, Reap and the other
// calls made after Destroy. But Reap and IssueSync running while Destroy
// runs, and the slices and files Region and RingFile returned, use what
// Destroy unmaps and closes: the caller must not race them with it, nor
// use those after it.
type Context struct {
	params abi.Params
	eng    *attrs.Engine
	efd    int  // the context's eventfd
	ownEfd bool // made by Setup, closed by Destroy
	region []byte
	memfd  *os.File
	maxEv  int

	reg     *ring.Region // version 2 (also behind SETUP_NO_RING)
	leg     *legacy      // version 1
	reapers sync.Pool    // *ring.Reaper for Reap, one per goroutine at a time

	nat  *native
	pool *pool

	// dead is set by Destroy; read without mu by the lock-free paths.
	dead atomic.Bool
	// overflowHint mirrors "the producer's overflow list is not empty",
	// for Reap, which does not take mu.
	overflowHint atomic.Bool

	mu sync.Mutex
	// Everything below is guarded by mu.
	prod      *ring.Producer
	slots     []slot
	free      []int32 // free slot indices, a stack
	busy      int     // slots not free: submitted, not yet completed
	acct      reapAcct
	enc       []byte  // scratch for encoding one event
	fds       fdCache // per-fd driver decisions
	gevRp     *ring.Reaper
	destroyed bool
	// completed: an event was produced since the last commit, so
	// GetEvents waiters must be woken even if it went to the overflow list.
	completed bool
	// subNs and doneNs are the clock read once for a whole submit call
	// and once for a whole drain of the kernel's ring (0: not read yet, or
	// outside one): the iocbs of one io_submit share their submission
	// time and the events of one drain their completion time, rather
	// than each reading the clock (30 ns here, three times per IO with
	// LATENCY). subTicks and doneTicks are the same on the TSC. See
	// stampSubmitLocked and stampDoneLocked.
	subNs, doneNs       int64
	subTicks, doneTicks uint64
	draining            bool
	// lastReqs are the last attribute requests that passed validation,
	// and lastWant the ids they ask for (reqsLocked).
	lastReqs []byte
	lastWant attrs.Mask
	// waitList are the channels of GetEvents and Destroy waiters; chans
	// is a free list of such channels, so that waiting allocates nothing.
	waitList []chan struct{}
	chans    []chan struct{}
}

// slot states.
const (
	stFree    = iota
	stQueued  // on the pool's queue, not started
	stRunning // a pool worker runs it
	stNative  // in the kernel: file IO, FSYNC, FDSYNC
	stPoll    // in the kernel: a POLL, armed for POLL itself or for a read/write
)

// drivers.
const (
	drvNoop = iota
	drvNative
	drvPool
	drvPoll
)

// slot is one in-flight iocb. Slots live in one slice that never
// reallocates, so the kernel may hold pointers to lcb and the pool may
// refer to a slot by index.
type slot struct {
	gen    uint32
	state  uint8
	drv    uint8
	cancel bool // Cancel asked; complete with -ECANCELED
	silent bool // native iocb issued without IOCB_FLAG_RESFD
	cb     abi.Iocb
	reqs   []byte // copy of the attribute requests; capacity reused
	t      attrs.Target
	s      attrs.Stamp
	pin    runtime.Pinner
	pinned bool
	lcb    abi.LegacyIocb // the native iocb (file IO, or the POLL arm)
	iov    []unix.Iovec   // typed vectored IO, or a raw buffer made one
	// rawIov is the caller's iovec array of a raw PREADV/PWRITEV (0
	// otherwise); rwCnt the number of iovecs the pool or poll path passes
	// to preadv2/pwritev2.
	rawIov  uintptr
	rawOne  [2]uint64 // struct iovec of a raw PREAD/PWRITE
	rawMode uint8
	rwCnt   int
	args    [6]uint64 // SYSCALL arguments
}

func (s *slot) key(idx int32) uint64 { return uint64(s.gen)<<32 | uint64(uint32(idx)) }

func splitKey(key uint64) (idx int32, gen uint32) { return int32(uint32(key)), uint32(key >> 32) }

// reapAcct counts events produced and not yet reaped, from the
// producer's side: a reaper may be another process, so the only evidence
// of reaping is head. The producer's placement is deterministic (records
// enter the ring in production order, a PAD first when one would not fit
// before the end), so the accounting replays it on a shadow tail and
// keeps, for each published record, the position where it ends: once head
// has passed that position, the record is reaped.
type reapAcct struct {
	produced  uint64 // events ever appended to the producer
	popped    uint64 // events taken off the overflow list by GetEvents (dead ring)
	published uint64 // events ever published into the ring
	reaped    uint64 // of those, events known reaped through the ring

	lens fifo[uint32] // lengths of produced records not yet published
	ends fifo[uint32] // end positions of published records not yet reaped

	ringBytes uint32
	shadow    uint32 // the tail the producer must have after the published records
	head      uint32 // head as last seen and found plausible
}

// fifo is a queue over a slice that is compacted rather than grown, so
// that in steady state it allocates nothing.
type fifo[T any] struct {
	buf []T
	lo  int
}

func (f *fifo[T]) len() int { return len(f.buf) - f.lo }

func (f *fifo[T]) push(v T) {
	if f.lo > 0 && f.lo >= len(f.buf)/2 {
		m := copy(f.buf, f.buf[f.lo:])
		f.buf, f.lo = f.buf[:m], 0
	}
	f.buf = append(f.buf, v)
}

func (f *fifo[T]) front() T { return f.buf[f.lo] }

func (f *fifo[T]) pop() T {
	v := f.buf[f.lo]
	if f.lo++; f.lo == len(f.buf) {
		f.buf, f.lo = f.buf[:0], 0
	}
	return v
}

func (f *fifo[T]) clear() { f.buf, f.lo = f.buf[:0], 0 }
