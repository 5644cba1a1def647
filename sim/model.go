package sim

import (
	"errors"
	"fmt"
	"strings"

	"github.com/aio2/aio2/abi"
)

// Protocol selects which ring protocol a model runs.
type Protocol uint8

const (
	// V2 is the byte-unit ring of spec sections 4 and 5: free-running
	// head and tail, variable-length records, PAD at the wrap, overflow list.
	V2 Protocol = iota
	// Legacy is the version 1 ring of spec section 6: head and tail count
	// fixed-size io_event slots modulo nr.
	Legacy
)

// String returns "v2" or "legacy".
func (p Protocol) String() string {
	if p == Legacy {
		return "legacy"
	}
	return "v2"
}

// Variant selects a deliberately broken protocol, so tests can show that
// the explorer catches the mistake. Correct is the protocol as specified.
type Variant uint8

const (
	// Correct follows the spec.
	Correct Variant = iota
	// NoLenCheck is a reaper that copies a record without checking its
	// length against tail-head, the region's end and max_event_bytes.
	NoLenCheck
	// StoreHead is a reaper that publishes head with a plain store (the
	// single-reaper fast path) although several reapers run.
	StoreHead
	// EarlyPublish is a producer that stores tail before it writes the record.
	EarlyPublish
	// TrustHead is a producer that skips the "tail - head > ring_bytes"
	// check and so trusts whatever head says.
	TrustHead
)

var variantNames = [...]string{"correct", "no-len-check", "store-head", "early-publish", "trust-head"}

// String returns the variant's name, as ParseVariant takes it.
func (v Variant) String() string {
	if int(v) < len(variantNames) {
		return variantNames[v]
	}
	return fmt.Sprintf("variant(%d)", v)
}

// ParseVariant maps a name printed by Variant.String back to the Variant.
func ParseVariant(s string) (Variant, bool) {
	for i, n := range variantNames {
		if n == s {
			return Variant(i), true
		}
	}
	return 0, false
}

// Model bounds. They are small on purpose: the explorer visits every
// reachable state, and the state is a fixed-size value used as a map key.
const (
	// MaxReapers is the largest number of reaper processes a model may have.
	MaxReapers = 3
	// MaxRingBytes is the largest data area (v2) or slot array (legacy).
	MaxRingBytes = 256
	// MaxEvents is the largest number of completions a model produces.
	MaxEvents = 64
	// MaxCounterBits is the widest head/tail a model may use. The real ring
	// uses 32; the model's state keeps 16-bit counters.
	MaxCounterBits = 16

	maxWords = MaxRingBytes / 8
	// legacyWords is the size of a struct io_event in 8-byte words.
	legacyWords = abi.IoEventBytes / 8
)

// ModelConfig describes one model: the protocol, the bounds, and the
// completions the producer will emit.
type ModelConfig struct {
	Protocol Protocol
	Variant  Variant
	// RingBytes is the v2 data area (a power of two, 32 to 256).
	RingBytes int
	// CounterBits is the width k of head and tail in the v2 model: they
	// wrap at 2^k. 2^k must be at least 2*RingBytes.
	CounterBits int
	// MaxEventBytes bounds EVENT records (the header field of the same
	// name); 0 means RingBytes/2.
	MaxEventBytes int
	// LegacySlots is nr, the number of io_event slots of the legacy ring
	// (2 to 8).
	LegacySlots int
	// Reapers is the number of reaper processes (1 to MaxReapers).
	Reapers int
	// EventBytes are the record sizes of the completions, in production
	// order (multiples of 8). The model is scaled: an EVENT may be as small
	// as its 8-byte header. Ignored for Legacy except for the count.
	EventBytes []int
	// Rogue adds a process that stores one arbitrary value into head, as a
	// hostile process sharing the mapping could. With Rogue, delivery is no
	// longer checked (garbage in, garbage out); what is checked is that
	// nobody reads outside the region and the producer never publishes more
	// than ring_bytes beyond the head it loaded.
	Rogue bool
	// NoHavoc turns off the torn-read havoc: by default, a reaper that reads
	// a record header where the bytes are not a header (the middle of some
	// other record) sees every possible len and type, since a torn read can
	// show any value.
	NoHavoc bool
}

// String describes the configuration in one line.
func (c ModelConfig) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s/%s", c.Protocol, c.Variant)
	if c.Protocol == Legacy {
		fmt.Fprintf(&b, " nr=%d (%d bytes)", c.LegacySlots, c.LegacySlots*abi.IoEventBytes)
	} else {
		fmt.Fprintf(&b, " ring=%dB k=%d max_event=%dB", c.RingBytes, c.CounterBits, c.maxEvent())
	}
	fmt.Fprintf(&b, " reapers=%d events=%d", c.Reapers, len(c.EventBytes))
	if c.Protocol == V2 {
		fmt.Fprintf(&b, " sizes=%v (total %dB)", c.EventBytes, c.totalBytes())
	}
	if c.Rogue {
		b.WriteString(" +rogue-head")
	}
	if c.NoHavoc {
		b.WriteString(" no-havoc")
	}
	return b.String()
}

func (c ModelConfig) maxEvent() int {
	if c.MaxEventBytes == 0 {
		return c.RingBytes / 2
	}
	return c.MaxEventBytes
}

func (c ModelConfig) totalBytes() int {
	n := 0
	for _, e := range c.EventBytes {
		n += e
	}
	return n
}

// ErrBadConfig is wrapped by every configuration error.
var ErrBadConfig = errors.New("sim: bad configuration")

func badConfig(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrBadConfig, fmt.Sprintf(format, a...))
}

// Validate reports whether the configuration is within the model's bounds.
func (c ModelConfig) Validate() error {
	if c.Reapers < 1 || c.Reapers > MaxReapers {
		return badConfig("reapers %d not in [1, %d]", c.Reapers, MaxReapers)
	}
	if len(c.EventBytes) < 1 || len(c.EventBytes) > MaxEvents {
		return badConfig("%d events not in [1, %d]", len(c.EventBytes), MaxEvents)
	}
	if int(c.Variant) >= len(variantNames) {
		return badConfig("unknown variant %d", c.Variant)
	}
	switch c.Protocol {
	case V2:
		if c.RingBytes < 32 || c.RingBytes > MaxRingBytes || c.RingBytes&(c.RingBytes-1) != 0 {
			return badConfig("ring_bytes %d is not a power of two in [32, %d]", c.RingBytes, MaxRingBytes)
		}
		if c.CounterBits < 1 || c.CounterBits > MaxCounterBits || 1<<c.CounterBits < 2*c.RingBytes {
			return badConfig("counter bits %d: need 2^k >= 2*ring_bytes and k <= %d", c.CounterBits, MaxCounterBits)
		}
		me := c.maxEvent()
		if me < 8 || me%8 != 0 || me > c.RingBytes {
			return badConfig("max_event_bytes %d not a multiple of 8 in [8, ring_bytes]", me)
		}
		for i, e := range c.EventBytes {
			if e < 8 || e%8 != 0 || e > me {
				return badConfig("event %d: %d bytes is not a multiple of 8 in [8, max_event_bytes=%d]", i, e, me)
			}
		}
	case Legacy:
		if c.LegacySlots < 2 || c.LegacySlots*legacyWords > maxWords {
			return badConfig("legacy nr %d not in [2, %d]", c.LegacySlots, maxWords/legacyWords)
		}
		switch c.Variant {
		case Correct, StoreHead:
		default:
			return badConfig("variant %s applies to the v2 ring only", c.Variant)
		}
		if c.Rogue {
			return badConfig("rogue head applies to the v2 ring only")
		}
	default:
		return badConfig("unknown protocol %d", c.Protocol)
	}
	return nil
}

// A word is one 8-byte unit of the data area, abstracted to what it was
// written as: never written, a record header (EVENT or PAD, with its length
// in words and the event's id), or the idx-th payload word of an event.
// Copying a record is one step per word.
type word uint16

const (
	wEmpty   = 0
	wEvent   = 1
	wPad     = 2
	wPayload = 3
)

func mkWord(kind, id, aux int) word { return word(kind<<14 | id<<6 | aux) }
func (w word) kind() int            { return int(w >> 14) }
func (w word) id() int              { return int(w>>6) & 0xff }
func (w word) aux() int             { return int(w) & 0x3f }

func (w word) String() string {
	switch w.kind() {
	case wEvent:
		return fmt.Sprintf("EVENT e%d len=%d", w.id(), w.aux()*8)
	case wPad:
		return fmt.Sprintf("PAD len=%d", w.aux()*8)
	case wPayload:
		return fmt.Sprintf("e%d.word%d", w.id(), w.aux())
	}
	return "zero"
}

// Program counters.
const (
	pIdle uint8 = iota
	pLoadHead
	pAppend
	pWrite
	pPublish
	pFlushPop
	pDead

	rLoadHead uint8 = iota - pDead - 1
	rLoadTail
	rReadHeader
	rCopy
	rCAS
	rStopped
)

const (
	modeProduce = 0
	modeFlush   = 1
)

// producer is the private state of the producer (the kernel side).
type producer struct {
	pc    uint8
	mode  uint8
	next  uint8 // completions produced so far (the next event id)
	h     uint16
	need  uint8 // record words
	pad   uint8 // PAD words before the record (0: none)
	w     uint8 // words written so far
	early bool  // EarlyPublish: tail already stored
}

// toIdle ends an operation and forgets its locals, so that states that
// differ only in dead values are one state.
func (p *producer) toIdle() { *p = producer{next: p.next} }

// reaper is the private state of one reaper.
type reaper struct {
	pc        uint8
	typ       uint8 // record type read: abi.RecPad, abi.RecEvent, or 7 (garbage)
	id        uint8 // event id named by the header (when real)
	real      bool  // the header word really was a record header
	intact    bool  // every word copied so far belongs to that record
	failValid bool
	idx       uint8  // words copied
	len       uint16 // bytes (v2)
	h, t      uint16
	failH     uint16
}

// state is one global state: shared memory, the overflow list (private to
// the producer but part of the global state), the count of events delivered
// so far, and every process's private state. It is comparable, so it is
// its own hash key.
type state struct {
	head, tail uint16
	flags      uint8
	ovfl       uint8 // events waiting on the overflow list
	delivered  uint8
	rogueDone  bool
	data       [maxWords]word
	p          producer
	r          [MaxReapers]reaper
}

// model holds a validated configuration and the derived constants.
type model struct {
	cfg      ModelConfig
	legacy   bool
	words    int    // data area in words
	ring     uint32 // data area in bytes (v2)
	cmask    uint32 // counter mask: 2^k - 1 (v2)
	slots    uint32 // legacy nr
	maxEv    uint32
	nEvents  int
	evWords  [MaxEvents]uint8
	havocLen []uint32
	cov      *Coverage // counted during Explore and RandomWalks only
}

// Coverage counts the interesting steps an exploration took, to show that
// the bounds reach the situations the protocol is about.
type Coverage struct {
	// OverflowAppends counts events sent to the overflow list and
	// MaxOverflow is the longest the list got; Flushes counts events moved
	// from the list into the ring.
	OverflowAppends, MaxOverflow, Flushes int
	// Pads counts PAD records written (a record that had to wrap).
	Pads int
	// CASFailures counts reapers that lost the race for head and threw
	// their copy away; TornHeaders counts header reads that were not the
	// record at head (the bytes had been reused), and Retries the bound
	// checks that failed and sent a reaper back to the top.
	CASFailures, TornHeaders, Retries int
	// Deliveries counts successful CAS steps that delivered an EVENT.
	Deliveries int
}

func newModel(cfg ModelConfig) (*model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := &model{cfg: cfg, nEvents: len(cfg.EventBytes)}
	if cfg.Protocol == Legacy {
		m.legacy = true
		m.slots = uint32(cfg.LegacySlots)
		m.words = cfg.LegacySlots * legacyWords
		for i := range cfg.EventBytes {
			m.evWords[i] = legacyWords
		}
		return m, nil
	}
	m.ring = uint32(cfg.RingBytes)
	m.words = cfg.RingBytes / 8
	m.cmask = 1<<cfg.CounterBits - 1
	m.maxEv = uint32(cfg.maxEvent())
	for i, e := range cfg.EventBytes {
		m.evWords[i] = uint8(e / 8)
	}
	// What a torn header may show: every multiple of 8 up to one word past
	// the region, and one length that is not a multiple of 8.
	m.havocLen = append(m.havocLen, 0, 4)
	for l := uint32(8); l <= m.ring+8; l += 8 {
		m.havocLen = append(m.havocLen, l)
	}
	return m, nil
}

func (m *model) initial() state {
	var s state
	for i := 0; i < m.cfg.Reapers; i++ {
		s.r[i].pc = rLoadHead
	}
	return s
}

// pos reduces a counter value to a word index.
func (m *model) pos(c uint16) int {
	if m.legacy {
		return int(c) * legacyWords
	}
	return int((uint32(c) & (m.ring - 1)) / 8)
}

func (m *model) sub(a, b uint16) uint32 {
	if m.legacy {
		return (uint32(a) + m.slots - uint32(b)) % m.slots
	}
	return (uint32(a) - uint32(b)) & m.cmask
}

func (m *model) add(a uint16, n uint32) uint16 {
	if m.legacy {
		return uint16((uint32(a) + n) % m.slots)
	}
	return uint16((uint32(a) + n) & m.cmask)
}

// Process identifiers in an action.
const (
	whoProducer = -1
	whoRogue    = -2
)

// action names one transition: a process and, where the process has a
// nondeterministic choice, which branch.
type action struct {
	who    int8
	branch uint16
}

// stepInfo describes a transition for traces and for the ABA analysis.
type stepInfo struct {
	text     string
	loadHead bool   // a reaper loaded head
	casOK    uint32 // bytes head advanced by a successful CAS or store (0: none)
}

// Violation is a property the model broke, with the trace that breaks it.
type Violation struct {
	// Kind is a short name: duplicate, lost, torn, out-of-region,
	// spurious-corruption, bound, overflow-flag, head-corrupt, undelivered.
	Kind string
	// Detail says what happened in the step that broke the property.
	Detail string
	// Trace is the shortest path (in steps) from the initial state to the
	// violation, one line per step, in the reapers' own names (R1, R2...).
	Trace []string
	// Culprit is the reaper whose step broke the property (-1: none), and
	// Window is how many bytes other processes reaped between that reaper's
	// last load of head and the step. For an ABA this is a multiple of the
	// counter range.
	Culprit int
	Window  uint64
	// LoadStep is the step (1-based) of the culprit's last load of head.
	LoadStep int
}

type violation struct {
	kind, detail string
}

// nbranches is how many transitions process who can take from s: 0 when
// it cannot move, more than 1 for a nondeterministic choice.
func (m *model) nbranches(s *state, who int) int {
	switch who {
	case whoProducer:
		p := &s.p
		if p.pc == pIdle {
			n := 0
			if int(p.next) < m.nEvents {
				n++
			}
			if s.ovfl > 0 {
				n++
			}
			return n
		}
		if p.pc == pDead {
			return 0
		}
		return 1
	case whoRogue:
		if !m.cfg.Rogue || s.rogueDone {
			return 0
		}
		return int(m.cmask) + 1
	}
	r := &s.r[who]
	if r.pc == rStopped {
		return 0
	}
	if r.pc == rReadHeader && !m.legacy && !m.cfg.NoHavoc {
		if s.data[m.pos(r.h)].kind() == wPayload {
			return len(m.havocLen) * 2
		}
	}
	return 1
}

// apply performs transition (who, branch) on s. It returns a violation the
// step itself commits (a bad read, a wrong delivery), or nil. With info
// non-nil it also describes the step.
func (m *model) apply(s *state, who int, branch int, info *stepInfo) *violation {
	switch who {
	case whoProducer:
		return m.stepProducer(s, branch, info)
	case whoRogue:
		s.head = uint16(branch)
		s.rogueDone = true
		if info != nil {
			info.text = fmt.Sprintf("X: store head = %d (hostile)", branch)
		}
		return nil
	}
	if m.legacy {
		return m.stepLegacyReaper(s, who, info)
	}
	return m.stepReaper(s, who, branch, info)
}

func (m *model) eventWords(id int) uint8 { return m.evWords[id] }

func (m *model) stepProducer(s *state, branch int, info *stepInfo) *violation {
	p := &s.p
	say := func(format string, a ...any) {
		if info != nil {
			info.text = "P: " + fmt.Sprintf(format, a...)
		}
	}
	switch p.pc {
	case pIdle:
		p.mode = modeProduce
		if int(p.next) >= m.nEvents || branch == 1 {
			p.mode = modeFlush
		}
		p.pc = pLoadHead
		if p.mode == modeFlush {
			say("start flushing e%d from the overflow list", int(p.next)-int(s.ovfl))
		} else {
			say("e%d completes", p.next)
		}
		return nil
	case pLoadHead:
		p.h = s.head
		id := int(p.next)
		if p.mode == modeFlush {
			id -= int(s.ovfl)
		}
		need := uint32(m.eventWords(id))
		if m.legacy {
			if m.sub(s.tail, p.h) == m.slots-1 {
				// Full: the legacy ring has no overflow list; the
				// completion waits (submit bounds what is in flight).
				p.toIdle()
				say("load head = %d: ring full, e%d waits", p.h, id)
				return nil
			}
			p.need, p.pad, p.w = uint8(need), 0, 0
			p.pc = pWrite
			say("load head = %d: room for e%d in slot %d", p.h, id, s.tail)
			return nil
		}
		used := m.sub(s.tail, p.h)
		if used > m.ring && m.cfg.Variant != TrustHead {
			s.flags |= 2 // F_DEAD
			p.pc = pDead
			say("load head = %d: tail - head = %d > ring_bytes: head is corrupt, set F_DEAD", p.h, used)
			if !m.cfg.Rogue {
				return &violation{"head-corrupt", fmt.Sprintf("the producer found tail - head = %d > ring_bytes with no hostile writer", used)}
			}
			return nil
		}
		pos := (uint32(s.tail) & (m.ring - 1)) / 8
		roomToEnd := uint32(m.words) - pos
		pad := uint32(0)
		if need > roomToEnd {
			pad = roomToEnd
		}
		total := (need + pad) * 8
		free := m.ring - used
		if m.cfg.Variant == TrustHead {
			free = (m.ring - used) & m.cmask
		}
		if p.mode == modeProduce && (s.ovfl > 0 || free < total) {
			p.pc = pAppend
			say("load head = %d: %d bytes free, e%d needs %d: to the overflow list", p.h, free, id, total)
			return nil
		}
		if p.mode == modeFlush && free < total {
			p.toIdle()
			say("load head = %d: %d bytes free, e%d needs %d: stays on the overflow list", p.h, free, id, total)
			return nil
		}
		p.need, p.pad, p.w = uint8(need), uint8(pad), 0
		p.pc = pWrite
		if m.cfg.Variant == EarlyPublish {
			p.pc = pPublish
		}
		say("load head = %d: %d bytes free, e%d needs %d: write it", p.h, free, id, total)
		return nil
	case pAppend:
		s.ovfl++
		if m.cov != nil {
			m.cov.OverflowAppends++
			m.cov.MaxOverflow = max(m.cov.MaxOverflow, int(s.ovfl))
		}
		s.flags |= 1 // F_OVERFLOW
		say("append e%d to the overflow list, set F_OVERFLOW (list length %d)", p.next, s.ovfl)
		p.next++
		p.toIdle()
		return nil
	case pWrite:
		id := int(p.next)
		if p.mode == modeFlush {
			id -= int(s.ovfl)
		}
		base := m.pos(s.tail)
		if p.early {
			base = m.pos(p.h) // EarlyPublish parks the old tail in h
		}
		var at int
		var w word
		switch {
		case m.legacy:
			at = base + int(p.w)
			w = mkWord(wPayload, id, int(p.w))
		case p.pad > 0 && p.w == 0:
			at = base
			w = mkWord(wPad, 0, int(p.pad))
			if m.cov != nil {
				m.cov.Pads++
			}
		default:
			j := int(p.w)
			if p.pad > 0 {
				j--
				base = 0
			}
			at = base + j
			if j == 0 {
				w = mkWord(wEvent, id, int(p.need))
			} else {
				w = mkWord(wPayload, id, j)
			}
		}
		if at >= m.words {
			return &violation{"out-of-region", fmt.Sprintf("the producer wrote word %d of a %d-word region", at, m.words)}
		}
		s.data[at] = w
		say("write word %d = %s", at, w)
		p.w++
		total := p.need
		if p.pad > 0 {
			total++
		}
		if p.w == total {
			if p.early {
				produced := p.mode == modeProduce
				p.toIdle()
				if produced {
					p.next++
				} else {
					s.ovfl--
					if s.ovfl == 0 {
						s.flags &^= 1
					}
				}
			} else {
				p.pc = pPublish
			}
		}
		return nil
	case pPublish:
		var adv uint32
		if m.legacy {
			adv = 1
		} else {
			adv = (uint32(p.need) + uint32(p.pad)) * 8
		}
		old := s.tail
		s.tail = m.add(s.tail, adv)
		say("store tail = %d", s.tail)
		if !m.legacy && m.sub(s.tail, p.h) > m.ring {
			return &violation{"bound", fmt.Sprintf("the producer published tail %d, %d bytes beyond the head %d it loaded (ring_bytes %d)", s.tail, m.sub(s.tail, p.h), p.h, m.ring)}
		}
		if m.cfg.Variant == EarlyPublish {
			p.early = true
			p.h = old
			p.pc = pWrite
			return nil
		}
		if p.mode == modeFlush {
			p.pc = pFlushPop
			return nil
		}
		p.next++
		p.toIdle()
		return nil
	case pFlushPop:
		s.ovfl--
		if m.cov != nil {
			m.cov.Flushes++
		}
		if s.ovfl == 0 {
			s.flags &^= 1
			say("take the event off the overflow list; list empty: clear F_OVERFLOW")
		} else {
			say("take the event off the overflow list (%d left)", s.ovfl)
		}
		p.toIdle()
		return nil
	}
	return &violation{"internal", fmt.Sprintf("producer pc %d", p.pc)}
}

// header interprets the word at a record position as a record header, the
// way a reaper that loads the u32 len and u16 type would see it. A payload
// word shows garbage: branch picks which.
func (m *model) header(w word, branch int) (l uint32, typ uint8, real bool) {
	switch w.kind() {
	case wEmpty:
		return 0, abi.RecPad, false
	case wEvent:
		return uint32(w.aux()) * 8, abi.RecEvent, true
	case wPad:
		return uint32(w.aux()) * 8, abi.RecPad, true
	}
	if m.cfg.NoHavoc {
		// Without havoc, a payload word shows a length past the region.
		return m.ring + 8 + uint32(w.aux())*8, 7, false
	}
	l = m.havocLen[branch/2]
	typ = abi.RecPad
	if branch%2 == 1 {
		typ = abi.RecEvent
	}
	return l, typ, false
}

// checkRecord is the bound check of spec section 4 (abi.CheckRecord),
// scaled: the model's EVENT may be as small as its 8-byte header.
func (m *model) checkRecord(l uint32, typ uint8, pos, avail uint32) string {
	switch {
	case l%8 != 0 || l < abi.RecordHeaderBytes || l > avail || pos+l > m.ring:
		return "len"
	case typ == abi.RecPad:
		return ""
	case typ != abi.RecEvent:
		return "type"
	case l > m.maxEv:
		return "len"
	}
	return ""
}

// reaperSay returns the trace printer of reaper ri (a no-op when info is
// nil, as during exploration).
func reaperSay(ri int, info *stepInfo) func(string, ...any) {
	return func(format string, a ...any) {
		if info != nil {
			info.text = fmt.Sprintf("R%d: ", ri+1) + fmt.Sprintf(format, a...)
		}
	}
}

// loadHead is the first step of both reapers (v2 and legacy): one load of
// head.
func loadHead(s *state, r *reaper, say func(string, ...any), info *stepInfo) {
	r.h = s.head
	r.pc = rLoadTail
	say("load head = %d", r.h)
	if info != nil {
		info.loadHead = true
	}
}

func (m *model) stepReaper(s *state, ri int, branch int, info *stepInfo) *violation {
	r := &s.r[ri]
	say := reaperSay(ri, info)
	switch r.pc {
	case rLoadHead:
		loadHead(s, r, say, info)
		return nil
	case rLoadTail:
		r.t = s.tail
		if r.t == r.h {
			say("load tail = %d: empty, wait (getevents if F_OVERFLOW)", r.t)
			r.reset()
			return nil
		}
		r.pc = rReadHeader
		say("load tail = %d", r.t)
		return nil
	case rReadHeader:
		at := m.pos(r.h)
		w := s.data[at]
		l, typ, real := m.header(w, branch)
		avail := m.sub(r.t, r.h)
		fault := ""
		if m.cfg.Variant != NoLenCheck {
			fault = m.checkRecord(l, typ, uint32(at*8), avail)
		}
		if fault != "" {
			if r.failValid && r.failH == r.h {
				say("read header at %d: len=%d type=%d fails the %s check again with head unmoved: report corruption", at*8, l, typ, fault)
				r.pc = rStopped
				if !m.cfg.Rogue {
					return &violation{"spurious-corruption", fmt.Sprintf("R%d reported the record at head %d corrupt (len=%d type=%d, %s) though nobody corrupts memory", ri+1, r.h, l, typ, fault)}
				}
				return nil
			}
			say("read header at %d: len=%d type=%d fails the %s check (torn): retry", at*8, l, typ, fault)
			if m.cov != nil {
				m.cov.Retries++
			}
			h := r.h
			r.reset()
			r.failValid, r.failH = true, h
			return nil
		}
		r.failValid, r.failH = false, 0
		if m.cov != nil && (!real || at != m.pos(s.head) || s.head != r.h) {
			m.cov.TornHeaders++
		}
		r.len, r.typ, r.real = uint16(l), typ, real
		r.intact = real
		r.id = uint8(w.id())
		r.idx = 1
		if real {
			say("read header at %d: %s", at*8, w)
		} else {
			say("read header at %d: torn (%s), shows len=%d type=%d", at*8, w, l, typ)
		}
		r.pc = rCopy
		if l <= 8 {
			r.pc = rCAS
		}
		return nil
	case rCopy:
		at := m.pos(r.h) + int(r.idx)
		if at >= m.words {
			say("copy word %d: outside the %d-byte region", at, m.words*8)
			return &violation{"out-of-region", fmt.Sprintf("R%d read word %d of a %d-word region (record len %d at %d)", ri+1, at, m.words, r.len, m.pos(r.h)*8)}
		}
		w := s.data[at]
		if w.kind() != wPayload || w.id() != int(r.id) || w.aux() != int(r.idx) {
			r.intact = false
		}
		say("copy word %d = %s", at, w)
		r.idx++
		if int(r.idx)*8 >= int(r.len) {
			r.pc = rCAS
		}
		return nil
	case rCAS:
		if m.cfg.Variant != StoreHead && s.head != r.h {
			say("CAS head %d -> %d fails (head is %d): drop the copy", r.h, m.add(r.h, uint32(r.len)), s.head)
			if m.cov != nil {
				m.cov.CASFailures++
			}
			r.reset()
			return nil
		}
		v := m.deliver(s, ri, uint32(r.len), info)
		r.reset()
		return v
	}
	return &violation{"internal", fmt.Sprintf("reaper pc %d", r.pc)}
}

func (r *reaper) reset() { *r = reaper{pc: rLoadHead} }

// deliver is the successful CAS (or store) of head from r.h to r.h+n and
// the delivery of the reaper's copy. It checks the copy against the record
// that really is at head, and against the order of production.
func (m *model) deliver(s *state, ri int, n uint32, info *stepInfo) *violation {
	r := &s.r[ri]
	at := m.pos(r.h)
	truth := s.data[at]
	oldHead := s.head
	s.head = m.add(r.h, n)
	op := "CAS"
	if m.cfg.Variant == StoreHead {
		op = "store"
	}
	if info != nil {
		info.casOK = n
		what := "skip PAD"
		if r.typ == abi.RecEvent {
			if r.intact {
				what = fmt.Sprintf("deliver e%d", r.id)
			} else {
				what = "deliver a torn copy"
			}
		}
		info.text = fmt.Sprintf("R%d: %s head %d -> %d ok: %s", ri+1, op, r.h, s.head, what)
		if oldHead != r.h {
			info.text += fmt.Sprintf(" (head was %d)", oldHead)
		}
	}
	if m.cfg.Rogue && s.rogueDone {
		return nil
	}
	if m.legacy {
		if !r.intact {
			return &violation{"torn", fmt.Sprintf("R%d delivered a torn copy of slot %d", ri+1, r.h)}
		}
		return m.order(s, ri, int(r.id), truth)
	}
	if !r.intact && !(r.real && r.typ == abi.RecPad) {
		return &violation{"torn", fmt.Sprintf("R%d's CAS succeeded on a torn copy (len=%d type=%d) at head %d; memory there holds %s", ri+1, r.len, r.typ, r.h, truth)}
	}
	if truth.kind() != wEvent && truth.kind() != wPad {
		return &violation{"bound", fmt.Sprintf("head %d is not on a record boundary (memory there holds %s)", r.h, truth)}
	}
	if r.typ == abi.RecPad {
		if truth.kind() != wPad || uint32(truth.aux())*8 != n {
			return &violation{"lost", fmt.Sprintf("R%d skipped %d bytes as PAD, but head held %s", ri+1, n, truth)}
		}
		return nil
	}
	return m.order(s, ri, int(r.id), truth)
}

func (m *model) order(s *state, ri int, id int, truth word) *violation {
	exp := int(s.delivered)
	switch {
	case id < exp:
		d := fmt.Sprintf("R%d delivered e%d a second time", ri+1, id)
		if truth.id() != id {
			d += fmt.Sprintf("; the record at head (%s) is skipped", truth)
		} else {
			d += fmt.Sprintf(" (memory at position %d still holds it)", m.pos(s.r[ri].h)*8)
		}
		return &violation{"duplicate", d}
	case id > exp:
		return &violation{"lost", fmt.Sprintf("R%d delivered e%d while e%d was never delivered", ri+1, id, exp)}
	}
	s.delivered++
	if m.cov != nil {
		m.cov.Deliveries++
	}
	return nil
}

func (m *model) stepLegacyReaper(s *state, ri int, info *stepInfo) *violation {
	r := &s.r[ri]
	say := reaperSay(ri, info)
	switch r.pc {
	case rLoadHead:
		loadHead(s, r, say, info)
		return nil
	case rLoadTail:
		r.t = s.tail
		if r.t == r.h {
			say("load tail = %d: empty, wait", r.t)
			r.reset()
			return nil
		}
		r.pc = rCopy
		r.idx = 0
		r.intact = true
		r.typ = abi.RecEvent
		r.id = uint8(s.data[m.pos(r.h)].id())
		say("load tail = %d", r.t)
		return nil
	case rCopy:
		at := m.pos(r.h) + int(r.idx)
		w := s.data[at]
		if w.kind() != wPayload || w.id() != int(r.id) || w.aux() != int(r.idx) {
			r.intact = false
		}
		say("copy slot %d word %d = %s", r.h, r.idx, w)
		r.idx++
		if r.idx == legacyWords {
			r.pc = rCAS
		}
		return nil
	case rCAS:
		if m.cfg.Variant != StoreHead && s.head != r.h {
			say("CAS head %d -> %d fails (head is %d): drop the copy", r.h, m.add(r.h, 1), s.head)
			if m.cov != nil {
				m.cov.CASFailures++
			}
			r.reset()
			return nil
		}
		v := m.deliver(s, ri, 1, info)
		if info != nil {
			info.casOK = abi.IoEventBytes
		}
		r.reset()
		return v
	}
	return &violation{"internal", fmt.Sprintf("reaper pc %d", r.pc)}
}

// invariant checks the properties that must hold in every state.
func (m *model) invariant(s *state) *violation {
	if s.rogueDone {
		return nil
	}
	if !m.legacy {
		if d := m.sub(s.tail, s.head); d > m.ring {
			return &violation{"bound", fmt.Sprintf("tail - head = %d > ring_bytes %d (head %d, tail %d)", d, m.ring, s.head, s.tail)}
		}
		if (s.flags&1 != 0) != (s.ovfl > 0) {
			return &violation{"overflow-flag", fmt.Sprintf("F_OVERFLOW is %d with %d events on the overflow list", s.flags&1, s.ovfl)}
		}
	}
	if s.p.pc == pIdle && int(s.p.next) == m.nEvents && s.ovfl == 0 && s.head == s.tail && int(s.delivered) != m.nEvents {
		return &violation{"undelivered", fmt.Sprintf("all %d events produced and the ring is empty, but only %d were delivered", m.nEvents, s.delivered)}
	}
	return nil
}

// canon puts the reapers in a canonical order (they are identical
// processes, so states that differ only by a permutation of reapers are
// equivalent) and returns perm: perm[j] is the index, before sorting, of the
// reaper now at j.
func (m *model) canon(s *state) (perm [MaxReapers]int8) {
	for i := range perm {
		perm[i] = int8(i)
	}
	n := m.cfg.Reapers
	for i := 1; i < n; i++ {
		for j := i; j > 0 && reaperLess(&s.r[j], &s.r[j-1]); j-- {
			s.r[j], s.r[j-1] = s.r[j-1], s.r[j]
			perm[j], perm[j-1] = perm[j-1], perm[j]
		}
	}
	return perm
}

func reaperLess(a, b *reaper) bool {
	if a.pc != b.pc {
		return a.pc < b.pc
	}
	if a.h != b.h {
		return a.h < b.h
	}
	if a.t != b.t {
		return a.t < b.t
	}
	if a.len != b.len {
		return a.len < b.len
	}
	if a.idx != b.idx {
		return a.idx < b.idx
	}
	if a.typ != b.typ {
		return a.typ < b.typ
	}
	if a.id != b.id {
		return a.id < b.id
	}
	if a.real != b.real {
		return !a.real
	}
	if a.intact != b.intact {
		return !a.intact
	}
	if a.failValid != b.failValid {
		return !a.failValid
	}
	return a.failH < b.failH
}
