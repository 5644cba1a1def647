package kioctx

// The syscalls of Linux native AIO (fs/aio.c), which x/sys/unix does not
// wrap, and the views of kernel memory they hand back. All of this
// package's unsafe code that deals with the kernel's AIO context lives in
// this file.

import (
	"runtime"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/aio2/aio2/abi"
)

// aioCtx is a native AIO context: the address at which the kernel mapped
// its struct aio_ring (fs/aio.c, mirrored by abi.AioRing), which is also
// the context id the other io_* calls take. It is an unsafe.Pointer, not a
// uintptr, so that views of the ring are plain pointer arithmetic.
type aioCtx unsafe.Pointer

// ioSetup wraps io_setup(2). The kernel sizes the ring itself (at least
// nr events, rounded up to whole pages); read the header for its nr.
func ioSetup(nr uint32) (aioCtx, unix.Errno) {
	var p unsafe.Pointer
	_, _, e := unix.Syscall(unix.SYS_IO_SETUP, uintptr(nr), uintptr(unsafe.Pointer(&p)), 0)
	if e != 0 {
		return nil, e
	}
	return aioCtx(p), 0
}

// ioDestroy wraps io_destroy(2): it cancels what it can, waits for all
// in-flight iocbs of the context (their events are lost) and unmaps the
// ring.
func ioDestroy(ctx aioCtx) unix.Errno {
	_, _, e := unix.Syscall(unix.SYS_IO_DESTROY, uintptr(ctx), 0, 0)
	return e
}

// ioSubmit wraps io_submit(2) for the iocbs pointed to by cbs. It returns
// how many the kernel accepted, which may be fewer than len(cbs); an error
// only when it accepted none. The kernel copies each iocb during the
// call; the iocbs need not outlive it, but the buffers they name must.
// EINTR cannot happen before the first iocb is taken (io_submit checks no
// signals), so there is no loop here.
//
// With more than one P it goes through RawSyscall, keeping its P, for the
// reason ioGeteventsHold does: a submitter spends most of its time in
// io_submit, so the runtime's 10 ms preemption usually finds it in a
// syscall, and then sysmon takes the P away (handoffp) and polls every
// 20 us for the next millisecond. Measured on a zram device at QD1
// (docs/benchmarks.md): 5.5 k sysmon sleeps in 3 s through Syscall, 0.4 k
// through RawSyscall, and 5-9 % less CPU per IO. io_submit does not wait
// for the IO, only for what submission itself needs (a request tag, a
// file system's block map); holding the P that long delays a
// stop-the-world by as much, which is the price. With one P the
// scheduler-aware Syscall is kept, so that other goroutines are not
// stopped behind a submission that sleeps: hold says which (the caller
// knows GOMAXPROCS, which is not read here because reading it takes the
// scheduler's lock).
func ioSubmit(ctx aioCtx, cbs []*abi.LegacyIocb, hold bool) (int, unix.Errno) {
	if len(cbs) == 0 {
		return 0, 0
	}
	var n uintptr
	var e unix.Errno
	if hold {
		n, _, e = unix.RawSyscall(unix.SYS_IO_SUBMIT, uintptr(ctx), uintptr(len(cbs)), uintptr(unsafe.Pointer(&cbs[0])))
	} else {
		n, _, e = unix.Syscall(unix.SYS_IO_SUBMIT, uintptr(ctx), uintptr(len(cbs)), uintptr(unsafe.Pointer(&cbs[0])))
	}
	if e != 0 {
		return 0, e
	}
	return int(n), 0
}

// ioGeteventsNow wraps io_getevents(2) with min_nr 0 and a zero timeout:
// it takes whatever completions are there without waiting. EINTR is
// retried: with a zero timeout it can only come from a signal that arrived
// while the kernel held the ring mutex, and nothing was taken then.
func ioGeteventsNow(ctx aioCtx, evs []abi.IoEvent) (int, unix.Errno) {
	var ts unix.Timespec
	for {
		n, e := ioGetevents(ctx, 0, evs, &ts)
		if e != unix.EINTR {
			return n, e
		}
	}
}

// ioGetevents wraps io_getevents(2): it waits until min completions are
// there or ts (nil: forever) passes, and copies up to len(evs). It may
// block, so it goes through the scheduler-aware Syscall6. EINTR is the
// caller's to handle.
func ioGetevents(ctx aioCtx, min int, evs []abi.IoEvent, ts *unix.Timespec) (int, unix.Errno) {
	if len(evs) == 0 {
		return 0, 0
	}
	n, _, e := unix.Syscall6(unix.SYS_IO_GETEVENTS, uintptr(ctx), uintptr(min), uintptr(len(evs)),
		uintptr(unsafe.Pointer(&evs[0])), uintptr(unsafe.Pointer(ts)), 0)
	if e != 0 {
		return 0, e
	}
	return int(n), 0
}

// ioGeteventsHold is ioGetevents through RawSyscall6: the goroutine keeps
// its P while the kernel waits. A blocking Syscall6 lets sysmon take the P
// away after 20 us and hand it to another thread, which then parks in the
// netpoller (epoll_pwait) and is woken again (futex) when the call returns:
// at QD1 on a disk, where every wait is longer than that, this hand-off
// cost more CPU than the IO itself (docs/kioctx.md, "Figures"). Holding
// the P is safe because io_getevents sleeps interruptibly: the runtime's
// preemption signal (sysmon after 10 ms, or a stop-the-world) ends the
// wait with EINTR, and the caller's next call is a preemption point. It
// costs the other goroutines this P: kwaitLocked uses it only when there
// is another P to run them.
func ioGeteventsHold(ctx aioCtx, min int, evs []abi.IoEvent, ts *unix.Timespec) (int, unix.Errno) {
	if len(evs) == 0 {
		return 0, 0
	}
	n, _, e := unix.RawSyscall6(unix.SYS_IO_GETEVENTS, uintptr(ctx), uintptr(min), uintptr(len(evs)),
		uintptr(unsafe.Pointer(&evs[0])), uintptr(unsafe.Pointer(ts)), 0)
	if e != 0 {
		return 0, e
	}
	return int(n), 0
}

// ioCancel wraps io_cancel(2). Since Linux 5.x a successful cancel returns
// EINPROGRESS and the event comes through the ring as usual; only POLL has
// a cancel method among the opcodes we issue, so file IO answers EINVAL.
func ioCancel(ctx aioCtx, cb *abi.LegacyIocb) unix.Errno {
	var ev abi.IoEvent
	_, _, e := unix.Syscall(unix.SYS_IO_CANCEL, uintptr(ctx), uintptr(unsafe.Pointer(cb)), uintptr(unsafe.Pointer(&ev)))
	return e
}

// kring is a user-space view of the kernel's struct aio_ring for one
// context. Only one goroutine reaps it at a time (the native driver holds
// its lock), and never while io_getevents runs on the same context: the
// kernel's reader moves head under a mutex user space cannot take.
type kring struct {
	hdr  *abi.AioRing
	evs  []abi.IoEvent // nr events right after the 32-byte header
	head *atomic.Uint32
	tail *atomic.Uint32
	ok   bool // header checks passed: reap from user space
}

func newKring(ctx aioCtx) kring {
	hdr := (*abi.AioRing)(unsafe.Pointer(ctx))
	k := kring{
		hdr:  hdr,
		head: (*atomic.Uint32)(unsafe.Add(unsafe.Pointer(ctx), abi.OffAioRingHead)),
		tail: (*atomic.Uint32)(unsafe.Add(unsafe.Pointer(ctx), abi.OffAioRingTail)),
	}
	// The header is written once by io_setup before it returns; these
	// loads race with nothing.
	snap := *hdr
	if snap.Usable() {
		k.evs = unsafe.Slice((*abi.IoEvent)(unsafe.Add(unsafe.Pointer(ctx), abi.AioRingHeaderBytes)), snap.Nr)
		k.ok = true
	}
	return k
}

// reap copies up to len(dst) completions out of the kernel's ring and
// gives their slots back. ok is false when the indices are out of range
// (the ring is writable by anyone in this process): then the caller falls
// back to io_getevents, which clamps them itself.
func (k *kring) reap(dst []abi.IoEvent) (n int, ok bool) {
	nr := uint32(len(k.evs))
	h := k.head.Load()
	t := k.tail.Load() // acquire: pairs with the kernel's smp_wmb before tail
	if h >= nr || t >= nr {
		return 0, false
	}
	for h != t && n < len(dst) {
		dst[n] = k.evs[h]
		n++
		if h++; h == nr {
			h = 0
		}
	}
	if n > 0 {
		k.head.Store(h) // release: the copies are done before the slots go back
	}
	return n, true
}

// pending reports whether the kernel ring holds completions.
func (k *kring) pending() bool { return k.head.Load() != k.tail.Load() }

// rwv is preadv2/pwritev2 for the pool: it may block, so it goes through
// the scheduler-aware Syscall6. On 64-bit Linux the offset travels whole in
// pos_l (pos_h is ignored).
func rwv(nr uintptr, fd int32, iov uintptr, cnt int, off int64, flags uint32) int64 {
	return result(unix.Syscall6(nr, uintptr(fd), iov, uintptr(cnt), uintptr(off), 0, uintptr(flags)))
}

// rwvRaw is rwv for RWF_NOWAIT IO, which does not block: RawSyscall6
// skips the scheduler's bookkeeping.
func rwvRaw(nr uintptr, fd int32, iov uintptr, cnt int, off int64, flags uint32) int64 {
	return result(unix.RawSyscall6(nr, uintptr(fd), iov, uintptr(cnt), uintptr(off), 0, uintptr(flags)))
}

// asyncSigs is the kernel sigset (bit sig-1, 64 signals) that
// syscallNoSignals blocks: every signal but
//   - the synchronous ones, which the kernel delivers by force (a fault in
//     the Go code around the call would otherwise kill the process without
//     the runtime's report), and SIGSTKFLT;
//   - 32, 33 and 34, which the runtime (and glibc, and musl, under cgo)
//     sends to every thread and then waits for each to answer: 33 is how
//     syscall.Setuid and AllThreadsSyscall make every thread change its
//     credentials. Blocked here, a SYSCALL that waits long (a read on a
//     pipe, a flock) held the whole process that long: Setuid took 2.8 s
//     (TestSyscallLeavesRuntimeSignals). Such a call may then see EINTR,
//     as any thread would; it is rare, and the runtime asked for it.
//
// These are the runtime's _SigUnblock signals (runtime/sigtab_linux_generic.go)
// but SIGCHLD and SIGPROF: both are process-wide (a child's exit, the
// profiling timer), so blocking them on this thread only sends them to
// another. SIGKILL and SIGSTOP cannot be blocked; the kernel ignores
// their bits.
var asyncSigs = func() uint64 {
	set := ^uint64(0)
	for _, sig := range []unix.Signal{unix.SIGSEGV, unix.SIGBUS, unix.SIGFPE, unix.SIGILL, unix.SIGTRAP, unix.SIGSYS,
		unix.SIGSTKFLT, 32, 33, 34} {
		set &^= 1 << (sig - 1)
	}
	return set
}()

// syscallNoSignals runs syscall nr with the asynchronous signals blocked
// on the calling thread, and returns the event res. It is how a SYSCALL
// iocb runs: in a kernel AIO worker it would never see a signal, but here
// it runs on a thread of the process, where the Go runtime's preemption
// signal (SIGURG) or any process-directed signal (SIGCHLD, SIGPROF, the
// application's own) may interrupt it. SA_RESTART does not cover every
// call: a socket read with SO_RCVTIMEO, a read from a driver that
// returns -EINTR, and others end with EINTR after a handler runs. The
// call is not retried on EINTR instead, because that would be wrong for
// some: close(2) has released the fd when it returns EINTR (a retry could
// close an fd opened meanwhile), and a call with its own timeout would
// start it again. Blocked, a signal stays pending and is handled when the
// call returns, by this thread or (process-directed) another. Two
// rt_sigprocmask calls per SYSCALL iocb are the price; if blocking fails
// (it cannot with these arguments) the call runs unprotected.
//
// The goroutine is locked to its thread across the three calls (pool
// workers already are; IssueSync's caller is not), so that the mask is
// restored on the thread that set it and no other goroutine runs with
// it. rt_sigprocmask does not block, hence RawSyscall6; the call itself
// may, hence Syscall6.
func syscallNoSignals(nr uintptr, a *[6]uint64) int64 {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	block, old := asyncSigs, uint64(0)
	_, _, e := unix.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_BLOCK,
		uintptr(unsafe.Pointer(&block)), uintptr(unsafe.Pointer(&old)), 8, 0, 0)
	r := result(unix.Syscall6(nr, uintptr(a[0]), uintptr(a[1]), uintptr(a[2]), uintptr(a[3]), uintptr(a[4]), uintptr(a[5])))
	if e == 0 {
		unix.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&old)), 0, 8, 0, 0)
	}
	return r
}

// readUser copies len(dst) bytes from address addr of this process, as the
// kernel's copy_from_user would: an unmapped address is EFAULT, not a
// crash. It is how a raw SYSCALL iocb's six arguments are read.
func readUser(dst []byte, addr uint64) unix.Errno {
	if len(dst) == 0 {
		return 0
	}
	local := unix.Iovec{Base: &dst[0]}
	local.SetLen(len(dst))
	remote := unix.RemoteIovec{Base: uintptr(addr), Len: len(dst)}
	n, err := unix.ProcessVMReadv(unix.Getpid(), []unix.Iovec{local}, []unix.RemoteIovec{remote}, 0)
	if err != nil {
		return errnoOf(err)
	}
	if n != len(dst) {
		return unix.EFAULT
	}
	return 0
}

// fdFlags returns fcntl(fd, F_GETFL). It does not block, so it skips the
// scheduler (RawSyscall).
func fdFlags(fd int32) (int, unix.Errno) {
	r, _, e := unix.RawSyscall(unix.SYS_FCNTL, uintptr(fd), unix.F_GETFL, 0)
	return int(r), e
}

// fdMode returns the file type bits of fd (fstat st_mode & S_IFMT).
func fdMode(fd int32) (uint32, unix.Errno) {
	var st unix.Stat_t
	_, _, e := unix.RawSyscall(unix.SYS_FSTAT, uintptr(fd), uintptr(unsafe.Pointer(&st)), 0)
	return st.Mode & unix.S_IFMT, e
}

// legacyHead is an atomic view of the head field of the aio_ring in mem.
func legacyHead(mem []byte) *atomic.Uint32 {
	return (*atomic.Uint32)(unsafe.Pointer(&mem[abi.OffAioRingHead]))
}
