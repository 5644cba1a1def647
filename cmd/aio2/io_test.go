package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aio2/aio2/abi"
	"github.com/aio2/aio2/attrs"
)

// fioOut is the part of the JSON output the tests read, with fio's keys.
type fioOut struct {
	FioVersion    string            `json:"fio version"`
	GlobalOptions map[string]string `json:"global options"`
	Jobs          []struct {
		Jobname    string            `json:"jobname"`
		JobOptions map[string]string `json:"job options"`
		Error      int64             `json:"error"`
		UsrCPU     float64           `json:"usr_cpu"`
		SysCPU     float64           `json:"sys_cpu"`
		Read       fioSide           `json:"read"`
		Write      fioSide           `json:"write"`
		Aio2       struct {
			Ring        ringInfo `json:"ring"`
			Interrupted bool     `json:"interrupted"`
			Failed      string   `json:"failed"`
			Errors      int64    `json:"io_errors"`
			Attrs       map[string]struct {
				Status           map[string]int64 `json:"status"`
				Ns               *fioLat          `json:"ns"`
				DeviceFraction   *float64         `json:"device_fraction"`
				CompletionsByCPU map[string]int64 `json:"completions_by_cpu"`
				Echoed           *int64           `json:"echoed"`
				Mismatched       *int64           `json:"mismatched"`
				HitRatio         *float64         `json:"hit_ratio"`
				Probe            *struct {
					Issues    *int64 `json:"requests_issued"`
					Completes *int64 `json:"requests_completed"`
					Records   *int64 `json:"records"`
					Dropped   *int64 `json:"records_dropped"`
					NoStamp   *int64 `json:"no_issue_time"`
				} `json:"probe"`
			} `json:"attrs"`
		} `json:"aio2"`
	} `json:"jobs"`
}

func parseOut(t *testing.T, s string) fioOut {
	t.Helper()
	var o fioOut
	if err := json.Unmarshal([]byte(s[strings.Index(s, "{"):]), &o); err != nil {
		t.Fatalf("JSON output: %v\n%.3000s", err, s)
	}
	if len(o.Jobs) == 0 {
		t.Fatalf("no jobs in the output:\n%s", s)
	}
	return o
}

// checkOrdered checks that fio's percentiles never decrease.
func checkOrdered(t *testing.T, what string, l fioLat) {
	t.Helper()
	if l.N == 0 || len(l.Percentile) != len(fioPercentiles) {
		t.Fatalf("%s: N=%d, %d percentiles; want N>0 and %d", what, l.N, len(l.Percentile), len(fioPercentiles))
	}
	prev := int64(0)
	for _, p := range fioPercentiles {
		v, ok := l.Percentile[pctKey(p)]
		if !ok || v < prev || v < l.Min || v > l.Max {
			t.Fatalf("%s: percentile %s = %d (ok %v) after %d, min %d max %d", what, pctKey(p), v, ok, prev, l.Min, l.Max)
		}
		prev = v
	}
}

// needAIO runs the first io test and turns "no native AIO or O_DIRECT here"
// into a skip (or a failure under AIO2_REQUIRE_PRIV=1).
func needDirect(t *testing.T, dir string) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, "probe"), os.O_CREATE|os.O_RDWR|syscall.O_DIRECT, 0o644)
	if err != nil {
		requirePriv(t, "O_DIRECT not supported in "+dir)
	}
	f.Close()
	os.Remove(f.Name())
}

func TestIOJSONWithEveryAttribute(t *testing.T) {
	dir := t.TempDir()
	needDirect(t, dir)
	r := runBin(t, "io", "--directory="+dir, "--size=16M", "--number=3000", "--iodepth=16",
		"--attrs=latency,timestamps,cpu,tag,cache,device", "--output-format=json")
	if r.code != 0 {
		t.Fatalf("status %d\n%s", r.code, r.stderr)
	}
	o := parseOut(t, r.stdout)
	j := o.Jobs[0]
	if !strings.HasPrefix(o.FioVersion, "aio2-") || j.Read.Iops <= 0 || j.Read.TotalIos != 3000 || j.Read.IoBytes != 3000*4096 || j.Read.BwBytes <= 0 {
		t.Fatalf("version %q iops %v total_ios %d io_bytes %d bw %d", o.FioVersion, j.Read.Iops, j.Read.TotalIos, j.Read.IoBytes, j.Read.BwBytes)
	}
	if j.UsrCPU+j.SysCPU <= 0 {
		t.Fatalf("usr_cpu %v sys_cpu %v", j.UsrCPU, j.SysCPU)
	}
	// The command line's options are the job's, as fio lists a
	// command-line job's (found by review, 2026-11-22: they were under
	// "global options", and "job options" held the name alone).
	if jo := j.JobOptions; jo["iodepth"] != "16" || jo["attrs"] == "" || len(o.GlobalOptions) != 0 {
		t.Fatalf("job options %v, global options %v; want the flags under the job", jo, o.GlobalOptions)
	}
	if j.Error != 0 {
		t.Fatalf("error %d with no failed IO", j.Error)
	}
	checkOrdered(t, "clat_ns", j.Read.ClatNs)
	if j.Read.ClatNs.Max > j.Read.LatNs.Max || j.Read.ClatNs.Min > j.Read.ClatNs.Max {
		t.Fatalf("clat max %d above lat max %d, or min %d above max", j.Read.ClatNs.Max, j.Read.LatNs.Max, j.Read.ClatNs.Min)
	}
	if j.Read.LatNs.N != 3000 || j.Read.SlatNs.N != 3000 || j.Read.LatNs.Min < 0 {
		t.Fatalf("lat_ns %+v slat_ns %+v", j.Read.LatNs, j.Read.SlatNs)
	}
	for _, name := range []string{"latency", "timestamps", "cpu", "tag", "cache", "device"} {
		a, ok := j.Aio2.Attrs[name]
		if !ok {
			t.Fatalf("attribute %s missing from the output", name)
		}
		var sum int64
		for _, k := range []string{"ok", "unsupported", "unavailable", "error"} {
			sum += a.Status[k]
		}
		if sum != 3000 || a.Status["missing"] != 0 {
			t.Fatalf("%s: statuses %v sum to %d, want one per IO (3000) and none missing", name, a.Status, sum)
		}
	}
	a := j.Aio2.Attrs
	if a["latency"].Status["ok"] != 3000 || a["latency"].Ns == nil {
		t.Fatalf("latency: %+v", a["latency"])
	}
	checkOrdered(t, "latency attribute", *a["latency"].Ns)
	if a["tag"].Echoed == nil || *a["tag"].Echoed != 3000 || *a["tag"].Mismatched != 0 {
		t.Fatalf("tag: %+v", a["tag"])
	}
	var cpus int64
	for _, n := range a["cpu"].CompletionsByCPU {
		cpus += n
	}
	if cpus != 3000 {
		t.Fatalf("completions by cpu sum to %d, want 3000", cpus)
	}
	// O_DIRECT reads bypass the page cache: CACHE may not be OK for them.
	if a["cache"].Status["ok"] > 0 && a["cache"].HitRatio == nil {
		t.Fatalf("cache OK without a hit ratio: %+v", a["cache"])
	}
	if os.Geteuid() == 0 {
		if a["device"].Status["ok"] == 0 {
			requirePriv(t, "DEVICE never OK as root: eBPF block tracepoints unavailable")
		}
		f := a["device"].DeviceFraction
		if f == nil || *f <= 0 || *f > 1.5 {
			t.Fatalf("device fraction %v", f)
		}
		// Every IO with DEVICE OK had a record of the programs in the
		// run; other processes' IO can only add to the counts.
		p := a["device"].Probe
		if p == nil || p.Issues == nil || p.Completes == nil || p.Records == nil || p.Dropped == nil || p.NoStamp == nil {
			t.Fatalf("device: no probe counters, or some missing: %+v", p)
		}
		if ok := a["device"].Status["ok"]; *p.Records < ok || *p.Completes == 0 || *p.Issues == 0 {
			t.Fatalf("device OK on %d IOs, but the programs counted %d records, %d requests issued, %d completed",
				ok, *p.Records, *p.Issues, *p.Completes)
		}
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Fatalf("temp file left behind: %v", left)
	}
}

func TestIONormalOutputAndPlot(t *testing.T) {
	dir := t.TempDir()
	needDirect(t, dir)
	for _, plot := range []string{"lat.svg", "lat.png"} {
		path := filepath.Join(t.TempDir(), plot)
		r := runBin(t, "io", "--directory="+dir, "--size=16M", "--number=2000", "--rw=randrw", "--attrs=latency,device", "--plot="+path)
		if r.code != 0 {
			t.Fatalf("status %d\n%s", r.code, r.stderr)
		}
		wants := []string{"read: IOPS=", "write: IOPS=", "clat percentiles (", "99.99th=[", "latency    ok=", "context      : version=2"}
		if os.Geteuid() == 0 {
			// DEVICE's programs load as root (CI): their counters.
			wants = append(wants, "eBPF, whole machine during the run: ")
		}
		for _, want := range wants {
			if !strings.Contains(r.stdout, want) {
				t.Fatalf("normal output lacks %q:\n%s", want, r.stdout)
			}
		}
		if strings.Contains(r.stdout, "\r") {
			t.Fatalf("progress line written to a non-terminal:\n%q", r.stdout)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if plot == "lat.png" && !bytes.HasPrefix(b, []byte("\x89PNG")) || plot == "lat.svg" && !bytes.Contains(b[:min(len(b), 200)], []byte("<svg")) {
			t.Fatalf("%s is not a %s file: %q", plot, filepath.Ext(plot), b[:min(len(b), 40)])
		}
	}
}

func TestIOReaperGoroutinesAndJobs(t *testing.T) {
	dir := t.TempDir()
	needDirect(t, dir)
	r := runBin(t, "io", "--directory="+dir, "--size=16M", "--number=1500", "--numjobs=2", "--reaper=goroutines=3",
		"--rw=randwrite", "--bs=8k", "--attrs=tag", "--output-format=json")
	if r.code != 0 {
		t.Fatalf("status %d\n%s", r.code, r.stderr)
	}
	o := parseOut(t, r.stdout)
	if len(o.Jobs) != 2 {
		t.Fatalf("%d jobs, want 2", len(o.Jobs))
	}
	for _, j := range o.Jobs {
		if j.Write.TotalIos != 1500 || j.Write.IoBytes != 1500*8192 || j.Read.TotalIos != 0 || *j.Aio2.Attrs["tag"].Echoed != 1500 {
			t.Fatalf("job %s: write ios %d bytes %d read ios %d tag %+v", j.Jobname, j.Write.TotalIos, j.Write.IoBytes, j.Read.TotalIos, j.Aio2.Attrs["tag"])
		}
		checkOrdered(t, "clat_ns", j.Write.ClatNs)
		if j.Aio2.Ring.Reaper != "goroutines=3" {
			t.Fatalf("reaper %q", j.Aio2.Ring.Reaper)
		}
		// The reapers read the command's clock on other threads than
		// the submitter: with the TSC, that is where it must agree.
		want := "clock_gettime"
		if attrs.CheckTSC() == nil { // TestTSC checks that choice
			want = "cpu"
		}
		if j.Aio2.Ring.Clock != want {
			t.Fatalf("clocksource %q, want %q", j.Aio2.Ring.Clock, want)
		}
	}
}

// TestIOExternalReaper runs "aio2 io --reaper=external" and, in a second
// process, inspects its live ring and then reaps it with "aio2 reap".
func TestIOExternalReaper(t *testing.T) {
	dir := t.TempDir()
	needDirect(t, dir)
	const n = 2000
	cmd := exec.Command(bin, "io", "--directory="+dir, "--size=16M", "--number=2000", "--iodepth=8", "--max-inflight=64",
		"--attrs=latency,cpu", "--reaper=external", "--timeout=30", "--output-format=json")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	br := bufio.NewReader(stdout)
	line, err := br.ReadString('\n')
	if err != nil {
		t.Fatalf("first line: %v (stderr %s)", err, stderr.String())
	}
	path, ok := strings.CutPrefix(strings.TrimSpace(line), "ring: ")
	if !ok || !strings.HasPrefix(path, "/proc/") {
		t.Fatalf("first line %q, want \"ring: /proc/PID/fd/N\"", line)
	}
	if line, err = br.ReadString('\n'); err != nil {
		t.Fatalf("second line: %v (stderr %s)", err, stderr.String())
	}
	efd, ok := strings.CutPrefix(strings.TrimSpace(line), "eventfd: ")
	if !ok || !strings.HasPrefix(efd, "/proc/") {
		t.Fatalf("second line %q, want \"eventfd: /proc/PID/fd/N\"", line)
	}
	// Nothing reaps yet, so the ring fills up to max_inflight events.
	deadline := time.Now().Add(20 * time.Second)
	var ins result
	for {
		ins = runBin(t, "ring", "inspect", "--limit=0", path)
		if ins.code != 0 {
			t.Fatalf("inspect: %d %s", ins.code, ins.stderr)
		}
		if strings.Count(ins.stdout, " EVENT len=") == 64 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := strings.Count(ins.stdout, " EVENT len="); got != 64 || !strings.Contains(ins.stdout, "latency=OK(") ||
		!strings.Contains(ins.stdout, "magic              0xa10a10a2") {
		t.Fatalf("inspect of the live ring shows %d events, want 64 (max_inflight) with latency:\n%s", got, ins.stdout)
	}
	// The ring is not an eventfd; the reaper says so before reaping.
	if r := runBin(t, "reap", "--eventfd="+path, path); r.code != 2 || !strings.Contains(r.stderr, "is not an eventfd") {
		t.Fatalf("--eventfd=the ring: status %d, stderr %q", r.code, r.stderr)
	}
	rp := runBin(t, "reap", "--threads=2", "--timeout=40", "--output-format=json", "--eventfd="+efd, path)
	if rp.code != 0 {
		t.Fatalf("reap: %d %s", rp.code, rp.stderr)
	}
	var s reapSummary
	if err := json.Unmarshal([]byte(rp.stdout), &s); err != nil {
		t.Fatalf("%v\n%s", err, rp.stdout)
	}
	if s.Events != n || s.StoppedBy != "dead" || s.Attrs["latency"]["ok"] != n || s.Attrs["cpu"]["ok"] != n || s.ResErrors != 0 {
		t.Fatalf("reap summary %+v; want %d events each with latency and cpu OK, ended by F_DEAD", s, n)
	}
	// The reapers outrun the disk, so they slept on the producer's
	// eventfd (and its signal at F_DEAD ended the last sleep).
	if s.EventfdWakes == nil || *s.EventfdWakes == 0 {
		t.Fatalf("reap summary %+v: never woken by the eventfd", s)
	}
	rest, _ := io.ReadAll(br)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("aio2 io: %v\n%s", err, stderr.String())
	}
	o := parseOut(t, string(rest))
	if o.Jobs[0].Read.TotalIos != n || o.Jobs[0].Aio2.Ring.SharedPath != path {
		t.Fatalf("io reports %d IOs on %q", o.Jobs[0].Read.TotalIos, o.Jobs[0].Aio2.Ring.SharedPath)
	}
}

// TestIOInterrupt sends SIGINT mid-run: the run stops cleanly, prints what
// was done, marks it interrupted and removes its file.
func TestIOInterrupt(t *testing.T) {
	dir := t.TempDir()
	needDirect(t, dir)
	cmd := exec.Command(bin, "io", "--directory="+dir, "--size=16M", "--runtime=60", "--iodepth=4", "--output-format=json")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	start := time.Now()
	cmd.Process.Signal(os.Interrupt)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("after SIGINT: %v\n%s", err, errb.String())
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %v to stop after SIGINT", d)
	}
	o := parseOut(t, out.String())
	if !o.Jobs[0].Aio2.Interrupted || o.Jobs[0].Read.TotalIos == 0 {
		t.Fatalf("interrupted %v, ios %d", o.Jobs[0].Aio2.Interrupted, o.Jobs[0].Read.TotalIos)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Fatalf("temp file left behind: %v", left)
	}
}

// TestIOOnExistingFileBuffered runs on a given file without O_DIRECT, so
// the context's worker pool serves it; the file is left in place.
func TestIOOnExistingFileBuffered(t *testing.T) {
	dir := t.TempDir()
	file := makeFile(t, dir, 4<<20)
	r := runBin(t, "io", "--filename="+file, "--direct=0", "--rw=read", "--bs=64k", "--number=200", "--attrs=cache", "--output-format=json")
	if r.code != 0 {
		t.Fatalf("status %d\n%s", r.code, r.stderr)
	}
	j := parseOut(t, r.stdout).Jobs[0]
	if j.Read.TotalIos != 200 || j.Read.IoBytes != 200*65536 {
		t.Fatalf("ios %d bytes %d", j.Read.TotalIos, j.Read.IoBytes)
	}
	if st := j.Aio2.Attrs["cache"].Status; st["ok"]+st["unavailable"]+st["unsupported"]+st["error"] != 200 {
		t.Fatalf("cache statuses %v", st)
	}
	if _, err := os.Stat(file); err != nil {
		t.Fatalf("the user's file is gone: %v", err)
	}
}

// fio's boolean options, given as fio users write them (bare, or with 0
// or 1), are accepted and change nothing.
func TestIOAcceptsFioBooleans(t *testing.T) {
	dir := t.TempDir()
	file := makeFile(t, dir, 4<<20)
	r := runBin(t, "io", "--filename="+file, "--number=100", "--norandommap", "--randrepeat=0", "--time_based", "--output-format=json")
	if r.code != 0 {
		t.Fatalf("status %d\n%s", r.code, r.stderr)
	}
	if j := parseOut(t, r.stdout).Jobs[0]; j.Read.TotalIos != 100 {
		t.Fatalf("ios %d, want 100", j.Read.TotalIos)
	}
}

// TestIOProgressOn forces the progress line on a non-terminal: it is a
// "\r" line rewritten once a second, cleared before the report.
func TestIOProgressOn(t *testing.T) {
	dir := t.TempDir()
	needDirect(t, dir)
	r := runBin(t, "io", "--directory="+dir, "--size=16M", "--runtime=2", "--iodepth=4", "--progress=on")
	if r.code != 0 {
		t.Fatalf("status %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "\r[aio2] ") || !strings.Contains(r.stdout, " IOPS, ") || !strings.Contains(r.stdout, "eta ") {
		t.Fatalf("no progress line in %q", r.stdout[:min(len(r.stdout), 300)])
	}
	if !strings.Contains(r.stdout, "\r\033[K") || !strings.Contains(r.stdout, "read: IOPS=") {
		t.Fatalf("progress line not cleared before the report: %q", r.stdout[:min(len(r.stdout), 300)])
	}
}

// TestIOBlockDevice runs on a loop device: the size comes from the device
// and the O_DIRECT alignment from its logical block size.
func TestIOBlockDevice(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	img := makeFile(t, dir, 8<<20)
	out, err := exec.Command("losetup", "--find", "--show", "--sector-size=4096", img).Output()
	if err != nil {
		requirePriv(t, "losetup: "+err.Error())
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() { exec.Command("losetup", "-d", dev).Run() })
	r := runBin(t, "io", "--filename="+dev, "--bs=2k")
	if r.code != 2 || !strings.Contains(r.stderr, "alignment of "+dev+" (4096 bytes)") {
		t.Fatalf("--bs=2k on a 4096-byte-sector device: status %d, %q", r.code, r.stderr)
	}
	r = runBin(t, "io", "--filename="+dev, "--number=500", "--rw=randread", "--output-format=json")
	if r.code != 0 {
		t.Fatalf("status %d\n%s", r.code, r.stderr)
	}
	j := parseOut(t, r.stdout).Jobs[0]
	if j.Read.TotalIos != 500 || j.Read.IoBytes != 500*4096 {
		t.Fatalf("ios %d bytes %d", j.Read.TotalIos, j.Read.IoBytes)
	}
	r = runBin(t, "io", "--filename="+dev, "--size=16M")
	if r.code != 2 || !strings.Contains(r.stderr, "larger than "+dev) {
		t.Fatalf("--size beyond the device: status %d, %q", r.code, r.stderr)
	}
	// Read-only (losetup -r): the kernel opens it for writing and fails
	// every write, so aio2 asks (BLKROGET). Before, the run started and
	// exited 1 with every IO failed.
	if err := exec.Command("blockdev", "--setro", dev).Run(); err != nil {
		t.Fatalf("blockdev --setro: %v", err)
	}
	r = runBin(t, "io", "--filename="+dev, "--rw=randwrite", "--number=100")
	if r.code != 2 || !strings.Contains(r.stderr, dev+" is a read-only block device") || strings.Count(r.stderr, "\n") != 1 {
		t.Fatalf("writes to a read-only device: status %d, %q; want 2 and one line", r.code, r.stderr)
	}
	if r = runBin(t, "io", "--filename="+dev, "--number=100"); r.code != 0 {
		t.Fatalf("reads from a read-only device: status %d\n%s", r.code, r.stderr)
	}
}

// TestIOSmallRingOverflows: with a 4 KiB ring and 128 IOs in flight the
// events cannot all fit; they wait on the overflow list, and every IO
// still completes exactly once with its own TAG.
func TestIOSmallRingOverflows(t *testing.T) {
	dir := t.TempDir()
	needDirect(t, dir)
	r := runBin(t, "io", "--directory="+dir, "--size=16M", "--ring-bytes=4k", "--iodepth=128", "--number=5000",
		"--attrs=all", "--reaper=goroutines=2", "--output-format=json")
	if r.code != 0 {
		t.Fatalf("status %d\n%s", r.code, r.stderr)
	}
	j := parseOut(t, r.stdout).Jobs[0]
	if j.Aio2.Ring.RingBytes != 4096 || j.Aio2.Ring.Overflowed == 0 {
		t.Fatalf("ring %+v: want 4096 bytes and some overflow", j.Aio2.Ring)
	}
	tag := j.Aio2.Attrs["tag"]
	if j.Read.TotalIos != 5000 || tag.Echoed == nil || *tag.Echoed != 5000 || *tag.Mismatched != 0 {
		t.Fatalf("ios %d, tag %+v: want 5000 IOs each with its own tag", j.Read.TotalIos, tag)
	}
}

// TestIOExternalTimeout: with nobody reaping, the external mode fills
// max_inflight, then gives up after --timeout with no progress (status 1),
// instead of waiting forever for submit to be accepted, and leaves no file.
// The report still follows, with the failure in it (before 2026-11-22 a
// job that failed printed none): here it counts no IO, since none was
// reaped.
func TestIOExternalTimeout(t *testing.T) {
	dir := t.TempDir()
	needDirect(t, dir)
	start := time.Now()
	r := runBin(t, "io", "--directory="+dir, "--size=16M", "--number=1000", "--iodepth=8",
		"--max-inflight=16", "--reaper=external", "--timeout=1", "--output-format=json")
	took := time.Since(start)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1 (stderr %q)", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "--timeout=1s: 16 events were not reaped") {
		t.Fatalf("stderr %q does not say the 16 unreaped events timed out", r.stderr)
	}
	j := parseOut(t, r.stdout).Jobs[0]
	if !strings.Contains(j.Aio2.Failed, "--timeout=1s: 16 events were not reaped") || j.Read.TotalIos != 0 {
		t.Fatalf("report: failed %q, %d read IOs; want the timeout and 0 IOs", j.Aio2.Failed, j.Read.TotalIos)
	}
	if took > 30*time.Second {
		t.Fatalf("took %v to give up after a 1 s timeout", took)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "aio2-io-*")); len(left) != 0 {
		t.Fatalf("left behind: %v", left)
	}
}

// The eBPF programs of CACHE and DEVICE load before the run, not inside
// the first IO's submit: there, loading them made that IO's slat and lat
// 70–90 ms, and took as long from a short run. aio2 io is run in this
// process so that the order of the calls can be seen, rather than
// guessed from how long the first submit took.
func TestAttrsPreparedBeforeTheFirstSubmit(t *testing.T) {
	dir := t.TempDir()
	needDirect(t, dir)
	var prepared atomic.Bool
	var asked []uint16
	var submits, early atomic.Int64
	prep, starts := prepareAttrs, runStarts
	t.Cleanup(func() { prepareAttrs, runStarts = prep, starts })
	prepareAttrs = func(ids []uint16) {
		asked = append([]uint16(nil), ids...)
		prep(ids)
		prepared.Store(true)
	}
	runStarts = func(jobs []*job) {
		for _, j := range jobs {
			submit := j.submitRaw
			j.submitRaw = func(recs []byte) (int, error) {
				submits.Add(1)
				if !prepared.Load() {
					early.Add(1)
				}
				return submit(recs)
			}
		}
	}
	var out, errb bytes.Buffer
	code := run([]string{"io", "--directory=" + dir, "--size=1M", "--number=200", "--numjobs=2",
		"--attrs=latency,cache,device", "--output-format=json"}, &out, &errb)
	require.Equal(t, 0, code, "stderr: %s", errb.String())
	require.Positive(t, submits.Load(), "no submit went through the wrapped jobs")
	require.Zero(t, early.Load(), "%d of %d submits came before the attributes were prepared", early.Load(), submits.Load())
	require.ElementsMatch(t, []uint16{abi.AttrLatency, abi.AttrCache, abi.AttrDevice}, asked, "attributes prepared")
	o := parseOut(t, out.String())
	require.Len(t, o.Jobs, 2)
	for _, j := range o.Jobs {
		require.EqualValues(t, 200, j.Read.TotalIos)
	}
}
