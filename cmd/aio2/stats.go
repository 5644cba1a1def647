package main

import (
	"encoding/binary"
	"errors"
	"math"
	"syscall"
	"time"

	"github.com/aio2/aio2/abi"
)

// sideStats accumulates one direction (read or write) of one job.
type sideStats struct {
	ios, bytes, short, errs int64
	firstErr                int64 // errno of the first IO that failed
	// fio gives slat and lat no percentiles by default: their moments
	// are enough, and cheaper per IO than a histogram record.
	slat, lat *moments
	// clat has both: the histogram for fio's percentiles, the moments
	// for min, max, mean and stddev exactly (the histogram's are bucket
	// bounds and midpoints: clat's max could exceed lat's).
	clat  *latHist
	clatM *moments
	// latH is lat's distribution, kept only for --plot.
	latH *latHist
	// samples are IO rates per second, one per sampleEvery window, for
	// fio's iops_min/max/mean.
	samples []int64
	bsamp   []int64
}

// newSideStats returns empty stats; plot keeps lat's distribution too.
func newSideStats(plot bool) sideStats {
	s := sideStats{slat: new(moments), lat: new(moments), clat: newLatHist(), clatM: new(moments)}
	if plot {
		s.latH = newLatHist()
	}
	return s
}

func (s *sideStats) merge(o *sideStats) {
	s.ios += o.ios
	s.bytes += o.bytes
	s.short += o.short
	s.errs += o.errs
	if s.firstErr == 0 {
		s.firstErr = o.firstErr
	}
	s.slat.merge(o.slat)
	s.clat.merge(o.clat)
	s.clatM.merge(o.clatM)
	s.lat.merge(o.lat)
	if o.latH != nil {
		if s.latH == nil {
			s.latH = newLatHist()
		}
		s.latH.merge(o.latH)
	}
	for i, v := range o.samples {
		if i < len(s.samples) {
			s.samples[i] += v
			s.bsamp[i] += o.bsamp[i]
		} else {
			s.samples = append(s.samples, v)
			s.bsamp = append(s.bsamp, o.bsamp[i])
		}
	}
}

// maxCPUs bounds the per-cpu completion counts; a cpu number beyond it is
// counted in cpuBeyond, so no completion is lost from the totals.
const maxCPUs = 1024

// attrStats accumulates the attributes of every event of one job.
type attrStats struct {
	asked []uint16
	// loneLatency: LATENCY is the only id asked (observe's fast path).
	loneLatency bool
	// status[id][s] counts events whose attribute id came back with
	// status s (0 OK .. 3 ERROR); index 4 counts ids asked but missing.
	status [abi.AttrMaxCatalogue + 1][5]int64

	latency *latHist

	device        *latHist
	deviceReqs    int64
	deviceNs      float64
	deviceTotalNs float64 // total latency of the IOs whose DEVICE was OK

	cacheHit, cacheMiss uint64

	cpuCompl  [maxCPUs]int64
	cpuBeyond int64
	sameCPU   int64
	cpuOK     int64

	queue, service *latHist // TIMESTAMPS: submit->issue, issue->complete

	tagOK, tagBad int64
	truncated     int64
	unknownIDs    int64
}

func newAttrStats(asked []uint16) *attrStats {
	return &attrStats{asked: asked, latency: newLatHist(), device: newLatHist(),
		queue: newLatHist(), service: newLatHist(),
		loneLatency: len(asked) == 1 && asked[0] == abi.AttrLatency}
}

// loneLatencyHeader is the header of an OK LATENCY attribute read as one
// little-endian word (id, status, value len: abi.AppendAttrHeader), and
// loneLatencyBytes the size of that attribute, header and u64 value.
const (
	loneLatencyHeader = uint64(abi.AttrLatency) | uint64(abi.AttrOK)<<16 | 8<<32
	loneLatencyBytes  = abi.AttrHeaderBytes + 8
)

func (a *attrStats) merge(o *attrStats) {
	for i := range a.status {
		for j := range a.status[i] {
			a.status[i][j] += o.status[i][j]
		}
	}
	a.latency.merge(o.latency)
	a.device.merge(o.device)
	a.deviceReqs += o.deviceReqs
	a.deviceNs += o.deviceNs
	a.deviceTotalNs += o.deviceTotalNs
	a.cacheHit += o.cacheHit
	a.cacheMiss += o.cacheMiss
	for i := range a.cpuCompl {
		a.cpuCompl[i] += o.cpuCompl[i]
	}
	a.cpuBeyond += o.cpuBeyond
	a.sameCPU += o.sameCPU
	a.cpuOK += o.cpuOK
	a.queue.merge(o.queue)
	a.service.merge(o.service)
	a.tagOK += o.tagOK
	a.tagBad += o.tagBad
	a.truncated += o.truncated
	a.unknownIDs += o.unknownIDs
}

// observe accounts the attributes of one event and checks them as
// abi.ValidateEvent does (framing, status, value size; the caller checks
// the flags): it returns false at the first fault, and the run then stops,
// with what was counted of that event. totalNs is the IO's latency as the
// workload measured it (used when LATENCY was not asked, to set device
// time against). wantTag is the TAG the iocb sent. It does not allocate.
func (a *attrStats) observe(ev *abi.Event, totalNs int64, wantTag uint64) bool {
	if len(ev.Attrs) == 0 && len(a.asked) == 0 {
		return true // the run without --attrs: nothing to count
	}
	if a.loneLatency && len(ev.Attrs) == loneLatencyBytes && ev.Flags&abi.EventAttrsTruncated == 0 &&
		binary.LittleEndian.Uint64(ev.Attrs) == loneLatencyHeader {
		// --attrs=latency: each event carries LATENCY alone, OK, whose
		// header is one 8-byte word. These bytes are the only ones the
		// walk below would accept as that; anything else takes the walk.
		// In perf at QD1 on zram, observe took 21 ns per IO (of about
		// 2.6 µs) with the walk, besides the walk's own calls, and 7 ns
		// this way.
		a.status[abi.AttrLatency][abi.AttrOK]++
		a.latency.record(int64(binary.LittleEndian.Uint64(ev.Attrs[abi.AttrHeaderBytes:])))
		return true
	}
	if ev.Flags&abi.EventAttrsTruncated != 0 {
		a.truncated++
	}
	var seen uint64
	var devNs uint64
	devOK := false
	it := abi.NewAttrIter(ev.Attrs)
	for {
		at, ok := it.Next()
		if !ok {
			break
		}
		if abi.ValidateAttr(at, 0) != nil {
			return false
		}
		if at.ID > abi.AttrMaxCatalogue || !abi.KnownAttr(at.ID) {
			a.unknownIDs++
			continue
		}
		seen |= 1 << at.ID
		st := at.Status
		if st > abi.AttrError {
			st = abi.AttrError
		}
		a.status[at.ID][st]++
		if at.Status != abi.AttrOK {
			continue
		}
		switch at.ID {
		case abi.AttrLatency:
			if v, ok := at.U64(); ok {
				a.latency.record(int64(v))
				totalNs = int64(v)
			}
		case abi.AttrTimestamps:
			if s, i, c, ok := at.Timestamps(); ok {
				a.queue.record(int64(i - s))
				a.service.record(int64(c - i))
			}
		case abi.AttrCache:
			if h, m, ok := at.U32Pair(); ok {
				a.cacheHit += uint64(h)
				a.cacheMiss += uint64(m)
			}
		case abi.AttrDevice:
			if ns, reqs, ok := at.Device(); ok {
				devNs, devOK = ns, true
				a.device.record(int64(ns))
				a.deviceReqs += int64(reqs)
			}
		case abi.AttrCPU:
			if sub, comp, ok := at.U32Pair(); ok {
				a.cpuOK++
				if comp < maxCPUs {
					a.cpuCompl[comp]++
				} else {
					a.cpuBeyond++
				}
				if sub == comp {
					a.sameCPU++
				}
			}
		case abi.AttrTag:
			if len(at.Value) == 8 && binary.LittleEndian.Uint64(at.Value) == wantTag {
				a.tagOK++
			} else {
				a.tagBad++
			}
		}
	}
	if it.Err() != nil {
		return false
	}
	if devOK {
		a.deviceNs += float64(devNs)
		a.deviceTotalNs += float64(totalNs)
	}
	for _, id := range a.asked {
		if seen&(1<<id) == 0 {
			a.status[id][4]++
		}
	}
	return true
}

// sampleStats returns min, max, mean and stddev of rate samples.
func sampleStats(xs []int64) (mn, mx int64, mean, dev float64) {
	if len(xs) == 0 {
		return 0, 0, 0, 0
	}
	mn, mx = xs[0], xs[0]
	var sum float64
	for _, x := range xs {
		mn = min(mn, x)
		mx = max(mx, x)
		sum += float64(x)
	}
	mean = sum / float64(len(xs))
	for _, x := range xs {
		d := float64(x) - mean
		dev += d * d
	}
	if len(xs) > 1 {
		dev = math.Sqrt(dev / float64(len(xs)-1))
	} else {
		dev = 0
	}
	return mn, mx, mean, dev
}

// errno is fio's "error": the errno of the job's first failed IO, or
// else of the failure that ended the job (a failing submit or wait), 0
// if neither.
func (j *jobResult) errno() int64 {
	if e := j.ioErrno(); e != 0 {
		return e
	}
	var e syscall.Errno
	if errors.As(j.failure, &e) {
		return int64(e)
	}
	return 0
}

// ioErrno is the errno of the job's first failed IO (reads first), 0 if
// none failed.
func (j *jobResult) ioErrno() int64 {
	if j.read.firstErr != 0 {
		return j.read.firstErr
	}
	return j.write.firstErr
}

// jobResult is everything one job (or a group of jobs) did.
type jobResult struct {
	name        string
	jobs        int // jobs merged into this result (--group_reporting)
	read, write sideStats
	elapsed     time.Duration
	attrs       *attrStats
	ring        ringInfo
	interrupted bool
	// failure is what ended the job other than its limits or Ctrl-C (a
	// failing submit or wait, a malformed event): the report still
	// shows what it did.
	failure error
}

// ringInfo is what the context granted, for the report.
type ringInfo struct {
	Version       uint32   `json:"version"`
	RingBytes     uint32   `json:"ring_bytes"`
	MaxEventBytes uint32   `json:"max_event_bytes"`
	MaxInflight   uint32   `json:"max_inflight"`
	Features      []string `json:"features"`
	Supported     []string `json:"supported_attrs"`
	Reaper        string   `json:"reaper"`
	// SubmitBatch is the most iocbs one submit call carried
	// (--iodepth_batch_submit, or the choice by device).
	SubmitBatch int    `json:"submit_batch"`
	Clock       string `json:"clocksource"` // the command's clock: cpu or clock_gettime
	Overflowed  uint64 `json:"overflowed"`
	SharedPath  string `json:"shared_path,omitempty"`
}
