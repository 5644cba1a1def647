package attrs

import (
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/aio2/aio2/abi"
)

// requirePriv skips t for want of privilege or a kernel feature, or fails
// it when CI demands privileged tests (AIO2_REQUIRE_PRIV=1), so that a
// mis-configured runner cannot pass by skipping.
func requirePriv(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("AIO2_REQUIRE_PRIV") == "1" {
		t.Fatalf("AIO2_REQUIRE_PRIV=1 but: "+format, args...)
	}
	t.Skipf(format, args...)
}

// needBPF returns the loaded groups or skips/fails.
func needDevice(t testing.TB) *deviceProbe {
	t.Helper()
	g, err := deviceGroup.get()
	if err != nil {
		requirePriv(t, "eBPF DEVICE programs do not load: %v", err)
	}
	return g
}

func needCache(t testing.TB) *cacheProbe {
	t.Helper()
	g, err := cacheGroup.get()
	if err != nil {
		requirePriv(t, "eBPF CACHE programs do not load: %v", err)
	}
	return g
}

// tempDir is a directory on the disk (not tmpfs) that the test can use
// with O_DIRECT.
func tempDir(t testing.TB) string {
	t.Helper()
	d := t.TempDir()
	var sfs unix.Statfs_t
	if err := unix.Statfs(d, &sfs); err == nil && sfs.Type == unix.TMPFS_MAGIC {
		requirePriv(t, "%s is tmpfs: no O_DIRECT, no block requests", d)
	}
	return d
}

// makeFile writes size random bytes to a new file under dir, syncs it to
// the device and drops it from the page cache.
func makeFile(t testing.TB, dir string, size int) string {
	t.Helper()
	p := filepath.Join(dir, "data")
	buf := make([]byte, size)
	if _, err := rand.Read(buf); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dropCache(t, int(f.Fd()))
	return p
}

// dropCache writes back and evicts fd's pages (POSIX_FADV_DONTNEED drops
// only clean pages, hence the fdatasync first).
func dropCache(t testing.TB, fd int) {
	t.Helper()
	if err := unix.Fdatasync(fd); err != nil {
		t.Fatal(err)
	}
	if err := unix.Fadvise(fd, 0, 0, unix.FADV_DONTNEED); err != nil {
		t.Fatal(err)
	}
	if n := cachedPages(t, fd, 0, 1<<40); n != 0 {
		t.Fatalf("%d pages still cached after POSIX_FADV_DONTNEED", n)
	}
}

// cachedPages is the ground truth from cachestat(2).
func cachedPages(t testing.TB, fd int, off, n uint64) uint64 {
	t.Helper()
	r := unix.CachestatRange{Off: off, Len: n}
	var cs unix.Cachestat_t
	if err := unix.Cachestat(uint(fd), &r, &cs, 0); err != nil {
		t.Fatalf("cachestat: %v", err)
	}
	return cs.Cache
}

// attrMap decodes Encode's output into id -> attribute, checking that each
// attribute is well formed and that ids appear once.
func attrMap(t testing.TB, b []byte) map[uint16]abi.Attr {
	t.Helper()
	m := map[uint16]abi.Attr{}
	it := abi.NewAttrIter(b)
	for {
		off := it.Offset()
		a, ok := it.Next()
		if !ok {
			break
		}
		if err := abi.ValidateAttr(a, off); err != nil {
			t.Fatalf("bad attribute: %v", err)
		}
		if _, dup := m[a.ID]; dup {
			t.Fatalf("id %d appears twice", a.ID)
		}
		m[a.ID] = a
	}
	if err := it.Err(); err != nil {
		t.Fatalf("framing: %v", err)
	}
	return m
}

func reqsFor(ids ...uint16) []byte {
	var b []byte
	for _, id := range ids {
		b = abi.AppendAttrReq(b, id, nil)
	}
	return b
}

// bufferedRead does what kioctx's pool worker does for a buffered PREAD:
// on a locked OS thread, stamp, Begin, pread, End, stamp; then Encode.
func bufferedRead(t testing.TB, e *Engine, fd int, buf []byte, off int64, reqs []byte) (map[uint16]abi.Attr, *Stamp) {
	t.Helper()
	tg := Target{Kind: KindBuffered, Opcode: abi.OpPread, Fd: int32(fd), Offset: off, Nbytes: uint64(len(buf)), Want: Wanted(reqs)}
	var s Stamp
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		s.SubmitNs = Now()
		s.SubmitCPU = CPU()
		s.Tid = int32(unix.Gettid())
		s.IssueNs = Now()
		e.Begin(&tg, &s)
		n, err := unix.Pread(fd, buf, off)
		e.End(&tg, &s)
		s.CompleteNs = Now()
		s.CompleteCPU = CPU()
		if err == nil && n != len(buf) {
			err = errors.New("short read")
		}
		done <- err
	}()
	if err := <-done; err != nil {
		t.Fatalf("pread: %v", err)
	}
	out, trunc := e.Encode(nil, reqs, &tg, &s, 1<<20)
	if trunc {
		t.Fatal("truncated")
	}
	return attrMap(t, out), &s
}

// Native AIO, as kioctx's native driver uses it.

type aioCtx uintptr

func ioSetup(t testing.TB, nr int) aioCtx {
	t.Helper()
	var ctx aioCtx
	if _, _, e := unix.Syscall(unix.SYS_IO_SETUP, uintptr(nr), uintptr(unsafe.Pointer(&ctx)), 0); e != 0 {
		requirePriv(t, "io_setup: %v", e)
	}
	t.Cleanup(func() { unix.Syscall(unix.SYS_IO_DESTROY, uintptr(ctx), 0, 0) })
	return ctx
}

func ioSubmit(ctx aioCtx, cbs []*abi.LegacyIocb) (int, error) {
	n, _, e := unix.Syscall(unix.SYS_IO_SUBMIT, uintptr(ctx), uintptr(len(cbs)), uintptr(unsafe.Pointer(&cbs[0])))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

func ioGetevents(ctx aioCtx, min int, evs []abi.IoEvent) (int, error) {
	for {
		n, _, e := unix.Syscall6(unix.SYS_IO_GETEVENTS, uintptr(ctx), uintptr(min), uintptr(len(evs)), uintptr(unsafe.Pointer(&evs[0])), 0, 0)
		// EINTR: a signal (the Go runtime's preemption) interrupted the
		// wait; nothing was consumed, so wait again.
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return 0, e
		}
		return int(n), nil
	}
}

// alignedBuf returns n bytes aligned for O_DIRECT, outside the Go heap.
func alignedBuf(t testing.TB, n int) []byte {
	t.Helper()
	b, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Munmap(b) })
	return b
}

func bufAddr(b []byte) uint64 { return uint64(uintptr(unsafe.Pointer(&b[0]))) }

// iocbAddr is the address io_submit is given for cb, which the kernel
// keeps as the iocb's ki_res.obj.
func iocbAddr(cb *abi.LegacyIocb) uint64 { return uint64(uintptr(unsafe.Pointer(cb))) }
