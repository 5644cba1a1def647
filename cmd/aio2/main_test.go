package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aio2/aio2/attrs"
)

// bin is the aio2 binary under test, built once by TestMain (with -race
// when the tests run with -race, so that the binary's own races are found).
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "aio2-cmd-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "aio2")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	if out, err := exec.Command("go", append(args, ".")...).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// requirePriv skips a test that needs root or a kernel feature, or fails
// it when CI demands that every privileged test runs (AIO2_REQUIRE_PRIV=1).
func requirePriv(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("AIO2_REQUIRE_PRIV") == "1" {
		t.Fatalf("AIO2_REQUIRE_PRIV=1 but %s", why)
	}
	t.Skip(why)
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		requirePriv(t, "needs root")
	}
}

type result struct {
	stdout, stderr string
	code           int
}

// runBin runs the binary with args and returns what it printed and its
// exit status. A run longer than a minute is a failure, not a hang.
func runBin(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatalf("run %v: %v", args, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("aio2 %v did not finish within a minute", args)
	}
	if strings.Contains(r.stderr, "panic") || strings.Contains(r.stderr, "goroutine ") {
		t.Fatalf("aio2 %v panicked:\n%s", args, r.stderr)
	}
	return r
}

// makeFile makes a file of size bytes of non-zero data in dir.
func makeFile(t *testing.T, dir string, size int) string {
	t.Helper()
	p := filepath.Join(dir, "target.dat")
	b := bytes.Repeat([]byte("aio2 test data\n\x00"), size/16+1)[:size]
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestUserErrorsExitTwoWithOneLine(t *testing.T) {
	dir := t.TempDir()
	file := makeFile(t, dir, 1<<20)
	plotDir := filepath.Join(dir, "plot.svg")
	if err := os.Mkdir(plotDir, 0o755); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	notRing := filepath.Join(dir, "zeros")
	if err := os.WriteFile(notRing, make([]byte, 8192), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		want string // in the one line of stderr
	}{
		{"no such file", []string{"io", "--filename=" + filepath.Join(dir, "missing")}, "no such file"},
		{"bs not aligned", []string{"io", "--filename=" + file, "--bs=1000"}, "not a multiple of the O_DIRECT alignment"},
		{"size smaller than bs", []string{"io", "--filename=" + file, "--size=4k", "--bs=8k"}, "smaller than --bs"},
		{"size larger than file", []string{"io", "--filename=" + file, "--size=2M"}, "larger than"},
		{"unknown attr", []string{"io", "--filename=" + file, "--attrs=latency,colour"}, "unknown attribute \"colour\""},
		{"bad rw", []string{"io", "--rw=sideways"}, "--rw=sideways"},
		{"bad size", []string{"io", "--size=lots"}, "not a size"},
		{"bad reaper", []string{"io", "--reaper=many"}, "--reaper=many"},
		{"bad clocksource", []string{"io", "--clocksource=sundial"}, "--clocksource=sundial: use cpu or clock_gettime"},
		{"bad plot name", []string{"io", "--plot=x.gif"}, ".svg or .png"},
		// Output paths are checked before the run (a walk through the
		// docs, 2026-11-22, found them failing only after it).
		{"plot in no directory", []string{"io", "--plot=" + filepath.Join(dir, "missing", "x.svg")}, "is not a directory"},
		{"plot named as a directory", []string{"io", "--plot=" + plotDir}, "it is a directory"},
		{"plot with an external reaper", []string{"io", "--plot=x.svg", "--reaper=external"}, "no latencies to plot"},
		{"cpuprofile in no directory", []string{"io", "--cpuprofile=" + filepath.Join(dir, "missing", "p")}, "is not a directory"},
		{"empty file", []string{"io", "--filename=" + empty}, "is empty"},
		{"empty name", []string{"io", "--name="}, "--name is empty"},
		{"made file's size not aligned", []string{"io", "--directory=" + dir, "--size=4097"}, "use --size=4096 or another multiple of"},
		{"unknown flag", []string{"io", "--colour=blue"}, "flag provided but not defined"},
		{"max-inflight beyond a context's", []string{"io", "--max-inflight=5000"}, "--max-inflight=5000: use at most 4096"},
		{"fio boolean with a bad value", []string{"io", "--randrepeat=maybe"}, "-randrepeat: use 1 or 0"},
		{"reap missing path", []string{"reap", filepath.Join(dir, "missing")}, "no such file"},
		{"reap not a ring", []string{"reap", notRing}, "is not an aio2 ring region"},
		{"reap eventfd not a /proc path", []string{"reap", "--eventfd=" + notRing, notRing}, "give it as /proc/PID/fd/N"},
		{"reap eventfd no such fd", []string{"reap", fmt.Sprintf("--eventfd=/proc/%d/fd/999999", os.Getpid()), notRing}, "has no fd 999999"},
		{"reap eventfd no such process", []string{"reap", "--eventfd=/proc/999999999/fd/3", notRing}, "no process 999999999"},
		{"inspect not a ring", []string{"ring", "inspect", notRing}, "is not an aio2 ring region"},
		{"inspect missing", []string{"ring", "inspect", filepath.Join(dir, "missing")}, "no such file"},
		{"unknown command", []string{"frobnicate"}, "unknown command"},
		{"sim bad bound", []string{"sim", "check", "--bound=huge"}, "--bound=huge"},
		{"sim bad pause", []string{"sim", "size", "--pauses=lunch"}, "unknown scenario \"lunch\""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := runBin(t, c.args...)
			if r.code != 2 {
				t.Fatalf("exit status %d, want 2; stderr:\n%s", r.code, r.stderr)
			}
			lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
			if len(lines) != 1 {
				t.Fatalf("stderr has %d lines, want one:\n%s", len(lines), r.stderr)
			}
			if !strings.Contains(lines[0], c.want) {
				t.Fatalf("stderr %q does not say %q", lines[0], c.want)
			}
		})
	}
}

// TestMadeFileErrorsLeaveNothing checks that a user error found after aio2
// made its own file (here: --size smaller than --bs) removes the file.
func TestMadeFileErrorsLeaveNothing(t *testing.T) {
	dir := t.TempDir()
	r := runBin(t, "io", "--directory="+dir, "--size=4k", "--bs=8k")
	if r.code != 2 || !strings.Contains(r.stderr, "smaller than --bs") {
		t.Fatalf("status %d, stderr %q; want 2 and \"smaller than --bs\"", r.code, r.stderr)
	}
	r = runBin(t, "io", "--directory="+dir, "--size=1M", "--bs=1000")
	if r.code != 2 || !strings.Contains(r.stderr, "alignment") {
		t.Fatalf("status %d, stderr %q; want 2 and an alignment message", r.code, r.stderr)
	}
	left, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Fatalf("files left behind in --directory: %v", left)
	}
}

// TestReadOnlyTarget makes the file immutable (chattr +i), which even
// root cannot open for writing, and asks for a write workload.
func TestReadOnlyTarget(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	file := makeFile(t, dir, 1<<20)
	if out, err := exec.Command("chattr", "+i", file).CombinedOutput(); err != nil {
		requirePriv(t, fmt.Sprintf("chattr +i: %v: %s", err, out))
	}
	t.Cleanup(func() { exec.Command("chattr", "-i", file).Run() })
	r := runBin(t, "io", "--filename="+file, "--rw=randwrite", "--number=1")
	if r.code != 2 || !strings.Contains(r.stderr, "read-only") || strings.Count(r.stderr, "\n") != 1 {
		t.Fatalf("status %d, stderr %q; want 2 and one line saying read-only", r.code, r.stderr)
	}
}

func TestHelpExitsZero(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"io", "-h"}, {"reap", "--help"}, {"help"}, {"-h"}, {"ring", "-h"}, {"ring", "inspect", "-h"},
		{"sim", "--help"}, {"sim", "size", "-h"}, {"features", "-h"}} {
		r := runBin(t, args...)
		if r.code != 0 || !strings.Contains(r.stdout, "usage: aio2") {
			t.Errorf("%v: status %d, stdout %q", args, r.code, r.stdout)
		}
	}
}

func TestSimWrappers(t *testing.T) {
	t.Parallel()
	r := runBin(t, "sim", "check", "--bound=ci", "--brief", "--walks=20", "--steps=500")
	if r.code != 0 || !strings.Contains(r.stdout, "as expected") {
		t.Fatalf("sim check: status %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	svg := filepath.Join(t.TempDir(), "size.svg")
	r = runBin(t, "sim", "size", "--rates=1M", "--bursts=1", "--pauses=steal", "--duration=50ms", "--svg="+svg)
	if r.code != 0 || !strings.Contains(r.stdout, "| 1M | 1 | steal |") {
		t.Fatalf("sim size: status %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if b, err := os.ReadFile(svg); err != nil || !bytes.Contains(b, []byte("<svg")) || !bytes.Contains(b, []byte("pauses: steal,")) {
		t.Fatalf("sim size --svg: %v; want a plot of the first pause scenario, steal", err)
	}
	// Without --pauses the table's scenarios are gc, preempt, steal, and
	// the plot is for the first of them.
	r = runBin(t, "sim", "size", "--rates=1M", "--bursts=1", "--duration=10ms", "--svg="+svg)
	if r.code != 0 {
		t.Fatalf("sim size: status %d\n%s", r.code, r.stderr)
	}
	if b, _ := os.ReadFile(svg); !bytes.Contains(b, []byte("pauses: gc,")) {
		t.Fatal("sim size --svg without --pauses: the plot is not for gc, the table's first scenario")
	}
}

func TestFeatures(t *testing.T) {
	t.Parallel()
	r := runBin(t, "features", "--output-format=json", "--directory="+t.TempDir())
	if r.code != 0 {
		t.Fatalf("status %d\n%s", r.code, r.stderr)
	}
	var fl []feature
	if err := json.Unmarshal([]byte(r.stdout), &fl); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	got := map[string]feature{}
	for _, f := range fl {
		got[f.Name] = f
		if f.Detail == "" {
			t.Errorf("%s has no detail", f.Name)
		}
	}
	for _, name := range []string{"native AIO (io_setup)", "aio-max-nr headroom", "sealed memfd (SETUP_SHARED)",
		"io_setup2 context (kioctx)", "tracepoint block_rq_issue", "tracepoint block_rq_complete", "attrs clock", "RLIMIT_MEMLOCK"} {
		if _, ok := got[name]; !ok {
			t.Errorf("features lacks %q", name)
		}
	}
	if !got["attrs clock"].OK {
		t.Error("the clock collector is reported as not working")
	}
	// attrs.TestTSC checks CheckTSC against the machine itself.
	if c, want := got["TSC clock (aio2 io --clocksource=cpu, LATENCY)"], attrs.CheckTSC() == nil; c.OK != want {
		t.Errorf("TSC clock reported %v (%s), want %v", c.OK, c.Detail, want)
	}
	if os.Geteuid() == 0 {
		for _, name := range []string{"native AIO (io_setup)", "io_setup2 context (kioctx)", "tracepoint block_rq_issue"} {
			if !got[name].OK {
				requirePriv(t, name+" does not work as root: "+got[name].Detail)
			}
		}
	}
	r = runBin(t, "features")
	if r.code != 0 || !strings.Contains(r.stdout, "O_DIRECT on ") {
		t.Fatalf("normal output: %d\n%s", r.code, r.stdout)
	}
}
