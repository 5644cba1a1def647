package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/aio2/aio2/abi"
	"github.com/aio2/aio2/kioctx"
	"github.com/aio2/aio2/ring"
)

// slot is one IO's place in a job: its buffer and what the reaper needs
// to account its event. Slot i's iocb carries data = i.
type slot struct {
	buf      []byte
	submitNs int64
	// slatNs is how long the submit call took, or -1 while it runs. With
	// --reaper=goroutines=N it is accessed atomically, because the event
	// may be reaped before the submitter, back from SubmitRaw, stores it;
	// the reaper then counts the whole latency as submission (fio's clat
	// is ~0 then too). The inline reaper is the submitter, so it uses
	// plain loads and stores: two locked instructions fewer per IO.
	slatNs int64
	seq    uint64 // the TAG value sent
	off    int64  // the file offset
	write  bool
}

// reapState is what one reaper (the job's own goroutine, or one of
// --reaper=goroutines=N) accumulates; merged when the job ends.
type reapState struct {
	read, write sideStats
	attrs       *attrStats
	buf         []byte
	ev          abi.Event
	malformed   error
	// unpub counts what was reaped and not yet added to the job's
	// shared counters (read IOs, read bytes, write IOs, write bytes);
	// pubNs is when they were last added (see publish).
	unpub [4]int64
	pubNs int64
}

// publishEvery and publishAfter bound how stale the job's shared counters
// (read by the progress line and the 500 ms samples) may be: they are
// brought up to date after this many events or this long. Adding to them
// per event cost two locked instructions per IO.
const (
	publishEvery = 64
	publishAfter = int64(5 * time.Millisecond)
)

// publish adds what rs reaped to the job's shared counters if enough has
// piled up, or always with force (when a reaper stops).
func (j *job) publish(rs *reapState, now int64, force bool) {
	u := &rs.unpub
	if !force && u[0]+u[2] < publishEvery && now-rs.pubNs < publishAfter {
		return
	}
	rs.pubNs = now
	if u[0] != 0 || u[1] != 0 {
		j.rIOs.Add(u[0])
		j.rBytes.Add(u[1])
	}
	if u[2] != 0 || u[3] != 0 {
		j.wIOs.Add(u[2])
		j.wBytes.Add(u[3])
	}
	*u = [4]int64{}
}

func newReapState(o *ioOptions, maxEv uint32) *reapState {
	return &reapState{read: newSideStats(o.plot != ""), write: newSideStats(o.plot != ""), attrs: newAttrStats(o.attrs),
		buf: make([]byte, max(int(maxEv)*64, 64<<10))}
}

// job is one context and the goroutine that drives it.
type job struct {
	id   int
	o    *ioOptions
	t    *target
	kctx *kioctx.Context
	// submitRaw, getEvents and reap are kctx's SubmitRaw, GetEvents and
	// Reap, as fields so that a test can make them fail the way kioctx
	// may (GetEvents and Reap with events).
	submitRaw func(recs []byte) (int, error)
	getEvents func(min int, buf []byte, timeout time.Duration) (int, error)
	reap      func(dst []byte) (int, error)
	params    abi.Params
	region    *ring.Region // view of the context's ring, for its counters
	mem       []byte       // slot buffers, outside the Go heap

	slots []slot
	free  []int32    // inline reaper: free slot ids
	freeC chan int32 // goroutine reapers: freed slot ids; -1 says a reaper failed

	sub  []byte  // iocb2 records of one submission
	pend []int32 // slot of each record in sub
	ends []int   // end offset of each record in sub

	reqs   []byte // attribute requests, the same for every iocb
	tagOff int    // offset of TAG's value in reqs, -1 without TAG
	batch  int    // iocbs per submit call (ioOptions.submitBatch)

	rng *rand.Rand
	// seqPos is the next offset of a sequential workload, one cursor per
	// direction (read, write), as fio keeps one per data direction: with
	// --rw=rw each side streams over the whole file.
	seqPos   [2]int64
	blocks   int64
	issued   int64
	inflight int

	sharedPath string

	// Counters the progress line and the 500 ms samples read.
	rIOs, rBytes, wIOs, wBytes atomic.Int64

	states      []*reapState
	start, end  time.Time
	interrupted bool
	// failed is set by the first IO that fails: the job issues no more
	// and ends when what is in flight is reaped.
	failed atomic.Bool
	// done is set when the job has ended; the sampler stops there.
	done    atomic.Bool
	samples *sampler
}

func newJob(id int, o *ioOptions, t *target) (_ *job, err error) {
	j := &job{id: id, o: o, t: t, tagOff: -1, blocks: t.size / o.bs, batch: o.submitBatch(t)}
	p := abi.Params{Size: abi.ParamsSize, Version: abi.Version2, RingBytes: o.ringBytes,
		Eventfd: -1, MaxInflight: o.maxInflight}
	if p.MaxInflight == 0 {
		p.MaxInflight = uint32(o.iodepth)
	}
	if o.reaper == "external" {
		p.Flags |= abi.SetupShared
	}
	j.kctx, err = kioctx.Setup(&p, contextOptions()...)
	if err != nil {
		return nil, fmt.Errorf("job %d: io_setup2: %w", id, err)
	}
	j.submitRaw, j.getEvents, j.reap = j.kctx.SubmitRaw, j.kctx.GetEvents, j.kctx.Reap
	defer func() {
		if err != nil {
			j.close()
		}
	}()
	j.params = p
	if p.Version != abi.Version2 {
		return nil, fmt.Errorf("job %d: io_setup2 granted ring version %d; aio2 io needs version 2", id, p.Version)
	}
	if p.MaxInflight < uint32(o.iodepth) {
		return nil, usagef("--iodepth=%d is more than the context's max_inflight (%d): lower --iodepth", o.iodepth, p.MaxInflight)
	}
	// The target stays open, with the same flags, until after the context
	// is destroyed (run closes the jobs first): registering it spares
	// kioctx an fcntl(F_GETFL) per submit call.
	if err = j.kctx.RegisterFile(t.fd); err != nil {
		return nil, fmt.Errorf("job %d: register %s: %w", id, t.path, err)
	}
	if reg := j.kctx.Region(); reg != nil {
		if j.region, err = ring.FromBytes(reg); err != nil {
			return nil, fmt.Errorf("job %d: the context's ring: %w", id, err)
		}
		if o.reaper != "external" {
			// This process waits in GetEvents, never on the context's
			// eventfd: ask the producer not to signal it, which saves
			// a write(2) per published batch.
			j.region.SetUserFlags(abi.UFNoEventfd, 0)
		}
	}
	if o.reaper == "external" {
		f := j.kctx.RingFile()
		if f == nil {
			return nil, fmt.Errorf("job %d: SETUP_SHARED context has no ring file", id)
		}
		j.sharedPath = fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), f.Fd())
	}

	nslots := o.iodepth
	if o.reaper == "external" {
		nslots = int(p.MaxInflight)
	}
	j.mem, err = kioctx.AlignedBuf(nslots * int(o.bs))
	if err != nil {
		return nil, fmt.Errorf("job %d: buffers: %w", id, err)
	}
	seed := o.seed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	j.rng = rand.New(rand.NewPCG(seed, uint64(id)+1))
	for i := 0; i+8 <= len(j.mem); i += 8 {
		v := j.rng.Uint64()
		for k := range 8 {
			j.mem[i+k] = byte(v >> (8 * k))
		}
	}
	j.slots = make([]slot, nslots)
	j.free = make([]int32, 0, nslots)
	for i := range j.slots {
		j.slots[i].buf = j.mem[i*int(o.bs) : (i+1)*int(o.bs)]
		j.free = append(j.free, int32(i))
	}
	for _, id := range o.attrs {
		if id == abi.AttrTag {
			j.tagOff = len(j.reqs) + abi.AttrHeaderBytes
			j.reqs = abi.AppendAttrReq(j.reqs, id, make([]byte, 8))
		} else {
			j.reqs = abi.AppendAttrReq(j.reqs, id, nil)
		}
	}
	recBytes := abi.IocbHeaderBytes + len(j.reqs)
	j.sub = make([]byte, 0, nslots*recBytes)
	j.pend = make([]int32, 0, nslots)
	j.ends = make([]int, 0, nslots)
	nstates := 1
	if o.reapers > 0 {
		nstates = o.reapers
		// Room for every slot and one failure note per reaper, so that
		// a reaper's send never blocks.
		j.freeC = make(chan int32, nslots+o.reapers)
	}
	for range nstates {
		j.states = append(j.states, newReapState(o, p.MaxEventBytes))
	}
	return j, nil
}

// close destroys the context and frees the buffers. Destroy waits for
// whatever is still in flight, so the buffers are unmapped only after the
// kernel is done with them.
func (j *job) close() {
	if j == nil {
		return
	}
	if j.kctx != nil {
		j.kctx.Destroy()
		j.kctx = nil
	}
	if j.mem != nil {
		kioctx.FreeBuf(j.mem)
		j.mem = nil
	}
}

// limits decides when a job stops issuing.
type limits struct {
	deadline int64 // nowNs() value; 0: none
	number   int64 // IOs; 0: none
}

func (j *job) limits() limits {
	var l limits
	now := nowNs()
	switch {
	case j.o.runtime > 0:
		l.deadline = now + int64(j.o.runtime)
	case j.o.defaulted:
		// Neither --runtime nor --number: one pass over the target, as
		// fio does, but at most 10 s so that "aio2 io" alone is quick.
		l.deadline = now + int64(10*time.Second)
		l.number = j.blocks
	}
	if j.o.number > 0 {
		l.number = j.o.number
	}
	return l
}

func (l *limits) more(issued int64, now int64) bool {
	return (l.number == 0 || issued < l.number) && (l.deadline == 0 || now < l.deadline)
}

// nextOffset picks the next IO's offset and direction.
func (j *job) nextOffset() (off int64, write bool) {
	o := j.o
	switch o.rw {
	case "read", "randread":
	case "write", "randwrite":
		write = true
	default:
		write = j.rng.IntN(100) >= o.rwmixread
	}
	if o.random() {
		return j.rng.Int64N(j.blocks) * o.bs, write
	}
	d := dirIndex(write)
	off = j.seqPos[d]
	j.seqPos[d] += o.bs
	if j.seqPos[d]+o.bs > j.blocks*o.bs {
		j.seqPos[d] = 0
	}
	return off, write
}

func dirIndex(write bool) int {
	if write {
		return 1
	}
	return 0
}

// prepare appends one iocb2 for slot s to the submission buffer.
func (j *job) prepare(s int32) {
	sl := &j.slots[s]
	off, write := j.nextOffset()
	sl.write, sl.off = write, off
	j.issued++
	sl.seq = uint64(j.issued)
	cb := abi.Iocb{Opcode: abi.OpPread, Data: uint64(s), Fd: int32(j.t.fd),
		Addr: addrOf(sl.buf), Nbytes: uint64(len(sl.buf)), Offset: off}
	if write {
		cb.Opcode = abi.OpPwrite
	}
	start := len(j.sub)
	j.sub = abi.AppendIocb(j.sub, &cb, j.reqs)
	if j.tagOff >= 0 {
		binary.LittleEndian.PutUint64(j.sub[start+abi.IocbHeaderBytes+j.tagOff:], sl.seq)
	}
	j.pend = append(j.pend, s)
	j.ends = append(j.ends, len(j.sub))
}

// submit hands the prepared records to the context. Records it refuses
// give their slots back (as free) and their IOs are not counted. It
// returns how many were accepted.
func (j *job) submit(giveBack func(int32)) (int, error) {
	if len(j.sub) == 0 {
		return 0, nil
	}
	shared := j.o.reapers > 0
	t0 := nowNs()
	for _, s := range j.pend {
		sl := &j.slots[s]
		sl.submitNs = t0
		if shared {
			atomic.StoreInt64(&sl.slatNs, -1)
		}
	}
	acc, err := j.submitRaw(j.sub)
	t1 := nowNs()
	n := 0
	for n < len(j.ends) && j.ends[n] <= acc {
		sl := &j.slots[j.pend[n]]
		if shared {
			atomic.CompareAndSwapInt64(&sl.slatNs, -1, t1-t0)
		} else {
			sl.slatNs = t1 - t0
		}
		n++
	}
	// A sequential workload gives its cursors back too, to the first
	// refused offset of each direction, so that no block is skipped
	// (found by review, 2026-11-22: in external mode, where the context
	// refuses records as flow control, --rw=read skipped blocks).
	for i := len(j.pend) - 1; i >= n; i-- {
		s := j.pend[i]
		if sl := &j.slots[s]; !j.o.random() {
			j.seqPos[dirIndex(sl.write)] = sl.off
		}
		giveBack(s)
	}
	j.issued -= int64(len(j.pend) - n)
	j.sub, j.pend, j.ends = j.sub[:0], j.pend[:0], j.ends[:0]
	j.inflight += n
	if err != nil && !errors.Is(err, unix.EAGAIN) {
		return n, fmt.Errorf("job %d: submit: %w", j.id, err)
	}
	return n, nil
}

// consume accounts every event in buf, reaped at now, and calls release
// for each slot it frees. It stops at the first malformed record.
func (j *job) consume(rs *reapState, buf []byte, now int64, release func(int32)) (int, error) {
	n, _, err := j.consumeUpTo(rs, buf, now, release, len(buf))
	return n, err
}

// consumeUpTo is consume of at most max events; it also returns the
// offset in buf where it stopped.
func (j *job) consumeUpTo(rs *reapState, buf []byte, now int64, release func(int32), max int) (n, off int, err error) {
	shared := j.o.reapers > 0
	defer j.publish(rs, now, false)
	for off < len(buf) && n < max {
		var next int
		next, err = abi.NextEvent(buf, off, &rs.ev)
		ev := &rs.ev
		if err == nil && ev.Flags&^abi.EventFlagsKnown != 0 {
			err = abi.ValidateEvent(ev, off)
		}
		if err != nil {
			return n, off, fmt.Errorf("job %d: malformed event from the context: %w", j.id, err)
		}
		if ev.Data >= uint64(len(j.slots)) {
			return n, off, fmt.Errorf("job %d: event carries data %d, which no iocb was given", j.id, ev.Data)
		}
		s := int32(ev.Data)
		sl := &j.slots[s]
		lat := now - sl.submitNs
		// observe validates the attributes as it reads them (one walk,
		// not ValidateEvent's and its own); a fault is described by
		// ValidateEvent, which makes the same checks.
		if !rs.attrs.observe(ev, lat, sl.seq) {
			if err = abi.ValidateEvent(ev, off); err == nil {
				err = errors.New("attributes that observe refused")
			}
			return n, off, fmt.Errorf("job %d: malformed event from the context: %w", j.id, err)
		}
		off = next
		side, cnt := &rs.read, rs.unpub[0:2]
		if sl.write {
			side, cnt = &rs.write, rs.unpub[2:4]
		}
		var slat int64
		if shared {
			slat = atomic.LoadInt64(&sl.slatNs)
		} else {
			slat = sl.slatNs
		}
		if slat < 0 || slat > lat {
			slat = lat
		}
		side.ios++
		// As fio accounts no latency for an IO that failed (io_u.c,
		// io_completed): a failure that comes back at once would pull
		// the percentiles down. The first failure also stops the job,
		// fio's continue_on_error=none (found by review, 2026-11-22).
		if ev.Res >= 0 {
			side.lat.record(lat)
			if side.latH != nil {
				side.latH.record(lat)
			}
			side.slat.record(slat)
			side.clat.record(lat - slat)
			side.clatM.record(lat - slat)
		}
		switch {
		case ev.Res < 0:
			side.errs++
			if side.firstErr == 0 {
				side.firstErr = -ev.Res
			}
			j.failed.Store(true)
		case ev.Res < int64(len(sl.buf)):
			side.short++
		}
		if ev.Res > 0 {
			side.bytes += ev.Res
			cnt[1] += ev.Res
		}
		cnt[0]++
		release(s)
		n++
	}
	return n, off, nil
}

// waitTimeout bounds each blocking GetEvents, so that a stop request is
// noticed promptly.
const waitTimeout = 100 * time.Millisecond

// reapOnce takes what the ring holds without a syscall; if it is empty,
// it waits in GetEvents (which also flushes the overflow list). The
// events it returns are whole whatever the error, and the caller accounts
// them before it acts on the error: kioctx completes what it held when
// its io_getevents fails, and those events come back with the error.
func (j *job) reapOnce(rs *reapState) ([]byte, error) {
	n, err := j.reap(rs.buf)
	if err != nil && !errors.Is(err, kioctx.ErrNoRing) {
		return rs.buf[:n], fmt.Errorf("job %d: reap: %w", j.id, err)
	}
	if n == 0 {
		return j.waitOne(rs)
	}
	return rs.buf[:n], nil
}

// waitOne is the inline reaper's wait: GetEvents(1) takes every event
// ready and, if there is none, blocks in io_getevents on this goroutine
// (kioctx's cheapest wait: no hand-off to another goroutine or thread).
// It does not try a lock-free Reap first, though on a RAM device the
// event is often in the ring already (Submit drains what io_submit
// completed): kioctx issues IO without an eventfd signal only while
// GetEvents callers keep coming, and a Reap that succeeds is not one.
// Tried at QD1 on zram (2026-11-22, docs/benchmarks.md): 0.79 of the
// IOPS, with 222 k context switches in 3 s against 728, the background
// goroutine woken per IO. As reapOnce, it returns the events it got
// along with any error.
func (j *job) waitOne(rs *reapState) ([]byte, error) {
	n, err := j.getEvents(1, rs.buf, waitTimeout)
	if err != nil && !errors.Is(err, kioctx.ErrTimeout) {
		return rs.buf[:n], fmt.Errorf("job %d: getevents: %w", j.id, err)
	}
	return rs.buf[:n], nil
}

func (j *job) run(ctx context.Context) error {
	j.start = time.Now()
	defer func() {
		if j.end.IsZero() {
			j.end = time.Now()
		}
	}()
	var err error
	switch {
	case j.o.reaper == "external":
		err = j.runExternal(ctx)
	case j.o.reapers > 0:
		err = j.runGoroutines(ctx) // returns after its reapers
	default:
		err = j.runInline(ctx)
	}
	// A job ended by a failed wait or reap leaves what it had in flight
	// unreaped: the report counts what was reaped, and says how many
	// more there were, rather than let them pass as never issued.
	// (External mode says so in its own words: the other process reaps.)
	if err != nil && j.o.reaper != "external" {
		if left := j.kctx.Inflight(); left > 0 {
			err = fmt.Errorf("%w; %d IOs submitted were not reaped when the job ended, and are not in the report", err, left)
		}
	}
	for _, rs := range j.states {
		j.publish(rs, 0, true)
	}
	j.done.Store(true)
	return err
}

func (j *job) pushFree(s int32) { j.free = append(j.free, s) }

// prepareUpTo prepares an iocb for up to max free slots, while the limits
// allow.
func (j *job) prepareUpTo(lim *limits, now int64, max int) {
	for ; max > 0 && len(j.free) > 0 && lim.more(j.issued, now); max-- {
		n := len(j.free) - 1
		s := j.free[n]
		j.free = j.free[:n]
		j.prepare(s)
	}
}

// defaultSubmitBatch is the most iocbs a job hands to one submit call
// where nothing else is asked or fits better (ioOptions.submitBatch).
// io_submit plugs the block queue for the whole call, so the first IO of
// a long batch reaches the device only when the last is queued; short
// batches keep the device busier at the cost of more calls. On the RAM
// loop device at QD32 (docs/benchmarks.md), batches of 4 did 293 k and
// 297 k IOPS where unbounded batches (about 12 IOs) did 255 k and 263 k,
// and batches of 1 (fio's default) 280 k and 266 k with 15-27 % more CPU
// per IO.
const defaultSubmitBatch = 4

// submitBatch is the batch a job uses: --iodepth_batch_submit, or by
// default 1 on a rotational device, where a call's cost does not show
// and each slot freed goes back to the device at once, as fio's default
// does, and defaultSubmitBatch otherwise. On this machine's virtio disk
// (which sysfs calls rotational) at QD32, batches of 1 did 1.027 [1.007,
// 1.061] of the IOPS of batches of 4, per rep, over 21 shuffled reps,
// where fio with batches of 4 and every ready event a wait did 0.973 of
// its default (`python3 cmd/aio2/bench/ab-vs-fio.py --filename F
// --iodepth 32 --reps 21 --runtime 3 --shuffle
// --fio-variant=--iodepth_batch_submit=4,--iodepth_batch_complete_max=32
// OLD NEW`, docs/benchmarks.md, session of 01:00 UTC, 2026-11-23). On
// zram and the loop device (not rotational) batches of 4 stay.
//
// With --reaper=goroutines=N and a device that is not rotational, the
// default is --iodepth: the submitter hands every slot the reapers gave
// back to one call, as it always did. Batches of 4 there did 0.962
// [0.937, 1.016] of its IOPS on zram at QD32, at 12 % more CPU per IO (11
// shuffled reps, `python3 cmd/aio2/bench/ab-vs-fio.py --filename
// /dev/zram0 --iodepth 32 --reps 11 --runtime 3 --shuffle
// OLD,--reaper=goroutines=2 NEW,--reaper=goroutines=2` with OLD the build
// of aa7e432 and NEW of 2c75aab, 2026-11-23).
func (o *ioOptions) submitBatch(t *target) int {
	switch {
	case o.batch > 0:
		return o.batch
	case t.rotational:
		return 1
	case o.reapers > 0:
		return o.iodepth
	}
	return min(defaultSubmitBatch, o.iodepth)
}

func (j *job) runInline(ctx context.Context) error {
	lim := j.limits()
	rs := j.states[0]
	// Ctrl-C sets a flag the loop loads once per turn: a select on
	// ctx.Done() there was a runtime call per IO (0.8 % of the user time
	// at QD1 on zram).
	var stop atomic.Bool
	defer context.AfterFunc(ctx, func() { stop.Store(true) })()
	// now is the time the last events were reaped, or the start: the
	// clock is read once per wait, not once more per turn of the loop.
	now := nowNs()
	var serr error // the first submit that failed
	for {
		stopping := stop.Load()
		if stopping {
			j.interrupted = true
		}
		stopping = stopping || j.failed.Load() || serr != nil
		if !stopping {
			for len(j.free) > 0 && lim.more(j.issued, now) {
				j.prepareUpTo(&lim, now, j.batch)
				n, err := j.submit(j.pushFree)
				if err != nil {
					serr, stopping = err, true
					break
				}
				if n == 0 {
					break // EAGAIN: reap first
				}
			}
		}
		if j.inflight == 0 {
			now = nowNs()
			if stopping || !lim.more(j.issued, now) {
				return serr
			}
			continue
		}
		evs, werr := j.waitOne(rs)
		now = nowNs()
		// Account a batch, resubmit it, and go on: a wait that returns
		// the whole queue (the disk) has its first slots back in the
		// device before the last events are accounted.
		for len(evs) > 0 {
			n, used, err := j.consumeUpTo(rs, evs, now, j.pushFree, j.batch)
			j.inflight -= n
			if err != nil {
				return errors.Join(err, werr, serr)
			}
			evs = evs[used:]
			if len(evs) > 0 && werr == nil && serr == nil && !stop.Load() && !j.failed.Load() && lim.more(j.issued, now) {
				j.prepareUpTo(&lim, now, j.batch)
				_, serr = j.submit(j.pushFree)
			}
		}
		// A wait that fails ends the job: another could fail the same
		// way for ever. A failed submit does not: the job issues no
		// more, and reaps what it has in flight, so that every IO it
		// submitted is in the report, as after an IO that fails.
		if werr != nil {
			return errors.Join(werr, serr)
		}
	}
}

func (j *job) runGoroutines(ctx context.Context) error {
	lim := j.limits()
	var done atomic.Bool
	var wg sync.WaitGroup
	errs := make([]error, len(j.states))
	for i, rs := range j.states {
		wg.Add(1)
		go func() {
			defer wg.Done()
			release := func(s int32) { j.freeC <- s }
			for !done.Load() {
				evs, err := j.reapOnce(rs)
				if _, cerr := j.consume(rs, evs, nowNs(), release); cerr != nil {
					err = errors.Join(cerr, err)
				}
				if err != nil {
					errs[i] = err
					done.Store(true)
					j.freeC <- -1
					return
				}
			}
		}()
	}
	var err, serr error // a reaper's failure; the first submit that failed
	stop := ctx.Done()
	stopping := false
	for {
		select {
		case <-stop:
			// Stop issuing and wait for what is in flight; a nil
			// channel keeps the wait below from spinning on stop.
			stopping, stop = true, nil
			j.interrupted = true
		default:
		}
		now := nowNs()
		if j.failed.Load() {
			stopping = true // an IO failed: issue no more (fio's default)
		}
		// The slots handed back, in calls of at most j.batch iocbs as
		// in runInline. A failed submit stops the issuing, not the
		// reaping: what is in flight is reaped and reported.
		for !stopping && len(j.free) > 0 && lim.more(j.issued, now) {
			j.prepareUpTo(&lim, now, j.batch)
			n, e := j.submit(j.pushFree)
			if e != nil {
				serr, stopping = e, true
			}
			if n == 0 {
				break // EAGAIN: wait for slots
			}
		}
		if j.inflight == 0 && (stopping || !lim.more(j.issued, nowNs())) {
			break
		}
		select {
		case s := <-j.freeC:
			if s < 0 {
				err = errors.New("a reaper failed")
				break
			}
			j.inflight--
			j.free = append(j.free, s)
			// Take whatever else is freed without blocking, so that
			// one submission refills many slots.
			for more := true; more; {
				select {
				case s := <-j.freeC:
					if s < 0 {
						err = errors.New("a reaper failed")
						more = false
						break
					}
					j.inflight--
					j.free = append(j.free, s)
				default:
					more = false
				}
			}
		case <-stop:
		}
		if err != nil {
			break
		}
	}
	// The work ends here; the reapers notice done within one GetEvents
	// timeout, which is not the workload's time.
	j.end = time.Now()
	done.Store(true)
	wg.Wait()
	if e := errors.Join(errs...); e != nil {
		return errors.Join(e, serr)
	}
	return errors.Join(err, serr)
}

// runExternal submits and never reaps: another process maps the shared
// ring and reaps it. Submit answers EAGAIN while max_inflight events are
// unreaped, which is how this side learns that the reaper made room.
func (j *job) runExternal(ctx context.Context) error {
	lim := j.limits()
	next := 0
	stop := ctx.Done()
	// However the run ends (a --timeout, a failing submit: the report
	// follows either way), count only what was reaped: the rest of the
	// submitted IOs are not done as far as anyone can tell.
	defer j.countReaped()
	// --timeout bounds how long this side waits with no sign of a reaper:
	// while submit answers EAGAIN (max_inflight events unreaped), and at
	// the end, while events remain. Any progress restarts it.
	progress, lastLeft := time.Now(), -1
	stalled := func() error {
		if left := j.kctx.Inflight(); left != lastLeft {
			progress, lastLeft = time.Now(), left
			return nil
		}
		if j.o.timeout > 0 && time.Since(progress) > j.o.timeout {
			return fmt.Errorf("--timeout=%s: %d events were not reaped from %s by another process", j.o.timeout, j.kctx.Inflight(), j.sharedPath)
		}
		return nil
	}
	for !j.interrupted && lim.more(j.issued, nowNs()) {
		select {
		case <-stop:
			j.interrupted = true
			continue
		default:
		}
		// Buffers go round-robin: the data read is not looked at, and
		// with no events this side cannot tell which slot is done.
		// Batches as the inline reaper's: an io_submit and an eventfd
		// signal per batch of IOs, not per IO.
		now := nowNs()
		for k := 0; k < j.batch && lim.more(j.issued, now); k++ {
			j.prepare(int32((next + k) % len(j.slots)))
		}
		n, err := j.submit(func(int32) {})
		if err != nil {
			return err
		}
		if n == 0 {
			if err := stalled(); err != nil {
				return err
			}
			nap(50 * time.Microsecond)
			continue
		}
		progress = time.Now()
		for range n {
			if j.slots[next].write {
				j.wIOs.Add(1)
				j.wBytes.Add(j.o.bs) // the samples' bandwidth (exact bytes are set at the end)
			} else {
				j.rIOs.Add(1)
				j.rBytes.Add(j.o.bs)
			}
			next = (next + 1) % len(j.slots)
		}
	}
	// Wait for the other process to reap everything.
	progress, lastLeft = time.Now(), -1
	for !j.interrupted && j.kctx.Inflight() > 0 {
		if err := stalled(); err != nil {
			return err
		}
		select {
		case <-stop:
			// Ctrl-C: report what was done; Destroy (in close) waits
			// for the IOs still in the device and sets F_DEAD.
			j.interrupted = true
		case <-time.After(time.Millisecond):
		}
	}
	return nil
}

// countReaped sets the external mode's counts to the IOs another process
// has reaped: those submitted less those still unreaped.
func (j *job) countReaped() {
	if left := int64(j.kctx.Inflight()); left > 0 {
		if r := j.rIOs.Load(); r >= left {
			j.rIOs.Add(-left)
		} else {
			j.rIOs.Store(0)
			j.wIOs.Add(-(left - r))
		}
	}
	rs := j.states[0]
	rs.read.ios, rs.write.ios = j.rIOs.Load(), j.wIOs.Load()
	rs.read.bytes, rs.write.bytes = rs.read.ios*j.o.bs, rs.write.ios*j.o.bs
	j.rBytes.Store(rs.read.bytes)
	j.wBytes.Store(rs.write.bytes)
}

// result merges the reapers' states into the job's report.
func (j *job) result(interrupted bool) *jobResult {
	r := &jobResult{name: j.o.name, jobs: 1, read: newSideStats(j.o.plot != ""), write: newSideStats(j.o.plot != ""),
		attrs: newAttrStats(j.o.attrs), elapsed: j.end.Sub(j.start), interrupted: interrupted || j.interrupted}
	if j.o.numjobs > 1 {
		r.name = fmt.Sprintf("%s.%d", j.o.name, j.id)
	}
	for _, rs := range j.states {
		r.read.merge(&rs.read)
		r.write.merge(&rs.write)
		r.attrs.merge(rs.attrs)
	}
	if j.samples != nil {
		r.read.samples, r.read.bsamp = j.samples.rIOs, j.samples.rBytes
		r.write.samples, r.write.bsamp = j.samples.wIOs, j.samples.wBytes
	}
	p := j.params
	r.ring = ringInfo{Version: p.Version, RingBytes: p.RingBytes, MaxEventBytes: p.MaxEventBytes,
		MaxInflight: p.MaxInflight, Features: featureNames(p.Features), Supported: maskNames(p.Attrs),
		Reaper: j.o.reaper, SubmitBatch: j.batch, Clock: cmdClock.name, SharedPath: j.sharedPath}
	if j.region != nil {
		r.ring.Overflowed = j.region.Overflowed()
	}
	return r
}

func featureNames(f uint64) []string {
	names := []string{"no_drop", "attrs", "syscall", "poll", "shared", "cas_reap", "issue_sync"}
	out := []string{}
	for i, n := range names {
		if f&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	return out
}

func maskNames(m uint64) []string {
	out := []string{}
	for id := uint16(1); id < 64; id++ {
		if m&(1<<id) != 0 {
			if n := abi.AttrName(id); n != "" {
				out = append(out, n)
			} else {
				out = append(out, fmt.Sprint(id))
			}
		}
	}
	return out
}

// nap sleeps for d, which is well under a millisecond, in nanosleep(2).
// time.Sleep would round it up to about a millisecond whenever the
// runtime's idle thread waits for the timer in epoll_pwait, whose timeout
// has millisecond resolution (golang/go#53824): the polling of --reaper=
// external and of "aio2 reap" ran at that pace, 24.6 k IOPS on zram at
// QD32. The thread blocks in the kernel for d; EINTR (a signal for the
// runtime) just ends the nap early.
func nap(d time.Duration) {
	ts := unix.NsecToTimespec(int64(d))
	_ = unix.Nanosleep(&ts, nil)
}
