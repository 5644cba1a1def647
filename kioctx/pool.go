package kioctx

import (
	"runtime"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/aio2/aio2/abi"
	"github.com/aio2/aio2/attrs"
)

// pool is the bounded worker pool: buffered file IO (which io_submit would
// run synchronously, inside the submitter) and SYSCALL iocbs. Work waits
// on a FIFO of slot indices under c.mu; Cancel can take work off it
// before a worker starts it.
type pool struct {
	c    *Context
	cond sync.Cond // on c.mu
	wg   sync.WaitGroup
	once sync.Once

	// Guarded by c.mu.
	q       []int32
	qlo     int
	stopped bool
}

func newPool(c *Context, workers, depth int) *pool {
	p := &pool{c: c, q: make([]int32, 0, depth)}
	p.cond.L = &c.mu
	p.wg.Add(workers)
	for range workers {
		go p.worker()
	}
	return p
}

// enqueueLocked puts slot idx on the queue.
func (p *pool) enqueueLocked(idx int32) {
	if p.qlo > 0 && p.qlo >= len(p.q)/2 {
		m := copy(p.q, p.q[p.qlo:])
		p.q, p.qlo = p.q[:m], 0
	}
	p.q = append(p.q, idx)
	p.cond.Signal()
}

// removeLocked takes slot idx off the queue; it reports whether it was
// there.
func (p *pool) removeLocked(idx int32) bool {
	for i := p.qlo; i < len(p.q); i++ {
		if p.q[i] == idx {
			copy(p.q[i:], p.q[i+1:])
			p.q = p.q[:len(p.q)-1]
			return true
		}
	}
	return false
}

func (p *pool) worker() {
	defer p.wg.Done()
	// A worker stays on its thread: collectors (the eBPF page-cache
	// probe) recognise the IO by the thread id taken in Begin, and a
	// goroutine may otherwise move to another thread between Begin and
	// the syscall. The thread is released when the worker exits.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	c := p.c
	c.mu.Lock()
	for {
		for p.qlo == len(p.q) && !p.stopped {
			p.cond.Wait()
		}
		if p.qlo == len(p.q) {
			c.mu.Unlock()
			return
		}
		idx := p.q[p.qlo]
		p.qlo++
		if p.qlo == len(p.q) {
			p.q, p.qlo = p.q[:0], 0
		}
		s := &c.slots[idx]
		s.state = stRunning
		c.mu.Unlock()

		// The slot's fields are stable while it runs: only this worker
		// touches a running slot, and Cancel only reads its state.
		if s.t.Want != 0 {
			s.s.Tid = int32(unix.Gettid())
			c.eng.Begin(&s.t, &s.s)
			s.s.IssueNs = attrs.Now()
		}
		res := runSync(s)
		if s.t.Want != 0 {
			c.eng.End(&s.t, &s.s)
		}

		c.mu.Lock()
		c.completeLocked(idx, res, 0, true)
		c.commitLocked()
	}
}

// stop ends the workers once the queue is empty. The caller has drained
// or cancelled what was queued.
func (p *pool) stop() {
	p.once.Do(func() {
		p.c.mu.Lock()
		p.stopped = true
		p.cond.Broadcast()
		p.c.mu.Unlock()
		p.wg.Wait()
	})
}

// runSync performs slot s's IO in the calling goroutine and returns the
// event's res: bytes done or -errno. It blocks the thread for as long as
// the syscall does (the runtime hands the P to another thread).
//
// The event must not carry an EINTR that a kernel AIO worker, which
// never sees a signal, would not have got: a signal sent to this thread
// (the runtime's SIGURG, a process-directed signal the kernel picked this
// thread for) ends some waits with EINTR even under the runtime's
// SA_RESTART. The reads, writes and syncs below are retried: EINTR
// means nothing was transferred (a partial transfer returns its count),
// and doing them again is what the kernel's own restart would do. A
// SYSCALL is run with signals blocked instead (syscallNoSignals says why
// a retry is not right for it).
func runSync(s *slot) int64 {
	cb := &s.cb
	switch cb.Opcode {
	case abi.OpPread, abi.OpPreadv, abi.OpPwrite, abi.OpPwritev:
		nr := uintptr(unix.SYS_PREADV2)
		if cb.Opcode == abi.OpPwrite || cb.Opcode == abi.OpPwritev {
			nr = unix.SYS_PWRITEV2
		}
		off := cb.Offset
		for {
			res := rwv(nr, cb.Fd, s.iovAddr(), s.rwCnt, off, cb.RWFlags)
			if res == -int64(unix.ESPIPE) && off != -1 {
				// The file has no position (a tty, an eventfd, a
				// timerfd): the offset means nothing, as on the pipes
				// and sockets the poll path serves, so read or write as
				// read(2) and write(2) do (offset -1). Found by review,
				// 2026-11-22: such IO always failed with ESPIPE.
				off = -1
				continue
			}
			if res != -int64(unix.EINTR) {
				return res
			}
		}
	case abi.OpFsync, abi.OpFdsync:
		nr := uintptr(unix.SYS_FSYNC)
		if cb.Opcode == abi.OpFdsync {
			nr = unix.SYS_FDATASYNC
		}
		for {
			if res := result(unix.Syscall(nr, uintptr(cb.Fd), 0, 0)); res != -int64(unix.EINTR) {
				return res
			}
		}
	case abi.OpSyscall:
		return syscallNoSignals(uintptr(cb.Arg), &s.args)
	case abi.OpNoop:
		return 0
	}
	return -int64(unix.EINVAL)
}

// result turns a raw syscall return into an event res.
func result(r1, _ uintptr, e unix.Errno) int64 {
	if e != 0 {
		return -int64(e)
	}
	return int64(r1)
}
