package sim

import (
	"fmt"
	"hash/maphash"
	"math/rand/v2"
)

// ExploreOptions bound an exhaustive exploration.
type ExploreOptions struct {
	// MaxStates stops the search (Complete false) after this many distinct
	// states; 0 means 20 million.
	MaxStates int
	// NoSymmetry turns off reaper symmetry reduction (states that differ
	// only by which reaper is which are otherwise merged). Traces are
	// printed in the reapers' own names either way.
	NoSymmetry bool
}

// ExploreResult is the outcome of Explore.
type ExploreResult struct {
	Config ModelConfig
	// States is the number of distinct states visited (after symmetry
	// reduction), Transitions the number of steps taken from them, Depth the
	// length of the longest shortest path from the initial state.
	States, Transitions, Depth int
	// Complete says every reachable state was visited. It is false when
	// MaxStates stopped the search or a violation ended it.
	Complete bool
	// Violation is the first broken property found, with a shortest trace;
	// nil if none.
	Violation *Violation
	// Coverage counts the transitions of interest taken during the search.
	Coverage Coverage
}

// Explore visits every state reachable from the initial state of the model,
// breadth first, checking at every step exactly-once delivery in production
// order, that no read or write leaves the region, that tail - head stays
// within ring_bytes and that F_OVERFLOW is set exactly when the overflow list
// is not empty. Breadth-first order makes the first violation found one with
// a shortest trace.
func Explore(cfg ModelConfig, opt ExploreOptions) (ExploreResult, error) {
	m, err := newModel(cfg)
	if err != nil {
		return ExploreResult{}, err
	}
	limit := opt.MaxStates
	if limit <= 0 {
		limit = 20_000_000
	}
	sym := !opt.NoSymmetry
	res := ExploreResult{Config: cfg}
	m.cov = &res.Coverage
	defer func() { m.cov = nil }()

	// The visited set maps a 64-bit hash of each state to its index in
	// states, and compares the state itself, so it stays exact; the rare
	// states whose hash is taken by another go to a second map. This keeps
	// one copy of each state instead of two (a map keyed by the state).
	hseed := maphash.MakeSeed()
	index := make(map[uint64]int32, 1<<16)
	clash := make(map[state]int32)
	var (
		states chunked
		parent []int32
		acts   []action
		depth  []uint16
	)
	init := m.initial()
	if sym {
		m.canon(&init)
	}
	index[maphash.Comparable(hseed, init)] = 0
	states.add(init)
	parent = append(parent, -1)
	acts = append(acts, action{})
	depth = append(depth, 0)

	whos := m.processes()
	for qi := 0; qi < states.n; qi++ {
		s := *states.at(qi)
		if d := int(depth[qi]); d > res.Depth {
			res.Depth = d
		}
		for _, who := range whos {
			nb := m.nbranches(&s, who)
			for b := 0; b < nb; b++ {
				ns := s
				v := m.apply(&ns, who, b, nil)
				res.Transitions++
				if v == nil {
					v = m.invariant(&ns)
				}
				if v != nil {
					res.States = states.n
					chain := []int32{}
					for i := int32(qi); i > 0; i = parent[i] {
						chain = append(chain, i)
					}
					path := make([]action, 0, len(chain)+1)
					for i := len(chain) - 1; i >= 0; i-- {
						path = append(path, acts[chain[i]])
					}
					path = append(path, action{int8(who), uint16(b)})
					m.cov = nil
					res.Violation = m.replay(path, v, sym)
					return res, nil
				}
				if sym {
					m.canon(&ns)
				}
				h := maphash.Comparable(hseed, ns)
				i, taken := index[h]
				if taken {
					if *states.at(int(i)) == ns {
						continue
					}
					if _, ok := clash[ns]; ok {
						continue
					}
				}
				if states.n >= limit {
					res.States = states.n
					return res, nil
				}
				if taken {
					clash[ns] = int32(states.n)
				} else {
					index[h] = int32(states.n)
				}
				states.add(ns)
				parent = append(parent, int32(qi))
				acts = append(acts, action{int8(who), uint16(b)})
				depth = append(depth, depth[qi]+1)
			}
		}
	}
	res.States = states.n
	res.Complete = true
	return res, nil
}

// chunked is an append-only list of states in fixed-size blocks, so that
// growing it never copies (or briefly doubles) gigabytes of states.
type chunked struct {
	blocks [][]state
	n      int
}

const chunkStates = 1 << 14

func (c *chunked) add(s state) {
	if c.n%chunkStates == 0 {
		c.blocks = append(c.blocks, make([]state, 0, chunkStates))
	}
	b := &c.blocks[len(c.blocks)-1]
	*b = append(*b, s)
	c.n++
}

func (c *chunked) at(i int) *state { return &c.blocks[i/chunkStates][i%chunkStates] }

// processes lists the process ids of the model: the producer, the rogue
// writer if any, then the reapers.
func (m *model) processes() []int {
	whos := []int{whoProducer}
	if m.cfg.Rogue {
		whos = append(whos, whoRogue)
	}
	for i := 0; i < m.cfg.Reapers; i++ {
		whos = append(whos, i)
	}
	return whos
}

// replay runs path from the initial state, describing each step. path's
// reaper indices are relative to the canonical form of each state when sym
// is set; replay follows the permutations so that the trace names each
// reaper consistently.
func (m *model) replay(path []action, final *violation, sym bool) *Violation {
	named := m.initial()
	canonical := named
	var nameOf [MaxReapers]int
	for i := range nameOf {
		nameOf[i] = i
	}
	out := &Violation{Kind: final.kind, Detail: final.detail, Culprit: -1}
	var reaped uint64
	var lastLoad [MaxReapers]uint64
	var lastLoadStep [MaxReapers]int
	for k, a := range path {
		who := int(a.who)
		nwho := who
		if who >= 0 {
			nwho = nameOf[who]
		}
		var info stepInfo
		v := m.apply(&named, nwho, int(a.branch), &info)
		if v == nil {
			v = m.invariant(&named)
		}
		out.Trace = append(out.Trace, fmt.Sprintf("%3d  %s", k+1, info.text))
		if k == len(path)-1 {
			if nwho >= 0 {
				out.Culprit = nwho
				out.Window = reaped - lastLoad[nwho]
				out.LoadStep = lastLoadStep[nwho]
			}
			if v != nil && v.kind == final.kind {
				out.Detail = v.detail // in the trace's names
			}
			if v == nil || v.kind != final.kind {
				// Replaying must reproduce the violation; if it does not,
				// say so rather than print a trace that proves nothing.
				out.Detail += " (replay did not reproduce it: model bug)"
				out.Kind = "internal"
			}
			break
		}
		if info.loadHead && nwho >= 0 {
			lastLoad[nwho] = reaped
			lastLoadStep[nwho] = k + 1
		}
		reaped += uint64(info.casOK)
		m.apply(&canonical, who, int(a.branch), nil)
		if sym {
			perm := m.canon(&canonical)
			var next [MaxReapers]int
			for j := 0; j < m.cfg.Reapers; j++ {
				next[j] = nameOf[perm[j]]
			}
			nameOf = next
		}
	}
	return out
}

// RandomResult is the outcome of RandomWalks.
type RandomResult struct {
	Config ModelConfig
	// Walks and Steps count what was run; Finished counts walks that
	// reached the end state (every event produced and delivered) within
	// the step budget.
	Walks, Steps, Finished int
	// Violation is the first broken property found (its trace is the walk
	// that found it, not a shortest one); nil if none.
	Violation *Violation
	// Coverage counts the transitions of interest the walks took.
	Coverage Coverage
}

// RandomWalks runs walks seeded random walks of at most maxSteps steps each.
// Each walk gives every process a speed, 1 or, with probability one half,
// 1/32 (a slow process is one that gets preempted a lot: that is how heads
// go stale and bytes get reused under a reaper); at each step it picks a
// process that can move with probability proportional to its speed, then
// one of its branches uniformly. It checks what Explore checks, on
// models too large to explore exhaustively. The same seed gives the same
// walks.
func RandomWalks(cfg ModelConfig, seed uint64, walks, maxSteps int) (RandomResult, error) {
	m, err := newModel(cfg)
	if err != nil {
		return RandomResult{}, err
	}
	if walks < 1 || maxSteps < 1 {
		return RandomResult{}, badConfig("walks %d and steps %d must be positive", walks, maxSteps)
	}
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	res := RandomResult{Config: cfg}
	m.cov = &res.Coverage
	whos := m.processes()
	movable := make([]int, 0, len(whos))
	speed := make([]float64, len(whos))
	path := make([]action, 0, maxSteps)
	for w := 0; w < walks; w++ {
		res.Walks++
		s := m.initial()
		path = path[:0]
		for i := range speed {
			speed[i] = 1
			if rng.IntN(2) == 0 {
				speed[i] = 1.0 / 32
			}
		}
		for step := 0; step < maxSteps; step++ {
			if s.p.pc == pIdle && int(s.p.next) == m.nEvents && s.ovfl == 0 && int(s.delivered) == m.nEvents && s.head == s.tail {
				res.Finished++
				break
			}
			movable = movable[:0]
			total := 0.0
			for i, who := range whos {
				if m.nbranches(&s, who) > 0 {
					movable = append(movable, i)
					total += speed[i]
				}
			}
			if len(movable) == 0 {
				break
			}
			x := rng.Float64() * total
			pick := movable[len(movable)-1]
			for _, i := range movable {
				if x < speed[i] {
					pick = i
					break
				}
				x -= speed[i]
			}
			who := whos[pick]
			b := rng.IntN(m.nbranches(&s, who))
			path = append(path, action{int8(who), uint16(b)})
			res.Steps++
			v := m.apply(&s, who, b, nil)
			if v == nil {
				v = m.invariant(&s)
			}
			if v != nil {
				m.cov = nil
				res.Violation = m.replay(path, v, false)
				return res, nil
			}
		}
	}
	return res, nil
}
