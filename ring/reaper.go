package ring

import (
	"encoding/binary"
	"slices"
	"sync/atomic"

	"github.com/aio2/aio2/abi"
)

// Reaper takes EVENT records out of a version 2 ring (spec section 4). A
// Reaper is for one goroutine; any number of Reapers, in any number of
// goroutines or processes, may share a ring through the CAS protocol.
type Reaper struct {
	r      *Region
	single bool

	// The head at which a record last failed its checks. A second failure
	// at the same head is corruption, not a torn read.
	badHead uint32
	bad     bool
}

// NewReaper returns a Reaper that claims records with a compare-and-swap
// on head, so that it may share the ring with other reapers. The header is
// validated first (abi.RingHeader.Validate): a ring with unknown
// incompat_features, for instance, gets an *abi.Error, and must be reaped
// with getevents.
func NewReaper(r *Region) (*Reaper, error) {
	h := r.Header()
	if err := h.Validate(len(r.mem)); err != nil {
		return nil, err
	}
	return &Reaper{r: r}, nil
}

// NewSingleReaper is NewReaper for a caller that promises it is the only
// reaper of the ring: it publishes head with a plain atomic store instead
// of a compare-and-swap.
func NewSingleReaper(r *Region) (*Reaper, error) {
	rp, err := NewReaper(r)
	if rp != nil {
		rp.single = true
	}
	return rp, err
}

// Pending is tail - head: the bytes holding unreaped records (and PADs).
func (rp *Reaper) Pending() uint32 { return rp.r.tail.Load() - rp.r.head.Load() }

// Reap appends up to max whole EVENT records, in ring format, to dst and
// returns the extended slice and the number of records. PAD records are
// skipped, never delivered. All the records of one call are claimed with
// one compare-and-swap of head (one store for a single reaper).
//
// n is 0 when the ring is empty; then check Region.Flags. F_OVERFLOW:
// events wait on the overflow list, which getevents serves. F_DEAD: the
// producer has stopped using the ring, and its owner signals the eventfd
// when it sets the flag so that a reaper asleep there wakes to see it.
// Records published before F_DEAD stay reapable, so reap again after
// seeing it; once the ring is empty, stop reaping it: every later event
// comes only through getevents.
//
// A record that fails the checks of spec section 4 twice at the same head
// is reported as a *CorruptError; records before it are delivered first.
// Reap never reads outside the region and, once dst has the capacity,
// allocates nothing.
func (rp *Reaper) Reap(dst []byte, max int) (out []byte, n int, err error) {
	if max <= 0 {
		return dst, 0, nil
	}
	for {
		h, consumed, out, n, err := rp.Snapshot(dst, max)
		if err != nil || consumed == 0 {
			return out, n, err
		}
		if !rp.Claim(h, consumed) {
			continue // another reaper took these records; the copy does not count
		}
		if n > 0 {
			return out, n, nil
		}
		// Only PADs were taken: look again.
	}
}

// Snapshot is the first half of Reap, separate so that tests can
// interleave reapers: it loads head and tail and copies up to
// max records from head onto dst, without claiming them. consumed is the
// number of bytes to claim (records and PADs); 0 with a nil error means the
// ring is empty. Claim(head, consumed) is the second half; until it
// succeeds, the copy does not count. Like Reap, Snapshot retries a torn
// read once at the same head before it reports a *CorruptError.
func (rp *Reaper) Snapshot(dst []byte, max int) (head, consumed uint32, out []byte, n int, err error) {
	r := rp.r
	start := len(dst)
	for {
		dst = dst[:start]
		n, consumed = 0, 0
		h := r.head.Load()
		t := r.tail.Load()
		avail := t - h
		if avail == 0 {
			return h, 0, dst, 0, nil
		}
		var (
			fault string
			fval  uint64
		)
		switch {
		case h%8 != 0:
			fault, fval = "head", uint64(h)
		case avail > r.ringB || avail%8 != 0:
			// Torn (another reaper moved head between the two loads and
			// the producer went on) or corrupt.
			fault, fval = "tail", uint64(t)
		}
		for fault == "" && n < max && consumed < avail {
			pos := (h + consumed) & r.mask
			w0 := atomic.LoadUint64(&r.data[pos/8])
			w := wire(w0)
			hdr := abi.RecordHeader{Len: uint32(w), Type: uint16(w >> 32), Flags: uint16(w >> 48)}
			// The common case, a well-formed EVENT, is checked inline;
			// anything else goes through abi.CheckRecord, which names the
			// field at fault. Both apply the checks of spec section 4.
			if hdr.Type == abi.RecEvent && hdr.Len%8 == 0 && hdr.Len >= abi.EventHeaderBytes &&
				hdr.Len <= r.maxEv && hdr.Len <= avail-consumed && pos+hdr.Len <= r.ringB {
				dst = r.appendRecord(dst, w0, pos, hdr.Len)
				n++
				consumed += hdr.Len
				continue
			}
			if f := abi.CheckRecord(hdr, pos, avail-consumed, r.ringB, r.maxEv); f != "" {
				fault = f
				if f == "type" {
					fval = uint64(hdr.Type)
				} else {
					fval = uint64(hdr.Len)
				}
				break
			}
			if hdr.Type != abi.RecPad {
				dst = r.appendRecord(dst, w0, pos, hdr.Len)
				n++
			}
			consumed += hdr.Len
		}
		if consumed > 0 {
			return h, consumed, dst, n, nil
		}
		// Nothing to take: the first record failed its checks. A torn read
		// is retried; the same failure at the same head is not torn.
		if rp.bad && rp.badHead == h {
			rp.bad = false
			return h, 0, dst, 0, &CorruptError{Field: fault, Pos: h, Value: fval, Msg: "fails the checks of spec section 4 twice at the same head"}
		}
		rp.bad, rp.badHead = true, h
	}
}

// Claim publishes head + consumed after a Snapshot that returned head: a
// compare-and-swap that fails (false) if another reaper moved head since,
// or, for a single reaper, a store that always succeeds.
func (rp *Reaper) Claim(head, consumed uint32) bool {
	if rp.single {
		rp.r.head.Store(head + consumed)
	} else if !rp.r.head.CompareAndSwap(head, head+consumed) {
		return false
	}
	rp.bad = false
	return true
}

// appendRecord appends the record of n bytes at data-area position pos,
// whose first word, already loaded and checked, is w0. The rest is copied
// speculatively: under the race detector with atomic loads, so that the
// race the CAS arbitrates is not reported; otherwise with copy, which the
// Go memory model allows to race (a racing read may see a torn value, and
// then the CAS fails and the copy is dropped) and which is faster.
func (r *Region) appendRecord(dst []byte, w0 uint64, pos, n uint32) []byte {
	k := len(dst)
	dst = slices.Grow(dst, int(n))[:k+int(n)]
	binary.NativeEndian.PutUint64(dst[k:], w0)
	if !raceEnabled {
		copy(dst[k+8:], r.dataB[pos+8:pos+n])
		return dst
	}
	rest := r.data[pos/8+1 : (pos+n)/8]
	k += 8
	for i := range rest {
		binary.NativeEndian.PutUint64(dst[k:], atomic.LoadUint64(&rest[i]))
		k += 8
	}
	return dst
}
