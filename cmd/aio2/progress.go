package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/term"
)

// sampler keeps one job's IO and byte rates (per second, each over one
// sampleEvery window), for fio's iops_min/max/mean and bw_min/max/mean.
type sampler struct {
	rIOs, rBytes, wIOs, wBytes []int64
	last                       [4]int64
}

// sampleEvery is how often progress samples the jobs: fio's default
// iopsavg_time and bw_avg_time, so that iops_samples and bw_samples count
// as fio's do (a 2 s run had one sample a side when this was a second).
const sampleEvery = 500 * time.Millisecond

// progress samples every job each sampleEvery and, on a terminal,
// rewrites one status line: IOPS, bandwidth and time left.
type progress struct {
	done   chan struct{}
	wg     sync.WaitGroup
	out    io.Writer
	show   bool
	shown  bool
	jobs   []*job
	o      *ioOptions
	start  time.Time
	lastIO int64
	lastB  int64
	// lastS is when the jobs were last sampled (and lastIO and lastB
	// taken); zero: start. Each sample, and the status line's rates,
	// are over the time that really passed since, as fio's: a late tick
	// made a window longer than sampleEvery, and a dropped one two
	// windows in one.
	lastS time.Time
	width int // the terminal's columns; 0: unknown
}

func newProgress(o *ioOptions, jobs []*job, stdout io.Writer) *progress {
	p := &progress{done: make(chan struct{}), out: stdout, jobs: jobs, o: o, start: time.Now()}
	switch o.progress {
	case "on":
		p.show = true
	case "auto":
		p.show = isTerminal(stdout) && o.reaper != "external"
	}
	if f, ok := stdout.(*os.File); ok && p.show {
		if w, _, err := term.GetSize(int(f.Fd())); err == nil {
			p.width = w
		}
	}
	for _, j := range jobs {
		j.samples = &sampler{}
	}
	p.wg.Add(1)
	go p.loop()
	return p
}

func (p *progress) loop() {
	defer p.wg.Done()
	tick := time.NewTicker(sampleEvery)
	defer tick.Stop()
	for {
		select {
		case <-p.done:
			return
		case <-tick.C:
			p.sample()
		}
	}
}

func (p *progress) sample() { p.sampleAt(time.Now()) }

// sampleAt samples every job at now and rewrites the status line.
func (p *progress) sampleAt(now time.Time) {
	since := p.lastS
	if since.IsZero() {
		since = p.start
	}
	p.lastS = now
	dtNs := max(now.Sub(since).Nanoseconds(), 1)
	perSec := func(d int64) float64 { return float64(d) * 1e9 / float64(dtNs) }
	rate := func(d int64) int64 { return int64(perSec(d)) } // truncated, as fio's samples
	var ios, bytes int64
	for _, j := range p.jobs {
		cur := [4]int64{j.rIOs.Load(), j.rBytes.Load(), j.wIOs.Load(), j.wBytes.Load()}
		// An ended job's IOs still count toward the totals: leaving
		// them out made the IOs column and the IOPS (the difference of
		// two totals) drop, even below zero, when one job ended before
		// the others (found by review, 2026-11-22).
		ios += cur[0] + cur[2]
		bytes += cur[1] + cur[3]
		if j.done.Load() {
			// An ended job has no more seconds: sampling it on
			// while the others run gave it zero samples, which set
			// iops_min to 0 (found by review, 2026-11-22).
			continue
		}
		s := j.samples
		if cur[0] > 0 || s.last[0] > 0 || len(s.rIOs) > 0 {
			s.rIOs = append(s.rIOs, rate(cur[0]-s.last[0]))
			s.rBytes = append(s.rBytes, rate(cur[1]-s.last[1]))
		}
		if cur[2] > 0 || s.last[2] > 0 || len(s.wIOs) > 0 {
			s.wIOs = append(s.wIOs, rate(cur[2]-s.last[2]))
			s.wBytes = append(s.wBytes, rate(cur[3]-s.last[3]))
		}
		s.last = cur
	}
	if !p.show {
		return
	}
	// A job's counters can step back when it ends (the IOs it
	// submitted but never reaped are taken off): no negative rates.
	dIO, dB := max(ios-p.lastIO, 0), max(bytes-p.lastB, 0)
	p.lastIO, p.lastB = ios, bytes
	iops, bw, eta := humanCount(perSec(dIO)), humanBytes(perSec(dB)), p.eta(now.Sub(p.start), ios)
	line := fmt.Sprintf("[aio2] %s IOPS, %s/s, %s IOs, eta %s", iops, bw, humanCount(float64(ios)), eta)
	if p.width > 1 && len(line) >= p.width {
		// A line longer than the terminal wraps, and "\r" then goes
		// back only to the start of its last row: drop the IO count,
		// then cut.
		line = fmt.Sprintf("[aio2] %s IOPS, %s/s, eta %s", iops, bw, eta)
		if len(line) >= p.width {
			line = line[:p.width-1]
		}
	}
	// "\033[K" clears what a longer line before left on the row.
	fmt.Fprintf(p.out, "\r%s\033[K", line)
	p.shown = true
}

// eta is the time left, from whichever limit ends the run first: the
// runtime, --number IOs per job, or, with neither, one pass over the
// target per job but at most 10 s (job.limits). The IO counts are
// extrapolated at the average rate so far.
func (p *progress) eta(el time.Duration, ios int64) string {
	left := time.Duration(-1)
	switch {
	case p.o.runtime > 0:
		left = p.o.runtime - el
	case p.o.defaulted:
		left = 10*time.Second - el
	}
	var total int64
	switch {
	case p.o.number > 0:
		total = p.o.number * int64(len(p.jobs))
	case p.o.defaulted:
		for _, j := range p.jobs {
			total += j.blocks
		}
	}
	if total > 0 && ios > 0 {
		est := time.Duration(float64(el) * float64(max(total-ios, 0)) / float64(ios))
		if left < 0 || est < left {
			left = est
		}
	}
	if left < 0 && p.o.runtime == 0 && !p.o.defaulted {
		return "?"
	}
	return max(left, 0).Round(time.Second).String()
}

// stop ends the sampling and clears the status line.
func (p *progress) stop() {
	close(p.done)
	p.wg.Wait()
	if p.shown {
		fmt.Fprint(p.out, "\r\033[K")
	}
}
