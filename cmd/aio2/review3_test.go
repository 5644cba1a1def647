package main

// Tests of the third review of "aio2 features", --plot and the progress
// line (2026-11-22).

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func runFeaturesJSON(t *testing.T, args ...string) map[string]feature {
	t.Helper()
	r := runBin(t, append([]string{"features", "--output-format=json"}, args...)...)
	if r.code != 0 {
		t.Fatalf("status %d\n%s", r.code, r.stderr)
	}
	return decodeFeatures(t, r.stdout)
}

func decodeFeatures(t *testing.T, out string) map[string]feature {
	t.Helper()
	var fl []feature
	if err := json.Unmarshal([]byte(out), &fl); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	got := map[string]feature{}
	for _, f := range fl {
		got[f.Name] = f
	}
	return got
}

// The headroom line counts contexts as the kernel charges them: fs.aio-nr
// grows by exactly the nr_events given to io_setup (since Linux 4.12), and
// a context of max_inflight N asks for N+1. It said "room for 256
// contexts of max_inflight 128 (the kernel may reserve up to twice that)"
// with 65536 free: the kernel takes 129 each, room for 508.
func TestFeaturesHeadroomAsTheKernelCounts(t *testing.T) {
	// What the kernel charges, checked here (other processes may set up
	// contexts meanwhile: one clean measurement of a few suffices).
	charged := false
	for range 5 {
		before, err1 := readInt("/proc/sys/fs/aio-nr")
		var ctx uintptr
		_, _, e := unix.Syscall(unix.SYS_IO_SETUP, 129, ctxAddr(&ctx), 0)
		if e != 0 || err1 != nil {
			requirePriv(t, "native AIO: io_setup: "+e.Error())
		}
		after, err2 := readInt("/proc/sys/fs/aio-nr")
		unix.Syscall(unix.SYS_IO_DESTROY, ctx, 0, 0)
		if err2 == nil && after-before == 129 {
			charged = true
			break
		}
	}
	if !charged {
		t.Fatal("io_setup(129) never added exactly 129 to fs.aio-nr")
	}
	f := runFeaturesJSON(t, "--directory="+t.TempDir())["aio-max-nr headroom"]
	m := regexp.MustCompile(`aio-nr (\d+) of aio-max-nr (\d+).*room for (\d+) (?:contexts )?of max_inflight (\d+)`).FindStringSubmatch(f.Detail)
	if m == nil {
		t.Fatalf("headroom line %q", f.Detail)
	}
	n := make([]int64, 4)
	for i := range n {
		n[i], _ = strconv.ParseInt(m[i+1], 10, 64)
	}
	if want := (n[1] - n[0]) / (n[3] + 1); n[2] != want {
		t.Errorf("%q: room for %d contexts of max_inflight %d, want %d (each takes max_inflight+1)", f.Detail, n[2], n[3], want)
	}
	if strings.Contains(f.Detail, "twice") {
		t.Errorf("%q: the kernel charges nr_events once", f.Detail)
	}
	if f.OK != (n[1]-n[0] >= 129) {
		t.Errorf("%q: ok=%v", f.Detail, f.OK)
	}
}

func TestAIOHeadroom(t *testing.T) {
	for _, c := range []struct {
		nr, max int64
		ok      bool
		want    string
	}{
		{0, 65536, true, "room for 508 of max_inflight 128 (kioctx's default), 1985 of 32 (aio2 io's default), 15 of 4096 (the most)"},
		{65536 - 129, 65536, true, "room for 1 of max_inflight 128"},
		{65536 - 128, 65536, false, "raise fs.aio-max-nr"},
		{70000, 65536, false, "0 io_events left"},
	} {
		ok, d := aioHeadroom(c.nr, c.max)
		if ok != c.ok || !strings.Contains(d, c.want) {
			t.Errorf("aioHeadroom(%d, %d) = %v, %q; want %v and %q", c.nr, c.max, ok, d, c.ok, c.want)
		}
	}
}

// A line is NO only when something does not work. Root on this machine
// lacks CAP_SYS_RESOURCE, which nothing here needs (eBPF is charged to the
// memory cgroup since 5.11), and features said "NO" for it while every
// tracepoint loaded.
func TestFeaturesNoNOForWhatIsNotNeeded(t *testing.T) {
	got := runFeaturesJSON(t, "--directory="+t.TempDir())
	for _, tp := range tracepoints {
		if !got["tracepoint "+tp].OK {
			t.Skipf("eBPF does not work here (%s): %s", tp, got["tracepoint "+tp].Detail)
		}
	}
	for name, f := range got {
		if (strings.HasPrefix(name, "capability ") || name == "RLIMIT_MEMLOCK") && !f.OK {
			t.Errorf("%s: NO (%s), yet every tracepoint loads and attaches", name, f.Detail)
		}
	}
}

// The normal output's columns line up: the name column was 40 wide and the
// TSC line's name is 46.
func TestFeaturesColumnsLineUp(t *testing.T) {
	r := runBin(t, "features", "--directory="+t.TempDir())
	if r.code != 0 {
		t.Fatalf("status %d\n%s", r.code, r.stderr)
	}
	col := -1
	for _, line := range strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n") {
		i := strings.Index(line, " ok  ")
		if j := strings.Index(line, " NO  "); i < 0 || j >= 0 && j < i {
			i = j
		}
		if i < 0 {
			t.Fatalf("no status in %q", line)
		}
		if col >= 0 && i != col {
			t.Errorf("status at column %d, not %d: %q", i, col, line)
		}
		col = i
	}
}

// As an unprivileged user: what eBPF needs is NO and says why, and no line
// blames RLIMIT_MEMLOCK on a kernel that does not charge eBPF to it
// (cilium/ebpf appends "MEMLOCK may be too low" to every EPERM; features
// repeated it under a RLIMIT_MEMLOCK line saying it did not matter).
func TestFeaturesUnprivileged(t *testing.T) {
	needRoot(t)
	dir, err := os.MkdirTemp("", "aio2-features-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	nb := filepath.Join(dir, "aio2")
	if err := os.WriteFile(nb, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(nb, "features", "--output-format=json", "--directory="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("features as nobody: %v\n%s", err, errb.String())
	}
	got := decodeFeatures(t, out.String())
	kv := parseKernelVersion(kernelRelease(t))
	for name, f := range got {
		if !kv.memlockCharged() && strings.Contains(f.Detail, "MEMLOCK may be too low") {
			t.Errorf("%s: %q blames RLIMIT_MEMLOCK on Linux %d.%d", name, f.Detail, kv.major, kv.minor)
		}
	}
	for _, tp := range tracepoints {
		f := got["tracepoint "+tp]
		if f.OK || !strings.Contains(f.Detail, "CAP_BPF") {
			t.Errorf("tracepoint %s as nobody: ok=%v %q; want NO saying what capability it needs", tp, f.OK, f.Detail)
		}
	}
	for _, name := range []string{"capability CAP_BPF", "capability CAP_PERFMON"} {
		if f := got[name]; f.OK || !strings.Contains(f.Detail, "DEVICE") {
			t.Errorf("%s as nobody: ok=%v %q; want NO saying what does not work without it", name, f.OK, f.Detail)
		}
	}
	for _, name := range []string{"native AIO (io_setup)", "O_DIRECT on " + dir, "attrs clock"} {
		if !got[name].OK {
			t.Errorf("%s as nobody: %q; want ok", name, got[name].Detail)
		}
	}
}

func kernelRelease(t *testing.T) string {
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		t.Fatal(err)
	}
	return unix.ByteSliceToString(uts.Release[:])
}

func TestParseKernelVersion(t *testing.T) {
	for rel, want := range map[string]kernelVersion{
		"6.18.44-fc-v657": {6, 18}, "5.10.0-28-amd64": {5, 10}, "5.11": {5, 11}, "4.19.0+": {4, 19}, "6.8rc1": {6, 8}, "": {},
	} {
		if got := parseKernelVersion(rel); got != want {
			t.Errorf("parseKernelVersion(%q) = %v, want %v", rel, got, want)
		}
	}
	if (kernelVersion{5, 10}).memlockCharged() != true || (kernelVersion{5, 11}).memlockCharged() != false || (kernelVersion{}).memlockCharged() != true {
		t.Error("memlockCharged: eBPF is charged to RLIMIT_MEMLOCK before 5.11 (and when the kernel is not known)")
	}
}

// Capabilities: ok means held or not needed; NO says what fails.
func TestCapFeatures(t *testing.T) {
	const (
		admin = 1 << capSysAdmin
		bpf   = 1 << capBPF
		perf  = 1 << capPerfmon
		res   = 1 << capSysResource
	)
	v618, v54 := kernelVersion{6, 18}, kernelVersion{5, 4}
	for _, c := range []struct {
		name string
		eff  uint64
		v    kernelVersion
		no   []string // capabilities reported NO
	}{
		{"root without CAP_SYS_RESOURCE", admin | bpf | perf, v618, nil},
		{"nobody", 0, v618, []string{"CAP_SYS_ADMIN", "CAP_BPF", "CAP_PERFMON"}},
		{"CAP_BPF and CAP_PERFMON", bpf | perf, v618, nil},
		{"CAP_SYS_ADMIN only", admin, v618, nil},
		{"CAP_BPF only", bpf, v618, []string{"CAP_SYS_ADMIN", "CAP_BPF", "CAP_PERFMON"}},
		{"5.4, CAP_SYS_ADMIN", admin | res, v54, nil},
		{"5.4, CAP_BPF and CAP_PERFMON mean nothing", bpf | perf, v54, []string{"CAP_SYS_ADMIN"}},
	} {
		var no []string
		for _, f := range capFeatures(c.eff, c.v) {
			if f.Detail == "" {
				t.Errorf("%s: %s has no detail", c.name, f.Name)
			}
			if !f.OK {
				no = append(no, strings.TrimPrefix(f.Name, "capability "))
				if !strings.Contains(f.Detail, "DEVICE") {
					t.Errorf("%s: %s is NO without saying what fails: %q", c.name, f.Name, f.Detail)
				}
			}
		}
		if strings.Join(no, ",") != strings.Join(c.no, ",") {
			t.Errorf("%s: NO for %v, want %v", c.name, no, c.no)
		}
	}
}

func TestMemlockFeature(t *testing.T) {
	inf := uint64(unix.RLIM_INFINITY)
	for _, c := range []struct {
		rl   unix.Rlimit
		eff  uint64
		v    kernelVersion
		ok   bool
		want string
	}{
		{unix.Rlimit{Cur: 8 << 20, Max: 8 << 20}, 0, kernelVersion{6, 18}, true, "not used for eBPF here"},
		{unix.Rlimit{Cur: 64 << 10, Max: 64 << 10}, 0, kernelVersion{5, 4}, false, "cannot be lifted without CAP_SYS_RESOURCE"},
		{unix.Rlimit{Cur: 64 << 10, Max: 64 << 10}, 1 << capSysResource, kernelVersion{5, 4}, true, "lifts it"},
		{unix.Rlimit{Cur: 64 << 10, Max: inf}, 0, kernelVersion{5, 4}, true, "lifts it"},
		{unix.Rlimit{Cur: inf, Max: inf}, 0, kernelVersion{5, 4}, true, "unlimited"},
		{unix.Rlimit{Cur: 8 << 20, Max: 8 << 20}, 0, kernelVersion{5, 4}, true, "about 5 MiB"},
	} {
		ok, d := memlockFeature(c.rl, c.eff, true, c.v)
		if ok != c.ok || !strings.Contains(d, c.want) {
			t.Errorf("memlockFeature(%+v, %#x, %v) = %v, %q; want %v, %q", c.rl, c.eff, c.v, ok, d, c.ok, c.want)
		}
	}
}

// Package attrs falls back to raw_tp when tp_btf does not load; the
// per-tracepoint lines follow it instead of saying NO.
func TestFeaturesRawTPFallback(t *testing.T) {
	needRoot(t)
	probeTPBTF = false
	defer func() { probeTPBTF = true }()
	var got []feature
	add := func(name string, ok bool, format string, a ...any) {
		got = append(got, feature{Name: name, OK: ok, Detail: fmt.Sprintf(format, a...)})
	}
	probeTracepoint("block_rq_issue", add, parseKernelVersion(kernelRelease(t)))
	if len(got) != 1 {
		t.Fatalf("%d lines", len(got))
	}
	if !got[0].OK || !strings.HasPrefix(got[0].Detail, "raw_tp loads and attaches") {
		requirePriv(t, "raw_tp on block_rq_issue: "+got[0].Detail)
	}
	probeTracepoint("no_such_tracepoint_aio2", add, kernelVersion{6, 18})
	if f := got[1]; f.OK || !strings.Contains(f.Detail, "raw_tp:") {
		t.Errorf("a missing tracepoint: ok=%v %q; want NO with raw_tp's error", f.OK, f.Detail)
	}
}

// --- the progress line ---

// screen plays what the progress line writes on a terminal: "\r" goes to
// the start of the row, "\033[K" clears to its end, and text overwrites.
func screen(out string) string {
	var row []rune
	col := 0
	for i := 0; i < len(out); {
		switch {
		case out[i] == '\r':
			col = 0
			i++
		case strings.HasPrefix(out[i:], "\033[K"):
			row = row[:col]
			i += 3
		default:
			r := []rune(out[i:])[0]
			if col < len(row) {
				row[col] = r
			} else {
				row = append(row, r)
			}
			col++
			i += len(string(r))
		}
	}
	return string(row)
}

func testProgress(o *ioOptions, el time.Duration, jobs ...*job) (*progress, *bytes.Buffer) {
	var buf bytes.Buffer
	for _, j := range jobs {
		j.o = o
		j.samples = &sampler{}
	}
	return &progress{out: &buf, show: true, jobs: jobs, o: o, start: time.Now().Add(-el)}, &buf
}

func lastETA(t *testing.T, out string) time.Duration {
	t.Helper()
	s := screen(out)
	i := strings.LastIndex(s, "eta ")
	if i < 0 {
		t.Fatalf("no eta in %q", s)
	}
	d, err := time.ParseDuration(strings.TrimSpace(s[i+4:]))
	if err != nil {
		t.Fatalf("eta in %q: %v", s, err)
	}
	return d
}

// With neither --runtime nor --number (README's "aio2 io") the run is one
// pass over the file, at most 10 s: the ETA said 9s, 8s for a run that
// ended after 2.8 s.
func TestProgressETAOnePass(t *testing.T) {
	j := &job{blocks: 1000}
	p, buf := testProgress(&ioOptions{defaulted: true, bs: 4096}, time.Second, j)
	j.rIOs.Store(500)
	p.sample()
	if eta := lastETA(t, buf.String()); eta > 2*time.Second {
		t.Fatalf("half of one pass in 1 s: eta %v, want about 1s (%q)", eta, screen(buf.String()))
	}
	// A pass that would take longer than 10 s ends at 10 s.
	j2 := &job{blocks: 1 << 30}
	p, buf = testProgress(&ioOptions{defaulted: true, bs: 4096}, 2*time.Second, j2)
	j2.rIOs.Store(1000)
	p.sample()
	if eta := lastETA(t, buf.String()); eta != 8*time.Second {
		t.Fatalf("eta %v, want 8s (the 10 s cap)", eta)
	}
}

// --runtime and --number together: whichever ends first.
func TestProgressETARuntimeAndNumber(t *testing.T) {
	j := &job{}
	p, buf := testProgress(&ioOptions{runtime: time.Minute, number: 1000, bs: 4096}, time.Second, j)
	j.rIOs.Store(500)
	p.sample()
	if eta := lastETA(t, buf.String()); eta > 2*time.Second {
		t.Fatalf("eta %v, want about 1s: --number ends the run long before --runtime", eta)
	}
	p, buf = testProgress(&ioOptions{runtime: 3 * time.Second, bs: 4096}, time.Second, &job{})
	p.sample()
	if eta := lastETA(t, buf.String()); eta != 2*time.Second {
		t.Fatalf("eta %v, want 2s", eta)
	}
	// Draining past the runtime: 0s, not a negative time.
	p, buf = testProgress(&ioOptions{runtime: time.Second, bs: 4096}, 2*time.Second, &job{})
	p.sample()
	if eta := lastETA(t, buf.String()); eta != 0 {
		t.Fatalf("eta %v past the runtime, want 0s", eta)
	}
}

// A job that ended still counts in the totals: the IOs column dropped and
// the IOPS went negative when one of several jobs ended first.
func TestProgressEndedJobStillCounts(t *testing.T) {
	a, b := &job{}, &job{}
	p, buf := testProgress(&ioOptions{number: 100000, bs: 4096}, time.Second, a, b)
	a.rIOs.Store(1000)
	b.rIOs.Store(1000)
	p.sample()
	a.done.Store(true)
	b.rIOs.Store(1500)
	p.lastS = time.Now().Add(-time.Second)
	p.sample()
	s := screen(buf.String())
	if strings.Contains(s, "-") || !strings.Contains(s, " 2500 IOs") || !strings.HasPrefix(s, "[aio2] 500 IOPS") {
		t.Fatalf("after one of two jobs ended: %q; want 500 IOPS and 2500 IOs", s)
	}
}

// Each rewrite clears the rest of the row: padding with three spaces left
// the tail of a longer line before.
func TestProgressLineLeavesNoTail(t *testing.T) {
	j := &job{}
	p, buf := testProgress(&ioOptions{runtime: 2 * time.Hour, bs: 1 << 20}, time.Second, j)
	j.rIOs.Store(123456789)
	j.rBytes.Store(123456789 << 20)
	p.sample()
	long := screen(buf.String())
	p.lastS = time.Now().Add(-time.Second)
	j.rIOs.Store(123456790)
	j.rBytes.Store(123456790 << 20)
	p.o.runtime = 0
	p.o.number = 1 // eta "0s"
	p.sample()
	short := screen(buf.String())
	if !strings.HasSuffix(short, "eta 0s") {
		t.Fatalf("row %q after %q: the longer line's tail is left", short, long)
	}
	p.done = make(chan struct{})
	p.stop()
	if s := screen(buf.String()); s != "" {
		t.Fatalf("row %q after stop, want it clear", s)
	}
}

// On a narrow terminal the line is shortened instead of wrapping ("\r"
// then returns to the start of the last row only).
func TestProgressFitsTheTerminal(t *testing.T) {
	j := &job{}
	p, buf := testProgress(&ioOptions{runtime: time.Minute, bs: 4096}, time.Second, j)
	p.width = 45
	j.rIOs.Store(123456)
	j.rBytes.Store(123456 * 4096)
	p.sample()
	s := screen(buf.String())
	if len(s) >= 45 || !strings.Contains(s, "eta ") {
		t.Fatalf("%q: %d columns on a 45-column terminal, or no eta", s, len(s))
	}
	p.width = 20
	p.sample()
	if s := screen(buf.String()); len(s) >= 20 {
		t.Fatalf("%q on a 20-column terminal", s)
	}
}

// --- the plot ---

func histOf(vals ...int64) *latHist {
	h := newLatHist()
	for _, v := range vals {
		h.record(v)
	}
	return h
}

// The curves go through the percentiles the report prints: at each of
// fio's percentiles, the first point at or above it is the value
// ValueAtQuantile gives, which is what the JSON's "percentile" (clat,
// the LATENCY and DEVICE attributes) holds.
func TestPlotCurvesMatchPercentiles(t *testing.T) {
	vals := make([]int64, 10000)
	for i := range vals {
		// 100 µs to about 10 ms, a long tail.
		vals[i] = int64(100e3 * math.Pow(100, math.Pow(float64(i)/float64(len(vals)), 4)))
	}
	h := histOf(vals...)
	s, ok := histSeries("x", h, false)
	if !ok {
		t.Fatal("no series")
	}
	for _, p := range fioPercentiles {
		y := nines(p)
		var x float64 = -1
		for _, pt := range s.pts {
			if pt.Y >= y-1e-9 {
				x = pt.X
				break
			}
		}
		if want := float64(h.h.ValueAtQuantile(p)) / 1e3; x != want {
			t.Errorf("p%v: the curve reaches it at %v µs, the report says %v µs", p, x, want)
		}
	}
	last := s.pts[len(s.pts)-1]
	if last.X != float64(h.h.Max())/1e3 && math.Abs(last.X-float64(h.h.Max())/1e3) > float64(h.h.Max())/1e3*1e-3 {
		t.Errorf("the curve ends at %v µs, the max is %v ns", last.X, h.h.Max())
	}
	if math.Abs(last.Y-4) > 1e-9 {
		t.Errorf("the max of 10000 is drawn at %v nines, want 4 (99.99)", last.Y)
	}
}

func TestPlotDataDeviceBesideTotal(t *testing.T) {
	r := &jobResult{name: "j", read: newSideStats(true), write: newSideStats(true), attrs: newAttrStats(nil)}
	r.read.latH = histOf(300e3, 310e3, 320e3)
	r.attrs.latency = histOf(290e3, 300e3)
	r.attrs.device = histOf(200e3, 210e3)
	var labels []string
	for _, s := range plotData([]*jobResult{r}) {
		labels = append(labels, s.label)
		if strings.Contains(s.label, "DEVICE") != s.dashed {
			t.Errorf("%s: dashed=%v, want DEVICE (only) dashed", s.label, s.dashed)
		}
	}
	if len(labels) != 3 || !strings.Contains(labels[0], "read") || !strings.Contains(labels[1], "LATENCY") || !strings.Contains(labels[2], "DEVICE") {
		t.Fatalf("curves %q; want read lat, LATENCY, DEVICE (no write curve without writes)", labels)
	}
	r.attrs.device = newLatHist()
	if got := plotData([]*jobResult{r}); len(got) != 1 {
		t.Fatalf("%d curves without DEVICE, want lat only", len(got))
	}
}

func TestLogTicks(t *testing.T) {
	labels := func(lo, hi float64) []string {
		var out []string
		for _, tk := range (logTicks{}).Ticks(lo, hi) {
			if tk.Label != "" {
				out = append(out, tk.Label)
			}
		}
		return out
	}
	for _, c := range []struct {
		lo, hi float64
		want   string
	}{
		{150, 3000, "200,500,1000,2000"},
		{13, 2900, "20,50,100,200,500,1000,2000"},
		{100, 1e6, "100,1000,10000,100000,1000000"},
		{250, 480, "300,400"},
		{210, 240, "210,240"},
		{0.4, 3, "0.5,1,2"},
	} {
		if got := strings.Join(labels(c.lo, c.hi), ","); got != c.want {
			t.Errorf("ticks(%v, %v) = %s, want %s", c.lo, c.hi, got, c.want)
		}
	}
}

// One IO draws a visible mark and an x axis with labels; the legend is
// below the axes (the image is taller than the 5-inch axes), and a plot
// that cannot be written leaves nothing behind.
func TestWritePlotFiles(t *testing.T) {
	dir := t.TempDir()
	one := &jobResult{name: "aio2", read: newSideStats(true), write: newSideStats(true), attrs: newAttrStats(nil)}
	one.read.latH = histOf(350e3)
	svg := filepath.Join(dir, "one.svg")
	if err := writePlot(svg, []*jobResult{one}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(svg)
	if !bytes.Contains(b, []byte("A3,3")) { // the circle glyph, as an arc
		t.Errorf("one IO: no mark drawn")
	}
	if n := len(regexp.MustCompile(`>(300|400|500|350|200)<`).FindAll(b, -1)); n < 2 {
		t.Errorf("one IO: %d x axis labels, want at least 2", n)
	}
	pngPath := filepath.Join(dir, "one.png")
	if err := writePlot(pngPath, []*jobResult{one}); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(pngPath)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if sz := img.Bounds().Size(); sz.Y <= sz.X*5/8 {
		t.Errorf("%v: no room below the 8x5 axes for the legend", sz)
	}
	if err := writePlot(filepath.Join(dir, "no", "such", "dir.svg"), []*jobResult{one}); err == nil {
		t.Error("writing into a missing directory succeeded")
	}
	empty := &jobResult{name: "aio2", read: newSideStats(true), write: newSideStats(true), attrs: newAttrStats(nil)}
	if err := writePlot(filepath.Join(dir, "empty.svg"), []*jobResult{empty}); err == nil {
		t.Error("a plot of nothing succeeded")
	}
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if strings.Join(names, ",") != "one.png,one.svg" {
		t.Errorf("files left: %v, want one.png and one.svg only", names)
	}
}

// --- README.md ---

// readmeBlocks returns README.md's indented blocks (commands, sample
// output) in order, and how many lines of prose come before the first.
func readmeBlocks(t *testing.T) ([][]string, int) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var blocks [][]string
	prose, in := 0, false
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "    ") {
			if !in {
				blocks = append(blocks, nil)
			}
			blocks[len(blocks)-1] = append(blocks[len(blocks)-1], line[4:])
			in = true
			continue
		}
		if line != "" {
			in = false
			if len(blocks) == 0 {
				prose++
			}
		}
	}
	return blocks, prose
}

// README.md opens with the main job, what it prints, and the test
// command (the one .ci/run reads: the first indented "go test" line). It
// opened with a 13-line paragraph, and the sample output came after the
// test command.
func TestReadmeOpensWithTheTwoCommands(t *testing.T) {
	blocks, prose := readmeBlocks(t)
	if prose > 10 {
		t.Errorf("%d lines of prose before the first command", prose)
	}
	if len(blocks) < 3 || strings.Join(blocks[0], "\n") != "go run ./cmd/aio2 io" || !strings.HasPrefix(blocks[2][0], "go test ") || len(blocks[2]) != 1 {
		t.Fatalf("README's first indented blocks are %q; want \"go run ./cmd/aio2 io\", its output, then the go test command", blocks[:min(3, len(blocks))])
	}
}

// normOutput keeps the shape of a line of "aio2 io" output: numbers,
// sizes, rates and time units become placeholders, paths lose their
// directory.
func normOutput(line string) string {
	line = regexp.MustCompile(`\S*/aio2-io-\d+\.dat`).ReplaceAllString(line, "FILE")
	line = regexp.MustCompile(`\((nsec|usec|msec)\)`).ReplaceAllString(line, "(UNIT)")
	line = regexp.MustCompile(`\d+(\.\d+)?[kMGTPE]?(i?B)?`).ReplaceAllString(line, "N")
	return strings.Join(strings.Fields(line), " ")
}

// Every line of README's sample output (but the abridged ones, with
// "...") has the shape of a line the command prints now.
func TestReadmeSampleOutputMatches(t *testing.T) {
	blocks, _ := readmeBlocks(t)
	if len(blocks) < 2 {
		t.Fatal("no sample output in README.md")
	}
	dir := t.TempDir()
	needDirect(t, dir)
	r := runBin(t, "io", "--directory="+dir, "--size=16M")
	if r.code != 0 {
		t.Fatalf("status %d\n%s", r.code, r.stderr)
	}
	have := map[string]bool{}
	for _, l := range strings.Split(r.stderr+r.stdout, "\n") {
		have[normOutput(l)] = true
	}
	for _, l := range blocks[1] {
		if strings.Contains(l, "...") {
			continue
		}
		if !have[normOutput(l)] {
			t.Errorf("README shows %q; aio2 io prints no line like it:\n%s%s", l, r.stderr, r.stdout)
		}
	}
}
