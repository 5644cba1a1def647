package main

// Tests for fixes of the 2026-11-22 review that had none: each asserts
// what its fix promises, in a way the code before the fix fails.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/aio2/aio2/abi"
	"github.com/aio2/aio2/ring"
)

// A reaper whose setup fails after others were made must not leave those
// running: reap makes every reaper before it starts any, so none has
// reaped when the error comes back, and none runs on over a ring that
// reap unmaps on its way out (before: they had started, reaped, and then
// read the unmapped ring: SIGSEGV). The producer rewrites the header's
// magic while the fourth reaper is made, after a pause in which reapers
// already running would take the ring's events.
func TestReapLateReaperSetupFails(t *testing.T) {
	path := ringFile(t, 30, -1, false) // live, 30 events
	defer func(f func(*ring.Region) (*ring.Reaper, error)) { newReaper = f }(newReaper)
	calls := 0
	newReaper = func(reg *ring.Region) (*ring.Reaper, error) {
		calls++
		if calls == 4 {
			time.Sleep(200 * time.Millisecond)
			binary.LittleEndian.PutUint32(reg.Bytes()[abi.OffMagic:], 0xdeadbeef)
		}
		return ring.NewReaper(reg)
	}
	var out bytes.Buffer
	err := cmdReap([]string{"--threads=8", "--timeout=5", path}, &out, io.Discard)
	var ue *usageError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "is not an aio2 ring region") || !strings.Contains(err.Error(), "magic") {
		t.Fatalf("reap: %v; want a usage error saying the ring's magic is wrong", err)
	}
	if calls != 4 || out.Len() != 0 {
		t.Fatalf("%d reapers made, output %q; want the 4th to fail and no summary", calls, out.String())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if head := binary.LittleEndian.Uint32(b[abi.OffHead:]); head != 0 {
		t.Fatalf("head moved to %d: reapers ran before every reaper was made", head)
	}
}

// The same from outside: a producer that keeps rewriting the header's
// magic while "aio2 reap --threads=256" sets up makes a later reaper's
// setup fail now and then. Every run ends with a one-line error (or, if
// every check saw a good magic, reaps until --timeout); none crashes.
func TestReapHeaderRewrittenDuringSetup(t *testing.T) {
	path := ringFile(t, 0, -1, false) // live and empty: running reapers poll
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	mem, err := unix.Mmap(int(f.Fd()), 0, abi.HeaderBytes, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(mem)
	magic := (*uint32)(unsafe.Pointer(&mem[abi.OffMagic]))
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := uint32(0); !stop.Load(); i++ {
			atomic.StoreUint32(magic, abi.RingMagic^(i&1))
		}
		atomic.StoreUint32(magic, abi.RingMagic)
	}()
	defer func() { stop.Store(true); wg.Wait() }()
	refused := 0
	for range 100 {
		r := runBin(t, "reap", "--threads=256", "--timeout=100ms", path)
		switch {
		case r.code == 0 && strings.Contains(r.stdout, "stopped by timeout"):
		case r.code == 2 && strings.Count(r.stderr, "\n") == 1 && strings.Contains(r.stderr, "is not an aio2 ring region") &&
			strings.Contains(r.stderr, "magic"):
			refused++
		default:
			t.Fatalf("status %d\nstdout %s\nstderr %s\nwant 0 (timeout) or 2 (one line: not a ring)", r.code, r.stdout, r.stderr)
		}
	}
	if refused == 0 {
		t.Fatal("no run saw a rewritten magic: the test did not exercise a failing setup")
	}
}

// A header may claim max_event_bytes up to ring_bytes/4: 256 MiB for a
// 1 GiB ring. The reapers' batch buffers are not sized from it (64 events
// of 256 MiB per thread was 16 GiB a thread before; 64 threads were
// OOM-killed), so a reap of such a ring with 64 threads stays small.
func TestReapHugeMaxEventBytes(t *testing.T) {
	t.Parallel()
	const ringBytes, maxEv = abi.MaxRingBytes, abi.MaxRingBytes / 4
	region := make([]byte, abi.HeaderBytes, abi.HeaderBytes+4096)
	abi.PutRingHeader(region, ringBytes, maxEv)
	const n = 5
	for i := range n {
		start := len(region)
		region = abi.BeginEvent(region, uint64(i), 0, 4096, 0)
		region = abi.AppendAttrU64(region, abi.AttrLatency, 1000)
		region = abi.EndEvent(region, start, 0)
	}
	le := binary.LittleEndian
	le.PutUint32(region[abi.OffTail:], uint32(len(region)-abi.HeaderBytes))
	le.PutUint32(region[abi.OffFlags:], abi.FDead)
	path := filepath.Join(t.TempDir(), "ring.bin")
	if err := os.WriteFile(path, region, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, int64(abi.RegionBytes(ringBytes))); err != nil { // sparse
		t.Fatal(err)
	}
	// A watchdog kills the reap if its RSS passes the bound, rather
	// than let a regression take the machine's memory (the old sizing
	// grew by 2 GB a second here).
	const bound = 200 << 20
	cmd := exec.Command(bin, "reap", "--threads=64", "--timeout=20", "--output-format=json", path)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	c := startChild(t, cmd)
	var peak int64
	for deadline := time.Now().Add(30 * time.Second); !c.wait(5 * time.Millisecond); {
		if statm, err := os.ReadFile(fmt.Sprintf("/proc/%d/statm", cmd.Process.Pid)); err == nil {
			var vsz, rss int64
			fmt.Sscan(string(statm), &vsz, &rss)
			peak = max(peak, rss*int64(os.Getpagesize()))
		}
		if peak > bound || time.Now().After(deadline) {
			cmd.Process.Kill()
			c.wait(time.Minute)
			t.Fatalf("reap killed: RSS %d MiB after %v (bound %d MiB, 30 s)\n%.2000s", peak>>20, time.Since(deadline.Add(-30*time.Second)), bound>>20, errb.String())
		}
	}
	if !cmd.ProcessState.Success() {
		t.Fatalf("reap: %v\n%.2000s", cmd.ProcessState, errb.String())
	}
	var s reapSummary
	if err := json.Unmarshal(out.Bytes(), &s); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if s.Events != n || s.StoppedBy != "dead" {
		t.Fatalf("reaped %d events, stopped by %q; want %d, dead", s.Events, s.StoppedBy, n)
	}
	rss := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss << 10
	if rss > bound {
		t.Fatalf("reap's peak RSS was %d MiB; want it below 200 MiB", rss>>20)
	}
	t.Logf("peak RSS %d MiB", rss>>20)
}

// syncBuffer is a bytes.Buffer a test reads while a child writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startExternal starts "aio2 io --reaper=external" with args and returns
// it, its stdout after the ring's and the eventfd's lines, and those paths.
func startExternal(t *testing.T, args ...string) (cmd *exec.Cmd, rest *bufio.Reader, stderr *syncBuffer, ringPath, efd string) {
	t.Helper()
	cmd = exec.Command(bin, append([]string{"io", "--reaper=external"}, args...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr = &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	rest = bufio.NewReader(stdout)
	for _, p := range []*string{&ringPath, &efd} {
		line, err := rest.ReadString('\n')
		if err != nil {
			t.Fatalf("aio2 io: %v (stderr %s)", err, stderr.String())
		}
		_, v, _ := strings.Cut(strings.TrimSpace(line), ": ")
		if !strings.HasPrefix(v, "/proc/") {
			t.Fatalf("line %q, want \"ring: /proc/PID/fd/N\" then \"eventfd: /proc/PID/fd/M\"", line)
		}
		*p = v
	}
	return cmd, rest, stderr, ringPath, efd
}

// finishExternal waits for the external-mode run and returns its report.
func finishExternal(t *testing.T, cmd *exec.Cmd, rest *bufio.Reader, stderr *syncBuffer) fioOut {
	t.Helper()
	b, _ := io.ReadAll(rest)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("aio2 io: %v\n%s", err, stderr.String())
	}
	return parseOut(t, string(b))
}

// In external mode the per-second samples count bytes as well as IOs (IOs
// times --bs: this side sees no event), so bw_min, bw_max and bw_mean are
// the bandwidth, not 0 as before.
func TestIOExternalBandwidthSamples(t *testing.T) {
	dir := t.TempDir()
	needDirect(t, dir)
	file := makeFile(t, dir, 16<<20)
	cmd, rest, stderr, ringPath, efd := startExternal(t, "--filename="+file, "--runtime=3", "--iodepth=8",
		"--max-inflight=64", "--timeout=30", "--output-format=json")
	if r := runBin(t, "reap", "--timeout=40", "--eventfd="+efd, ringPath); r.code != 0 {
		t.Fatalf("reap: %d %s", r.code, r.stderr)
	}
	rd := finishExternal(t, cmd, rest, stderr).Jobs[0].Read
	if rd.BwSamples < 2 || rd.IopsSample != rd.BwSamples || rd.IopsMin <= 0 {
		t.Fatalf("%d bw samples, %d iops samples, iops_min %d; want 2 or more each, iops_min > 0", rd.BwSamples, rd.IopsSample, rd.IopsMin)
	}
	if rd.BwMin <= 0 || float64(rd.BwMin) > rd.BwMean || rd.BwMean > float64(rd.BwMax) {
		t.Fatalf("bw_min %d bw_mean %v bw_max %d: want 0 < min <= mean <= max", rd.BwMin, rd.BwMean, rd.BwMax)
	}
	// Each IO is 4 KiB, so each sample's KiB/s is 4 times its IOPS (both
	// rates are whole numbers over the same window: up to 3 apart).
	if d := rd.BwMin - 4*rd.IopsMin; d < 0 || d > 3 || rd.BwMax-4*rd.IopsMax < 0 || rd.BwMax-4*rd.IopsMax > 3 {
		t.Fatalf("bw_min %d bw_max %d KiB/s for iops_min %d iops_max %d; want 4 KiB per IO", rd.BwMin, rd.BwMax, rd.IopsMin, rd.IopsMax)
	}
	// The samples' mean is the run's bandwidth (io_kbytes over runtime),
	// give or take the first and last partial seconds.
	avg := float64(rd.IoKbytes) / (float64(rd.Runtime) / 1000)
	t.Logf("bw min/mean/max %d/%.0f/%d KiB/s over %d samples; %d KiB in %d ms: %.0f KiB/s", rd.BwMin, rd.BwMean, rd.BwMax, rd.BwSamples, rd.IoKbytes, rd.Runtime, avg)
	if rd.BwMean < avg/2 || rd.BwMean > avg*2 {
		t.Fatalf("bw_mean %v KiB/s, but %d KiB in %d ms is %v KiB/s", rd.BwMean, rd.IoKbytes, rd.Runtime, avg)
	}
}

// A sequential workload whose submission the context refuses in part
// (external mode's flow control: max_inflight events unreaped) rolls its
// cursor back to the first refused offset, so one pass writes every block
// once. Before, the refused offsets were skipped: those blocks kept their
// old data, and the pass wrapped round to write the first blocks again.
// Writes show it: each block written holds the job's random buffer data,
// never the file's initial pattern.
func TestIOExternalSequentialWritesEveryBlock(t *testing.T) {
	dir := t.TempDir()
	needDirect(t, dir)
	const size, bs = 4 << 20, 4096
	file := makeFile(t, dir, size)
	before, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	cmd, rest, stderr, ringPath, _ := startExternal(t, "--filename="+file, "--rw=write", "--bs=4k", "--number=1024",
		"--iodepth=8", "--max-inflight=8", "--timeout=30", "--output-format=json")
	// The polling reaper lags the submitter: submissions are refused.
	r := runBin(t, "reap", "--timeout=40", "--output-format=json", ringPath)
	var s reapSummary
	if err := json.Unmarshal([]byte(r.stdout), &s); r.code != 0 || err != nil || s.Events != size/bs || s.ResErrors != 0 {
		t.Fatalf("reap: status %d, %v, summary %+v; want %d events without error\n%s", r.code, err, s, size/bs, r.stderr)
	}
	if w := finishExternal(t, cmd, rest, stderr).Jobs[0].Write; w.TotalIos != size/bs {
		t.Fatalf("%d writes reported, want %d", w.TotalIos, size/bs)
	}
	after, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var unwritten []int
	for b := 0; b < size/bs; b++ {
		if bytes.Equal(after[b*bs:(b+1)*bs], before[b*bs:(b+1)*bs]) {
			unwritten = append(unwritten, b)
		}
	}
	if len(unwritten) > 0 {
		t.Fatalf("%d of %d blocks were never written (first: %v): the cursor skipped refused offsets",
			len(unwritten), size/bs, unwritten[:min(len(unwritten), 10)])
	}
}

// A job that fails (its run returns an error: here its context is
// destroyed under it, so its next submit fails) stops the other jobs at
// once; before, they ran on for the whole --runtime, and then no report
// was printed. This drives runJobs, cmdIO's loop, with two real jobs.
func TestIOJobErrorStopsOtherJobs(t *testing.T) {
	dir := t.TempDir()
	needDirect(t, dir)
	o := &ioOptions{name: "t", directory: dir, size: 4 << 20, rw: "randread", bs: 4096, iodepth: 4, direct: true,
		runtime: 30 * time.Second, numjobs: 2, reaper: "inline"}
	tg, err := makeTarget(context.Background(), o, io.Discard, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.close()
	jobs := make([]*job, 2)
	for i := range jobs {
		if jobs[i], err = newJob(i, o, tg); err != nil {
			requirePriv(t, "io_setup2: "+err.Error())
		}
		defer jobs[i].close()
	}
	kctx := jobs[0].kctx
	timer := time.AfterFunc(300*time.Millisecond, func() { kctx.Destroy() })
	defer timer.Stop()
	start := time.Now()
	errs := runJobs(context.Background(), jobs)
	took := time.Since(start)
	if errs[0] == nil || !strings.Contains(errs[0].Error(), "job 0") || errs[1] != nil {
		t.Fatalf("errors %v; want job 0's and none from job 1", errs)
	}
	if took > 5*time.Second {
		t.Fatalf("the run took %v after job 0 failed at 300 ms; want the other job stopped at once", took)
	}
	if jobs[1].rIOs.Load() == 0 || !jobs[1].done.Load() {
		t.Fatalf("job 1: %d IOs, done %v; want it to have run and ended", jobs[1].rIOs.Load(), jobs[1].done.Load())
	}
}

// child is a started command and the end of its Wait.
type child struct {
	cmd    *exec.Cmd
	done   chan struct{}
	exited bool
}

func startChild(t *testing.T, cmd *exec.Cmd) *child {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); close(c.done) }()
	t.Cleanup(func() {
		if !c.wait(0) {
			cmd.Process.Kill()
			<-c.done
		}
	})
	return c
}

// wait waits up to d for the child to end, and reports whether it did;
// then its ProcessState is there to read.
func (c *child) wait(d time.Duration) bool {
	if c.exited {
		return true
	}
	select {
	case <-c.done:
		c.exited = true
	case <-time.After(d):
	}
	return c.exited
}

// madeFiles lists the files "aio2 io" makes that are in dir.
func madeFiles(dir string) []string {
	m, _ := filepath.Glob(filepath.Join(dir, "aio2-io-*.dat"))
	return m
}

// A second Ctrl-C ends "aio2 io" at once when the first did not: here the
// first stops the run and the report is printed, and then aio2 is stuck
// opening --plot, a FIFO nobody reads. The second ends it within a second,
// by SIGINT as a shell expects, saying so, with its file removed (before:
// the signal's default action killed it and left the file behind).
func TestIOSecondInterruptWhileStuck(t *testing.T) {
	dir := t.TempDir()
	needDirect(t, dir)
	fifo := filepath.Join(t.TempDir(), "lat.svg")
	if err := unix.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "io", "--directory="+dir, "--size=16M", "--runtime=60", "--iodepth=4", "--output-format=json", "--plot="+fifo)
	var out, errb syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	c := startChild(t, cmd)
	time.Sleep(1500 * time.Millisecond)
	cmd.Process.Signal(os.Interrupt)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), `"jobs"`) || !strings.HasSuffix(strings.TrimSpace(out.String()), "}") {
		if time.Now().After(deadline) {
			t.Fatalf("no report 10 s after the first SIGINT:\n%s\n%s", out.String(), errb.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if c.wait(500 * time.Millisecond) {
		t.Fatalf("aio2 ended after the report, but the plot's FIFO has no reader: %v\n%s", cmd.ProcessState, errb.String())
	}
	if len(madeFiles(dir)) != 1 {
		t.Fatalf("files in --directory while the run is stuck: %v; want its one file", madeFiles(dir))
	}
	cmd.Process.Signal(os.Interrupt)
	if !c.wait(3 * time.Second) {
		t.Fatal("still running 3 s after the second SIGINT")
	}
	if ws := cmd.ProcessState.Sys().(syscall.WaitStatus); !ws.Signaled() || ws.Signal() != syscall.SIGINT {
		t.Errorf("ended with %v; want by SIGINT", cmd.ProcessState)
	}
	if left := madeFiles(dir); len(left) != 0 {
		t.Errorf("file left behind: %v", left)
	}
	if e := errb.String(); !strings.Contains(e, "interrupted again") || !strings.Contains(e, "removed "+dir) {
		t.Errorf("stderr %q does not say it was interrupted again and removed the file", e)
	}
	if j := parseOut(t, out.String()).Jobs[0]; !j.Aio2.Interrupted || j.Read.TotalIos == 0 {
		t.Errorf("report: interrupted %v, %d IOs; want the run's report", j.Aio2.Interrupted, j.Read.TotalIos)
	}
}

// Ctrl-C twice in quick succession while "aio2 io" lays out its file: it
// ends at once and leaves no file, whichever of the two ends it (the
// first: "interrupted while laying out the file", status 1; the second:
// "interrupted again", by SIGINT). Before, the first restored the
// signal's default action, so the second killed aio2 before its cleanup
// had removed the file (most runs, with these gaps).
func TestIOSecondInterruptDuringLayout(t *testing.T) {
	dir := t.TempDir()
	needDirect(t, dir)
	for run := range 6 {
		cmd := exec.Command(bin, "io", "--directory="+dir, "--size=2G", "--number=1")
		var errb syncBuffer
		cmd.Stderr = &errb
		c := startChild(t, cmd)
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(errb.String(), "laying out") {
			if time.Now().After(deadline) || c.wait(time.Millisecond) {
				t.Fatalf("run %d: no lay-out: %s", run, errb.String())
			}
		}
		time.Sleep(time.Duration(50+rand.IntN(100)) * time.Millisecond)
		// The second 100 µs to 600 µs after the first: after the first
		// is handled, before its cleanup is done.
		cmd.Process.Signal(os.Interrupt)
		nap(time.Duration(100+100*run) * time.Microsecond)
		cmd.Process.Signal(os.Interrupt)
		if !c.wait(5 * time.Second) {
			t.Fatalf("run %d: still running 5 s after two SIGINTs", run)
		}
		ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
		e := errb.String()
		switch {
		case ws.Exited() && ws.ExitStatus() == 1 && strings.Contains(e, "interrupted while laying out the file"):
		case ws.Signaled() && ws.Signal() == syscall.SIGINT && strings.Contains(e, "interrupted again"):
		default:
			t.Errorf("run %d: ended with %v, stderr %q", run, cmd.ProcessState, e)
		}
		if left := madeFiles(dir); len(left) != 0 {
			t.Fatalf("run %d: file left behind: %v (stderr %q)", run, left, e)
		}
		t.Logf("run %d: %v", run, cmd.ProcessState)
	}
}
