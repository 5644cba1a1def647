package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A run whose IOs all failed (a walk through the docs found one, on a
// read-only block device, 2026-11-22) reports them as failures: IOPS of
// the IOs that did not fail (fio's rate; it was 353 k for 32 failures in
// no time), the errors and the first errno in the text report (which
// pointed at a JSON-only key), no latency, and not the external reaper's
// "another process reaped the events", which this run did not have.
func TestReportOfFailedIOs(t *testing.T) {
	o, err := parseIOFlags([]string{"--rw=randwrite"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	j := &jobResult{name: "aio2", jobs: 1, read: newSideStats(false), write: newSideStats(false),
		elapsed: 90 * time.Microsecond, attrs: newAttrStats(nil)}
	j.write.ios, j.write.errs, j.write.firstErr = 32, 32, int64(syscall.EPERM)
	var out bytes.Buffer
	writeNormal(&out, &runInfo{opts: o, elapsed: time.Millisecond}, []*jobResult{j})
	text := out.String()
	for _, want := range []string{
		"write: IOPS=0, BW=0B/s (0B/1msec)",
		"errors: io_errors=32 of 32 IOs, first error=1 (operation not permitted)",
		"latency: none (failed IOs are not timed)",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("report lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "another process") {
		t.Errorf("an inline run's report blames another process:\n%s", text)
	}
	if f := j.write.fio(j.elapsed); f.Iops != 0 || f.TotalIos != 32 || f.Runtime != 1 {
		t.Errorf("JSON side: iops %v total_ios %d runtime %d; want 0, 32, 1", f.Iops, f.TotalIos, f.Runtime)
	}
}

// A --size the file system cannot hold is refused before the lay-out
// writes anything (before, it wrote until the file system was full, then
// failed with two lines). The file system is a 16 MiB tmpfs, so that a
// regression fills that, not the machine's disk.
func TestIOSizeBeyondFreeSpace(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=16m"); err != nil {
		requirePriv(t, "mount tmpfs: "+err.Error())
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	r := runBin(t, "io", "--directory="+dir, "--direct=0", "--size=64m")
	if r.code != 2 || !strings.Contains(r.stderr, "free, less than --size=64MiB") || strings.Count(r.stderr, "\n") != 1 {
		t.Fatalf("status %d, %q; want 2 and one line", r.code, r.stderr)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Fatalf("left behind: %v", left)
	}
}

// --timeout=0 in external mode waits as long as it takes, as reap's
// --timeout=0 does (a walk through the docs found it the opposite: exit
// 1 at the first check). The reaper starts a second after the run.
func TestIOExternalTimeoutZeroWaits(t *testing.T) {
	dir := t.TempDir()
	needDirect(t, dir)
	file := makeFile(t, dir, 1<<20)
	cmd, rest, stderr, ringPath, efd := startExternal(t, "--filename="+file, "--number=256", "--iodepth=8",
		"--max-inflight=64", "--timeout=0", "--output-format=json")
	time.Sleep(time.Second)
	if r := runBin(t, "reap", "--timeout=30", "--eventfd="+efd, ringPath); r.code != 0 {
		t.Fatalf("reap: %d %s", r.code, r.stderr)
	}
	if n := finishExternal(t, cmd, rest, stderr).Jobs[0].Read.TotalIos; n != 256 {
		t.Fatalf("%d IOs, want 256", n)
	}
}

// A stdout reader that goes away (aio2 io | head -1) does not kill the
// run before it removes the file it made: before, the report's write
// raised SIGPIPE, which ended the process with the file left behind.
func TestIOClosedStdoutLeavesNoFile(t *testing.T) {
	dir := t.TempDir()
	needDirect(t, dir)
	cmd := exec.Command(bin, "io", "--directory="+dir, "--size=16M", "--number=2000")
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = w
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	r.Close() // nobody reads: the report's first write gets EPIPE
	err = cmd.Wait()
	if ws := cmd.ProcessState.Sys().(syscall.WaitStatus); ws.Signaled() {
		t.Fatalf("killed by %v (stderr %q)", ws.Signal(), stderr.String())
	}
	if err == nil || !strings.Contains(stderr.String(), "broken pipe") {
		t.Errorf("exit %v, stderr %q; want a failure that says broken pipe", err, stderr.String())
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Fatalf("left behind: %v", left)
	}
}

// A producer killed without setting F_DEAD ends the reap once the ring is
// empty: its pidfd (the ring was named /proc/PID/fd/N) says it exited.
// Before, with the default --timeout=0 the reap polled for ever. With
// --eventfd the reaper sleeps on the producer's eventfd and its pidfd
// both, so the end wakes it at once.
func TestReapStopsWhenProducerKilled(t *testing.T) {
	for _, withEfd := range []bool{false, true} {
		t.Run(map[bool]string{false: "polling", true: "eventfd"}[withEfd], func(t *testing.T) {
			dir := t.TempDir()
			needDirect(t, dir)
			file := makeFile(t, dir, 1<<20)
			prod, _, _, ringPath, efd := startExternal(t, "--filename="+file, "--runtime=60", "--iodepth=8",
				"--max-inflight=16", "--timeout=0", "--output-format=json")
			args := []string{"reap", "--output-format=json"}
			if withEfd {
				args = append(args, "--eventfd="+efd)
			}
			var out, errb bytes.Buffer
			reap := exec.Command(bin, append(args, ringPath)...)
			reap.Stdout, reap.Stderr = &out, &errb
			rc := startChild(t, reap)
			time.Sleep(500 * time.Millisecond) // reaping by now
			if err := prod.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			if !rc.wait(5 * time.Second) {
				t.Fatalf("reap still running 5 s after its producer was killed\n%s", errb.String())
			}
			if !reap.ProcessState.Success() {
				t.Fatalf("reap: %v\n%s", reap.ProcessState, errb.String())
			}
			var s reapSummary
			if err := json.Unmarshal(out.Bytes(), &s); err != nil {
				t.Fatalf("%v\n%s", err, out.String())
			}
			if s.StoppedBy != "producer exited" || s.Events == 0 {
				t.Fatalf("stopped by %q after %d events; want \"producer exited\" after some", s.StoppedBy, s.Events)
			}
			t.Logf("%d events, then the producer was killed; stopped in %.2f s", s.Events, s.Seconds)
		})
	}
}
