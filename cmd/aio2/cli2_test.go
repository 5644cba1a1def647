package main

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aio2/aio2/abi"
	"github.com/aio2/aio2/ring"
)

// wantUsage checks that r is a usage error: status 2 and one line of
// stderr that contains want.
func wantUsage(t *testing.T, r result, want string) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
	if r.code != 2 || len(lines) != 1 || !strings.Contains(lines[0], want) {
		t.Fatalf("status %d, stderr %q; want 2 and one line saying %q", r.code, r.stderr, want)
	}
}

// headTail reads head and tail from the ring file at path.
func headTail(t *testing.T, path string) (head, tail uint32) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return binary.LittleEndian.Uint32(b[abi.OffHead:]), binary.LittleEndian.Uint32(b[abi.OffTail:])
}

// Ctrl-C (or SIGTERM) stops "aio2 reap" as --timeout does: the summary of
// what it reaped is printed, stopped by "interrupted", status 0 (before:
// the signal's default action killed it with no output).
func TestReapInterruptPrintsSummary(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		format string
		sig    syscall.Signal
	}{{"json", syscall.SIGINT}, {"normal", syscall.SIGTERM}} {
		t.Run(c.format+"-"+c.sig.String(), func(t *testing.T) {
			const n = 50
			path := ringFile(t, n, -1, false) // live: reap waits for more, with no limit
			cmd := exec.Command(bin, "reap", "--threads=2", "--timeout=0", "--output-format="+c.format, path)
			var out, errb strings.Builder
			cmd.Stdout, cmd.Stderr = &out, &errb
			ch := startChild(t, cmd)
			for deadline := time.Now().Add(20 * time.Second); ; {
				if h, tl := headTail(t, path); h == tl {
					break // all reaped: it now polls for more
				}
				if time.Now().After(deadline) || ch.wait(0) {
					t.Fatalf("reap did not reap the ring (exited %v); stderr %q", ch.exited, errb.String())
				}
				time.Sleep(10 * time.Millisecond)
			}
			time.Sleep(100 * time.Millisecond) // into its 1 ms naps
			if err := cmd.Process.Signal(c.sig); err != nil {
				t.Fatal(err)
			}
			if !ch.wait(10 * time.Second) {
				t.Fatalf("reap did not end within 10 s of %v", c.sig)
			}
			if code := cmd.ProcessState.ExitCode(); code != 0 {
				t.Fatalf("status %d (%v) after %v, want 0; stdout %q, stderr %q", code, cmd.ProcessState, c.sig, out.String(), errb.String())
			}
			if c.format == "json" {
				var s reapSummary
				if err := json.Unmarshal([]byte(out.String()), &s); err != nil {
					t.Fatalf("summary: %v\n%s", err, out.String())
				}
				if s.Events != n || s.StoppedBy != "interrupted" || s.Attrs["latency"]["ok"] != n {
					t.Fatalf("summary %+v; want %d events, every latency ok, stopped by interrupted", s, n)
				}
			} else if want := fmt.Sprintf("reaped %d events from %s with 2 thread(s) in ", n, path); !strings.HasPrefix(out.String(), want) ||
				!strings.Contains(out.String(), "; stopped by interrupted\n") {
				t.Fatalf("stdout %q; want %q... stopped by interrupted", out.String(), want)
			}
		})
	}
}

// An interrupt while events flow loses none: what the interrupted reap
// counts and what a second reap finds afterwards add up to what the
// producer wrote, so every event the first one claimed was counted.
func TestReapInterruptWhileProducing(t *testing.T) {
	reg, err := ring.NewMemfd("aio2-cli2-test", 4096, 512)
	if err != nil {
		requirePriv(t, fmt.Sprintf("memfd ring: %v", err))
	}
	defer reg.Close()
	p := ring.NewProducer(reg)
	var stop atomic.Bool
	produced := 0
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		rec := make([]byte, 0, 128)
		for !stop.Load() {
			for range 8 {
				rec = abi.BeginEvent(rec[:0], uint64(produced), 0, 512, 0)
				rec = abi.AppendAttrU64(rec, abi.AttrLatency, uint64(produced))
				rec = abi.EndEvent(rec, 0, 0)
				ok, err := p.TryAppend(rec)
				if err != nil {
					t.Error(err)
					return
				}
				if !ok {
					break // full: the reaper makes room
				}
				produced++
			}
			p.Commit()
			time.Sleep(50 * time.Microsecond)
		}
	}()
	cmd := exec.Command(bin, "reap", "--threads=3", "--output-format=json", reg.Path())
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	ch := startChild(t, cmd)
	for deadline := time.Now().Add(20 * time.Second); reg.Head() < 20000; {
		if time.Now().After(deadline) || ch.wait(0) {
			stop.Store(true)
			wg.Wait()
			t.Fatalf("reap took %d bytes in 20 s (exited %v); stderr %q", reg.Head(), ch.exited, errb.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGINT) // while events flow
	ok := ch.wait(10 * time.Second)
	stop.Store(true)
	wg.Wait()
	if !ok {
		t.Fatal("reap did not end within 10 s of SIGINT")
	}
	var s reapSummary
	if err := json.Unmarshal([]byte(out.String()), &s); err != nil || cmd.ProcessState.ExitCode() != 0 || s.StoppedBy != "interrupted" {
		t.Fatalf("status %d, summary %v %+v, stderr %q; want 0, stopped by interrupted", cmd.ProcessState.ExitCode(), err, s, errb.String())
	}
	p.SetDead()
	r := runBin(t, "reap", "--output-format=json", "--timeout=20", reg.Path())
	var rest reapSummary
	if err := json.Unmarshal([]byte(r.stdout), &rest); err != nil || r.code != 0 || rest.StoppedBy != "dead" {
		t.Fatalf("second reap: status %d, %v, %+v", r.code, err, rest)
	}
	t.Logf("produced %d; the interrupted reap counted %d, the second %d", produced, s.Events, rest.Events)
	if s.Events == 0 || s.Events+rest.Events != int64(produced) {
		t.Fatalf("interrupted reap counted %d, the second %d: %d in all, want the %d produced", s.Events, rest.Events, s.Events+rest.Events, produced)
	}
}

// The JSON summary's "malformed" is the error line, not a count: absent
// when nothing was malformed, the message when something was.
func TestReapJSONMalformedKey(t *testing.T) {
	t.Parallel()
	r := runBin(t, "reap", "--output-format=json", "--timeout=20", ringFile(t, 3, -1, true))
	var m map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &m); err != nil || r.code != 0 {
		t.Fatalf("status %d, %v", r.code, err)
	}
	if _, ok := m["malformed"]; ok {
		t.Fatalf("malformed in the summary of a well formed ring:\n%s", r.stdout)
	}
	r = runBin(t, "reap", "--output-format=json", "--timeout=20", ringFile(t, 3, 1, true))
	if err := json.Unmarshal([]byte(r.stdout), &m); err != nil || r.code != 1 {
		t.Fatalf("status %d, %v", r.code, err)
	}
	if v, ok := m["malformed"].(string); !ok || !strings.Contains(v, "unknown status 7") || m["stopped_by"] != "malformed" {
		t.Fatalf("malformed %#v, stopped_by %v; want the error line and malformed", m["malformed"], m["stopped_by"])
	}
}

// Command-line mistakes of reap, ring inspect and sim are refused with
// status 2 and one line that says what to change.
func TestCLI2UsageErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := ringFile(t, 3, -1, true)
	file := makeFile(t, dir, 4096)
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"reap negative count", []string{"reap", "--count=-1", path}, "--count=-1: use 0 (no limit) or more"},
		{"reap flag after PATH", []string{"reap", path, "--timeout=1s"}, "flags go before PATH"},
		{"reap flag after PATH, bare", []string{"reap", path, "-count", "1"}, "flags go before PATH"},
		{"reap two paths", []string{"reap", path, path}, "give one PATH"},
		{"reap /dev/null", []string{"reap", "/dev/null"}, "/dev/null is not a regular file or memfd"},
		{"reap a directory", []string{"reap", dir}, dir + " is not a regular file or memfd"},
		{"inspect flag after PATH", []string{"ring", "inspect", path, "--limit=0"}, "flags go before PATH"},
		{"inspect negative limit", []string{"ring", "inspect", "--limit=-1", path}, "--limit=-1: use 0 (all) or more"},
		{"sim check stray", []string{"sim", "check", "--bound=ci", "stray"}, "sim check: unexpected argument \"stray\""},
		{"sim size stray", []string{"sim", "size", "stray"}, "sim size: unexpected argument \"stray\""},
		{"sim size svg in no directory", []string{"sim", "size", "--svg=/nonexistent/x.svg"}, "/nonexistent is not a directory"},
		{"sim size svg under a file", []string{"sim", "size", "--svg=" + file + "/x.svg"}, "not a directory"},
	}
	if err := os.Mkdir(filepath.Join(dir, "d.svg"), 0o755); err != nil {
		t.Fatal(err)
	}
	cases = append(cases, struct {
		name string
		args []string
		want string
	}{"sim size svg names a directory", []string{"sim", "size", "--svg=" + filepath.Join(dir, "d.svg")}, "d.svg: it is a directory"})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			r := runBin(t, c.args...)
			wantUsage(t, r, c.want)
			if r.stdout != "" {
				t.Fatalf("stdout %q; want nothing (the work is not done)", r.stdout)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("refused after %v; want before the work", d)
			}
		})
	}
	// The ring was not touched by any of them.
	if h, tl := headTail(t, path); h == tl {
		t.Fatalf("head %#x = tail: a refused reap reaped", h)
	}
}

var byteOf = regexp.MustCompile(`attribute at byte (\d+) of ([^:]+):`)

// The same malformed attribute, found by reap and by ring inspect: each
// names where its byte offset counts from (before, both said "at byte N",
// one from the record's start, the other from the data area's).
func TestMalformedOffsetsNameTheirOrigin(t *testing.T) {
	t.Parallel()
	const bad = 10
	path := ringFile(t, 30, bad, true)
	recLen := len(abi.EndEvent(abi.AppendAttrU64(abi.BeginEvent(nil, 0, 0, 0, 0), abi.AttrLatency, 0), 0, 0))
	pos := bad * recLen // the ring starts at 0

	r := runBin(t, "ring", "inspect", path)
	m := byteOf.FindStringSubmatch(r.stderr)
	if r.code != 1 || m == nil || m[2] != "the data area" || m[1] != strconv.Itoa(pos+abi.EventHeaderBytes) {
		t.Fatalf("inspect: status %d, stderr %q; want 1 and \"attribute at byte %d of the data area\"", r.code, r.stderr, pos+abi.EventHeaderBytes)
	}
	if !strings.Contains(r.stdout, fmt.Sprintf("attribute at byte %d of the data area: ", pos+abi.EventHeaderBytes)) {
		t.Fatalf("inspect's MALFORMED line does not name the data area:\n%s", r.stdout)
	}

	t.Logf("inspect: %s", r.stderr)
	r = runBin(t, "reap", "--timeout=20", path)
	t.Logf("reap: %s", r.stderr)
	m = byteOf.FindStringSubmatch(r.stderr)
	if want := "the record"; r.code != 1 || m == nil || m[2] != want || m[1] != strconv.Itoa(abi.EventHeaderBytes) ||
		!strings.Contains(r.stderr, fmt.Sprintf("malformed event at head %#x ", pos)) {
		t.Fatalf("reap: status %d, stderr %q; want 1, the head %#x and \"attribute at byte %d of %s\"", r.code, r.stderr, pos, abi.EventHeaderBytes, want)
	}
}
