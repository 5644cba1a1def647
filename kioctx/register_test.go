package kioctx

import (
	"errors"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/aio2/aio2/abi"
)

// A registered fd is classified from what RegisterFile saw, not looked at
// again; UnregisterFile brings back the look on every submit call. The
// test breaks the promise on purpose (F_SETFL clears O_DIRECT) to tell the
// two apart: while registered, a misaligned read is refused with the
// O_DIRECT alignment error; once unregistered, the fd is seen as buffered
// and the same read is accepted.
func TestRegisterFile(t *testing.T) {
	c := newCtx(t, 8, 0, 0)
	f, _ := directFile(t, 1<<20)
	fd := int(f.Fd())
	a, err := DIOAlign(fd)
	if err != nil || a.Offset <= 1 {
		skipOrFail(t, "no STATX_DIOALIGN offset alignment here (%+v, %v)", a, err)
	}
	if err := c.RegisterFile(fd); err != nil {
		t.Fatalf("RegisterFile: %v", err)
	}
	buf := alignedBuf(t, 4096)
	misaligned := []Iocb{{Opcode: abi.OpPread, Fd: int32(fd), Buf: buf, Offset: 1}}
	aligned := []Iocb{{Opcode: abi.OpPread, Fd: int32(fd), Buf: buf, Offset: 4096}}
	if n, err := c.Submit(aligned); n != 1 || err != nil {
		t.Fatalf("aligned read on a registered fd: %d %v", n, err)
	}
	if evs := waitEvents(t, c, 1); evs[0].Res != 4096 {
		t.Fatalf("aligned read: res %d", evs[0].Res)
	}

	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFL, flags&^unix.O_DIRECT); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Submit(misaligned); n != 0 || !errors.Is(err, unix.EINVAL) {
		t.Fatalf("misaligned read on a registered fd whose O_DIRECT was cleared behind kioctx's back: %d %v; want 0, EINVAL (the registered O_DIRECT classification)", n, err)
	}

	if err := c.UnregisterFile(fd); err != nil {
		t.Fatalf("UnregisterFile: %v", err)
	}
	if n, err := c.Submit(misaligned); n != 1 || err != nil {
		t.Fatalf("misaligned read after UnregisterFile (fd is now buffered): %d %v", n, err)
	}
	if evs := waitEvents(t, c, 1); evs[0].Res != 4096 {
		t.Fatalf("buffered read after UnregisterFile: res %d", evs[0].Res)
	}

	if err := c.UnregisterFile(fd); !errors.Is(err, unix.ENOENT) {
		t.Errorf("UnregisterFile of an fd not registered: %v, want ENOENT", err)
	}
	if err := c.RegisterFile(-1); !errors.Is(err, unix.EBADF) {
		t.Errorf("RegisterFile(-1): %v, want EBADF", err)
	}
	p, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(p)
	if err := c.RegisterFile(p); !errors.Is(err, unix.EBADF) {
		t.Errorf("RegisterFile of a closed fd: %v, want EBADF", err)
	}
	if _, err := c.Destroy(); err != nil {
		t.Fatal(err)
	}
	if err := c.RegisterFile(fd); !errors.Is(err, ErrDestroyed) {
		t.Errorf("RegisterFile after Destroy: %v, want ErrDestroyed", err)
	}
}

// A GetEvents caller that blocks in io_getevents keeps its P (see
// ioGeteventsHold); the runtime must still be able to stop the world and
// run other goroutines meanwhile: the preemption signal interrupts the
// wait, which resumes afterwards and still returns the event.
func TestGetEventsWaitLetsRuntimeRun(t *testing.T) {
	// The P-holding wait is used only with GOMAXPROCS > 1: make it so,
	// whatever the runner's CPU count, rather than skip.
	if runtime.GOMAXPROCS(0) < 2 {
		old := runtime.GOMAXPROCS(2)
		t.Cleanup(func() { runtime.GOMAXPROCS(old) })
	}
	c := newCtx(t, 8, 0, 0)
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	r := make([]byte, 64)
	if _, err := c.Submit([]Iocb{{Opcode: abi.OpPread, Fd: int32(fds[0]), Buf: r, Offset: -1, Data: 7}}); err != nil {
		t.Fatal(err)
	}
	type result struct {
		n   int
		err error
	}
	res := make(chan result, 1)
	buf := make([]byte, 4*c.maxEv)
	go func() {
		n, err := c.GetEvents(1, buf, 10*time.Second)
		res <- result{n, err}
	}()
	time.Sleep(50 * time.Millisecond) // let it block in io_getevents
	for i := 0; i < 3; i++ {
		start := time.Now()
		runtime.GC() // stops the world: needs every P, the waiter's too
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("runtime.GC took %v while a GetEvents caller waited", d)
		}
	}
	select {
	case got := <-res:
		t.Fatalf("GetEvents returned before any event: %d %v", got.n, got.err)
	default:
	}
	if _, err := unix.Write(fds[1], []byte("ping")); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-res:
		if got.err != nil {
			t.Fatalf("GetEvents: %v", got.err)
		}
		if ev := events(t, buf[:got.n]); len(ev) != 1 || ev[0].Data != 7 || ev[0].Res != 4 {
			t.Fatalf("events %+v", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("GetEvents did not return after the peer wrote")
	}
}
