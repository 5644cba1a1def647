package main

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// sampler keeps one job's per-second IO and byte counts, for fio's
// iops_min/max/mean and bw_min/max/mean.
type sampler struct {
	rIOs, rBytes, wIOs, wBytes []int64
	last                       [4]int64
}

// progress samples every job once a second and, on a terminal, rewrites
// one status line: IOPS, bandwidth and time left.
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
}

func newProgress(o *ioOptions, jobs []*job, stdout io.Writer) *progress {
	p := &progress{done: make(chan struct{}), out: stdout, jobs: jobs, o: o, start: time.Now()}
	switch o.progress {
	case "on":
		p.show = true
	case "auto":
		p.show = isTerminal(stdout) && o.reaper != "external"
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
	tick := time.NewTicker(time.Second)
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

func (p *progress) sample() {
	var ios, bytes int64
	for _, j := range p.jobs {
		if j.done.Load() {
			// An ended job has no more seconds: sampling it on
			// while the others run gave it zero samples, which set
			// iops_min to 0 (found by review, 2026-11-22).
			continue
		}
		s := j.samples
		cur := [4]int64{j.rIOs.Load(), j.rBytes.Load(), j.wIOs.Load(), j.wBytes.Load()}
		if cur[0] > 0 || s.last[0] > 0 || len(s.rIOs) > 0 {
			s.rIOs = append(s.rIOs, cur[0]-s.last[0])
			s.rBytes = append(s.rBytes, cur[1]-s.last[1])
		}
		if cur[2] > 0 || s.last[2] > 0 || len(s.wIOs) > 0 {
			s.wIOs = append(s.wIOs, cur[2]-s.last[2])
			s.wBytes = append(s.wBytes, cur[3]-s.last[3])
		}
		s.last = cur
		ios += cur[0] + cur[2]
		bytes += cur[1] + cur[3]
	}
	if !p.show {
		return
	}
	dIO, dB := ios-p.lastIO, bytes-p.lastB
	p.lastIO, p.lastB = ios, bytes
	el := time.Since(p.start)
	eta := "?"
	switch {
	case p.o.runtime > 0:
		eta = (p.o.runtime - el).Round(time.Second).String()
	case p.o.number > 0 && ios > 0:
		total := p.o.number * int64(len(p.jobs))
		eta = (time.Duration(float64(el) * float64(total-ios) / float64(ios))).Round(time.Second).String()
	case p.o.defaulted:
		eta = (10*time.Second - el).Round(time.Second).String()
	}
	fmt.Fprintf(p.out, "\r[aio2] %s IOPS, %s/s, %s IOs, eta %s   ", humanCount(float64(dIO)),
		humanBytes(float64(dB)), humanCount(float64(ios)), eta)
	p.shown = true
}

// stop ends the sampling and clears the status line.
func (p *progress) stop() {
	close(p.done)
	p.wg.Wait()
	if p.shown {
		fmt.Fprint(p.out, "\r\033[K")
	}
}
