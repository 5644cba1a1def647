package ring

import (
	"encoding/binary"
	"math/bits"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/aio2/aio2/abi"
	"golang.org/x/sys/unix"
)

// Region is one version 2 ring: a header of abi.HeaderBytes, then the data
// area of RingBytes. The geometry (ring_bytes, ring_mask, max_event_bytes)
// is read once, validated, and kept in the Region: later writes to those
// header fields by another process change nothing here.
type Region struct {
	mem   []byte   // whole region, 8-aligned
	data  []uint64 // data area, as words
	dataB []byte   // data area, as bytes (the same memory)
	ringB uint32
	mask  uint32
	maxEv uint32

	// The shared header fields, accessed as native integers: aio2 runs on
	// little-endian hosts, where that is the wire's byte order (as the
	// kernel's aio_ring is native-endian). bigendian.go fails the build
	// elsewhere.
	head       *atomic.Uint32
	tail       *atomic.Uint32
	flags      *atomic.Uint32
	userFlags  *atomic.Uint32
	overflowed *atomic.Uint64

	fd      int
	path    string
	unmap   func([]byte) error // nil for Go memory
	closeMu sync.Mutex
	closed  bool
	cleanup runtime.Cleanup // unmaps and closes a forgotten mapping
}

// hostLE is true on little-endian hosts, where a word loaded from the data
// area is already the wire's little-endian value.
var hostLE = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// wire converts between a word as loaded from memory and its little-endian
// wire value (both directions; the identity on little-endian hosts).
func wire(w uint64) uint64 {
	if hostLE {
		return w
	}
	return bits.ReverseBytes64(w)
}

// checkGeometry validates sizes as io_setup2 grants them.
func checkGeometry(ringBytes, maxEventBytes uint32) error {
	var h abi.RingHeader
	h.Magic, h.Version, h.HeaderBytes = abi.RingMagic, abi.Version2, abi.HeaderBytes
	h.RingBytes, h.RingMask, h.MaxEventBytes = ringBytes, ringBytes-1, maxEventBytes
	return h.Validate(abi.RegionBytes(ringBytes))
}

// NewHeap makes a fresh ring in Go memory, for tests and for rings no other
// process maps. ringBytes and maxEventBytes are as abi.GrantRingBytes and
// abi.GrantMaxEventBytes return them; other values get an *abi.Error.
func NewHeap(ringBytes, maxEventBytes uint32) (*Region, error) {
	if err := checkGeometry(ringBytes, maxEventBytes); err != nil {
		return nil, err
	}
	mem := alignedBytes(abi.RegionBytes(ringBytes))
	abi.PutRingHeader(mem, ringBytes, maxEventBytes)
	return newRegion(mem, ringBytes, maxEventBytes, -1, "", nil), nil
}

// FromBytes wraps b, which holds a version 2 ring (header and data area),
// after validating its header with abi: a header that fails the checks of
// spec section 4 gets an *abi.Error. Nothing reaped or produced through the
// Region reads or writes outside b, whatever b holds. If b does not start
// on an 8-byte boundary, the Region works on an aligned copy of b (see
// Bytes); otherwise it shares b.
func FromBytes(b []byte) (*Region, error) {
	var h abi.RingHeader
	if err := abi.DecodeRingHeader(b, &h); err != nil {
		return nil, err
	}
	if !aligned8(b) {
		c := alignedBytes(len(b))
		copy(c, b)
		b = c
	}
	return newRegion(b, h.RingBytes, h.MaxEventBytes, -1, "", nil), nil
}

// newRegion builds the Region over mem (8-aligned), whose header has been
// validated as holding ringB and maxEv; the values are passed rather than
// read again because another process may rewrite them at any time.
func newRegion(mem []byte, ringB, maxEv uint32, fd int, path string, unmap func([]byte) error) *Region {
	r := &Region{
		mem:   mem[:abi.RegionBytes(ringB)],
		ringB: ringB,
		mask:  ringB - 1,
		maxEv: maxEv,
		fd:    fd,
		path:  path,
		unmap: unmap,
	}
	r.dataB = r.mem[abi.HeaderBytes:]
	r.data = words(r.dataB)
	r.head = u32At(mem, abi.OffHead)
	r.tail = u32At(mem, abi.OffTail)
	r.flags = u32At(mem, abi.OffFlags)
	r.userFlags = u32At(mem, abi.OffUserFlags)
	r.overflowed = u64At(mem, abi.OffOverflowed)
	if unmap != nil {
		// A Region dropped without Close must not leak its mapping and
		// descriptor. The cleanup gets copies, never r itself.
		r.cleanup = runtime.AddCleanup(r, func(m mapping) { m.release() }, mapping{r.mem, fd, unmap})
	}
	return r
}

// mapping is what a file-backed Region must release.
type mapping struct {
	mem   []byte
	fd    int
	unmap func([]byte) error
}

func (m mapping) release() error {
	var err error
	if m.unmap != nil {
		err = m.unmap(m.mem)
	}
	if m.fd >= 0 {
		if cerr := unix.Close(m.fd); err == nil {
			err = cerr
		}
	}
	return err
}

// Fd is the file descriptor holding the ring, -1 when it is not
// file-backed.
func (r *Region) Fd() int { return r.fd }

// Path is "/proc/<pid>/fd/<n>" for a memfd made by NewMemfd, the path
// opened for Open, and "" for Go memory.
func (r *Region) Path() string { return r.path }

// Bytes is the whole region, header then data area. Shared fields in it
// must be accessed with atomics.
func (r *Region) Bytes() []byte { return r.mem }

// RingBytes is the size of the data area.
func (r *Region) RingBytes() uint32 { return r.ringB }

// MaxEventBytes is the largest record the ring carries.
func (r *Region) MaxEventBytes() uint32 { return r.maxEv }

// Header returns a snapshot of the header. The live fields are read with
// atomics, one at a time, so the snapshot is not one instant.
func (r *Region) Header() abi.RingHeader {
	rd := func(off int) uint32 { return u32At(r.mem, off).Load() }
	return abi.RingHeader{
		Magic:            rd(abi.OffMagic),
		Version:          rd(abi.OffVersion),
		HeaderBytes:      rd(abi.OffHeaderBytes),
		RingBytes:        rd(abi.OffRingBytes),
		RingMask:         rd(abi.OffRingMask),
		MaxEventBytes:    rd(abi.OffMaxEventBytes),
		CompatFeatures:   rd(abi.OffCompatFeatures),
		IncompatFeatures: rd(abi.OffIncompatFeatures),
		Flags:            r.flags.Load(),
		UserFlags:        r.userFlags.Load(),
		Overflowed:       r.overflowed.Load(),
		Head:             r.head.Load(),
		Tail:             r.tail.Load(),
	}
}

// Flags is the producer's flags word (abi.FOverflow, abi.FDead).
func (r *Region) Flags() uint32 { return r.flags.Load() }

// UserFlags is the reapers' flags word (abi.UFNoEventfd).
func (r *Region) UserFlags() uint32 { return r.userFlags.Load() }

// SetUserFlags sets the bits in set, then clears those in clear, each
// atomically; reapers in other processes may do the same at any time.
func (r *Region) SetUserFlags(set, clear uint32) {
	if set != 0 {
		r.userFlags.Or(set)
	}
	if clear != 0 {
		r.userFlags.And(^clear)
	}
}

// Overflowed is the count of events ever sent to the overflow list.
func (r *Region) Overflowed() uint64 { return r.overflowed.Load() }

// Head is the reapers' free-running byte counter.
func (r *Region) Head() uint32 { return r.head.Load() }

// Tail is the producer's published free-running byte counter.
func (r *Region) Tail() uint32 { return r.tail.Load() }

// SetStart sets head and tail of an empty, unused ring to pos (a multiple
// of 8), so that tests and simulations can start the free-running counters
// anywhere, for instance just below 2^32. Use it before any producer or
// reaper is made.
func (r *Region) SetStart(pos uint32) {
	pos &^= 7
	r.head.Store(pos)
	r.tail.Store(pos)
}

// Close unmaps the region and closes its file descriptor. It is
// idempotent; Go memory is left to the garbage collector. The Region, and
// any Producer or Reaper over it, must not be used afterwards.
func (r *Region) Close() error {
	r.closeMu.Lock()
	defer r.closeMu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	r.cleanup.Stop()
	return mapping{r.mem, r.fd, r.unmap}.release()
}
