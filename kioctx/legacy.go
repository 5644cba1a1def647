package kioctx

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/aio2/aio2/abi"
	"github.com/aio2/aio2/ring"
)

// legacy is the version 1 ring of a context (spec section 6): Linux's
// struct aio_ring layout, for reapers that know only that. Events carry
// no attributes, and the layout has no overflow list: max_inflight is
// granted at most nr-1, so the ring is never full when an event is
// produced unless a reaper wrote a bad head. Then the ring dies and events
// wait in held for GetEvents (produce, kill).
type legacy struct {
	lr   *ring.LegacyRegion
	prod *ring.LegacyProducer
	head *atomic.Uint32 // the region's head, written by reapers
	nr   uint32

	// reapers holds CAS reapers for Reap: the legacy ring has no other
	// way to share reaping, and it has the ABA hazard of spec section 4
	// (head counts events modulo nr).
	reapers sync.Pool

	// Guarded by c.mu.
	lastHead uint32
	gev      *ring.LegacyReaper
	evs      [64]abi.IoEvent
	// batch holds the events appended since the last commit, so that
	// they can be delivered if the ring dies before they are published.
	batch []abi.IoEvent
	// dead is set when the ring cannot be used any more: a reaper left
	// head beyond nr, or where the ring looks full (max_inflight <= nr-1
	// rules that out otherwise). From then on events wait in held, and
	// GetEvents serves them; the version 1 format has no F_DEAD to tell
	// other reapers, and what was published and not reaped is lost, as
	// in a dead version 2 ring (docs/abi.md, section 10, note 15). It
	// is set under the context's lock and loaded without it by Reap,
	// which then sends the caller to GetEvents.
	dead atomic.Bool
	held fifo[abi.IoEvent]
}

// produce appends ev to the ring, or to held once the ring is dead (and
// kills it if Append refuses ev: only a bad head can make it).
func (l *legacy) produce(ev abi.IoEvent, a *reapAcct) {
	a.produced++
	if !l.dead.Load() {
		if l.prod.Append(ev) == nil {
			l.batch = append(l.batch, ev)
			return
		}
		l.kill(a)
	}
	l.held.push(ev)
}

// kill stops using the ring: the events appended but not published move
// to held, ahead of later ones, and what was published counts as reaped
// (nobody can take it reliably from a ring whose head is bad).
func (l *legacy) kill(a *reapAcct) {
	if l.dead.Load() {
		return
	}
	l.dead.Store(true)
	l.prod.Rollback()
	for _, ev := range l.batch {
		l.held.push(ev)
	}
	l.batch = l.batch[:0]
	a.creditAll()
}

// commit publishes the batch and reports whether tail moved.
func (l *legacy) commit(a *reapAcct) bool {
	if !l.prod.Commit() {
		return false
	}
	a.published += uint64(len(l.batch))
	l.batch = l.batch[:0]
	return true
}

// legacyNr is the number of events of a version 1 ring of ringBytes.
func legacyNr(ringBytes uint32) uint32 { return ringBytes / abi.IoEventBytes }

func newLegacy(shared bool, nr uint32) (*legacy, error) {
	var lr *ring.LegacyRegion
	var err error
	if shared {
		lr, err = ring.NewLegacyMemfd("aio2-legacy-ring", nr)
	} else {
		lr, err = ring.NewLegacyHeap(nr)
	}
	if err != nil {
		return nil, err
	}
	l := &legacy{lr: lr, prod: ring.NewLegacyProducer(lr), head: legacyHead(lr.Bytes()), nr: nr}
	if l.gev, err = ring.NewLegacyCASReaperAt(lr.Bytes()); err != nil {
		lr.Close()
		return nil, err
	}
	return l, nil
}

// noteHead credits the events reapers took: head moved forward by d
// slots. A head out of range, or one that moved further than there were
// events, is not believed.
func (l *legacy) noteHead(a *reapAcct) {
	if l.dead.Load() {
		return
	}
	h := l.head.Load()
	if h >= l.nr {
		return
	}
	d := uint64((h + l.nr - l.lastHead) % l.nr)
	if d > a.published-a.reaped {
		return
	}
	a.reaped += d
	l.lastHead = h
}

// collect reaps up to len(dst)/40 events into dst as 40-byte EVENT
// records: from the ring while it lives, then from held. A ring its
// reaper finds corrupt dies (kill); that call returns the error with what
// it took, and later calls serve held.
func (l *legacy) collect(dst []byte, a *reapAcct) (n, cnt int, err error) {
	if !l.dead.Load() {
		// The reaper believes head and tail: a head a reaper left just
		// past tail makes the ring look full of events nobody produced.
		// Check head against what is known to be unreaped first.
		l.noteHead(a)
		h, t := l.head.Load(), l.prod.Published()
		if h >= l.nr || uint64((t+l.nr-h)%l.nr) > a.published-a.reaped {
			l.kill(a)
			return 0, 0, &ring.CorruptError{Field: "head", Pos: t, Value: uint64(h),
				Msg: fmt.Sprintf("legacy head %d leaves more events before tail %d than were published and not reaped (%d)", h, t, a.published-a.reaped)}
		}
	}
	for !l.dead.Load() {
		max := min((len(dst)-n)/abi.EventHeaderBytes, len(l.evs))
		if max == 0 {
			return n, cnt, nil
		}
		k, rerr := l.gev.Reap(l.evs[:max])
		for i := 0; i < k; i++ {
			e := &l.evs[i]
			out := abi.EndEvent(abi.BeginEvent(dst[n:n], e.Data, e.Obj, e.Res, e.Res2), 0, 0)
			n += len(out)
		}
		cnt += k
		if rerr != nil {
			l.kill(a)
			return n, cnt, rerr
		}
		if k < max {
			return n, cnt, nil
		}
	}
	for l.held.len() > 0 && len(dst)-n >= abi.EventHeaderBytes {
		e := l.held.pop()
		out := abi.EndEvent(abi.BeginEvent(dst[n:n], e.Data, e.Obj, e.Res, e.Res2), 0, 0)
		n += len(out)
		cnt++
		a.popped++
	}
	return n, cnt, nil
}

// reap is Reap for a version 1 context.
func (l *legacy) reap(dst []byte) (int, error) {
	if l.dead.Load() {
		// What completes now waits in held, which only GetEvents
		// serves (found by review, 2026-11-22: Reap returned 0 for
		// ever, and a Reap-only caller stalled at max_inflight).
		return 0, ErrNoRing
	}
	rp, _ := l.reapers.Get().(*ring.LegacyReaper)
	if rp == nil {
		r, err := ring.NewLegacyCASReaperAt(l.lr.Bytes())
		if err != nil {
			return 0, err
		}
		rp = r
	}
	defer l.reapers.Put(rp)
	var evs [16]abi.IoEvent
	n := 0
	for {
		max := min((len(dst)-n)/abi.EventHeaderBytes, len(evs))
		if max == 0 {
			return n, nil
		}
		k, err := rp.Reap(evs[:max])
		for i := 0; i < k; i++ {
			e := &evs[i]
			out := abi.EndEvent(abi.BeginEvent(dst[n:n], e.Data, e.Obj, e.Res, e.Res2), 0, 0)
			n += len(out)
		}
		if err != nil || k < max {
			return n, err
		}
	}
}
