package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/aio2/aio2/abi"
	"github.com/aio2/aio2/ring"
)

// reapTotals is what one reaper thread saw; merged at the end.
type reapTotals struct {
	events, pads, padBytes, resErrors int64
	truncated, unknownIDs             int64
	status                            [abi.AttrMaxCatalogue + 1][4]int64
	experimental                      int64
}

func (t *reapTotals) merge(o *reapTotals) {
	t.events += o.events
	t.pads += o.pads
	t.padBytes += o.padBytes
	t.resErrors += o.resErrors
	t.truncated += o.truncated
	t.unknownIDs += o.unknownIDs
	t.experimental += o.experimental
	for i := range t.status {
		for k := range t.status[i] {
			t.status[i][k] += o.status[i][k]
		}
	}
}

type reapSummary struct {
	Path      string                      `json:"path"`
	Threads   int                         `json:"threads"`
	Events    int64                       `json:"events"`
	Pads      int64                       `json:"pads"`
	PadBytes  int64                       `json:"pad_bytes"`
	ResErrors int64                       `json:"res_errors"`
	Truncated int64                       `json:"attrs_truncated_events"`
	Attrs     map[string]map[string]int64 `json:"attrs"`
	Unknown   int64                       `json:"unknown_attr_ids"`
	StoppedBy string                      `json:"stopped_by"`
	Malformed string                      `json:"malformed,omitempty"`
	Overflow  uint64                      `json:"overflowed"`
	Seconds   float64                     `json:"seconds"`
	// OverflowPending: F_OVERFLOW was still set at the end, so the
	// producer's overflow list held events no ring reaper can take (only
	// the producer's getevents delivers them).
	OverflowPending bool `json:"overflow_pending"`
	// EventfdWakes counts the sleeps on --eventfd that ended with the
	// counter set: present, 0 included, with --eventfd; absent without.
	EventfdWakes *int64 `json:"eventfd_wakes,omitempty"`
	// CountersUnread: the file shrank after every thread had ended
	// cleanly, so overflowed and overflow_pending could not be read (they
	// are 0 and false). The reap itself is whole: stopped_by says why it
	// ended, and the status is 0.
	CountersUnread bool `json:"counters_unread,omitempty"`
}

// newReaper is ring.NewReaper; a test replaces it to make a later
// reaper's setup fail.
var newReaper = ring.NewReaper

// reapersDone runs after every reaper thread has ended, before the
// header's counters are read; a test replaces it to truncate the file
// there.
var reapersDone = func() {}

// errRingShrank is what a fault on the ring's mapping becomes.
var errRingShrank = errors.New("the ring's file shrank under its mapping (truncated by its owner?): reading it faulted")

// guardFault runs f with a fault on a mapping turned into errRingShrank
// rather than a crash: only a memfd can be sealed against shrinking, and
// reap takes any file that holds a ring region, whose owner may truncate
// it while it is mapped (a read past the new end is SIGBUS). Found by
// review, 2026-11-22. debug.SetPanicOnFault is per goroutine: every
// goroutine that reads the ring runs under it.
func guardFault(f func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(interface{ Addr() uintptr }); ok {
				err = errRingShrank
				return
			}
			panic(r)
		}
	}()
	return f()
}

func cmdReap(args []string, stdout, stderr io.Writer) error {
	return guardFault(func() error { return reap(args, stdout) })
}

func reap(args []string, stdout io.Writer) error {
	fs := newFlagSet("reap", "reap [--threads=N] [--events] [--count=N] [--timeout=D] [--eventfd=/proc/PID/fd/N] PATH")
	threads := fs.Int("threads", 1, "reapers, each a goroutine claiming records with a compare-and-swap on head")
	events := fs.Bool("events", false, "print every event, one line each")
	count := fs.Int64("count", 0, "stop after this many events (0: until the producer sets F_DEAD and the ring is empty)")
	timeoutS := fs.String("timeout", "0", "stop after this long (seconds, or 1500ms, 2m; 0: no limit)")
	format := fs.String("output-format", "normal", "normal or json (the summary)")
	efdPath := fs.String("eventfd", "", "the producer's eventfd as /proc/PID/fd/N (\"aio2 io --reaper=external\" prints it): sleep on it when the ring is empty instead of polling")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	path, err := onePath(fs, "reap")
	if err != nil {
		return err
	}
	if *threads < 1 || *threads > 256 {
		return usagef("--threads=%d: use 1 to 256", *threads)
	}
	if *count < 0 {
		return usagef("--count=%d: use 0 (no limit) or more", *count)
	}
	if *format != "normal" && *format != "json" {
		return usagef("--output-format=%s: use normal or json", *format)
	}
	timeout, err := parseSeconds(*timeoutS)
	if err != nil {
		return usagef("--timeout=%s: %v", *timeoutS, err)
	}
	efd := -1
	if *efdPath != "" {
		if efd, err = peerEventfd(*efdPath); err != nil {
			return err
		}
		defer unix.Close(efd)
	}
	// ring.Open refuses what is not a regular file with a bare EINVAL
	// ("open: invalid argument" for /dev/null): say what is wrong.
	if st, err := os.Stat(path); err == nil && !st.Mode().IsRegular() {
		return notRegular(path)
	}
	reg, err := ring.Open(path)
	if err != nil {
		return openRingError(path, err)
	}
	defer reg.Close()
	// A ring named /proc/PID/fd/N has its producer in PID. If that
	// process ends without setting F_DEAD (killed), nothing more can be
	// published, and reaping on for ever (--timeout 0) helps nobody: the
	// reapers stop once the ring is empty after it ended. The pidfd is
	// taken after the ring is mapped, so it is that process's (a PID
	// reused since cannot have the fd open).
	producer := -1
	var pid, fdn int
	if k, _ := fmt.Sscanf(path, "/proc/%d/fd/%d", &pid, &fdn); k == 2 && path == fmt.Sprintf("/proc/%d/fd/%d", pid, fdn) {
		switch pfd, err := unix.PidfdOpen(pid, 0); {
		case err == nil:
			producer = pfd
			defer unix.Close(pfd)
		case err == unix.ESRCH:
			producer = -2 // gone already
		}
	}
	if efd >= 0 {
		// Awake: no signals needed until a reaper is about to sleep
		// (reapCtl.sleep). On the way out the flag is cleared, so that
		// a producer signals whoever reaps next.
		reg.SetUserFlags(abi.UFNoEventfd, 0)
		defer reg.SetUserFlags(0, abi.UFNoEventfd)
	}

	out := bufio.NewWriter(stdout)
	var outMu sync.Mutex
	var (
		stop      atomic.Bool
		remaining atomic.Int64
		done      atomic.Int64
		stoppedBy atomic.Value
		wakes     atomic.Int64
	)
	remaining.Store(*count)
	start := time.Now()
	var deadline time.Time
	if timeout > 0 {
		deadline = start.Add(timeout)
	}
	totals := make([]reapTotals, *threads)
	errs := make([]error, *threads)
	// Every reaper is made before any goroutine starts: NewReaper checks
	// the live header again, and a failure after some had started
	// returned with them still running, and the deferred Close unmapped
	// the ring under them (found by review, 2026-11-22: SIGSEGV).
	rps := make([]*ring.Reaper, *threads)
	for i := range rps {
		if rps[i], err = newReaper(reg); err != nil {
			return notRing(path, err)
		}
	}
	// SIGINT and SIGTERM stop the reapers as --timeout does: each
	// finishes the batch it claimed (every claimed event is counted) and
	// the summary is printed, stopped by "interrupted", status 0. The
	// first signal restores the default action, so a second one ends the
	// process at once. Caught until the summary is printed.
	sigc := make(chan os.Signal, 1)
	sigDone := make(chan struct{})
	signal.Notify(sigc, os.Interrupt, syscall.SIGTERM)
	var sigWG sync.WaitGroup
	sigWG.Add(1)
	go func() {
		defer sigWG.Done()
		select {
		case <-sigc:
			signal.Reset(os.Interrupt, syscall.SIGTERM)
			stoppedBy.CompareAndSwap(nil, "interrupted")
			stop.Store(true)
		case <-sigDone:
		}
	}()
	defer func() {
		signal.Stop(sigc)
		close(sigDone)
		sigWG.Wait()
	}()
	var wg sync.WaitGroup
	for i, rp := range rps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = guardFault(func() error {
				return reapLoop(rp, reg, &totals[i], reapCtl{
					stop: &stop, remaining: &remaining, done: &done, count: *count, counted: *count > 0, deadline: deadline,
					stoppedBy: &stoppedBy, events: *events, out: out, outMu: &outMu,
					efd: efd, wakes: &wakes, producer: producer,
				})
			})
			if errs[i] != nil {
				stop.Store(true)
			}
		}()
	}
	wg.Wait()
	out.Flush()
	// A ring whose file shrank cannot give its header's counters, but
	// the events the threads claimed before are counted, and are gone
	// from the ring: the summary still says how many.
	shrank := false
	var others []error // malformed records, each thread's first
	for _, e := range errs {
		switch {
		case e == nil:
		case errors.Is(e, errRingShrank):
			shrank = true
		default:
			others = append(others, e)
		}
	}
	reapersDone()
	var overflow uint64
	var pending bool
	// A file that shrinks only now, after every thread ended for a reason
	// of its own (F_DEAD and empty, --count, --timeout...), took nothing
	// from the reap: every event it claimed is counted and none is left
	// unread for that reason. Only the header's counters are lost; the
	// summary says so and keeps the thread's reason (found by review,
	// 2026-11-22: it said "shrank" and exited 1).
	countersUnread := false
	if !shrank {
		countersUnread = guardFault(func() error {
			overflow, pending = reg.Overflowed(), reg.Flags()&abi.FOverflow != 0
			return nil
		}) != nil
	}
	var t reapTotals
	for i := range totals {
		t.merge(&totals[i])
	}
	sum := reapSummary{Path: path, Threads: *threads, Events: t.events, Pads: t.pads, PadBytes: t.padBytes,
		ResErrors: t.resErrors, Truncated: t.truncated, Unknown: t.unknownIDs + t.experimental,
		Attrs: map[string]map[string]int64{}, Overflow: overflow, Seconds: time.Since(start).Seconds()}
	if efd >= 0 {
		w := wakes.Load()
		sum.EventfdWakes = &w
	}
	sum.OverflowPending = pending
	sum.CountersUnread = countersUnread
	if v, ok := stoppedBy.Load().(string); ok {
		sum.StoppedBy = v
	}
	for id := range t.status {
		st := t.status[id]
		if st[0]+st[1]+st[2]+st[3] == 0 {
			continue
		}
		name := abi.AttrName(uint16(id))
		if name == "" {
			name = fmt.Sprintf("id%d", id)
		}
		sum.Attrs[name] = map[string]int64{"ok": st[0], "unsupported": st[1], "unavailable": st[2], "error": st[3]}
	}
	var runErr error
	switch {
	case len(others) > 0:
		runErr = errors.Join(others...)
		if shrank {
			runErr = errors.Join(runErr, errRingShrank)
		}
		sum.StoppedBy = "malformed"
	case shrank:
		runErr = errRingShrank // once, not once per thread that met it
		sum.StoppedBy = "shrank"
	}
	if runErr != nil {
		sum.Malformed = runErr.Error()
	}
	if *format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(&sum); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(stdout, "reaped %d events from %s with %d thread(s) in %.3fs; stopped by %s\n", sum.Events, path, sum.Threads, sum.Seconds, sum.StoppedBy)
		fmt.Fprintf(stdout, "  PADs skipped %d (%d bytes); events with res < 0: %d; attributes truncated: %d; overflowed (producer's count): %d\n",
			sum.Pads, sum.PadBytes, sum.ResErrors, sum.Truncated, sum.Overflow)
		if efd >= 0 {
			fmt.Fprintf(stdout, "  woken by the eventfd %d times\n", *sum.EventfdWakes)
		}
		if sum.OverflowPending {
			fmt.Fprintf(stdout, "  F_OVERFLOW is set: the producer's overflow list holds events that only its getevents delivers\n")
		}
		if sum.CountersUnread {
			fmt.Fprintf(stdout, "  the ring's file shrank after the reap ended: the overflowed counter and F_OVERFLOW could not be read\n")
		}
		for _, name := range sortedKeys(sum.Attrs) {
			st := sum.Attrs[name]
			fmt.Fprintf(stdout, "  %-10s ok=%d unsupported=%d unavailable=%d error=%d\n", name, st["ok"], st["unsupported"], st["unavailable"], st["error"])
		}
		if sum.Unknown > 0 {
			fmt.Fprintf(stdout, "  attributes with ids this reaper does not know (skipped by len): %d\n", sum.Unknown)
		}
	}
	if runErr != nil {
		return runErr
	}
	return nil
}

// openRingError turns ring.Open's errors into what the user should do.
func openRingError(path string, err error) error {
	var ae *abi.Error
	var pe *os.PathError
	switch {
	case errors.Is(err, os.ErrNotExist):
		return usagef("%s: no such file (give the ring's path, such as the /proc/PID/fd/N that \"aio2 io --reaper=external\" prints)", path)
	case errors.As(err, &ae):
		return notRing(path, err)
	case errors.As(err, &pe):
		return usagef("%s: %s: %v", path, pe.Op, pe.Err)
	}
	return err
}

type reapCtl struct {
	stop      *atomic.Bool
	remaining *atomic.Int64 // of --count, not yet reserved by a reaper
	done      *atomic.Int64 // events delivered, for --count
	count     int64
	counted   bool
	deadline  time.Time
	stoppedBy *atomic.Value
	events    bool
	out       *bufio.Writer
	outMu     *sync.Mutex
	efd       int // the producer's eventfd (read with RWF_NOWAIT); -1: poll
	wakes     *atomic.Int64
	// producer is a pidfd of the process whose /proc/PID/fd/N the ring
	// was opened by; -1: not known; -2: it had ended already.
	producer int
}

// producerEnded reports whether the producer's process is known to have
// ended: its pidfd polls readable once it has exited.
func (c *reapCtl) producerEnded() bool {
	switch {
	case c.producer == -2:
		return true
	case c.producer < 0:
		return false
	}
	fds := []unix.PollFd{{Fd: int32(c.producer), Events: unix.POLLIN}}
	n, _ := unix.Poll(fds, 0)
	return n > 0
}

// sleep waits on the producer's eventfd for at most 10 ms (so that
// --timeout and an F_DEAD set without a signal are seen), then resets its
// counter. While awake, reapers keep UF_NO_EVENTFD set, which spares the
// producer a write(2) per published batch; sleep clears it and looks at
// the ring once more before it waits. No wakeup is lost: the producer
// stores tail and then loads the flags, this side clears the flag and then
// loads tail, all sequentially consistent, so either the producer sees
// the flag clear and signals, or this look finds the record. Reapers
// share the eventfd: a signal wakes each one's poll, the first read takes
// the counter (the others get EAGAIN: the read is RWF_NOWAIT, since the
// producer's eventfd may be blocking, as a caller-supplied one can be, and
// a plain read would then wait for the next signal, past --timeout), and
// all go back to the ring. EINTR ends the wait early, which costs only a
// look at the ring.
func (c *reapCtl) sleep(reg *ring.Region) {
	reg.SetUserFlags(0, abi.UFNoEventfd)
	defer reg.SetUserFlags(abi.UFNoEventfd, 0)
	if reg.Head() != reg.Tail() {
		return
	}
	ms := 10
	if !c.deadline.IsZero() {
		ms = min(ms, max(int(time.Until(c.deadline)/time.Millisecond), 0))
	}
	// The producer's pidfd too, if known: its end wakes the sleep.
	fds := []unix.PollFd{{Fd: int32(c.efd), Events: unix.POLLIN}, {Fd: int32(c.producer), Events: unix.POLLIN}}
	if c.producer < 0 {
		fds = fds[:1]
	}
	if n, _ := unix.Poll(fds, ms); n <= 0 || fds[0].Revents == 0 {
		return
	}
	var b [8]byte
	if _, err := unix.Preadv2(c.efd, [][]byte{b[:]}, -1, unix.RWF_NOWAIT); err == nil {
		c.wakes.Add(1)
	}
}

// peerEventfd takes a copy of another process's eventfd, named by its
// /proc/PID/fd/N path, with pidfd_getfd(2): an eventfd cannot be reopened
// through /proc (open fails with ENXIO). The copy shares the producer's
// open file, and so its flags: it is not made non-blocking here (that
// would change the producer's fd too); sleep reads with RWF_NOWAIT.
func peerEventfd(path string) (int, error) {
	var pid, n int
	if k, err := fmt.Sscanf(path, "/proc/%d/fd/%d", &pid, &n); err != nil || k != 2 || path != fmt.Sprintf("/proc/%d/fd/%d", pid, n) {
		return -1, usagef("--eventfd=%s: give it as /proc/PID/fd/N, as \"aio2 io --reaper=external\" prints it", path)
	}
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		if err == unix.ESRCH {
			return -1, usagef("--eventfd=%s: no process %d", path, pid)
		}
		return -1, usagef("--eventfd=%s: pidfd_open: %v", path, err)
	}
	defer unix.Close(pidfd)
	fd, err := unix.PidfdGetfd(pidfd, n, 0)
	switch {
	case err == unix.EBADF:
		return -1, usagef("--eventfd=%s: process %d has no fd %d", path, pid, n)
	case err == unix.EPERM:
		return -1, usagef("--eventfd=%s: not permitted to copy process %d's fd (pidfd_getfd needs ptrace access to it: run as its user, or with CAP_SYS_PTRACE); leave --eventfd out to poll", path, pid)
	case err != nil:
		return -1, usagef("--eventfd=%s: pidfd_getfd: %v", path, err)
	}
	if kind, _ := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd)); kind != "anon_inode:[eventfd]" {
		unix.Close(fd)
		return -1, usagef("--eventfd=%s is not an eventfd (it is %s)", path, kind)
	}
	return fd, nil
}

// take reserves up to want events of --count for this thread.
// validateEvents checks every EVENT record in recs (as Snapshot copies
// them, PADs left out) and returns, for the first malformed one, how many
// valid events come before it and its offset.
func validateEvents(recs []byte, ev *abi.Event) (good, off int, err error) {
	for off < len(recs) {
		next, err := abi.NextEvent(recs, off, ev)
		if err == nil {
			err = abi.ValidateEvent(ev, off)
		}
		if err != nil {
			return good, off, err
		}
		good++
		off = next
	}
	return good, off, nil
}

func (c *reapCtl) take(want int) int {
	if !c.counted {
		return want
	}
	for {
		r := c.remaining.Load()
		if r <= 0 {
			return 0
		}
		k := min(int64(want), r)
		if c.remaining.CompareAndSwap(r, r-k) {
			return int(k)
		}
	}
}

// maxKeptBatch is the largest batch buffer a reaper keeps for its next
// batch; a larger one, grown for a batch of large records, is left to
// the garbage collector.
const maxKeptBatch = 1 << 20

// reapLoop reaps with the CAS protocol of spec section 4 until the ring is
// dead and empty, --count is reached, --timeout passes, or a record is
// malformed. An empty ring is tried again 64 times (yielding the CPU
// between tries); then, with --eventfd, the reaper sleeps on the
// producer's eventfd (spec section 4: "wait on the eventfd"), and without
// it polls every few tens of microseconds for about 10 ms, then every
// millisecond.
func reapLoop(rp *ring.Reaper, reg *ring.Region, t *reapTotals, c reapCtl) error {
	// The batch buffer grows to what Snapshot copies, which is at most
	// the records of 64 events: it is not sized from the header's
	// max_event_bytes up front, which a hostile header can make 256 MiB
	// (times 64, times --threads: found by review, 2026-11-22, OOM).
	var buf []byte
	var ev abi.Event
	idle := 0
	upTo := 0 // events before a malformed one, to take alone next
	for !c.stop.Load() {
		if !c.deadline.IsZero() && time.Now().After(c.deadline) {
			c.stoppedBy.CompareAndSwap(nil, "timeout")
			c.stop.Store(true)
			break
		}
		want := c.take(64)
		if upTo > 0 && want > upTo {
			c.remaining.Add(int64(want - upTo))
			want = upTo
		}
		upTo = 0
		if want == 0 {
			if c.done.Load() < c.count {
				// The rest of the count is reserved by other reapers,
				// not yet delivered: they deliver it or hand it back
				// (found by review, 2026-11-22: stopping here ended
				// the run short of --count).
				runtime.Gosched()
				continue
			}
			c.stoppedBy.CompareAndSwap(nil, "count")
			c.stop.Store(true)
			break
		}
		h, consumed, recs, n, err := rp.Snapshot(buf[:0], want)
		// Kept for the next batch (Snapshot allocated it when it had to
		// grow), unless one batch of large records made it large.
		if cap(recs) <= maxKeptBatch {
			buf = recs[:0]
		} else {
			buf = nil
		}
		if err != nil {
			c.remaining.Add(int64(want))
			return fmt.Errorf("malformed ring at head %#x: %w", h, err)
		}
		if consumed == 0 {
			c.remaining.Add(int64(want))
			// Dead and empty: the producer is gone and nothing is left.
			// Check head == tail after seeing F_DEAD, since the producer
			// may publish its last records and then set the flag.
			if reg.Flags()&abi.FDead != 0 && reg.Head() == reg.Tail() {
				c.stoppedBy.CompareAndSwap(nil, "dead")
				c.stop.Store(true)
				break
			}
			// Likewise once the producer's process has ended (killed,
			// with no F_DEAD): head == tail is checked after the exit
			// is seen, since its last records may have come after the
			// look that found the ring empty.
			if idle >= 64 && c.producerEnded() && reg.Head() == reg.Tail() {
				// A producer that ended normally set F_DEAD first,
				// maybe after the look above: say so.
				why := "producer exited"
				if reg.Flags()&abi.FDead != 0 {
					why = "dead"
				}
				c.stoppedBy.CompareAndSwap(nil, why)
				c.stop.Store(true)
				break
			}
			// Spin briefly, then poll every few tens of µs for about
			// 10 ms (a disk IO's completion comes within that), and
			// only then fall back to 1 ms naps.
			idle++
			switch {
			case idle < 64:
				runtime.Gosched()
			case c.efd >= 0:
				c.sleep(reg)
			case idle < 64+256:
				nap(20 * time.Microsecond)
			default:
				time.Sleep(time.Millisecond)
			}
			continue
		}
		// Validate the copy before claiming it, so that a malformed
		// event is reported with the ring left as it was: claimed first,
		// the valid events after it in the batch were lost (found by
		// review, 2026-11-22). A copy that fails while head has moved is
		// torn (another reaper claimed the bytes and the producer reused
		// them): try again.
		if good, off, err := validateEvents(recs, &ev); err != nil {
			c.remaining.Add(int64(want))
			switch {
			case reg.Head() != h:
			case good > 0:
				// Take the valid events before it first, alone.
				upTo = good
			default:
				// off is 0 here (no valid event before it): offsets
				// count from the record's start, at head.
				return fmt.Errorf("malformed event at head %#x (not claimed): %w", h, atByteOf(err, off, "the record"))
			}
			continue
		}
		if !rp.Claim(h, consumed) {
			c.remaining.Add(int64(want))
			continue // another reaper took them: the copy does not count
		}
		idle = 0
		c.remaining.Add(int64(want - n))
		if c.counted {
			c.done.Add(int64(n))
		}
		var got uint32
		for off := 0; off < len(recs); {
			next, err := abi.NextEvent(recs, off, &ev)
			if err != nil {
				return fmt.Errorf("malformed event in the batch claimed at head %#x: %w", h, atByteOf(err, 0, "the batch's events, PADs left out"))
			}
			got += uint32(next - off)
			t.events++
			if ev.Res < 0 {
				t.resErrors++
			}
			if ev.Flags&abi.EventAttrsTruncated != 0 {
				t.truncated++
			}
			it := abi.NewAttrIter(ev.Attrs)
			for {
				a, ok := it.Next()
				if !ok {
					break
				}
				switch {
				case a.ID >= abi.AttrFirstExperimental:
					t.experimental++
				case !abi.KnownAttr(a.ID):
					t.unknownIDs++
				default:
					t.status[a.ID][min(a.Status, abi.AttrError)]++
				}
			}
			if c.events {
				c.outMu.Lock()
				fmt.Fprintln(c.out, eventLine(&ev, uint32(next-off)))
				c.outMu.Unlock()
			}
			off = next
		}
		if got < consumed {
			// The batch held a PAD: at most one, since a batch spans
			// less than the data area and so wraps at most once.
			t.pads++
			t.padBytes += int64(consumed - got)
		}
	}
	return nil
}
