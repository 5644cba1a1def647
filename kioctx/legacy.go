package kioctx

import (
	"sync"
	"sync/atomic"

	"github.com/aio2/aio2/abi"
	"github.com/aio2/aio2/ring"
)

// legacy is the version 1 ring of a context (spec section 6): Linux's
// struct aio_ring layout, for reapers that know only that. Events carry
// no attributes, and there is no overflow list: max_inflight is granted at
// most nr-1, so the ring can never be full when an event is produced.
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

// collect reaps up to len(dst)/40 events into dst as 40-byte EVENT records.
func (l *legacy) collect(dst []byte) (n, cnt int, err error) {
	for {
		max := min((len(dst)-n)/abi.EventHeaderBytes, len(l.evs))
		if max == 0 {
			return n, cnt, nil
		}
		k, err := l.gev.Reap(l.evs[:max])
		for i := 0; i < k; i++ {
			e := &l.evs[i]
			out := abi.EndEvent(abi.BeginEvent(dst[n:n], e.Data, e.Obj, e.Res, e.Res2), 0, 0)
			n += len(out)
		}
		cnt += k
		if err != nil || k < max {
			return n, cnt, err
		}
	}
}

// reap is Reap for a version 1 context.
func (l *legacy) reap(dst []byte) (int, error) {
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
