package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/aio2/aio2/abi"
	"github.com/aio2/aio2/kioctx"
)

// reaperModes are the reapers a job can run with, as --reaper and the
// number of goroutines.
var reaperModes = []struct {
	reaper  string
	reapers int
}{{"inline", 0}, {"goroutines=1", 1}, {"goroutines=2", 2}}

// kioctx's GetEvents and Reap may return events together with an error
// (a failing io_getevents completes the iocbs the context held; a corrupt
// record ends a Reap after the good ones): buf[:n] must be consumed, or
// those IOs are lost from the report. Found by review, 2026-11-22: the
// job's reapers returned on the error and dropped them. Each reaper here
// meets such an error on a call that brought events; every event a call
// returned must be accounted, and the job must end with the error.
func TestEventsThatComeWithAnErrorAreCounted(t *testing.T) {
	for _, mode := range reaperModes {
		t.Run(mode.reaper, func(t *testing.T) {
			j := newTestJob(t, mode.reaper, mode.reapers)

			injected := errors.New("injected failure")
			var mu sync.Mutex
			calls, returned, failedWith := 0, 0, 0
			// The fault comes on the fifth call that brings events, from
			// whichever of the two the reaper uses.
			fail := func(n int, err error, buf []byte) (int, error) {
				mu.Lock()
				defer mu.Unlock()
				k := countEvents(t, buf[:n])
				returned += k
				if k > 0 && err == nil {
					if calls++; calls == 5 {
						failedWith = k
						return n, injected
					}
				}
				return n, err
			}
			getEvents, reap := j.getEvents, j.reap
			j.getEvents = func(min int, buf []byte, timeout time.Duration) (int, error) {
				n, err := getEvents(min, buf, timeout)
				return fail(n, err, buf)
			}
			j.reap = func(buf []byte) (int, error) {
				n, err := reap(buf)
				return fail(n, err, buf)
			}

			err := j.run(context.Background())
			require.ErrorIs(t, err, injected)
			require.Positive(t, failedWith)
			var got int64
			for _, rs := range j.states {
				got += rs.read.ios
			}
			mu.Lock()
			defer mu.Unlock()
			require.Equal(t, int64(returned), got,
				"events returned by GetEvents/Reap against events accounted (%d came with the error)", failedWith)
			require.Equal(t, j.issued-int64(j.kctx.Inflight()), got, "IOs reaped from the context against IOs accounted")
			// Whatever was still in flight is said in the error
			// (TestFailedWaitSaysWhatWasInFlight).
			if left := j.issued - got; left == 0 {
				require.NotContains(t, err.Error(), "not reaped")
			}
		})
	}
}

// A submit that fails while the inline reaper resubmits between batches
// of accounted events stops the resubmitting, not the accounting: the
// rest of the events the wait returned are reaped already. Found by
// review, 2026-11-22, in the change that made the reaper resubmit every 4
// events: it returned at once and left them unaccounted.
func TestSubmitFailingBetweenBatchesLosesNoEvent(t *testing.T) {
	j := newTestJob(t, "inline", 0)
	injected := errors.New("injected submit failure")
	waits, returned, first := 0, 0, 0
	failed := false
	var accountedAtFail int64
	getEvents, submitRaw := j.getEvents, j.submitRaw
	j.getEvents = func(min int, buf []byte, timeout time.Duration) (int, error) {
		waits++
		if waits == 1 {
			// 16 are in flight: take at least 8, so that the batches
			// of 4 leave some to account after the failed submit.
			min, timeout = 8, 10*time.Second
		}
		n, err := getEvents(min, buf, timeout)
		k := countEvents(t, buf[:n])
		returned += k
		if waits == 1 {
			first = k
			require.GreaterOrEqual(t, k, 8, "the first wait (err %v)", err)
		}
		return n, err
	}
	j.submitRaw = func(recs []byte) (int, error) {
		if waits == 1 && !failed {
			failed = true
			accountedAtFail = j.states[0].read.ios
			return 0, injected
		}
		return submitRaw(recs)
	}
	err := j.run(context.Background())
	require.ErrorIs(t, err, injected)
	require.True(t, failed, "no submit after the first wait")
	// The submit that failed ran between batches: some of the wait's
	// events were still to be accounted (a build that resubmits only
	// after accounting them all fails here, not below).
	require.Less(t, accountedAtFail, int64(first), "accounted when the submit failed, of %d the wait returned", first)
	got := j.states[0].read.ios
	require.Equal(t, int64(returned), got, "events returned against events accounted (%d in the wait whose resubmit failed)", first)
	require.Zero(t, j.kctx.Inflight(), "the job ended with IOs in flight")
	require.Equal(t, j.issued, got, "IOs submitted against IOs accounted")
}

// A failed submit ends the issuing, not the reaping: the IOs in flight
// are reaped and in the report, with every reaper (before, the job
// returned at once and left them to Destroy, unreported; found by
// review, 2026-11-22).
func TestSubmitFailureReapsWhatIsInFlight(t *testing.T) {
	for _, mode := range reaperModes {
		t.Run(mode.reaper, func(t *testing.T) {
			j := newTestJob(t, mode.reaper, mode.reapers)
			injected := errors.New("injected submit failure")
			calls := 0
			var inflightAtFail int
			submitRaw, getEvents, reap := j.submitRaw, j.getEvents, j.reap
			// Few events a call: with at most 4 a wait, the inline
			// reaper resubmits only at the top of its loop, not between
			// batches (TestSubmitFailingBetweenBatchesLosesNoEvent);
			// with 1, goroutine reapers hand slots back one by one, so
			// that the submitter runs while others are in flight (the
			// whole queue, reaped at once, left none).
			max := int(j.params.MaxEventBytes)
			if mode.reapers == 0 {
				max += 3 * abi.MinEventBytes
			}
			j.getEvents = func(min int, buf []byte, timeout time.Duration) (int, error) {
				return getEvents(min, buf[:max], timeout)
			}
			j.reap = func(buf []byte) (int, error) { return reap(buf[:max]) }
			j.submitRaw = func(recs []byte) (int, error) {
				// Only the job's goroutine submits. The fault comes
				// on a call after the first, with IOs in flight.
				if calls++; calls >= 2 && inflightAtFail == 0 {
					if n := j.kctx.Inflight(); n > 0 {
						inflightAtFail = n
						return 0, injected
					}
				}
				return submitRaw(recs)
			}
			err := j.run(context.Background())
			require.ErrorIs(t, err, injected)
			require.Positive(t, inflightAtFail, "nothing was in flight when the submit failed")
			require.Zero(t, j.kctx.Inflight(), "the job ended with IOs in flight")
			require.Zero(t, j.inflight, "the job ended before its IOs in flight came back")
			var got int64
			for _, rs := range j.states {
				got += rs.read.ios
			}
			require.Equal(t, j.issued, got, "IOs submitted against IOs accounted")
			require.False(t, j.interrupted, "a failed submit is not an interruption")
		})
	}
}

// A wait that fails ends the job with IOs still in flight; they cannot be
// in the report, but they must not pass for never issued: the job's error
// (the "failed" line of the report) says how many there were. Found by
// review, 2026-11-22. Each call here brings one event at most, so that the
// fault comes with the rest of the queue in flight.
func TestFailedWaitSaysWhatWasInFlight(t *testing.T) {
	for _, mode := range reaperModes {
		t.Run(mode.reaper, func(t *testing.T) {
			j := newTestJob(t, mode.reaper, mode.reapers)
			injected := errors.New("injected wait failure")
			max := int(j.params.MaxEventBytes)
			getEvents, reap := j.getEvents, j.reap
			// The fault comes on the 20th call that brings an event, or
			// the first after it that leaves two IOs in flight; from
			// then on the calls find nothing, as they would on a
			// context whose wait broke. Otherwise, with two reapers,
			// the other one drained the queue before it saw the job
			// end, and nothing was left to report (found in CI,
			// 2026-11-22, under -race).
			var mu sync.Mutex
			calls, faulted := 0, false
			broken := func() bool {
				mu.Lock()
				defer mu.Unlock()
				return faulted
			}
			fail := func(n int, err error) (int, error) {
				mu.Lock()
				defer mu.Unlock()
				if n > 0 && err == nil && !faulted {
					if calls++; calls >= 20 && j.kctx.Inflight() >= 2 {
						faulted = true
						return n, injected
					}
				}
				return n, err
			}
			j.getEvents = func(min int, buf []byte, timeout time.Duration) (int, error) {
				if broken() {
					return 0, kioctx.ErrTimeout
				}
				return fail(getEvents(min, buf[:max], timeout))
			}
			j.reap = func(buf []byte) (int, error) {
				if broken() {
					return 0, nil
				}
				return fail(reap(buf[:max]))
			}
			err := j.run(context.Background())
			require.ErrorIs(t, err, injected)
			var got int64
			for _, rs := range j.states {
				got += rs.read.ios
			}
			left := j.issued - got
			require.Equal(t, int64(j.kctx.Inflight()), left, "IOs neither accounted nor in the context")
			require.Positive(t, left, "the fault came with nothing in flight: the test proves nothing")
			require.ErrorContains(t, err, fmt.Sprintf("; %d IOs submitted were not reaped when the job ended, and are not in the report", left))
		})
	}
}

// newTestJob makes a job of 16 random 4 KiB O_DIRECT reads in flight, and
// no end, over a 4 MiB file in a temp dir, asking for attrs.
func newTestJob(t *testing.T, reaper string, reapers int, attrs ...uint16) *job {
	t.Helper()
	dir := t.TempDir()
	f, err := os.OpenFile(filepath.Join(dir, "f"), os.O_CREATE|os.O_RDWR|syscall.O_DIRECT, 0o644)
	if err != nil {
		requirePriv(t, "O_DIRECT not supported here")
	}
	f.Close()
	o := &ioOptions{name: "t", directory: dir, size: 4 << 20, rw: "randread", bs: 4096, iodepth: 16, direct: true,
		number: 1 << 40, numjobs: 1, reaper: reaper, reapers: reapers, attrs: attrs}
	tg, err := makeTarget(context.Background(), o, os.Stderr, nil)
	require.NoError(t, err)
	t.Cleanup(tg.close)
	j, err := newJob(0, o, tg)
	if err != nil {
		requirePriv(t, "io_setup2: "+err.Error())
	}
	t.Cleanup(j.close)
	return j
}

func countEvents(t *testing.T, buf []byte) int {
	t.Helper()
	var ev abi.Event
	k := 0
	for off := 0; off < len(buf); k++ {
		next, err := abi.NextEvent(buf, off, &ev)
		if err != nil {
			t.Errorf("event at %d: %v", off, err)
			return k
		}
		off = next
	}
	return k
}

// Samples are taken every 500 ms, fio's default averaging time, and each
// is a rate per second over the time that really passed, as fio's: a 2 s
// run had one sample a side when they were taken once a second, and a
// late or dropped tick would have skewed a rate that assumed 500 ms.
func TestSamplesAreRatesOverHalfSeconds(t *testing.T) {
	require.Equal(t, 500*time.Millisecond, sampleEvery)
	j := &job{}
	p, _ := testProgress(&ioOptions{runtime: time.Minute, bs: 4096}, 0, j)
	t0 := p.start
	j.rIOs.Store(1000)
	j.rBytes.Store(1000 * 4096)
	p.sampleAt(t0.Add(500 * time.Millisecond))
	j.rIOs.Store(1500)
	j.rBytes.Store(1500 * 4096)
	p.sampleAt(t0.Add(time.Second))
	// A tick 250 ms late: the window is 750 ms.
	j.rIOs.Store(3000)
	j.rBytes.Store(3000 * 4096)
	p.sampleAt(t0.Add(1750 * time.Millisecond))
	require.Equal(t, []int64{2000, 1000, 2000}, j.samples.rIOs, "IOs per second over each window")
	require.Equal(t, []int64{2000 * 4096, 1000 * 4096, 2000 * 4096}, j.samples.rBytes)
	require.Empty(t, j.samples.wIOs, "a side with no IO is not sampled")
	mn, mx, mean, _ := sampleStats(j.samples.rIOs)
	require.Equal(t, int64(1000), mn)
	require.Equal(t, int64(2000), mx)
	require.InDelta(t, 5000.0/3, mean, 1e-9)
}

// A job that fails still gets its report, with the failure in it and, when
// the failure carries an errno, fio's err= set to it: the events reaped
// along with the error are counted, and were printed nowhere (found by
// review, 2026-11-22: a failed job ended the command with only the error
// on stderr). Groups keep the failure and the interruption of any job.
func TestReportOfFailedJob(t *testing.T) {
	o, err := parseIOFlags(nil, io.Discard)
	require.NoError(t, err)
	mk := func(name string, ios int64, failure error, intr bool) *jobResult {
		j := &jobResult{name: name, jobs: 1, read: newSideStats(false), write: newSideStats(false),
			elapsed: time.Second, attrs: newAttrStats(nil), failure: failure, interrupted: intr}
		j.read.ios, j.read.bytes = ios, ios*4096
		return j
	}
	failure := fmt.Errorf("job 0: getevents: %w", unix.EINVAL)
	j := mk("aio2", 80, failure, false)
	var out bytes.Buffer
	writeNormal(&out, &runInfo{opts: o, elapsed: time.Second}, []*jobResult{j})
	text := out.String()
	for _, want := range []string{"err=22:", "failed       : job 0: getevents: invalid argument", "read: IOPS=80,"} {
		require.Contains(t, text, want)
	}
	out.Reset()
	require.NoError(t, writeJSON(&out, &runInfo{opts: o, elapsed: time.Second}, []*jobResult{j}))
	doc := parseOut(t, out.String())
	require.Equal(t, int64(22), doc.Jobs[0].Error)
	require.Equal(t, failure.Error(), doc.Jobs[0].Aio2.Failed)
	require.Equal(t, int64(80), doc.Jobs[0].Read.TotalIos)

	// Without an errno, err= stays 0 and the message is still there;
	// a job that did not fail has no "failed" key.
	other := mk("aio2", 5, errors.New("job 1: a reaper failed"), false)
	out.Reset()
	writeNormal(&out, &runInfo{opts: o, elapsed: time.Second}, []*jobResult{other})
	require.Contains(t, out.String(), "err= 0:")
	require.Contains(t, out.String(), "failed       : job 1: a reaper failed")
	out.Reset()
	require.NoError(t, writeJSON(&out, &runInfo{opts: o, elapsed: time.Second}, []*jobResult{mk("aio2", 5, nil, false)}))
	require.NotContains(t, out.String(), `"failed"`)

	g := mergeGroup("all", []*jobResult{mk("a", 10, nil, false), mk("b", 20, failure, false), mk("c", 30, nil, true)})
	require.Equal(t, int64(60), g.read.ios)
	require.ErrorIs(t, g.failure, unix.EINVAL)
	require.True(t, g.interrupted, "job c was interrupted")
	require.Equal(t, int64(22), g.errno())
}

// An external-mode run that ends in an error (here --timeout, after a
// reaper took 40 events and went away) reports the IOs that were reaped,
// not 0: its counts were set only on the way out of a run that succeeded
// (found by review, 2026-11-22, once failed runs got their report).
func TestIOExternalFailedRunCountsReaped(t *testing.T) {
	dir := t.TempDir()
	needDirect(t, dir)
	file := makeFile(t, dir, 16<<20)
	cmd, rest, stderr, ringPath, _ := startExternal(t, "--filename="+file, "--number=1000", "--iodepth=8",
		"--max-inflight=16", "--timeout=1", "--output-format=json")
	if r := runBin(t, "reap", "--count=40", "--timeout=30", ringPath); r.code != 0 {
		t.Fatalf("reap: %d %s", r.code, r.stderr)
	}
	b, _ := io.ReadAll(rest)
	err := cmd.Wait()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "aio2 io should fail on --timeout: %s", stderr.String())
	require.Equal(t, 1, ee.ExitCode())
	j := parseOut(t, string(b)).Jobs[0]
	require.Contains(t, j.Aio2.Failed, "were not reaped")
	require.Equal(t, int64(40), j.Read.TotalIos, "IOs reaped by the other process")
	require.Equal(t, int64(40*4096), j.Read.IoBytes)
}
