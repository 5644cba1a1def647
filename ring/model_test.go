package ring

import (
	"bytes"
	"testing"

	"github.com/aio2/aio2/abi"
	"pgregory.net/rapid"
)

// ringModel is the FIFO model of spec section 5 the ring is checked
// against: what is in the ring (PADs and events, published or not), what
// is on the overflow list, and the counters, with none of the
// implementation's caching.
type ringModel struct {
	R, maxEv        uint32
	head, tail, pub uint32
	ring            []modelEntry
	ovf             [][]byte
	overflowed      uint64
	// overflowFlag is F_OVERFLOW: set when a record goes to the list,
	// cleared when the list is empty and what was flushed from it is
	// published (clearAtCommit: at the next commit).
	overflowFlag, clearAtCommit bool
	nextSeq, reapSeq            uint64
}

type modelEntry struct {
	rec       []byte // nil for a PAD
	pad       uint32
	published bool
}

func (m *ringModel) total(rec []byte) uint32 {
	need := uint32(len(rec))
	toEnd := m.R - m.tail&(m.R-1)
	if need > toEnd {
		return need + toEnd
	}
	return need
}

func (m *ringModel) fits(rec []byte) bool { return m.R-(m.tail-m.head) >= m.total(rec) }

func (m *ringModel) place(rec []byte) {
	need := uint32(len(rec))
	if toEnd := m.R - m.tail&(m.R-1); need > toEnd {
		m.ring = append(m.ring, modelEntry{pad: toEnd})
		m.tail += toEnd
	}
	m.ring = append(m.ring, modelEntry{rec: rec})
	m.tail += need
}

func (m *ringModel) flush() {
	for len(m.ovf) > 0 && m.fits(m.ovf[0]) {
		m.place(m.ovf[0])
		m.ovf = m.ovf[1:]
	}
	if len(m.ovf) == 0 {
		if m.tail == m.pub {
			m.overflowFlag = false
		} else {
			m.clearAtCommit = true
		}
	}
}

func (m *ringModel) append(rec []byte) {
	if len(m.ovf) > 0 {
		m.flush()
	}
	if len(m.ovf) > 0 || !m.fits(rec) {
		m.ovf = append(m.ovf, rec)
		m.overflowed++
		m.overflowFlag, m.clearAtCommit = true, false
		return
	}
	m.place(rec)
}

func (m *ringModel) commit() {
	for i := range m.ring {
		m.ring[i].published = true
	}
	m.pub = m.tail
	if m.clearAtCommit && len(m.ovf) == 0 {
		m.overflowFlag = false
	}
	m.clearAtCommit = false
}

func (m *ringModel) reap(max int) [][]byte {
	var out [][]byte
	i := 0
	for ; i < len(m.ring) && m.ring[i].published && len(out) < max; i++ {
		e := m.ring[i]
		if e.rec == nil {
			m.head += e.pad
			continue
		}
		out = append(out, e.rec)
		m.head += uint32(len(e.rec))
	}
	m.ring = m.ring[i:]
	return out
}

func TestRingAgainstModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		R := uint32(4096) << rapid.IntRange(0, 4).Draw(t, "ringShift")
		maxEv := abi.GrantMaxEventBytes(rapid.Uint32Range(40, R/4).Draw(t, "maxEvent"), R)
		start := -uint32(rapid.IntRange(0, int(3*R)).Draw(t, "startBelow2^32")) &^ 7
		r, err := NewHeap(R, maxEv)
		if err != nil {
			t.Fatal(err)
		}
		r.SetStart(start)
		p := NewProducer(r)
		cas, _ := NewReaper(r)
		single, _ := NewSingleReaper(r)
		m := &ringModel{R: R, maxEv: maxEv, head: start, tail: start, pub: start}
		var buf []byte

		newEvent := func(t *rapid.T) []byte {
			size := 8 * rapid.IntRange(5, int(maxEv/8)).Draw(t, "size")
			rec := appendTestEvent(nil, m.nextSeq, size)
			m.nextSeq++
			return rec
		}
		doAppend := func(t *rapid.T, rec []byte) {
			if err := p.Append(rec); err != nil {
				t.Fatalf("Append: %v", err)
			}
			m.append(rec)
		}
		doReap := func(t *rapid.T, max int, rp *Reaper) int {
			var n int
			var err error
			buf, n, err = rp.Reap(buf[:0], max)
			if err != nil {
				t.Fatalf("Reap: %v", err)
			}
			want := m.reap(max)
			got := records(t, buf)
			if n != len(want) || len(got) != n {
				t.Fatalf("Reap(max %d) = %d records (%d in buf), model has %d", max, n, len(got), len(want))
			}
			for i := range got {
				seq, bad := verifyTestEvent(got[i])
				if bad != "" {
					t.Fatalf("reaped record %d: %s", i, bad)
				}
				if seq != m.reapSeq || !bytes.Equal(got[i], want[i]) {
					t.Fatalf("reaped seq %d, want %d", seq, m.reapSeq)
				}
				m.reapSeq++
			}
			return n
		}

		t.Repeat(map[string]func(*rapid.T){
			"append": func(t *rapid.T) { doAppend(t, newEvent(t)) },
			"burst": func(t *rapid.T) {
				for k := rapid.IntRange(1, 64).Draw(t, "burst"); k > 0; k-- {
					doAppend(t, newEvent(t))
				}
			},
			"commit": func(t *rapid.T) {
				moved := m.tail != m.pub
				if got := p.Commit(); got != moved {
					t.Fatalf("Commit = %v, tail moved %v", got, moved)
				}
				m.commit()
			},
			"flush": func(t *rapid.T) {
				if err := p.Flush(); err != nil {
					t.Fatal(err)
				}
				m.flush()
			},
			"reap": func(t *rapid.T) {
				rp := cas
				if rapid.Bool().Draw(t, "single") {
					rp = single
				}
				doReap(t, rapid.IntRange(1, 100).Draw(t, "max"), rp)
			},
			"": func(t *rapid.T) {
				h, tl := r.Head(), r.Tail()
				if tl-h > R {
					t.Fatalf("tail %#x - head %#x > ring_bytes %d", tl, h, R)
				}
				if h != m.head || tl != m.pub {
					t.Fatalf("head %#x tail %#x, model %#x %#x", h, tl, m.head, m.pub)
				}
				// F_OVERFLOW stays set until what was flushed from the
				// list is published (spec section 5: publish, then clear).
				if (r.Flags()&abi.FOverflow != 0) != m.overflowFlag || p.OverflowLen() != len(m.ovf) ||
					(len(m.ovf) > 0 && !m.overflowFlag) {
					t.Fatalf("flags %#x, overflow list %d, model %d", r.Flags(), p.OverflowLen(), len(m.ovf))
				}
				if r.Flags()&abi.FDead != 0 {
					t.Fatal("F_DEAD set")
				}
				if r.Overflowed() != m.overflowed {
					t.Fatalf("overflowed %d, model %d", r.Overflowed(), m.overflowed)
				}
			},
		})

		// Drain: every event comes out exactly once, in order.
		for i := 0; m.reapSeq < m.nextSeq; i++ {
			if i > 1<<16 {
				t.Fatalf("drain stuck at %d of %d", m.reapSeq, m.nextSeq)
			}
			if err := p.Flush(); err != nil {
				t.Fatal(err)
			}
			m.flush()
			p.Commit()
			m.commit()
			doReap(t, 1000, cas)
		}
		if p.OverflowLen() != 0 || r.Flags() != 0 || r.Head() != r.Tail() {
			t.Fatalf("after drain: overflow %d flags %#x head %#x tail %#x", p.OverflowLen(), r.Flags(), r.Head(), r.Tail())
		}
	})
}
