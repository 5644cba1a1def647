package ring

import (
	"encoding/binary"
	"fmt"
	"sync/atomic"

	"github.com/aio2/aio2/abi"
	"golang.org/x/sys/unix"
)

// Producer is the one producer of a version 2 ring (spec section 5). It is
// not safe for concurrent use: the caller serializes Append, Commit, Flush
// and the rest.
//
// The producer trusts only its own tail. head, user_flags and the data
// area may be written by anyone who maps the ring; no value found there
// makes the Producer write outside the region or panic. A head that no
// correct reaper could have written (before the head last seen, or past the
// published tail) makes the ring dead: F_DEAD is set, records appended but
// not yet published move to the overflow list (PopOverflow) with every later
// one, and Append and Flush report a *CorruptError. Records already
// published stay in the ring: the producer cannot tell which of them a
// reaper took after it last looked at head, so copying them out could
// deliver an event twice; a reaper may still take them if head allows.
type Producer struct {
	r    *Region
	tail uint32 // next free byte; only this Producer writes it
	pub  uint32 // tail as last published
	head uint32 // head as last seen and validated: pub - head <= ring_bytes

	// pend logs the records appended since the last Commit, so that they
	// can be moved to the overflow list if the ring dies before they are
	// published.
	pend []pendRec
	ovf  overflowList
	// flushed: Flush emptied the overflow list since the last Commit,
	// which clears F_OVERFLOW after its tail store, so that a reaper
	// never sees the flag clear before the flushed records are in the
	// ring (spec section 5's order).
	flushed bool
	dead    bool
	err     error // sticky: why the ring died, nil for SetDead

	atomicStores bool // write the data area with atomic stores
}

type pendRec struct{ at, n uint32 }

// NewProducer returns the producer of r, starting at the tail found in
// r. If head and tail already disagree (tail - head > ring_bytes, or
// either not a multiple of 8), the producer starts dead.
func NewProducer(r *Region) *Producer {
	p := &Producer{r: r, atomicStores: raceEnabled}
	t, h := r.tail.Load(), r.head.Load()
	p.tail, p.pub, p.head = t, t, h
	switch {
	case t%8 != 0:
		p.die(&CorruptError{Field: "tail", Pos: t, Value: uint64(t), Msg: "tail is not a multiple of 8"})
	case h%8 != 0 || t-h > r.ringB:
		p.head = t
		p.die(&CorruptError{Field: "head", Pos: t, Value: uint64(h), Msg: fmt.Sprintf("tail - head is more than ring_bytes %d or head is not a multiple of 8", r.ringB)})
	}
	return p
}

// checkRec validates a record handed to Append: one whole EVENT record.
func (p *Producer) checkRec(rec []byte) error {
	bad := func(f string, a ...any) error {
		return &abi.Error{What: "record", Off: 0, Errno: unix.EINVAL, Msg: fmt.Sprintf(f, a...)}
	}
	if len(rec) < abi.EventHeaderBytes {
		return bad("%d bytes is shorter than an EVENT record (%d)", len(rec), abi.EventHeaderBytes)
	}
	h := abi.ReadRecordHeader(rec)
	switch {
	case int64(h.Len) != int64(len(rec)):
		return bad("len %d is not the record's %d bytes", h.Len, len(rec))
	case h.Len%8 != 0:
		return bad("len %d is not a multiple of 8", h.Len)
	case h.Len > p.r.maxEv:
		return bad("len %d is more than max_event_bytes %d", h.Len, p.r.maxEv)
	case h.Type != abi.RecEvent:
		return bad("type %d is not EVENT", h.Type)
	}
	return nil
}

// Append writes rec, one whole EVENT record (as abi.BeginEvent and
// abi.EndEvent make it, len <= max_event_bytes), into the ring after a PAD
// if it must wrap, without publishing it (see Commit). If the ring has no
// room, or the overflow list is not empty, or the ring is dead, rec is
// copied onto the ordered overflow list instead (F_OVERFLOW is set,
// overflowed counts it). Nothing is dropped.
//
// A malformed rec gets an *abi.Error and is not kept. If the ring is dead
// because head was found corrupt, now or before, Append returns the
// *CorruptError (errors.Is(err, ErrCorrupt)) and rec is on the overflow
// list. After SetDead, rec goes to the overflow list and Append returns nil.
func (p *Producer) Append(rec []byte) error {
	if err := p.checkRec(rec); err != nil {
		return err
	}
	if !p.dead && p.ovf.n > 0 {
		// Room may have appeared: older records go first.
		if err := p.Flush(); err != nil {
			p.toOverflow(rec)
			return err
		}
	}
	if p.dead || p.ovf.n > 0 {
		p.toOverflow(rec)
		return p.err
	}
	ok, err := p.write(rec)
	if !ok {
		p.toOverflow(rec)
	}
	return err
}

// TryAppend is Append for a caller that would rather wait than use the
// overflow list: it writes rec into the ring only if the overflow list is
// empty, the ring is live and rec fits, and reports whether it did. When it
// reports false, nothing was kept; Commit, so that reapers can make room,
// and try again (or Append). err is an *abi.Error for a malformed rec, or
// the *CorruptError that killed the ring, now or before.
func (p *Producer) TryAppend(rec []byte) (ok bool, err error) {
	if err := p.checkRec(rec); err != nil {
		return false, err
	}
	if p.dead {
		return false, p.err
	}
	if p.ovf.n > 0 {
		return false, nil
	}
	return p.write(rec)
}

// write puts rec into the ring if it fits. It reports false if it does not
// fit; err is set (and the ring dead) if head was found corrupt.
func (p *Producer) write(rec []byte) (ok bool, err error) {
	r := p.r
	need := uint32(len(rec))
	pos := p.tail & r.mask
	toEnd := r.ringB - pos
	total := need
	if need > toEnd {
		total += toEnd // a PAD first
	}
	// head is loaded at the first record of every batch (tail == pub),
	// not only when the room under the last head seen runs short: the
	// spec's producer checks head before each event, and a head a broken
	// reaper stored past the published tail must kill the ring before
	// the producer publishes past it (where it would look valid) and
	// reapers stall on it with the rest queued behind. Once per batch
	// keeps the load off the per-record path.
	if p.tail == p.pub || r.ringB-(p.tail-p.head) < total {
		if err := p.loadHead(); err != nil {
			return false, err
		}
		if r.ringB-(p.tail-p.head) < total {
			return false, nil
		}
	}
	if need > toEnd {
		p.store(pos/8, wire(uint64(toEnd))) // PAD: len toEnd, type 0, flags 0
		p.tail += toEnd
		pos = 0
	}
	if p.atomicStores {
		i := pos / 8
		for off := 0; off < len(rec); off += 8 {
			atomic.StoreUint64(&r.data[i], binary.NativeEndian.Uint64(rec[off:]))
			i++
		}
	} else {
		copy(r.dataB[pos:pos+need], rec)
	}
	p.pend = append(p.pend, pendRec{at: p.tail, n: need})
	p.tail += need
	return true, nil
}

// store writes one word of the data area: an atomic store under the race
// detector, a plain one otherwise (see raceEnabled).
func (p *Producer) store(i uint32, w uint64) {
	if p.atomicStores {
		atomic.StoreUint64(&p.r.data[i], w)
	} else {
		p.r.data[i] = w
	}
}

// loadHead reloads head and checks it: head only moves forward and never
// past the published tail, so it lies in [p.head, p.pub]. Anything else is
// corruption: head is writable by every process that maps the ring.
func (p *Producer) loadHead() error {
	h := p.r.head.Load()
	if h-p.head > p.pub-p.head || h%8 != 0 {
		return p.die(&CorruptError{Field: "head", Pos: p.pub, Value: uint64(h),
			Msg: fmt.Sprintf("head must be a multiple of 8 in [%#x, %#x] (last head seen, published tail)", p.head, p.pub)})
	}
	p.head = h
	return nil
}

// die makes the ring dead: F_DEAD is set, and the records appended but not
// yet published are moved, in order, to the front of the overflow list so
// that getevents still delivers them. err is the sticky error (nil for
// SetDead). It returns err.
func (p *Producer) die(err error) error {
	if p.dead {
		return p.err
	}
	p.dead, p.err = true, err
	if len(p.pend) > 0 {
		var lst overflowList
		for _, pr := range p.pend {
			pos := pr.at & p.r.mask
			lst.pushWords(p.r.data[pos/8 : (pos+pr.n)/8])
		}
		p.r.overflowed.Add(uint64(len(p.pend)))
		lst.pushList(&p.ovf)
		p.ovf = lst
		p.pend = p.pend[:0]
		p.tail = p.pub
	}
	if p.ovf.n > 0 {
		p.r.flags.Or(abi.FOverflow)
	}
	p.r.flags.Or(abi.FDead)
	return err
}

// toOverflow copies rec onto the overflow list.
func (p *Producer) toOverflow(rec []byte) {
	p.ovf.push(rec)
	p.flushed = false
	p.r.flags.Or(abi.FOverflow)
	p.r.overflowed.Add(1)
}

// Commit publishes everything appended (and flushed) since the last Commit
// with one store of tail, which is a release: a reaper that loads the new
// tail sees every byte written before. It reports whether the caller
// should signal the eventfd: tail moved and no reaper set UF_NO_EVENTFD.
func (p *Producer) Commit() (signal bool) {
	if p.tail == p.pub {
		return false
	}
	p.r.tail.Store(p.tail)
	p.pub = p.tail
	p.pend = p.pend[:0]
	if p.flushed {
		p.flushed = false
		if p.ovf.n == 0 {
			p.r.flags.And(^uint32(abi.FOverflow))
		}
	}
	return p.r.userFlags.Load()&abi.UFNoEventfd == 0
}

// Flush moves records from the overflow list into the ring, oldest first,
// while they fit. The caller then Commits, which clears F_OVERFLOW after
// publishing them if the list is empty: until then a reaper that finds
// the ring empty must still find the flag set (spec section 5: publish,
// then clear). On a dead ring it does nothing and returns the sticky
// error (nil after SetDead).
func (p *Producer) Flush() error {
	if p.dead {
		return p.err
	}
	for p.ovf.n > 0 {
		ok, err := p.write(p.ovf.front())
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		p.ovf.pop()
	}
	if p.tail == p.pub {
		// Nothing to publish (the list was empty): clear it now.
		p.r.flags.And(^uint32(abi.FOverflow))
	} else {
		p.flushed = true
	}
	return nil
}

// OverflowLen is the number of records on the overflow list.
func (p *Producer) OverflowLen() int { return p.ovf.n }

// PopOverflow takes the oldest record off the overflow list and appends it
// to dst. It reports false if the list is empty. Records still in the ring
// are older than any on the list: a caller serving getevents reaps the ring
// first (if it is not dead), then pops. F_OVERFLOW is cleared when the list
// empties.
func (p *Producer) PopOverflow(dst []byte) ([]byte, bool) {
	if p.ovf.n == 0 {
		return dst, false
	}
	dst = append(dst, p.ovf.front()...)
	p.ovf.pop()
	if p.ovf.n == 0 {
		p.r.flags.And(^uint32(abi.FOverflow))
	}
	return dst, true
}

// Kill makes the ring dead because a reaper found it corrupt (err, from
// Reaper.Reap): the ring is writable by every process that maps it, and
// a head inside the published range but not at a record, or overwritten
// records, pass every check the producer can make. As when the producer
// finds head corrupt itself, F_DEAD is set, records appended but not yet
// committed move to the front of the overflow list, and every later
// Append goes there and returns the sticky error, which Kill returns:
// err, unless the ring was dead already.
func (p *Producer) Kill(err *CorruptError) error { return p.die(err) }

// SetDead stops the producer using the ring (the context is being
// destroyed): F_DEAD is set, records appended but not yet committed move to
// the overflow list, and every later Append goes to the overflow list.
func (p *Producer) SetDead() { p.die(nil) }

// Dead reports whether the ring is dead, and the *CorruptError that killed
// it, if any.
func (p *Producer) Dead() (bool, error) { return p.dead, p.err }

// overflowList is the ordered overflow list: whole records back to back in
// one buffer, oldest at off. In steady state it allocates nothing: the
// buffer is reused once it has grown.
type overflowList struct {
	buf []byte
	off int
	n   int
}

func (l *overflowList) front() []byte {
	n := binary.LittleEndian.Uint32(l.buf[l.off:])
	return l.buf[l.off : l.off+int(n)]
}

func (l *overflowList) pop() {
	l.off += int(binary.LittleEndian.Uint32(l.buf[l.off:]))
	l.n--
	if l.n == 0 {
		l.buf, l.off = l.buf[:0], 0
	}
}

// make room for k more bytes, compacting instead of growing when half the
// buffer is already consumed.
func (l *overflowList) reserve(k int) {
	if len(l.buf)+k > cap(l.buf) && l.off >= len(l.buf)/2 && l.off > 0 {
		m := copy(l.buf, l.buf[l.off:])
		l.buf, l.off = l.buf[:m], 0
	}
}

func (l *overflowList) push(rec []byte) {
	l.reserve(len(rec))
	l.buf = append(l.buf, rec...)
	l.n++
}

// pushWords appends a record read back from the data area. Its length is
// set from len(w), which the producer knows, not from the header in
// shared memory, which anyone may have overwritten since.
func (l *overflowList) pushWords(w []uint64) {
	l.reserve(8 * len(w))
	start := len(l.buf)
	for i := range w {
		l.buf = binary.NativeEndian.AppendUint64(l.buf, atomic.LoadUint64(&w[i]))
	}
	binary.LittleEndian.PutUint32(l.buf[start:], uint32(8*len(w)))
	binary.LittleEndian.PutUint16(l.buf[start+4:], abi.RecEvent)
	l.n++
}

// pushList appends every record of o.
func (l *overflowList) pushList(o *overflowList) {
	l.buf = append(l.buf, o.buf[o.off:]...)
	l.n += o.n
}
