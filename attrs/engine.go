package attrs

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/aio2/aio2/abi"
)

// Engine is the set of collectors a context uses. It decides which
// collector serves each (id, kind) pair; the first collector registered
// for a pair wins. An Engine is immutable after NewEngine and safe for
// concurrent use.
type Engine struct {
	collectors []Collector
	// byKind[k][id] is the collector serving id for kind k.
	byKind [numKinds][64]Collector
	all    Mask
	// active are the collectors with work to do in Begin/End per kind,
	// each with the ids it won for that kind, so the hot path calls only
	// those whose ids the IO wants. Hookless collectors are not in it.
	active [numKinds][]activeCollector
	// hooked[k] is the union of active[k]'s ids: an IO that wants none of
	// them (LATENCY alone, say) skips Begin and End with one AND.
	// It has a power-of-two length, so that the test (hooks) indexes it
	// without a bounds check and inlines; kinds past numKinds have none.
	hooked [8]Mask
}

type activeCollector struct {
	c   Collector
	ids Mask
}

// NewEngine builds an engine over collectors, in priority order.
func NewEngine(collectors ...Collector) *Engine {
	e := &Engine{collectors: collectors}
	for k := Kind(0); k < numKinds; k++ {
		for _, c := range collectors {
			m := c.Serves(k)
			var won Mask
			for id := uint16(1); id <= abi.AttrMaxCatalogue; id++ {
				if m.Has(id) && e.byKind[k][id] == nil {
					e.byKind[k][id] = c
					e.all = e.all.With(id)
					won = won.With(id)
				}
			}
			if _, ok := c.(Hookless); won != 0 && !ok {
				e.active[k] = append(e.active[k], activeCollector{c, won})
				e.hooked[k] |= won
			}
		}
	}
	return e
}

// Supported is the union of ids any collector serves for any kind: the
// value of params.attrs.
func (e *Engine) Supported() Mask { return e.all }

// Collectors returns the engine's collectors in priority order.
func (e *Engine) Collectors() []Collector { return e.collectors }

func (e *Engine) serving(id uint16, k Kind) Collector {
	if id >= 64 || k >= numKinds {
		return nil
	}
	return e.byKind[k][id]
}

func (e *Engine) servedAtAll(id uint16) bool { return e.all.Has(id) }

// Wanted returns the catalogue ids reqs asks for.
func Wanted(reqs []byte) Mask {
	var m Mask
	it := abi.NewAttrIter(reqs)
	for {
		a, ok := it.Next()
		if !ok {
			return m
		}
		m = m.With(a.ID)
	}
}

// errRequireAttrs is pre-boxed: the refusal path allocates nothing.
var errRequireAttrs error = syscall.EOPNOTSUPP

// Check applies IOCB_F_REQUIRE_ATTRS before the IO: it returns EOPNOTSUPP
// if an id in reqs has no collector for t.Kind (it would come back
// UNSUPPORTED, or UNAVAILABLE if another kind has one) or if its
// collector's Available (not asked for TAG) says no for t; nil otherwise.
// nil does not promise OK: what only the IO shows still comes back
// UNAVAILABLE (DEVICE when no block request is seen, as for a hole; CACHE
// when cachestat fails in End), or ERROR. Check may take tens of ms:
// Available loads eBPF programs on first use (unless Prepare did) and
// retries a failed load at most once a second, inside the caller.
func (e *Engine) Check(reqs []byte, t *Target) error {
	it := abi.NewAttrIter(reqs)
	for {
		a, ok := it.Next()
		if !ok {
			return nil
		}
		c := e.serving(a.ID, t.Kind)
		if c == nil || (a.ID != abi.AttrTag && !c.Available(a.ID, t)) {
			return errRequireAttrs
		}
	}
}

// Preparer is implemented by a Collector that has setup to do before it
// can measure, such as loading eBPF programs (tens of ms), which it
// otherwise does on the first IO that asks for one of its ids, inside that
// IO's submission.
type Preparer interface {
	Collector
	// Prepare does the setup id needs now. It returns why id cannot be
	// measured, if it cannot (the id then comes back UNAVAILABLE).
	Prepare(id uint16) error
}

// Prepare readies, ahead of the first IO, the collectors that serve the
// ids in want for any kind of IO, so that the first IO's latency does not
// include their setup (a benchmark's first IO asking for DEVICE took 85
// ms to submit while the programs loaded). It returns the reasons ids
// cannot be measured, joined; those ids still come back UNAVAILABLE, as
// without Prepare.
func (e *Engine) Prepare(want Mask) error {
	var errs []error
	done := map[Collector]Mask{}
	for k := Kind(0); k < numKinds; k++ {
		for id := uint16(1); id < 64; id++ {
			c := e.byKind[k][id]
			if !want.Has(id) || c == nil || done[c].Has(id) {
				continue
			}
			done[c] = done[c].With(id)
			if p, ok := c.(Preparer); ok {
				if err := p.Prepare(id); err != nil {
					errs = append(errs, fmt.Errorf("%s: %s: %w", c.Name(), abi.AttrName(id), err))
				}
			}
		}
	}
	return errors.Join(errs...)
}

// Hookless is implemented by a Collector whose Begin and End do nothing,
// such as Clock, which reads the stamps kioctx takes anyway. The engine
// does not call a hookless collector's Begin and End: for an IO that asks
// for LATENCY alone those were two indirect calls per IO for nothing
// (about 17 ns per IO at QD32 on zram in perf).
type Hookless interface {
	Collector
	// Hookless is a marker; it is never called.
	Hookless()
}

// Begin calls the Begin hooks of the collectors that serve ids t wants.
// The test for none is inlined into the caller: for LATENCY alone the
// calls to Begin and End were 3 to 7 ns per IO in perf at QD1 on zram.
func (e *Engine) Begin(t *Target, s *Stamp) {
	if e.hooks(t) {
		e.begin(t, s)
	}
}

// End calls the End hooks of the collectors that serve ids t wants.
func (e *Engine) End(t *Target, s *Stamp) {
	if e.hooks(t) {
		e.end(t, s)
	}
}

// hooks reports whether some collector has Begin and End work for t.
func (e *Engine) hooks(t *Target) bool {
	return t.Want&e.hooked[t.Kind&Kind(len(e.hooked)-1)] != 0
}

func (e *Engine) begin(t *Target, s *Stamp) {
	if t.Kind >= numKinds {
		return
	}
	for _, a := range e.active[t.Kind] {
		if a.ids&t.Want != 0 {
			a.c.Begin(t, s)
		}
	}
}

func (e *Engine) end(t *Target, s *Stamp) {
	if t.Kind >= numKinds {
		return
	}
	for _, a := range e.active[t.Kind] {
		if a.ids&t.Want != 0 {
			a.c.End(t, s)
		}
	}
}
