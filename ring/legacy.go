package ring

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/aio2/aio2/abi"
	"golang.org/x/sys/unix"
)

// LegacyRegion is a version 1 ring (spec section 6): the 32-byte header of
// Linux's struct aio_ring (fs/aio.c), then nr 32-byte struct io_event.
// head and tail are event indices modulo nr.
type LegacyRegion struct {
	mem    []byte
	nr     uint32
	head   *atomic.Uint32
	tail   *atomic.Uint32
	events []uint64 // the io_events, 4 words each

	fd      int
	path    string
	unmap   func([]byte) error
	closeMu sync.Mutex
	closed  bool
	cleanup runtime.Cleanup
}

// MaxLegacyNr bounds nr for rings this package makes (the kernel's own
// limit is fs.aio-max-nr; this one keeps the region under 64 MiB).
const MaxLegacyNr = 1 << 21

// LegacyBytes is the size of a legacy ring of nr events.
func LegacyBytes(nr uint32) int { return abi.AioRingHeaderBytes + int(nr)*abi.IoEventBytes }

func checkNr(nr uint32) error {
	if nr < 2 || nr > MaxLegacyNr {
		return &abi.Error{What: "legacy ring", Errno: unix.EINVAL, Msg: fmt.Sprintf("nr %d is not in [2, %d]", nr, MaxLegacyNr)}
	}
	return nil
}

func putLegacyHeader(mem []byte, nr uint32) {
	clear(mem)
	u32At(mem, abi.OffAioRingNr).Store(nr)
	u32At(mem, abi.OffAioRingMagic).Store(abi.AIO_RING_MAGIC)
	u32At(mem, abi.OffAioRingCompat).Store(abi.AIO_RING_COMPAT_FEATURES)
	u32At(mem, abi.OffAioRingIncompat).Store(abi.AIO_RING_INCOMPAT_FEATURES)
	u32At(mem, abi.OffAioRingHeaderLength).Store(abi.AioRingHeaderBytes)
}

// NewLegacyHeap makes a legacy ring of nr events in Go memory. It holds at
// most nr-1 unreaped events.
func NewLegacyHeap(nr uint32) (*LegacyRegion, error) {
	if err := checkNr(nr); err != nil {
		return nil, err
	}
	mem := alignedBytes(LegacyBytes(nr))
	putLegacyHeader(mem, nr)
	return newLegacyRegion(mem, nr, -1, "", nil), nil
}

// NewLegacyMemfd is NewLegacyHeap in a sealed memfd mapped MAP_SHARED, as
// NewMemfd makes for version 2.
func NewLegacyMemfd(name string, nr uint32) (*LegacyRegion, error) {
	if err := checkNr(nr); err != nil {
		return nil, err
	}
	fd, mem, path, err := sealedMemfd(name, LegacyBytes(nr))
	if err != nil {
		return nil, err
	}
	putLegacyHeader(mem, nr)
	return newLegacyRegion(mem, nr, fd, path, unix.Munmap), nil
}

func newLegacyRegion(mem []byte, nr uint32, fd int, path string, unmap func([]byte) error) *LegacyRegion {
	mem = mem[:LegacyBytes(nr)]
	lr := &LegacyRegion{
		mem:    mem,
		nr:     nr,
		head:   u32At(mem, abi.OffAioRingHead),
		tail:   u32At(mem, abi.OffAioRingTail),
		events: words(mem[abi.AioRingHeaderBytes:]),
		fd:     fd,
		path:   path,
		unmap:  unmap,
	}
	if unmap != nil {
		lr.cleanup = runtime.AddCleanup(lr, func(m mapping) { m.release() }, mapping{mem, fd, unmap})
	}
	return lr
}

// Bytes is the whole region: header, then the events.
func (lr *LegacyRegion) Bytes() []byte { return lr.mem }

// Nr is the number of event slots.
func (lr *LegacyRegion) Nr() uint32 { return lr.nr }

// Fd is the memfd holding the ring, -1 for Go memory.
func (lr *LegacyRegion) Fd() int { return lr.fd }

// Path is "/proc/<pid>/fd/<n>" for a memfd, "" for Go memory.
func (lr *LegacyRegion) Path() string { return lr.path }

// SetStart sets head and tail of an empty, unused ring to the index i mod
// nr, for tests that start anywhere.
func (lr *LegacyRegion) SetStart(i uint32) {
	lr.head.Store(i % lr.nr)
	lr.tail.Store(i % lr.nr)
}

// Close unmaps the region and closes its descriptor; it is idempotent.
func (lr *LegacyRegion) Close() error {
	lr.closeMu.Lock()
	defer lr.closeMu.Unlock()
	if lr.closed {
		return nil
	}
	lr.closed = true
	lr.cleanup.Stop()
	return mapping{lr.mem, lr.fd, lr.unmap}.release()
}

// LegacyProducer is the producer of a legacy ring. It is not safe for
// concurrent use.
type LegacyProducer struct {
	lr   *LegacyRegion
	tail uint32 // next free slot, < nr
	pub  uint32
}

// NewLegacyProducer returns the producer of lr, starting at its tail.
func NewLegacyProducer(lr *LegacyRegion) *LegacyProducer {
	t := lr.tail.Load() % lr.nr
	return &LegacyProducer{lr: lr, tail: t, pub: t}
}

// Append writes ev into the next slot without publishing it (see Commit).
// It returns ErrLegacyFull when nr-1 events are unreaped, and a
// *CorruptError when head is not an index below nr.
func (p *LegacyProducer) Append(ev abi.IoEvent) error {
	lr := p.lr
	next := p.tail + 1
	if next == lr.nr {
		next = 0
	}
	h := lr.head.Load()
	if h >= lr.nr {
		return &CorruptError{Field: "head", Pos: p.tail, Value: uint64(h), Msg: fmt.Sprintf("legacy head is not an index below nr %d", lr.nr)}
	}
	if next == h {
		return ErrLegacyFull
	}
	i := 4 * p.tail
	atomic.StoreUint64(&lr.events[i], ev.Data)
	atomic.StoreUint64(&lr.events[i+1], ev.Obj)
	atomic.StoreUint64(&lr.events[i+2], uint64(ev.Res))
	atomic.StoreUint64(&lr.events[i+3], uint64(ev.Res2))
	p.tail = next
	return nil
}

// Published returns the tail as last committed: the producer's own copy,
// which nobody else can write.
func (p *LegacyProducer) Published() uint32 { return p.pub }

// Rollback forgets the events appended since the last Commit: the next
// Commit publishes none of them. A producer that found the ring unusable
// mid-batch delivers them another way.
func (p *LegacyProducer) Rollback() { p.tail = p.pub }

// Commit publishes the appended events with one store of tail and reports
// whether tail moved.
func (p *LegacyProducer) Commit() bool {
	if p.tail == p.pub {
		return false
	}
	p.lr.tail.Store(p.tail)
	p.pub = p.tail
	return true
}

// LegacyReaper reaps a legacy ring held in any memory: one made by this
// package, or the struct aio_ring the kernel maps into user space at the
// address io_setup returns (check abi.AioRing.Usable first, as
// NewLegacyReaperAt does). It is for one goroutine.
type LegacyReaper struct {
	mem    []byte
	nr     uint32
	head   *atomic.Uint32
	tail   *atomic.Uint32
	events []uint64
	cas    bool
}

// NewLegacyReaperAt returns a single reaper (head published with a store,
// as the kernel's own io_getevents does under its lock) over mem, which
// holds an aio_ring: the 32-byte header, then nr io_events (nr is read from
// the header, once). mem must be 8-aligned (a mapping is) and hold the nr
// events; the header must be Usable. Otherwise the error is an *abi.Error.
func NewLegacyReaperAt(mem []byte) (*LegacyReaper, error) {
	bad := func(off int, f string, a ...any) (*LegacyReaper, error) {
		return nil, &abi.Error{What: "aio_ring", Off: off, Errno: unix.EINVAL, Msg: fmt.Sprintf(f, a...)}
	}
	if len(mem) < abi.AioRingHeaderBytes {
		return bad(0, "%d bytes is shorter than the %d-byte header", len(mem), abi.AioRingHeaderBytes)
	}
	if !aligned8(mem) {
		return bad(0, "memory is not 8-byte aligned")
	}
	h := abi.AioRing{
		Nr:               u32At(mem, abi.OffAioRingNr).Load(),
		Magic:            u32At(mem, abi.OffAioRingMagic).Load(),
		IncompatFeatures: u32At(mem, abi.OffAioRingIncompat).Load(),
		HeaderLength:     u32At(mem, abi.OffAioRingHeaderLength).Load(),
	}
	if !h.Usable() {
		return bad(0, "header not usable for reaping in user space (magic %#x, incompat %#x, header_length %d, nr %d)", h.Magic, h.IncompatFeatures, h.HeaderLength, h.Nr)
	}
	if uint64(h.Nr)*abi.IoEventBytes > uint64(len(mem)-abi.AioRingHeaderBytes) {
		return bad(abi.OffAioRingNr, "nr %d events do not fit in %d bytes", h.Nr, len(mem))
	}
	mem = mem[:abi.AioRingHeaderBytes+int(h.Nr)*abi.IoEventBytes]
	return &LegacyReaper{
		mem:    mem,
		nr:     h.Nr,
		head:   u32At(mem, abi.OffAioRingHead),
		tail:   u32At(mem, abi.OffAioRingTail),
		events: words(mem[abi.AioRingHeaderBytes:]),
	}, nil
}

// NewLegacyCASReaperAt is NewLegacyReaperAt for a reaper that shares the
// ring with others and claims events with a compare-and-swap of head: the
// only way to share a version 1 ring, and what kioctx's version 1 Reap and
// GetEvents use. The CAS does not make sharing safe: head counts events
// modulo nr, so a reaper that stalls between its load and its CAS while a
// multiple of nr events are reaped by others finds head back where it was,
// succeeds with a stale copy: it delivers again events already delivered,
// and the events now in those slots are never delivered. So only one
// reaper at a time is safe on a version 1 ring; concurrent reapers are
// safe only if none can stall that long.
func NewLegacyCASReaperAt(mem []byte) (*LegacyReaper, error) {
	lr, err := NewLegacyReaperAt(mem)
	if lr != nil {
		lr.cas = true
	}
	return lr, err
}

// Pending is the number of unreaped events (0 if head or tail is out of
// range).
func (lr *LegacyReaper) Pending() int {
	h, t := lr.head.Load(), lr.tail.Load()
	if h >= lr.nr || t >= lr.nr {
		return 0
	}
	return int((t + lr.nr - h) % lr.nr)
}

// Reap copies up to len(dst) events into dst and returns how many. head
// and tail must be indices below nr; otherwise the error is a
// *CorruptError.
func (lr *LegacyReaper) Reap(dst []abi.IoEvent) (n int, err error) {
	for {
		h, n, err := lr.Snapshot(dst)
		if err != nil || n == 0 {
			return n, err
		}
		if lr.Claim(h, n) {
			return n, nil
		}
	}
}

// Snapshot is the first half of Reap: it loads head, copies up to len(dst)
// events from it, and returns that head. Claim is the second half. The two
// are separate so that tests can interleave reapers.
func (lr *LegacyReaper) Snapshot(dst []abi.IoEvent) (head uint32, n int, err error) {
	h := lr.head.Load()
	t := lr.tail.Load()
	if h >= lr.nr {
		return h, 0, &CorruptError{Field: "head", Pos: h, Value: uint64(h), Msg: fmt.Sprintf("legacy head is not an index below nr %d", lr.nr)}
	}
	if t >= lr.nr {
		return h, 0, &CorruptError{Field: "tail", Pos: h, Value: uint64(t), Msg: fmt.Sprintf("legacy tail is not an index below nr %d", lr.nr)}
	}
	avail := int((t + lr.nr - h) % lr.nr)
	n = min(avail, len(dst))
	i := h
	for k := 0; k < n; k++ {
		w := lr.events[4*i : 4*i+4]
		dst[k] = abi.IoEvent{
			Data: atomic.LoadUint64(&w[0]),
			Obj:  atomic.LoadUint64(&w[1]),
			Res:  int64(atomic.LoadUint64(&w[2])),
			Res2: int64(atomic.LoadUint64(&w[3])),
		}
		if i++; i == lr.nr {
			i = 0
		}
	}
	return h, n, nil
}

// Claim publishes head = (head + n) mod nr: with a store for a single
// reaper (always true), with a compare-and-swap for a CAS reaper (false if
// head is no longer head: the copy does not count).
func (lr *LegacyReaper) Claim(head uint32, n int) bool {
	next := uint32((uint64(head) + uint64(n)) % uint64(lr.nr))
	if !lr.cas {
		lr.head.Store(next)
		return true
	}
	return lr.head.CompareAndSwap(head, next)
}
