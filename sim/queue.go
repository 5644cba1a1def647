package sim

import (
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"math/rand/v2"
	"time"
)

// Pause describes how a reaper stops running now and then: a garbage
// collector's stop-the-world, the scheduler giving its CPU to another task,
// the hypervisor stealing the vCPU. Pauses start at exponentially
// distributed intervals (mean Every) while the reaper is awake.
type Pause struct {
	// Name labels the scenario in reports.
	Name string
	// Every is the mean time between the end of one pause and the start of
	// the next; 0 means no pauses.
	Every time.Duration
	// Dist is the pause length distribution: "fixed" (always Length),
	// "exp" (mean Length), "lognormal" (median Length, shape Sigma) or
	// "pareto" (minimum Length, tail index Sigma, capped at 100 ms).
	Dist   string
	Length time.Duration
	Sigma  float64
}

// Standard pause scenarios.
var (
	PauseNone = Pause{Name: "none"}
	// PauseGC: a Go program's collector every few ms; the reaper loses
	// its CPU for a lognormal time, median 100 µs (p99 about 640 µs).
	PauseGC = Pause{Name: "gc", Every: 2 * time.Millisecond, Dist: "lognormal", Length: 100 * time.Microsecond, Sigma: 0.8}
	// PausePreempt: a CPU shared with one other busy task; the reaper
	// waits a 3 ms scheduler slice every 10 ms on average.
	PausePreempt = Pause{Name: "preempt", Every: 10 * time.Millisecond, Dist: "fixed", Length: 3 * time.Millisecond}
	// PauseSteal: a noisy virtual machine; heavy-tailed vCPU steal, at
	// least 1 ms, Pareto tail index 1.5, every 50 ms on average.
	PauseSteal = Pause{Name: "steal", Every: 50 * time.Millisecond, Dist: "pareto", Length: time.Millisecond, Sigma: 1.5}
)

// PauseByName returns a standard pause scenario.
func PauseByName(name string) (Pause, bool) {
	for _, p := range []Pause{PauseNone, PauseGC, PausePreempt, PauseSteal} {
		if p.Name == name {
			return p, true
		}
	}
	return Pause{}, false
}

func (p Pause) draw(rng *rand.Rand) float64 {
	l := float64(p.Length)
	switch p.Dist {
	case "exp":
		return l * rng.ExpFloat64()
	case "lognormal":
		return l * math.Exp(p.Sigma*rng.NormFloat64())
	case "pareto":
		v := l / math.Pow(1-rng.Float64(), 1/p.Sigma)
		return math.Min(v, float64(100*time.Millisecond))
	}
	return l
}

// Workload is one sizing scenario: the completions, the reapers and what
// their steps cost.
type Workload struct {
	// Rate is completions per second into one context.
	Rate float64
	// Burst > 1 makes completions arrive in bursts of Burst events spaced
	// BurstGap apart (an interrupt completing a batch), the bursts arriving
	// at Rate/Burst per second. 0 or 1: a Poisson stream.
	Burst    int
	BurstGap time.Duration
	// EventBytes is the record size (pad8 of 40 plus the attributes).
	EventBytes int
	// RingBytes is the data area; 0 means unbounded, to measure how many
	// bytes would ever be waiting.
	RingBytes int
	// Reapers is the number of reaper threads sharing the ring.
	Reapers int
	// Pause is how reapers get descheduled.
	Pause Pause
	// PerEvent and PerBatch are a reaper's cost to copy and hand over one
	// record and to do one round (loads of head and tail, the CAS); Syscall
	// is one getevents call; Wake is how long a sleeping reaper takes to run
	// after the eventfd is signalled; Spin is how long an idle reaper polls
	// before it sleeps, checking every Poll.
	PerEvent, PerBatch, Syscall, Wake, Spin, Poll time.Duration
	// BatchMax is the most records one round takes.
	BatchMax int
	// SignalAlways makes reapers leave UF_NO_EVENTFD clear; by default a
	// reaper sets it while awake and clears it before it sleeps.
	SignalAlways bool
	// MaxInflight, when not 0, bounds the completions not yet reaped (in
	// the ring, on the overflow list, in a getevents): a completion that
	// would exceed it is refused, as submit answers EAGAIN beyond
	// max_inflight and so that completion never happens. 0: open loop,
	// completions keep coming whatever the reapers do.
	MaxInflight int
	// Duration is the simulated time.
	Duration time.Duration
}

// DefaultWorkload returns the costs the sizing runs use unless told
// otherwise, anchored on measurements of this project's machine (see
// docs/sim.md): 50 ns per record (Go ring, one thread, mixed payloads:
// 51 ns encode and decode), 100 ns per round (one cache-line round trip
// between CPUs is 107 ns), 1 µs per getevents, 2.5 µs from eventfd signal to
// a running reaper (Go netpoller round trip 2.45 µs), 5 µs of polling before
// sleeping.
func DefaultWorkload() Workload {
	return Workload{
		Rate:       1e6,
		EventBytes: 56,
		Reapers:    1,
		Pause:      PauseGC,
		PerEvent:   50 * time.Nanosecond,
		PerBatch:   100 * time.Nanosecond,
		Syscall:    time.Microsecond,
		Wake:       2500 * time.Nanosecond,
		Spin:       5 * time.Microsecond,
		Poll:       100 * time.Nanosecond,
		BatchMax:   256,
		BurstGap:   20 * time.Nanosecond,
		Duration:   200 * time.Millisecond,
	}
}

// Validate reports a workload the simulator cannot run.
func (w Workload) Validate() error {
	switch {
	case w.Rate <= 0 || w.Rate > 1e9:
		return badConfig("rate %g not in (0, 1e9]", w.Rate)
	case w.EventBytes < 40 || w.EventBytes%8 != 0:
		return badConfig("event bytes %d: a multiple of 8, at least 40", w.EventBytes)
	case w.RingBytes != 0 && (w.RingBytes < 4*w.EventBytes || w.RingBytes&(w.RingBytes-1) != 0):
		return badConfig("ring bytes %d: a power of two, at least 4 events", w.RingBytes)
	case w.Reapers < 1 || w.Reapers > 64:
		return badConfig("reapers %d not in [1, 64]", w.Reapers)
	case w.BatchMax < 1:
		return badConfig("batch max %d", w.BatchMax)
	case w.Duration <= 0 || float64(w.Duration)*w.Rate/1e9 > 1e9:
		return badConfig("duration %v gives too many events", w.Duration)
	case w.MaxInflight < 0:
		return badConfig("max inflight %d", w.MaxInflight)
	case w.PerEvent < 0 || w.PerBatch < 0 || w.Syscall < 0 || w.Wake < 0 || w.Spin < 0 || w.Poll <= 0 || w.BurstGap < 0 || w.Burst < 0:
		return badConfig("negative cost")
	case w.Pause.Every > 0 && (w.Pause.Length <= 0 || (w.Pause.Dist == "pareto" && w.Pause.Sigma <= 0)):
		return badConfig("pause %q", w.Pause.Name)
	}
	return nil
}

// Outcome is what one simulated run measured.
type Outcome struct {
	// Events counts completions; Delivered those that reached the
	// application, Pending those still in the ring, on the overflow list or
	// in a reaper's hands when the run ended.
	Events, Delivered, Pending int
	// Refused counts completions that MaxInflight kept from happening.
	Refused int
	// Overflowed counts events that went to the overflow list; Episodes
	// counts times the list went from empty to non-empty; PeakList is its
	// longest length.
	Overflowed, Episodes, PeakList int
	// PeakBytes is the most bytes ever unreaped in the ring (PADs included).
	PeakBytes int
	// Signals counts eventfd signals, Wakeups the times a sleeping reaper
	// was woken, Getevents the getevents calls. EdgeSignals counts the
	// signals a producer would send if it also skipped the signal whenever
	// the ring was not empty before its publish (only the empty to
	// non-empty edge can find a reaper asleep); the run is otherwise the
	// same, since only the first signal of a wait wakes anyone.
	Signals, EdgeSignals, Wakeups, Getevents int
	// Pauses counts reaper pauses that delayed a reaper; LongestPause is
	// the longest of them.
	Pauses       int
	LongestPause time.Duration
	// Latency is from completion to delivery to the application.
	Latency Histogram
	// Busy is the fraction of the simulated time the reapers spent
	// reaping (not polling, sleeping or paused), summed over reapers.
	Busy float64
}

// OverflowFraction is Overflowed / Events.
func (o *Outcome) OverflowFraction() float64 {
	if o.Events == 0 {
		return 0
	}
	return float64(o.Overflowed) / float64(o.Events)
}

// SignalsPerEvent is Signals / Events.
func (o *Outcome) SignalsPerEvent() float64 {
	if o.Events == 0 {
		return 0
	}
	return float64(o.Signals) / float64(o.Events)
}

type qrec struct {
	at    float64 // completion time, ns
	bytes int32   // record plus the PAD written before it, if any
}

// fifo is a queue of records that reuses its backing array.
type fifo struct {
	b    []qrec
	head int
}

func (f *fifo) len() int { return len(f.b) - f.head }
func (f *fifo) push(r qrec) {
	if f.head > 4096 && f.head*2 > len(f.b) {
		n := copy(f.b, f.b[f.head:])
		f.b = f.b[:n]
		f.head = 0
	}
	f.b = append(f.b, r)
}
func (f *fifo) pop() qrec { r := f.b[f.head]; f.head++; return r }

type qreaper struct {
	next       float64 // time of its next step; +Inf while asleep
	asleep     bool
	wakePend   bool
	idleSince  float64
	batch      int       // records claimed by the round in progress
	fromList   bool      // the round in progress is a getevents
	claimed    []float64 // what that getevents took off the list
	pStart     float64
	pEnd       float64
	busy       float64
	inProgress bool
	rng        *rand.Rand // its pauses
}

// Simulate runs one workload with the given seed and returns what it
// measured. The same workload and seed give the same outcome.
func Simulate(w Workload, seed uint64) (Outcome, error) {
	if err := w.Validate(); err != nil {
		return Outcome{}, err
	}
	// Arrivals and each reaper's pauses draw from their own streams. The
	// arrivals depend on the seed and the workload but not on the ring
	// size; the pauses only on the seed and the pause scenario. Runs that
	// differ only in ring_bytes see the same completions and pauses, and
	// runs at different rates the same pauses.
	key := w
	key.RingBytes = 0
	rng := rand.New(rand.NewPCG(seed, workloadHash(key)))
	pauseHash := workloadHash(w.Pause)
	var out Outcome
	var (
		ring, list fifo
		used       int     // bytes unreaped in the ring
		tailPos    int     // tail & ring_mask
		ringBusy   float64 // a round holds head until then
		owner      = -1    // the reaper whose round is in progress
		noEventfd  bool
		awake      = w.Reapers
		end        = float64(w.Duration)
		perEv      = float64(w.PerEvent)
		perBatch   = float64(w.PerBatch)
		nextArr    float64
		burstLeft  int
	)
	rs := make([]qreaper, w.Reapers)
	every := float64(w.Pause.Every)
	for i := range rs {
		r := &rs[i]
		r.rng = rand.New(rand.NewPCG(seed+uint64(i)+1, pauseHash))
		r.pEnd = math.Inf(1)
		r.pStart = math.Inf(1)
		if every > 0 {
			r.pStart = every * r.rng.ExpFloat64()
			r.pEnd = r.pStart + w.Pause.draw(r.rng)
		}
	}
	if !w.SignalAlways {
		noEventfd = true
	}
	burst := max(w.Burst, 1)
	gap := float64(w.BurstGap)
	meanBurstGap := 1e9 * float64(burst) / w.Rate
	nextArr = meanBurstGap * rng.ExpFloat64()
	burstLeft = burst

	// rollPause advances reaper r's pause schedule to time t and returns
	// when r can run: t, or the end of the pause that covers t.
	rollPause := func(r *qreaper, t float64) float64 {
		if every == 0 {
			return t
		}
		for r.pEnd <= t {
			r.pStart = r.pEnd + every*r.rng.ExpFloat64()
			r.pEnd = r.pStart + w.Pause.draw(r.rng)
		}
		if r.pStart <= t {
			out.Pauses++
			out.LongestPause = max(out.LongestPause, time.Duration(r.pEnd-r.pStart))
			return r.pEnd
		}
		return t
	}
	fits := func(n int) (need int, ok bool) {
		need = n
		if w.RingBytes == 0 {
			return need, true
		}
		if room := w.RingBytes - tailPos; n > room {
			need += room
		}
		return need, w.RingBytes-used >= need
	}
	publish := func(at float64, need int) {
		ring.push(qrec{at: at, bytes: int32(need)})
		used += need
		if w.RingBytes != 0 {
			tailPos = (tailPos + need) & (w.RingBytes - 1)
			if need > w.EventBytes { // a PAD went first: the record starts at 0
				tailPos = w.EventBytes
			}
		}
		out.PeakBytes = max(out.PeakBytes, used)
	}
	flush := func() {
		for list.len() > 0 {
			need, ok := fits(w.EventBytes)
			if !ok {
				return
			}
			publish(list.pop().at, need)
		}
	}
	signal := func(t float64, wasEmpty bool) {
		if noEventfd {
			return
		}
		out.Signals++
		if wasEmpty {
			out.EdgeSignals++
		}
		for i := range rs {
			r := &rs[i]
			if r.asleep && !r.wakePend {
				r.wakePend = true
				r.next = t + float64(w.Wake)
				return
			}
		}
	}
	claimed := 0 // records taken off the list by a getevents in progress
	produce := func(t float64) {
		if w.MaxInflight > 0 && ring.len()+list.len()+claimed >= w.MaxInflight {
			out.Refused++
			return
		}
		out.Events++
		flush()
		if list.len() == 0 {
			if need, ok := fits(w.EventBytes); ok {
				wasEmpty := used == 0
				publish(t, need)
				signal(t, wasEmpty)
				return
			}
		}
		if list.len() == 0 {
			out.Episodes++
		}
		list.push(qrec{at: t})
		out.Overflowed++
		out.PeakList = max(out.PeakList, list.len())
	}
	deliver := func(t, at float64) {
		out.Delivered++
		out.Latency.Record(t - at)
	}

	step := func(ri int, t float64) {
		r := &rs[ri]
		if r.inProgress {
			// The round ends: head moves past the records, they reach the
			// application.
			r.inProgress = false
			owner = -1
			if r.fromList {
				for _, at := range r.claimed {
					deliver(t, at)
				}
				claimed -= len(r.claimed)
				r.batch = 0
			} else {
				for ; r.batch > 0; r.batch-- {
					q := ring.pop()
					used -= int(q.bytes)
					deliver(t, q.at)
				}
			}
			r.idleSince = t
			r.next = t
			return
		}
		if r.asleep {
			// Woken by the eventfd.
			r.asleep, r.wakePend = false, false
			out.Wakeups++
			awake++
			if !w.SignalAlways {
				noEventfd = true
			}
			r.idleSince = t
		}
		if t2 := rollPause(r, t); t2 > t {
			r.next = t2
			return
		}
		if ringBusy > t || owner >= 0 {
			// Another reaper holds a round: this one would copy the same
			// records and lose the CAS. Try again when that round ends
			// (after it, when it ends now: rounds end before others start).
			r.next = max(ringBusy, t+float64(w.Poll))
			return
		}
		n := ring.len()
		fromList := false
		cost := perBatch
		if n == 0 && list.len() > 0 {
			// F_OVERFLOW with an empty ring: getevents.
			n = list.len()
			fromList = true
			cost = float64(w.Syscall)
			out.Getevents++
		}
		if n > 0 {
			n = min(n, w.BatchMax)
			cost += float64(n) * perEv
			done := t + cost
			if every > 0 && r.pStart < done {
				out.Pauses++
				out.LongestPause = max(out.LongestPause, time.Duration(r.pEnd-r.pStart))
				if !fromList {
					// Paused between its load of head and its CAS: the
					// copy is lost (the CAS would fail if anyone reaped
					// meanwhile, and is redone otherwise). The records
					// stay in the ring for any reaper; this one starts
					// over when the pause ends.
					r.busy += r.pStart - t
					ringBusy = r.pStart
					r.next = r.pEnd
					return
				}
				// Inside getevents the records are already off the list:
				// the pause delays their delivery.
				done += r.pEnd - r.pStart
			}
			r.fromList = fromList
			r.batch = n
			if fromList {
				// getevents takes its records off the list now, under the
				// context lock, so the producer cannot flush them too.
				r.claimed = r.claimed[:0]
				for i := 0; i < n; i++ {
					r.claimed = append(r.claimed, list.pop().at)
				}
				claimed += n
			}
			r.inProgress = true
			r.busy += cost
			ringBusy = done
			owner = ri
			r.next = done
			return
		}
		// Nothing to reap: poll, then sleep.
		if t-r.idleSince < float64(w.Spin) {
			r.next = t + float64(w.Poll)
			return
		}
		awake--
		if awake == 0 {
			noEventfd = false
		}
		r.asleep = true
		r.next = math.Inf(1)
	}

	for {
		// The next thing to happen: an arrival, or a reaper's step.
		ri, rt := -1, math.Inf(1)
		for i := range rs {
			if rs[i].next < rt {
				ri, rt = i, rs[i].next
			}
		}
		if nextArr <= rt {
			if nextArr >= end {
				break
			}
			produce(nextArr)
			burstLeft--
			if burstLeft > 0 {
				nextArr += gap
			} else {
				burstLeft = burst
				nextArr += meanBurstGap * rng.ExpFloat64()
			}
			continue
		}
		if rt >= end {
			break
		}
		step(ri, rt)
	}
	out.Pending = ring.len() + list.len()
	for i := range rs {
		out.Busy += rs[i].busy
		if rs[i].inProgress && rs[i].fromList {
			out.Pending += len(rs[i].claimed)
		}
	}
	out.Busy /= end
	return out, nil
}

func workloadHash(v any) uint64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%+v", v)
	return h.Sum64()
}

// Histogram is a log-linear histogram of nanosecond values with about 1.5%
// resolution, enough for percentiles of latency.
type Histogram struct {
	counts [64 * 48]uint64
	n      uint64
	max    float64
}

func histBucket(v float64) int {
	if v < 64 {
		return int(max(v, 0))
	}
	frac, exp := math.Frexp(v) // v = frac * 2^exp, frac in [0.5, 1)
	b := (exp-6)*64 + int((frac-0.5)*128)
	return min(b+64, 64*48-1)
}

func histValue(b int) float64 {
	if b < 64 {
		return float64(b)
	}
	b -= 64
	exp := b/64 + 6
	frac := 0.5 + (float64(b%64)+0.5)/128
	return math.Ldexp(frac, exp)
}

// Record adds one value (ns).
func (h *Histogram) Record(v float64) {
	h.counts[histBucket(v)]++
	h.n++
	h.max = max(h.max, v)
}

// Count is the number of values recorded.
func (h *Histogram) Count() uint64 { return h.n }

// Max is the largest value recorded.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }

// Quantile returns the value below which a fraction q of the values lie.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	target := uint64(math.Ceil(q * float64(h.n)))
	var c uint64
	for b, n := range h.counts {
		c += n
		if c >= target && n > 0 {
			if b == len(h.counts)-1 {
				return time.Duration(h.max)
			}
			return time.Duration(math.Min(histValue(b), h.max))
		}
	}
	return time.Duration(h.max)
}

// Print writes a one-line summary of the outcome.
func (o *Outcome) Print(w io.Writer) error {
	_, err := fmt.Fprintf(w, "events %d, overflowed %d (%.2g) in %d episodes, peak list %d, peak bytes %d, signals/event %.3f, latency p50 %v p99 %v p99.9 %v max %v\n",
		o.Events, o.Overflowed, o.OverflowFraction(), o.Episodes, o.PeakList, o.PeakBytes, o.SignalsPerEvent(),
		o.Latency.Quantile(0.5), o.Latency.Quantile(0.99), o.Latency.Quantile(0.999), o.Latency.Max())
	return err
}
