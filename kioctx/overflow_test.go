package kioctx

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/aio2/aio2/abi"
	"github.com/aio2/aio2/ring"
)

// waitIdle waits until nothing is in flight (every iocb has produced its
// event), reaping nothing.
func waitIdle(t testing.TB, c *Context) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.mu.Lock()
		c.nat.drainLocked()
		c.commitLocked()
		busy := c.busy
		c.mu.Unlock()
		if busy == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d iocbs still in flight", busy)
		}
		time.Sleep(time.Millisecond)
	}
}

func noops(first, n int) []Iocb {
	cbs := make([]Iocb, n)
	for i := range cbs {
		cbs[i] = Iocb{Opcode: abi.OpNoop, Data: uint64(first + i)}
	}
	return cbs
}

// A reaper that stalls while completions arrive: the 4 KiB ring fills,
// later events wait on the overflow list, and when reaping resumes every
// event comes out once, in the order it was produced, and F_OVERFLOW
// clears.
func TestOverflowStalledReaper(t *testing.T) {
	for _, useReap := range []bool{false, true} {
		t.Run(fmt.Sprintf("reap=%v", useReap), func(t *testing.T) {
			c := newCtx(t, 512, 4096, 0)
			f, _ := directFile(t, 1<<20)
			buf := alignedBuf(t, 32*4096)
			if n, err := c.Submit(noops(0, 100)); n != 100 || err != nil {
				t.Fatalf("Submit: %d %v", n, err)
			}
			var reads []Iocb
			for i := 0; i < 32; i++ {
				reads = append(reads, Iocb{Opcode: abi.OpPread, Fd: int32(f.Fd()), Buf: buf[i*4096 : (i+1)*4096], Offset: int64(i) * 4096, Data: uint64(1000 + i)})
			}
			if n, err := c.Submit(reads); n != 32 || err != nil {
				t.Fatalf("Submit reads: %d %v", n, err)
			}
			waitIdle(t, c)
			if n, err := c.Submit(noops(100, 100)); n != 100 || err != nil {
				t.Fatalf("Submit: %d %v", n, err)
			}
			if c.reg.Flags()&abi.FOverflow == 0 || c.reg.Overflowed() == 0 {
				t.Fatalf("no overflow: flags %#x overflowed %d", c.reg.Flags(), c.reg.Overflowed())
			}
			if got := c.Inflight(); got != 232 {
				t.Fatalf("Inflight %d, want 232 (overflowed events count)", got)
			}
			var all []abi.Event
			out := make([]byte, 16*c.maxEv)
			for len(all) < 232 {
				var n int
				var err error
				if useReap {
					n, err = c.Reap(out)
				} else {
					n, err = c.GetEvents(1, out, 5*time.Second)
				}
				if err != nil {
					t.Fatalf("after %d events: %v", len(all), err)
				}
				if n == 0 {
					t.Fatalf("ring empty after %d events, flags %#x", len(all), c.reg.Flags())
				}
				all = append(all, events(t, append([]byte(nil), out[:n]...))...)
			}
			var order []uint64
			seen := map[uint64]bool{}
			for _, ev := range all {
				if seen[ev.Data] {
					t.Fatalf("event %d twice", ev.Data)
				}
				seen[ev.Data] = true
				order = append(order, ev.Data)
			}
			// Production order: noops 0..99, the 32 reads in some order,
			// noops 100..199.
			for i := 0; i < 100; i++ {
				if order[i] != uint64(i) {
					t.Fatalf("event %d is %d: %v", i, order[i], order)
				}
				if order[132+i] != uint64(100+i) {
					t.Fatalf("event %d is %d", 132+i, order[132+i])
				}
			}
			for _, d := range order[100:132] {
				if d < 1000 || d >= 1032 {
					t.Fatalf("a read's event out of place: %v", order)
				}
			}
			if c.reg.Flags()&abi.FOverflow != 0 {
				t.Fatalf("F_OVERFLOW still set")
			}
			if c.Inflight() != 0 {
				t.Fatalf("Inflight %d after reaping all", c.Inflight())
			}
		})
	}
}

func TestMain(m *testing.M) {
	if os.Getenv("AIO2_KIOCTX_CHILD") == "reap" {
		os.Exit(childReap())
	}
	os.Exit(m.Run())
}

// childReap is the child process of TestSharedRingChildReaper: it maps the
// ring passed as fd 3 and reaps the number of events named in the
// environment, printing their data.
func childReap() int {
	want, _ := strconv.Atoi(os.Getenv("AIO2_KIOCTX_N"))
	r, err := ring.Open("/proc/self/fd/3")
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		return 1
	}
	rp, err := ring.NewReaper(r)
	if err != nil {
		fmt.Fprintln(os.Stderr, "reaper:", err)
		return 1
	}
	var out []byte
	got := 0
	deadline := time.Now().Add(20 * time.Second)
	for got < want && time.Now().Before(deadline) {
		buf, n, err := rp.Reap(nil, 64)
		if err != nil {
			fmt.Fprintln(os.Stderr, "reap:", err)
			return 1
		}
		if n == 0 {
			time.Sleep(100 * time.Microsecond)
			continue
		}
		for off := 0; off < len(buf); {
			var ev abi.Event
			next, err := abi.NextEvent(buf, off, &ev)
			if err != nil {
				fmt.Fprintln(os.Stderr, "event:", err)
				return 1
			}
			out = strconv.AppendUint(out, ev.Data, 10)
			out = append(out, '\n')
			got++
			off = next
		}
	}
	os.Stdout.Write(out)
	if got != want {
		fmt.Fprintf(os.Stderr, "reaped %d of %d\n", got, want)
		return 1
	}
	return 0
}

// A SETUP_SHARED context reaped by a child process: every event arrives
// once, in order, and the parent's max_inflight accounting sees the
// child's reaping through head.
func TestSharedRingChildReaper(t *testing.T) {
	c := newCtx(t, 32, 4096, abi.SetupShared)
	if c.RingFile() == nil {
		t.Fatal("no ring file")
	}
	const n = 2000
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "AIO2_KIOCTX_CHILD=reap", "AIO2_KIOCTX_N="+strconv.Itoa(n))
	cmd.ExtraFiles = []*os.File{c.RingFile()}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	full := 0
	for next := 0; next < n; {
		k, err := c.Submit(noops(next, min(16, n-next)))
		if err != nil {
			full++
			time.Sleep(50 * time.Microsecond)
			continue
		}
		next += k
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v\n%s", err, stderr.String())
	}
	lines := strings.Fields(stdout.String())
	if len(lines) != n {
		t.Fatalf("child reaped %d events, want %d", len(lines), n)
	}
	for i, l := range lines {
		if l != strconv.Itoa(i) {
			t.Fatalf("event %d has data %s", i, l)
		}
	}
	if full == 0 {
		t.Log("max_inflight was never reached (the child kept up)")
	}
	if got := c.Inflight(); got != 0 {
		t.Fatalf("Inflight %d after the child reaped everything", got)
	}
}

// A reaper in another process that writes nonsense into head kills the
// ring (F_DEAD), but not the context: events produced after the producer
// noticed come through GetEvents from the overflow list, the accounting
// does not stall, and nothing reads or writes outside the region. Events
// published before it noticed stay in the dead ring, where no reaper can
// take them: counted as produced, lost to the processes sharing the ring.
func TestCorruptHeadKillsRingNotContext(t *testing.T) {
	c := newCtx(t, 256, 4096, abi.SetupShared)
	c.Submit(noops(0, 4))
	waitIdle(t, c)
	head := (*atomic.Uint32)(unsafe.Pointer(&c.Region()[abi.OffHead]))
	head.Store(c.reg.Tail() + 4096) // past the tail: no reaper could have written it
	// Enough events that the producer must look at head again.
	for i := 0; i < 4; i++ {
		if n, err := c.Submit(noops(100+40*i, 40)); n != 40 || err != nil {
			t.Fatalf("Submit after corruption: %d %v", n, err)
		}
	}
	if c.reg.Flags()&abi.FDead == 0 {
		t.Fatalf("ring not dead after a corrupt head: flags %#x", c.reg.Flags())
	}
	// Reap sends the caller to GetEvents: it returned 0 and no error
	// for ever before (found by review, 2026-11-22), and a caller that
	// only reaps stalled at max_inflight.
	if n, err := c.Reap(make([]byte, 8*c.maxEv)); n != 0 || !errors.Is(err, ErrNoRing) {
		t.Fatalf("Reap on the dead ring = %d, %v; want 0, ErrNoRing", n, err)
	}
	out := make([]byte, 64*c.maxEv)
	got := map[uint64]bool{}
	for {
		n, err := c.GetEvents(1, out, 100*time.Millisecond)
		if errors.Is(err, ErrTimeout) && n == 0 {
			break
		}
		if err != nil {
			t.Fatalf("GetEvents after %d: %v", len(got), err)
		}
		for _, ev := range events(t, out[:n]) {
			if got[ev.Data] {
				t.Fatalf("event %d twice", ev.Data)
			}
			got[ev.Data] = true
		}
	}
	// The events published before the producer noticed are in a ring
	// nobody can reap any more (head is garbage); the ones after come
	// from the overflow list: a contiguous run up to the newest.
	if len(got) == 0 || !got[259] {
		t.Fatalf("events after the corruption: %v", got)
	}
	for i := 259; i > 259-len(got); i-- {
		if !got[uint64(i)] {
			t.Fatalf("event %d missing from the overflow run %v", i, got)
		}
	}
	t.Logf("%d events came from the overflow list after the ring died", len(got))
	if n := c.Inflight(); n != 0 {
		t.Fatalf("Inflight %d after draining a dead ring", n)
	}
}

// A head stored inside the published range but not at a record passes
// every check the producer can make; the reaper of GetEvents then finds
// the corruption. It reports it once (EUCLEAN) and kills the ring, and
// later events come through GetEvents from the overflow list: without
// the kill, every GetEvents failed at the same head with the events
// queued behind it (found by review, 2026-11-22).
func TestCorruptRecordKillsRingNotContext(t *testing.T) {
	c := headInsideARecord(t)
	out := make([]byte, 64*c.maxEv)
	n, err := c.GetEvents(1, out, 100*time.Millisecond)
	if !errors.Is(err, ring.ErrCorrupt) || !errors.Is(err, unix.EUCLEAN) {
		t.Fatalf("GetEvents on a ring with head inside a record = %d, %v; want EUCLEAN", n, err)
	}
	if c.reg.Flags()&abi.FDead == 0 {
		t.Fatalf("ring not dead after its reaper found it corrupt: flags %#x", c.reg.Flags())
	}
	newEventsAfterDeath(t, c)
}

// headInsideARecord returns a context whose shared ring holds four
// events, with head stored 8 bytes into the first: inside the published
// range, so the producer cannot tell, but not at a record.
func headInsideARecord(t *testing.T) *Context {
	c := newCtx(t, 256, 4096, abi.SetupShared)
	c.Submit(noops(0, 4))
	waitIdle(t, c)
	head := (*atomic.Uint32)(unsafe.Pointer(&c.Region()[abi.OffHead]))
	head.Store(head.Load() + 8)
	return c
}

// newEventsAfterDeath submits 8 NOOPs to a context whose ring is dead and
// checks that GetEvents delivers each once, from the overflow list, and
// that nothing stays in flight.
func newEventsAfterDeath(t *testing.T, c *Context) {
	t.Helper()
	if n, err := c.Submit(noops(100, 8)); n != 8 || err != nil {
		t.Fatalf("Submit after the ring died: %d %v", n, err)
	}
	out := make([]byte, 64*c.maxEv)
	got := map[uint64]bool{}
	for len(got) < 8 {
		n, err := c.GetEvents(1, out, time.Second)
		if err != nil {
			t.Fatalf("GetEvents after %d of the new events: %v", len(got), err)
		}
		for _, ev := range events(t, out[:n]) {
			if ev.Data < 100 || ev.Data >= 108 || got[ev.Data] {
				t.Fatalf("event %d: not one of the new events, or twice (%v)", ev.Data, got)
			}
			got[ev.Data] = true
		}
	}
	waitIdle(t, c)
	if n := c.Inflight(); n != 0 {
		t.Fatalf("Inflight %d after the ring died", n)
	}
}

// Reap, like GetEvents, kills a ring in which it finds a corrupt record:
// that call returns the error (EUCLEAN), later Reaps give ErrNoRing, and
// the events produced afterwards come through GetEvents. Before (found
// by review, 2026-11-22), every Reap failed at the same record, and the
// events produced meanwhile waited behind it.
func TestReapCorruptRecordKillsRing(t *testing.T) {
	c := headInsideARecord(t)
	out := make([]byte, 64*c.maxEv)
	if n, err := c.Reap(out); !errors.Is(err, ring.ErrCorrupt) || !errors.Is(err, unix.EUCLEAN) {
		t.Fatalf("Reap on a ring with head inside a record = %d, %v; want EUCLEAN", n, err)
	}
	if c.reg.Flags()&abi.FDead == 0 {
		t.Fatalf("ring not dead after Reap found it corrupt: flags %#x", c.reg.Flags())
	}
	if n, err := c.Reap(out); n != 0 || !errors.Is(err, ErrNoRing) {
		t.Fatalf("Reap on the dead ring = %d, %v; want 0, ErrNoRing", n, err)
	}
	newEventsAfterDeath(t, c)
}
