package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	"golang.org/x/term"

	"github.com/aio2/aio2/abi"
	"github.com/aio2/aio2/kioctx"
)

// version is reported as "fio version" ("aio2-<version>") in JSON output.
const version = "0.1"

// ioOptions are the flags of "aio2 io". Names follow fio where the idea
// is the same.
type ioOptions struct {
	name        string
	filename    string
	directory   string
	size        int64
	rw          string
	rwmixread   int
	bs          int64
	iodepth     int
	direct      bool
	runtime     time.Duration
	number      int64
	numjobs     int
	format      string
	attrs       []uint16
	reaper      string
	reapers     int // goroutines=N
	ringBytes   uint32
	maxInflight uint32
	timeout     time.Duration
	plot        string
	groupReport bool
	seed        uint64
	defaulted   bool // neither --runtime nor --number: one pass, at most 10 s
	progress    string
	cpuprofile  string
	clocksource string
	// batch is --iodepth_batch_submit: iocbs per submit call, at most
	// --iodepth; 0 is auto, chosen per target (ioOptions.submitBatch).
	batch int

	raw map[string]string // as given, for fio's "job options"
}

func (o *ioOptions) writes() bool {
	return o.rw == "write" || o.rw == "randwrite" || o.rw == "randrw" || o.rw == "rw"
}

func (o *ioOptions) random() bool { return strings.HasPrefix(o.rw, "rand") }

func (o *ioOptions) fioOptions() map[string]string {
	m := map[string]string{}
	for k, v := range o.raw {
		m[k] = v
	}
	return m
}

const ioUsage = `io [--filename=FILE|DEVICE] [--size=1G] [--rw=randread] [--bs=4k] [--iodepth=32] [flags]`

func parseIOFlags(args []string, stdout io.Writer) (*ioOptions, error) {
	o := &ioOptions{}
	fs := newFlagSet("io", ioUsage)
	var size, bs, ringBytes, runtime, attrsS, timeout, direct, batch string
	fs.StringVar(&o.name, "name", "aio2", "job name (fio's jobname)")
	fs.StringVar(&o.filename, "filename", "", "file or block device to run on; empty: make a file in --directory, fill it, remove it afterwards")
	fs.StringVar(&o.directory, "directory", "", "where to make the file when --filename is empty (default: the temp dir); must support O_DIRECT")
	fs.StringVar(&size, "size", "", "bytes of the target to use, from offset 0 (default: the whole file or device; 1G for a file aio2 makes)")
	fs.StringVar(&o.rw, "rw", "randread", "read, write, randread, randwrite, randrw or rw (fio's default is read)")
	fs.IntVar(&o.rwmixread, "rwmixread", 50, "percentage of reads in randrw and rw")
	fs.StringVar(&bs, "bs", "4k", "block size: bytes per IO (a multiple of the O_DIRECT alignment with --direct=1)")
	fs.IntVar(&o.iodepth, "iodepth", 32, "IOs kept in flight per job (fio's default is 1)")
	fs.StringVar(&direct, "direct", "1", "1: O_DIRECT (native AIO); 0: buffered (the context's worker pool)")
	fs.StringVar(&batch, "iodepth_batch_submit", "auto", "iocbs per submit call, at most --iodepth: auto (1 on a device sysfs calls rotational, as fio; 4 otherwise), N, or 0 for --iodepth (fio's meaning)")
	fs.StringVar(&batch, "iodepth_batch", "auto", "the same as --iodepth_batch_submit (fio's alias)")
	fs.StringVar(&runtime, "runtime", "", "run for this long (seconds, or 1500ms, 2m), wrapping around the target as needed")
	fs.Int64Var(&o.number, "number", 0, "stop after this many IOs per job")
	fs.IntVar(&o.numjobs, "numjobs", 1, "jobs, each with its own context and goroutine")
	fs.StringVar(&o.format, "output-format", "normal", "normal or json (fio's key names, plus an \"aio2\" object per job)")
	fs.StringVar(&attrsS, "attrs", "", "attributes to ask on every IO, comma-separated: latency,timestamps,cpu,tag,cache,device (or all)")
	fs.StringVar(&o.reaper, "reaper", "inline", "who reaps: inline, goroutines=N, or external (a shared ring another process reaps)")
	fs.StringVar(&ringBytes, "ring-bytes", "", "ring data area to ask for (rounded up to a power of two; default: the context's)")
	var maxInflight uint
	fs.UintVar(&maxInflight, "max-inflight", 0, "submitted-but-unreaped IOs the context allows, from --iodepth to 4096 (default: --iodepth)")
	fs.StringVar(&timeout, "timeout", "60", "external reaper: give up waiting for another process to reap after this long (0: no limit)")
	fs.StringVar(&o.plot, "plot", "", "write a latency plot to FILE (.svg or .png)")
	fs.BoolVar(&o.groupReport, "group_reporting", false, "report all jobs as one")
	fs.Uint64Var(&o.seed, "randseed", 0, "seed of the random offsets (0: a new seed per run)")
	fs.StringVar(&o.progress, "progress", "auto", "progress line: auto (only when stdout is a terminal and the reaper is not external), on, off")
	fs.StringVar(&o.clocksource, "clocksource", "cpu", "the command's clock for slat, clat and lat: cpu (the TSC, where the kernel uses it too; else clock_gettime) or clock_gettime (fio's flag; it does not change the attributes' clocks)")
	fs.StringVar(&o.cpuprofile, "cpuprofile", "", "write a Go CPU profile of the run (not the file lay-out) to FILE, for go tool pprof")
	// Accepted for fio command lines; aio2 is always time based when
	// --runtime is given, and has one engine.
	var timeBased bool
	var ioengine string
	var norandommap, randrepeat fioBool
	fs.BoolVar(&timeBased, "time_based", false, "accepted for fio command lines: --runtime is always time based")
	fs.StringVar(&ioengine, "ioengine", "aio2", "accepted for fio command lines: only aio2")
	fs.Var(&norandommap, "norandommap", "accepted for fio command lines: offsets are always drawn without a map")
	fs.Var(&randrepeat, "randrepeat", "accepted for fio command lines; use --randseed")
	if err := parseFlags(fs, args, stdout); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, usagef("io: unexpected argument %q (flags are --name=value)", fs.Arg(0))
	}
	o.raw = map[string]string{}
	fs.Visit(func(f *flag.Flag) { o.raw[f.Name] = f.Value.String() })
	if ioengine != "aio2" {
		return nil, usagef("--ioengine=%s: aio2 has one engine, aio2; leave the flag out", ioengine)
	}
	var err error
	switch o.rw {
	case "read", "write", "randread", "randwrite", "randrw", "rw":
	default:
		return nil, usagef("--rw=%s: use read, write, randread, randwrite, randrw or rw", o.rw)
	}
	if o.rwmixread < 0 || o.rwmixread > 100 {
		return nil, usagef("--rwmixread=%d: use a percentage from 0 to 100", o.rwmixread)
	}
	if size != "" {
		if o.size, err = parseSize(size); err != nil || o.size == 0 {
			return nil, usagef("--size=%s: %s", size, errText(err, "must be more than 0"))
		}
	}
	if o.bs, err = parseSize(bs); err != nil || o.bs == 0 || o.bs > 64<<20 {
		return nil, usagef("--bs=%s: %s", bs, errText(err, "use a block size from 1 byte to 64M"))
	}
	if o.iodepth < 1 || o.iodepth > 4096 {
		return nil, usagef("--iodepth=%d: use 1 to 4096", o.iodepth)
	}
	if batch != "auto" {
		n, err := strconv.Atoi(batch)
		if err != nil || n < 0 || n > 4096 {
			name := "iodepth_batch_submit"
			if _, ok := o.raw[name]; !ok {
				name = "iodepth_batch"
			}
			return nil, usagef("--%s=%s: use auto, 0 (as many as --iodepth) or 1 to 4096", name, batch)
		}
		if n == 0 || n > o.iodepth {
			n = o.iodepth // fio's meaning of 0, and its clamp
		}
		o.batch = n
	}
	switch direct {
	case "1", "true":
		o.direct = true
	case "0", "false":
	default:
		return nil, usagef("--direct=%s: use 1 or 0", direct)
	}
	if runtime != "" {
		if o.runtime, err = parseSeconds(runtime); err != nil || o.runtime == 0 {
			return nil, usagef("--runtime=%s: %s", runtime, errText(err, "must be more than 0"))
		}
	}
	if o.number < 0 {
		return nil, usagef("--number=%d: must be positive", o.number)
	}
	if o.runtime == 0 && o.number == 0 {
		o.defaulted = true
	}
	if o.numjobs < 1 || o.numjobs > 256 {
		return nil, usagef("--numjobs=%d: use 1 to 256", o.numjobs)
	}
	if o.format != "normal" && o.format != "json" {
		return nil, usagef("--output-format=%s: use normal or json", o.format)
	}
	if o.attrs, err = parseAttrs(attrsS); err != nil {
		return nil, err
	}
	switch {
	case o.reaper == "inline", o.reaper == "external":
	case strings.HasPrefix(o.reaper, "goroutines="):
		n, err := strconv.Atoi(strings.TrimPrefix(o.reaper, "goroutines="))
		if err != nil || n < 1 || n > 64 {
			return nil, usagef("--reaper=%s: use goroutines=N with N from 1 to 64", o.reaper)
		}
		o.reapers = n
	default:
		return nil, usagef("--reaper=%s: use inline, goroutines=N or external", o.reaper)
	}
	if ringBytes != "" {
		v, err := parseSize(ringBytes)
		if err != nil || v < abi.MinRingBytes || v > abi.MaxRingBytes {
			return nil, usagef("--ring-bytes=%s: use a size from 4k to 1G", ringBytes)
		}
		o.ringBytes = uint32(v)
	}
	if maxInflight > 0 {
		if maxInflight < uint(o.iodepth) {
			return nil, usagef("--max-inflight=%d is below --iodepth=%d: raise it or lower --iodepth", maxInflight, o.iodepth)
		}
		if maxInflight > kioctx.MaxMaxInflight {
			return nil, usagef("--max-inflight=%d: use at most %d (the most a context grants)", maxInflight, kioctx.MaxMaxInflight)
		}
	}
	o.maxInflight = uint32(maxInflight)
	if o.timeout, err = parseSeconds(timeout); err != nil {
		return nil, usagef("--timeout=%s: %v", timeout, err)
	}
	if o.plot != "" {
		if plotFormat(o.plot) == "" {
			return nil, usagef("--plot=%s: the name must end in .svg or .png", o.plot)
		}
		// Checked before the run, not when the plot is written after
		// it: a whole run lost to a typo in the directory.
		if err := outputPath(o.plot); err != nil {
			return nil, usagef("--plot=%s: %v", o.plot, err)
		}
	}
	if o.cpuprofile != "" {
		if err := outputPath(o.cpuprofile); err != nil {
			return nil, usagef("--cpuprofile=%s: %v", o.cpuprofile, err)
		}
	}
	switch o.progress {
	case "auto", "on", "off":
	default:
		return nil, usagef("--progress=%s: use auto, on or off", o.progress)
	}
	switch o.clocksource {
	case "cpu", "clock_gettime":
	case "gettimeofday":
		o.clocksource = "clock_gettime" // fio's third choice; the same monotonic clock here
	default:
		return nil, usagef("--clocksource=%s: use cpu or clock_gettime", o.clocksource)
	}
	if o.name == "" {
		return nil, usagef("--name is empty: give the job a name, or leave out --name (aio2)")
	}
	if o.reaper == "external" && o.numjobs != 1 {
		return nil, usagef("--reaper=external runs one job (one shared ring): leave out --numjobs")
	}
	if o.reaper == "external" && o.plot != "" {
		return nil, usagef("--plot: with --reaper=external another process reaps the events, so this one has no latencies to plot: leave out --plot")
	}
	return o, nil
}

// outputPath checks, before any work, that a file can be written at path
// later: its directory exists and it is not a directory itself (found by
// a walk through the docs, 2026-11-22: --plot and --cpuprofile failed
// only after the run, or after laying out the file).
func outputPath(path string) error {
	if st, err := os.Stat(filepath.Dir(path)); err != nil || !st.IsDir() {
		return fmt.Errorf("%s is not a directory", filepath.Dir(path))
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return fmt.Errorf("it is a directory")
	}
	return nil
}

func errText(err error, otherwise string) string {
	if err != nil {
		return err.Error()
	}
	return otherwise
}

// parseAttrs reads --attrs: catalogue names, comma-separated, or "all".
// fioBool is a fio boolean option accepted for fio command lines and
// otherwise ignored: like fio, it takes no value (--norandommap) or one of
// fio's spellings of a boolean (--randrepeat=0).
type fioBool string

func (b *fioBool) String() string { return string(*b) }

// IsBoolFlag lets the flag package take the bare form.
func (b *fioBool) IsBoolFlag() bool { return true }

func (b *fioBool) Set(v string) error {
	switch strings.ToLower(v) {
	case "1", "0", "true", "false", "yes", "no", "on", "off":
		*b = fioBool(v)
		return nil
	}
	return fmt.Errorf("use 1 or 0")
}

func parseAttrs(s string) ([]uint16, error) {
	if s == "" || s == "none" {
		return nil, nil
	}
	var ids []uint16
	var seen uint64
	for _, name := range strings.Split(s, ",") {
		name = strings.ToLower(strings.TrimSpace(name))
		if name == "all" {
			for id := uint16(1); id <= abi.AttrMaxCatalogue; id++ {
				if abi.KnownAttr(id) && seen&(1<<id) == 0 {
					ids = append(ids, id)
					seen |= 1 << id
				}
			}
			continue
		}
		id, ok := abi.AttrByName(name)
		if !ok {
			return nil, usagef("--attrs: unknown attribute %q: use latency, timestamps, cpu, tag, cache, device or all", name)
		}
		if seen&(1<<id) == 0 {
			ids = append(ids, id)
			seen |= 1 << id
		}
	}
	return ids, nil
}

func cmdIO(args []string, stdout, stderr io.Writer) (err error) {
	o, err := parseIOFlags(args, stdout)
	if err != nil {
		return err
	}
	// The first Ctrl-C (or SIGTERM) cancels ctx: the run stops cleanly
	// and prints what was done. A second one ends the process at once,
	// for a first that did not end it promptly (a drain or a write that
	// is stuck; found by review, 2026-11-22: it was ignored).
	ctx, intr := catchInterrupts(stderr)
	defer intr.stop()
	// Calibrating the TSC takes 20 ms; laying out the file counts toward
	// that time.
	cal := startClock(o.clocksource)

	t, err := openTarget(ctx, o, stderr, intr.setMade)
	if err != nil {
		return err
	}
	defer t.close()

	jobs := make([]*job, o.numjobs)
	for i := range jobs {
		j, err := newJob(i, o, t)
		if err != nil {
			for _, p := range jobs[:i] {
				p.close()
			}
			return err
		}
		jobs[i] = j
	}
	defer func() {
		for _, j := range jobs {
			j.close()
		}
	}()
	intr.setJobs(jobs)
	prepareAttrs(o.attrs)
	devBefore := deviceCounters(o.attrs)
	cal.finish()
	if o.reaper == "external" {
		// The first line of stdout, so that a script can start the reaper.
		fmt.Fprintf(stdout, "ring: %s\n", jobs[0].sharedPath)
		fmt.Fprintf(stdout, "eventfd: /proc/%d/fd/%d\n", os.Getpid(), jobs[0].kctx.Eventfd())
		if f, ok := stdout.(*os.File); ok {
			f.Sync()
		}
	}

	if o.cpuprofile != "" {
		f, err := os.Create(o.cpuprofile)
		if err != nil {
			return usagef("--cpuprofile=%s: %v", o.cpuprofile, unwrapPath(err))
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	var ru0 unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru0)
	start := time.Now()
	prog := newProgress(o, jobs, stdout)
	intr.setPhase(phaseRun)
	runStarts(jobs)
	errs := runJobs(ctx, jobs)
	intr.setPhase(phaseReport)
	elapsed := time.Since(start)
	prog.stop()
	var ru1 unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru1)
	// A job that failed still gets its report: the IOs it did (and the
	// events reaped along with its error) are counted, and a run that
	// ends in an error is the one whose report matters most. The error
	// is returned after the report, so the exit status still says so.
	jobErr := errors.Join(errs...)

	ri := &runInfo{
		opts: o, start: start, elapsed: elapsed, device: devDelta(devBefore, deviceCounters(o.attrs)),
		usrCPU: tvDur(ru1.Utime) - tvDur(ru0.Utime),
		sysCPU: tvDur(ru1.Stime) - tvDur(ru0.Stime),
		ctx:    (ru1.Nvcsw + ru1.Nivcsw) - (ru0.Nvcsw + ru0.Nivcsw),
		majf:   ru1.Majflt - ru0.Majflt,
		minf:   ru1.Minflt - ru0.Minflt,
	}
	results := make([]*jobResult, len(jobs))
	for i, j := range jobs {
		results[i] = j.result(ctx.Err() != nil)
		results[i].failure = errs[i]
	}
	if o.groupReport && len(results) > 1 {
		results = []*jobResult{mergeGroup(o.name, results)}
	}
	// The report is the run's result: a write that fails (a full disk, a
	// reader gone: EPIPE, SIGPIPE being ignored) fails the command.
	rw := &errWriter{w: stdout}
	if o.format == "json" {
		if err := writeJSON(rw, ri, results); err != nil {
			return err
		}
	} else {
		writeNormal(rw, ri, results)
	}
	if rw.err != nil {
		return fmt.Errorf("writing the report: %w", rw.err)
	}
	if o.plot != "" {
		if err := writePlot(o.plot, results); err != nil {
			return fmt.Errorf("--plot=%s: %w", o.plot, err)
		}
	}
	// A job's failure and another's failed IOs are both said.
	for _, r := range results {
		if r.read.errs+r.write.errs > 0 {
			e := r.ioErrno()
			return errors.Join(jobErr, fmt.Errorf("%d IOs failed (io_errors in the report), the first with errno %d: %v",
				r.read.errs+r.write.errs, e, syscall.Errno(e)))
		}
	}
	return jobErr
}

// mergeGroup merges the jobs' results into the first, named name
// (--group_reporting): an interruption or a failure of any job is the
// group's.
func mergeGroup(name string, results []*jobResult) *jobResult {
	g := results[0]
	g.name = name
	for _, r := range results[1:] {
		g.jobs += r.jobs
		g.read.merge(&r.read)
		g.write.merge(&r.write)
		g.attrs.merge(r.attrs)
		g.elapsed = max(g.elapsed, r.elapsed)
		g.ring.Overflowed += r.ring.Overflowed
		g.interrupted = g.interrupted || r.interrupted
		g.failure = errors.Join(g.failure, r.failure)
	}
	return g
}

// runJobs runs every job in its own goroutine until all have ended, and
// returns each one's error. A job that fails (its run returns an error)
// stops the others: the run is over (found by review, 2026-11-22: with
// --numjobs=4 --runtime=600 the other three ran on for the whole
// runtime), and the report of what was done follows, with the error.
// An IO that fails is not such an error: its job stops issuing and the
// others run on, as fio's do without exitall_on_error; the report says
// which failed.
func runJobs(ctx context.Context, jobs []*job) []error {
	var wg sync.WaitGroup
	errs := make([]error, len(jobs))
	jctx, cancelJobs := context.WithCancel(ctx)
	defer cancelJobs()
	for i, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if errs[i] = j.run(jctx); errs[i] != nil {
				cancelJobs()
			}
		}()
	}
	wg.Wait()
	return errs
}

// Phases of "aio2 io", for what a second Ctrl-C says.
const (
	phaseSetup  = iota // the target is opened (or laid out), contexts made
	phaseRun           // the jobs run
	phaseReport        // the run is over: reporting, writing the plot
)

// interrupts catches SIGINT and SIGTERM for cmdIO. The first cancels the
// context cmdIO runs under; a second one ends the process at once (see
// hardStop). Until the first, and after stop, nothing else happens.
type interrupts struct {
	stderr io.Writer
	sigc   chan os.Signal
	done   chan struct{}
	exited chan struct{}
	cancel context.CancelFunc

	phase atomic.Int32
	made  atomic.Pointer[string] // the file aio2 made, once known
	jobs  atomic.Pointer[[]*job]
}

func catchInterrupts(stderr io.Writer) (context.Context, *interrupts) {
	ctx, cancel := context.WithCancel(context.Background())
	in := &interrupts{stderr: stderr, sigc: make(chan os.Signal, 2), done: make(chan struct{}),
		exited: make(chan struct{}), cancel: cancel}
	signal.Notify(in.sigc, os.Interrupt, syscall.SIGTERM)
	// A reader that goes away (aio2 io | head -3) would kill the process
	// by SIGPIPE at its next write to stdout, before it removed the file
	// it made (found 2026-11-22). Ignored, the write fails with EPIPE
	// instead, and the cleanups run.
	signal.Ignore(syscall.SIGPIPE)
	go in.loop()
	return ctx, in
}

func (in *interrupts) setMade(path string) { in.made.Store(&path) }
func (in *interrupts) setJobs(jobs []*job) { in.jobs.Store(&jobs) }
func (in *interrupts) setPhase(p int32)    { in.phase.Store(p) }

// stop ends the catching when cmdIO returns: its cleanups have run.
func (in *interrupts) stop() {
	signal.Stop(in.sigc)
	close(in.done)
	<-in.exited
	in.cancel()
}

func (in *interrupts) loop() {
	defer close(in.exited)
	select {
	case <-in.sigc:
	case <-in.done:
		return
	}
	in.cancel()
	select {
	case sig := <-in.sigc:
		in.hardStop(sig)
	case <-in.done:
	}
}

// hardStop is the second Ctrl-C: whatever the first is waiting for (IOs
// in flight on a stuck device, a slow fsync of the lay-out, a plot written
// to a FIFO), the process ends now. It removes the file aio2 made, says
// what was done (the jobs' counts, which lag the IOs by at most 64 IOs or
// 5 ms per reaper, and a report already printed if there is one), and
// ends by the signal, with its default action, as a shell expects of an
// interrupted command.
func (in *interrupts) hardStop(sig os.Signal) {
	msg := "aio2: interrupted again: stopped at once"
	switch in.phase.Load() {
	case phaseSetup:
		msg += " while setting up"
	case phaseRun:
		msg += ", not waiting for the IOs in flight"
	case phaseReport:
		msg += " after the run (its report is printed above, unless it was being printed)"
	}
	if jp := in.jobs.Load(); jp != nil && in.phase.Load() >= phaseRun {
		var r, rb, w, wb int64
		for _, j := range *jp {
			r, rb, w, wb = r+j.rIOs.Load(), rb+j.rBytes.Load(), w+j.wIOs.Load(), wb+j.wBytes.Load()
		}
		msg += fmt.Sprintf("; done: %d reads (%s) and %d writes (%s)", r, humanBytes(float64(rb)), w, humanBytes(float64(wb)))
	}
	if p := in.made.Load(); p != nil {
		if err := os.Remove(*p); err == nil || errors.Is(err, os.ErrNotExist) {
			msg += "; removed " + *p
		} else {
			msg += fmt.Sprintf("; could not remove %s: %v", *p, unwrapPath(err))
		}
	}
	if isTerminal(in.stderr) {
		// The progress line may be on the row (stdout, the same
		// terminal as a rule): the message replaces it.
		msg = "\r\033[K" + msg
	}
	fmt.Fprintln(in.stderr, msg)
	signal.Reset(sig)
	if s, ok := sig.(syscall.Signal); ok {
		syscall.Kill(os.Getpid(), s)
		time.Sleep(time.Second) // the signal is delivered meanwhile
		os.Exit(128 + int(s))   // it was ignored when aio2 started
	}
	os.Exit(1)
}

func tvDur(tv unix.Timeval) time.Duration {
	return time.Duration(tv.Sec)*time.Second + time.Duration(tv.Usec)*time.Microsecond
}

// isTerminal reports whether w is a terminal.
// errWriter keeps the first error of the writes to w, and drops the
// writes after it.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(b []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(b)
	e.err = err
	return n, err
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
