package kioctx

import (
	"golang.org/x/sys/unix"
)

// regEntry is what RegisterFile learnt about an fd.
type regEntry struct {
	flags int    // fcntl(F_GETFL)
	mode  uint32 // st_mode & S_IFMT
	align DIOAlignment
}

// RegisterFile looks at fd once (its flags, its file type and, for an
// O_DIRECT file, its STATX_DIOALIGN alignment) and keeps what it saw, so
// that Submit and SubmitRaw choose the driver of fd's iocbs without a
// syscall. Without it they re-read the flags with fcntl(F_GETFL) on every
// call, because O_DIRECT can be switched with F_SETFL and an fd can be
// closed and reused for another file; that is one syscall per submit call
// on the hot path.
//
// Like io_uring's registered files, registering is a promise: until
// UnregisterFile, fd refers to the same open file, with the same flags.
// If the caller breaks it (F_SETFL, or closing fd and reusing the number),
// iocbs go to the driver the old flags chose: an O_DIRECT choice for a
// file that is no longer O_DIRECT makes io_submit run the IO synchronously,
// and a stale alignment leaves the check to the kernel (an EINVAL event
// instead of an EINVAL from Submit); no accepted iocb is lost either way.
// The worst case is an fd number reused for a socket or a pipe: its reads
// then go to native AIO, where io_submit blocks until data comes, with the
// context's lock held, so every other call on the context waits as long.
// Registering an fd again refreshes what is kept. It fails with EBADF if
// fd is not open.
func (c *Context) RegisterFile(fd int) error {
	if fd < 0 || fd > int(^uint32(0)>>1) {
		return errorf("register", unix.EBADF, "fd %d is not a file descriptor", fd)
	}
	flags, e := fdFlags(int32(fd))
	if e != 0 {
		return errorf("register", e, "fd %d: %v", fd, e)
	}
	mode, e := fdMode(int32(fd))
	if e != 0 {
		return errorf("register", e, "fd %d: fstat: %v", fd, e)
	}
	ent := regEntry{flags: flags, mode: mode}
	if flags&unix.O_DIRECT != 0 {
		// Zero means unknown, as for unregistered fds: the kernel checks.
		ent.align, _ = DIOAlign(fd)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.destroyed {
		return ErrDestroyed
	}
	if c.fds.reg == nil {
		c.fds.reg = make(map[int32]regEntry)
	}
	c.fds.reg[int32(fd)] = ent
	c.fds.regHit = 0
	// A Submit batch entry for fd is superseded.
	c.fds.batchValid = false
	return nil
}

// UnregisterFile ends RegisterFile's promise for fd: its iocbs are
// classified by looking at the fd again on every submit call. It fails
// with ENOENT if fd is not registered.
func (c *Context) UnregisterFile(fd int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.destroyed {
		return ErrDestroyed
	}
	if _, ok := c.fds.reg[int32(fd)]; !ok || fd < 0 {
		return errorf("register", unix.ENOENT, "fd %d is not registered", fd)
	}
	delete(c.fds.reg, int32(fd))
	c.fds.regHit = 0
	// The cached alignment was the registered one; look again.
	delete(c.fds.dio, int32(fd))
	c.fds.batchValid = false
	return nil
}
