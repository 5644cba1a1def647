package kioctx

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/aio2/aio2/abi"
)

// skipOrFail skips a test that lacks a privilege or kernel feature, unless
// AIO2_REQUIRE_PRIV=1 (CI runs as root), where it fails instead.
func skipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("AIO2_REQUIRE_PRIV") == "1" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

// newCtx makes a context with the given max_inflight and ring size, and
// destroys it at the end of the test.
func newCtx(t testing.TB, maxInflight, ringBytes uint32, flags uint32) *Context {
	t.Helper()
	p := abi.Params{Size: abi.ParamsSize, Version: 2, Flags: flags, RingBytes: ringBytes, Eventfd: -1, MaxInflight: maxInflight}
	c, err := Setup(&p)
	if err != nil {
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM) {
			skipOrFail(t, "native AIO unavailable: %v", err)
		}
		t.Fatalf("Setup: %v", err)
	}
	t.Cleanup(func() {
		if !c.dead.Load() {
			if _, err := c.Destroy(); err != nil {
				t.Errorf("Destroy: %v", err)
			}
		}
	})
	return c
}

// directFile creates a file of size bytes in a fresh directory on the
// test's file system (ext4 here) and opens it O_DIRECT.
func directFile(t testing.TB, size int) (*os.File, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "direct")
	if err := os.WriteFile(path, make([]byte, size), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|unix.O_DIRECT, 0)
	if err != nil {
		if errors.Is(err, unix.EINVAL) {
			skipOrFail(t, "O_DIRECT not supported on %s: %v", path, err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, path
}

// lazyReads is what the lazy-mode tests share: a context, an O_DIRECT
// file, a batch of one read of its first block into mem[:4096], a
// getevents buffer, and a context made lazy by rounds of Submit and
// GetEvents (GetEvents callers own the completions).
type lazyReads struct {
	c   *Context
	f   *os.File
	mem []byte
	one []Iocb
	out []byte
}

func newLazyReads(t testing.TB, maxInflight uint32, memBytes, rounds int) *lazyReads {
	t.Helper()
	c := newCtx(t, maxInflight, 0, 0)
	f, _ := directFile(t, 1<<20)
	l := &lazyReads{c: c, f: f, mem: alignedBuf(t, memBytes), out: make([]byte, int(maxInflight)*c.maxEv)}
	l.one = []Iocb{{Opcode: abi.OpPread, Fd: int32(f.Fd()), Buf: l.mem[:4096]}}
	for range rounds {
		if _, err := c.Submit(l.one); err != nil {
			t.Fatal(err)
		}
		if _, err := c.GetEvents(1, l.out, -1); err != nil {
			t.Fatal(err)
		}
	}
	return l
}

// parkThenSubmit runs rounds of: wait (a GetEvents flavour, for one
// event) on a goroutine; once parked, read under c.mu, says it waits,
// submit l.one; wait must return an event. It returns how much counter,
// read under c.mu, grew over the rounds.
func (l *lazyReads) parkThenSubmit(t *testing.T, rounds int, wait func() (int, error), parked func() bool, counter func() int) int {
	t.Helper()
	c := l.c
	before := locked(c, counter)
	for i := range rounds {
		got := make(chan error, 1)
		go func() {
			n, err := wait()
			if err == nil && n == 0 {
				err = errors.New("no event")
			}
			got <- err
		}()
		for !locked(c, parked) {
			time.Sleep(50 * time.Microsecond)
		}
		if _, err := c.Submit(l.one); err != nil {
			t.Fatal(err)
		}
		if err := <-got; err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
	}
	return locked(c, counter) - before
}

func alignedBuf(t testing.TB, n int) []byte {
	t.Helper()
	b, err := AlignedBuf(n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { FreeBuf(b) })
	return b
}

// events decodes a getevents buffer.
func events(t testing.TB, b []byte) []abi.Event {
	t.Helper()
	var out []abi.Event
	for off := 0; off < len(b); {
		var ev abi.Event
		next, err := abi.NextEvent(b, off, &ev)
		if err != nil {
			t.Fatalf("event at %d: %v", off, err)
		}
		if err := abi.ValidateEvent(&ev, off); err != nil {
			t.Fatalf("event at %d: %v", off, err)
		}
		out = append(out, ev)
		off = next
	}
	return out
}

// waitEvents collects n events with GetEvents.
func waitEvents(t testing.TB, c *Context, n int) []abi.Event {
	t.Helper()
	buf := make([]byte, 64*c.maxEv)
	var all []abi.Event
	for len(all) < n {
		k, err := c.GetEvents(1, buf, 10e9)
		if err != nil {
			t.Fatalf("GetEvents after %d of %d events: %v", len(all), n, err)
		}
		all = append(all, events(t, append([]byte(nil), buf[:k]...))...)
	}
	if len(all) != n {
		t.Fatalf("got %d events, want %d", len(all), n)
	}
	return all
}

func addrOf(b []byte) uint64 { return uint64(uintptr(unsafe.Pointer(&b[0]))) }

func bufferedFile(t testing.TB) *os.File {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "buffered")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// newPipe makes a pipe, closed at the end of the test: p[0] reads, p[1]
// writes.
func newPipe(t testing.TB) [2]int {
	t.Helper()
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		unix.Close(p[0])
		unix.Close(p[1])
	})
	return p
}

// locked returns f's result computed under c.mu: how the tests read the
// fields the context guards.
func locked[T any](c *Context, f func() T) T {
	c.mu.Lock()
	defer c.mu.Unlock()
	return f()
}
