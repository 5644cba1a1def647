package kioctx

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/aio2/aio2/abi"
)

func TestKernelRingReapedFromUserSpace(t *testing.T) {
	c := newCtx(t, 8, 0, 0)
	if !c.nat.kr.ok {
		t.Fatal("the kernel's aio_ring header did not pass the user-space reaping checks")
	}
}

func TestBufferedPool(t *testing.T) {
	c := newCtx(t, 16, 0, 0)
	path := filepath.Join(t.TempDir(), "buffered")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := []byte(strings.Repeat("buffered io through the pool ", 100))
	if _, err := c.Submit([]Iocb{{Opcode: abi.OpPwrite, Fd: int32(f.Fd()), Buf: w, Offset: 3}}); err != nil {
		t.Fatal(err)
	}
	if ev := waitEvents(t, c, 1)[0]; ev.Res != int64(len(w)) {
		t.Fatalf("write res %d", ev.Res)
	}
	if c.slots[0].drv != drvPool && c.slots[len(c.slots)-1].drv != drvPool {
		t.Fatal("buffered write did not go to the pool")
	}
	r := make([]byte, len(w))
	if _, err := c.Submit([]Iocb{{Opcode: abi.OpPread, Fd: int32(f.Fd()), Buf: r, Offset: 3}}); err != nil {
		t.Fatal(err)
	}
	if ev := waitEvents(t, c, 1)[0]; ev.Res != int64(len(w)) {
		t.Fatalf("read res %d", ev.Res)
	}
	if !bytes.Equal(r, w) {
		t.Fatal("buffered read differs")
	}
	got, _ := os.ReadFile(path)
	if !bytes.Equal(got[3:], w) {
		t.Fatal("file content differs")
	}
}

func TestFsync(t *testing.T) {
	c := newCtx(t, 8, 0, 0)
	f, _ := directFile(t, 4096)
	g, err := os.Create(filepath.Join(t.TempDir(), "b"))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	g.WriteString("dirty")
	n, err := c.Submit([]Iocb{
		{Opcode: abi.OpFsync, Fd: int32(f.Fd()), Data: 1},
		{Opcode: abi.OpFdsync, Fd: int32(g.Fd()), Data: 2},
	})
	if err != nil || n != 2 {
		t.Fatalf("Submit: %d %v", n, err)
	}
	for _, ev := range waitEvents(t, c, 2) {
		if ev.Res != 0 {
			t.Errorf("fsync %d: res %d", ev.Data, ev.Res)
		}
	}
}

// cstr returns an off-heap NUL-terminated copy of s and its address.
func cstr(t *testing.T, s string) uint64 {
	b := alignedBuf(t, len(s)+1)
	copy(b, s)
	return uint64(uintptr(unsafe.Pointer(&b[0])))
}

func TestSyscallOpcode(t *testing.T) {
	c := newCtx(t, 8, 0, 0)
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	if err := os.WriteFile(src, []byte("0123456789abcdef"), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(nr uint64, args ...uint64) int64 {
		t.Helper()
		cb := Iocb{Opcode: abi.OpSyscall, Sysno: nr}
		copy(cb.Args[:], args)
		if _, err := c.Submit([]Iocb{cb}); err != nil {
			t.Fatalf("Submit syscall %d: %v", nr, err)
		}
		return waitEvents(t, c, 1)[0].Res
	}
	atFdcwd := uint64(0xffffffffffffff9c) // AT_FDCWD (-100)
	fd := run(unix.SYS_OPENAT, atFdcwd, cstr(t, src), unix.O_RDONLY|unix.O_CLOEXEC)
	if fd < 0 {
		t.Fatalf("openat: %v", unix.Errno(-fd))
	}
	defer unix.Close(int(fd))

	stx := alignedBuf(t, int(unsafe.Sizeof(unix.Statx_t{})))
	if r := run(unix.SYS_STATX, uint64(fd), cstr(t, ""), unix.AT_EMPTY_PATH, unix.STATX_SIZE, uint64(uintptr(unsafe.Pointer(&stx[0])))); r != 0 {
		t.Fatalf("statx: %v", unix.Errno(-r))
	}
	if size := (*unix.Statx_t)(unsafe.Pointer(&stx[0])).Size; size != 16 {
		t.Fatalf("statx size %d", size)
	}

	dst, err := os.OpenFile(filepath.Join(dir, "dst"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	if r := run(unix.SYS_FALLOCATE, uint64(dst.Fd()), 0, 0, 1<<16); r != 0 {
		t.Fatalf("fallocate: %v", unix.Errno(-r))
	}
	if st, _ := dst.Stat(); st.Size() != 1<<16 {
		t.Fatalf("size after fallocate %d", st.Size())
	}
	if r := run(unix.SYS_COPY_FILE_RANGE, uint64(fd), 0, uint64(dst.Fd()), 0, 16, 0); r != 16 {
		t.Fatalf("copy_file_range: %d", r)
	}
	got := make([]byte, 16)
	dst.ReadAt(got, 0)
	if string(got) != "0123456789abcdef" {
		t.Fatalf("copied %q", got)
	}

	for _, nr := range []uint64{unix.SYS_EXECVE, unix.SYS_CLONE, unix.SYS_EXIT, unix.SYS_MMAP, unix.SYS_IOCTL, 100000} {
		_, err := c.Submit([]Iocb{{Opcode: abi.OpSyscall, Sysno: nr}})
		if !errors.Is(err, unix.EPERM) {
			t.Errorf("syscall %d: err %v, want EPERM", nr, err)
		}
	}
}

func TestRawSubmit(t *testing.T) {
	c := newCtx(t, 8, 0, 0)
	f, _ := directFile(t, 8192)
	buf := alignedBuf(t, 4096)
	copy(buf, "raw iocb2")
	addr := uint64(uintptr(unsafe.Pointer(&buf[0])))
	var recs []byte
	recs = abi.AppendIocb(recs, &abi.Iocb{Opcode: abi.OpPwrite, Data: 5, Fd: int32(f.Fd()), Addr: addr, Nbytes: 4096, Offset: 4096}, abi.AppendAttrReq(nil, abi.AttrTag, []byte("tagged")))
	recs = abi.AppendIocb(recs, &abi.Iocb{Opcode: abi.OpNoop, Data: 6}, nil)
	n, err := c.SubmitRaw(recs)
	if err != nil || n != len(recs) {
		t.Fatalf("SubmitRaw: %d of %d, %v", n, len(recs), err)
	}
	k1 := binary.LittleEndian.Uint64(recs[abi.OffIocbKey:])
	evs := waitEvents(t, c, 2)
	for _, ev := range evs {
		if ev.Data == 5 {
			if ev.Res != 4096 || ev.Obj != k1 {
				t.Errorf("write event %+v, key %#x", ev, k1)
			}
			it := abi.NewAttrIter(ev.Attrs)
			a, ok := it.Next()
			if !ok || a.ID != abi.AttrTag || a.Status != abi.AttrOK || string(a.Value) != "tagged" {
				t.Errorf("tag attribute: %+v %v", a, ok)
			}
		}
	}
	// A malformed record after a good one: the good one is accepted.
	bad := abi.AppendIocb(nil, &abi.Iocb{Opcode: abi.OpNoop}, nil)
	bad = append(bad, abi.AppendIocb(nil, &abi.Iocb{Opcode: 99}, nil)...)
	n, err = c.SubmitRaw(bad)
	if n != 64 || err != nil {
		t.Fatalf("partial SubmitRaw: %d, %v", n, err)
	}
	waitEvents(t, c, 1)
	n, err = c.SubmitRaw(bad[64:])
	var ae *abi.Error
	if n != 0 || !errors.As(err, &ae) || !errors.Is(err, unix.EINVAL) {
		t.Fatalf("bad opcode: %d, %v", n, err)
	}
	// SYSCALL arguments at an unmapped address: EFAULT, no crash.
	sc := abi.AppendIocb(nil, &abi.Iocb{Opcode: abi.OpSyscall, Arg: unix.SYS_FSYNC, Addr: 8}, nil)
	if _, err := c.SubmitRaw(sc); !errors.Is(err, unix.EFAULT) {
		t.Fatalf("unmapped SYSCALL args: %v", err)
	}
}

func TestSocketpairReadCompletesLater(t *testing.T) {
	c := newCtx(t, 8, 0, 0)
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	r := make([]byte, 64)
	start := time.Now()
	if _, err := c.Submit([]Iocb{{Opcode: abi.OpPread, Fd: int32(fds[0]), Buf: r, Offset: -1, Data: 9}}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Fatalf("Submit blocked for %v", d)
	}
	buf := make([]byte, 4096*4)
	n, err := c.GetEvents(1, buf, 50*time.Millisecond)
	if n != 0 || !errors.Is(err, ErrTimeout) {
		t.Fatalf("event before the peer wrote: %d bytes, %v", n, err)
	}
	go func() {
		time.Sleep(20 * time.Millisecond)
		unix.Write(fds[1], []byte("hello from the peer"))
	}()
	ev := waitEvents(t, c, 1)[0]
	if ev.Res != 19 || string(r[:19]) != "hello from the peer" || ev.Data != 9 {
		t.Fatalf("event %+v, buffer %q", ev, r[:19])
	}
}

func TestPipe(t *testing.T) {
	c := newCtx(t, 8, 0, 0)
	p := newPipe(t)
	r := make([]byte, 16)
	w := []byte("through a pipe")
	// Read first (it must wait), then the write that satisfies it.
	if _, err := c.Submit([]Iocb{{Opcode: abi.OpPread, Fd: int32(p[0]), Buf: r, Offset: -1, Data: 1}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Submit([]Iocb{{Opcode: abi.OpPwrite, Fd: int32(p[1]), Buf: w, Offset: -1, Data: 2}}); err != nil {
		t.Fatal(err)
	}
	for _, ev := range waitEvents(t, c, 2) {
		if ev.Res != int64(len(w)) {
			t.Errorf("event %d res %d", ev.Data, ev.Res)
		}
	}
	if string(r[:len(w)]) != string(w) {
		t.Fatalf("read %q", r)
	}
	// gVisor's BadWrite: a write to a pipe whose read end is closed
	// completes with a negative res (EPIPE); Go ignores SIGPIPE on
	// non-stdio fds.
	unix.Close(p[0])
	if _, err := c.Submit([]Iocb{{Opcode: abi.OpPwrite, Fd: int32(p[1]), Buf: w, Offset: -1}}); err != nil {
		t.Fatal(err)
	}
	if ev := waitEvents(t, c, 1)[0]; ev.Res != -int64(unix.EPIPE) {
		t.Fatalf("write to a widowed pipe: res %d", ev.Res)
	}
}

func TestPollOpcode(t *testing.T) {
	c := newCtx(t, 8, 0, 0)
	p := newPipe(t)
	if _, err := c.Submit([]Iocb{{Opcode: abi.OpPoll, Fd: int32(p[0]), PollEvents: unix.POLLIN}}); err != nil {
		t.Fatal(err)
	}
	unix.Write(p[1], []byte("x"))
	if ev := waitEvents(t, c, 1)[0]; ev.Res&unix.POLLIN == 0 {
		t.Fatalf("poll res %#x", ev.Res)
	}
}

// A packet-mode pipe (pipe2 with O_DIRECT) is a pipe, not direct IO: a
// write to a full one waits on the poll path for room, and Submit returns
// at once (found by review, 2026-11-22: it went to native AIO, where
// io_submit ran the write itself, blocking with the context's lock held,
// or ended it with -EINTR at the runtime's next preemption signal).
func TestPacketPipe(t *testing.T) {
	c := newCtx(t, 8, 0, 0)
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_DIRECT|unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	pkt := make([]byte, 4096)
	filled := 0
	for {
		if _, err := unix.Write(p[1], pkt); err != nil {
			break // EAGAIN: full
		}
		filled++
	}
	if err := unix.SetNonblock(p[1], false); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if n, err := c.Submit([]Iocb{{Opcode: abi.OpPwrite, Fd: int32(p[1]), Buf: []byte("one packet"), Offset: -1, Data: 9}}); n != 1 || err != nil {
		t.Fatalf("Submit to a full packet pipe: %d %v", n, err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Submit to a full packet pipe took %v: it waited for room", d)
	}
	time.Sleep(30 * time.Millisecond) // past the runtime's preemption tick
	if _, err := unix.Read(p[0], pkt); err != nil {
		t.Fatal(err)
	}
	ev := waitEvents(t, c, 1)[0]
	if ev.Data != 9 || ev.Res != int64(len("one packet")) {
		t.Fatalf("event %d res %d, want 9 and %d (after %d packets filled the pipe)", ev.Data, ev.Res, len("one packet"), filled)
	}
}

// fd -1 is not open: Submit and IssueSync refuse it with EBADF, whatever
// file was registered last (found by review, 2026-11-22: -1 matched the
// empty "last registered fd" cache, and an IssueSync POLL on it waited
// forever, since poll(2) ignores negative fds).
func TestNegativeFdRefused(t *testing.T) {
	c := newCtx(t, 8, 0, 0)
	buf := make([]byte, 8)
	for _, cb := range []Iocb{
		{Opcode: abi.OpPread, Fd: -1, Buf: buf},
		{Opcode: abi.OpPoll, Fd: -1, PollEvents: unix.POLLIN},
		{Opcode: abi.OpFsync, Fd: -1},
	} {
		if n, err := c.Submit([]Iocb{cb}); n != 0 || !errors.Is(err, unix.EBADF) {
			t.Errorf("Submit op %d on fd -1: %d %v, want EBADF", cb.Opcode, n, err)
		}
		done := make(chan error, 1)
		go func() {
			_, err := c.IssueSync(&cb, nil)
			done <- err
		}()
		select {
		case err := <-done:
			if !errors.Is(err, unix.EBADF) {
				t.Errorf("IssueSync op %d on fd -1: %v, want EBADF", cb.Opcode, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("IssueSync op %d on fd -1 did not return", cb.Opcode)
		}
	}
	if n := c.Inflight(); n != 0 {
		t.Fatalf("Inflight %d after refusals", n)
	}
}

// A file with no position (an eventfd here; ttys and timerfds too) goes to
// the pool, whose preadv2 and pwritev2 refuse an offset on it (ESPIPE):
// the offset means nothing there, so the IO is done at the file's own
// position, as read(2) and write(2) would (found by review, 2026-11-22:
// every such read and write failed with ESPIPE).
func TestUnseekableFileInPool(t *testing.T) {
	c := newCtx(t, 8, 0, 0)
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(efd)
	w := make([]byte, 8)
	binary.LittleEndian.PutUint64(w, 42)
	if _, err := c.Submit([]Iocb{{Opcode: abi.OpPwrite, Fd: int32(efd), Buf: w, Data: 1}}); err != nil {
		t.Fatal(err)
	}
	if ev := waitEvents(t, c, 1)[0]; ev.Res != 8 {
		t.Fatalf("write to an eventfd: res %d, want 8", ev.Res)
	}
	r := make([]byte, 8)
	if _, err := c.Submit([]Iocb{{Opcode: abi.OpPread, Fd: int32(efd), Buf: r, Data: 2}}); err != nil {
		t.Fatal(err)
	}
	if ev := waitEvents(t, c, 1)[0]; ev.Res != 8 || binary.LittleEndian.Uint64(r) != 42 {
		t.Fatalf("read of an eventfd: res %d, value %d; want 8 and 42", ev.Res, binary.LittleEndian.Uint64(r))
	}
}

// A POLL event mask wider than struct pollfd's 16 bits is refused with
// EINVAL by Submit and IssueSync alike, as the kernel's aio poll refuses
// it (found by review, 2026-11-22: IssueSync cut it to 16 bits).
func TestPollEventsWiderThan16Bits(t *testing.T) {
	c := newCtx(t, 8, 0, 0)
	p := newPipe(t)
	cb := Iocb{Opcode: abi.OpPoll, Fd: int32(p[0]), PollEvents: 1<<20 | unix.POLLIN}
	if n, err := c.Submit([]Iocb{cb}); n != 0 || !errors.Is(err, unix.EINVAL) {
		t.Errorf("Submit: %d %v, want EINVAL", n, err)
	}
	if _, err := c.IssueSync(&cb, nil); !errors.Is(err, unix.EINVAL) {
		t.Errorf("IssueSync: %v, want EINVAL", err)
	}
}
