package kioctx

import (
	"golang.org/x/sys/unix"

	"github.com/aio2/aio2/abi"
	"github.com/aio2/aio2/attrs"
)

// fdCache remembers what an fd is, to choose its driver without a pair of
// syscalls per iocb. Within one Submit call an fd is looked at once (the
// batch entry). Across calls only the O_DIRECT alignment is cached, keyed
// by fd and revalidated by fcntl(F_GETFL), which runs for every call
// anyway because O_DIRECT can be switched with F_SETFL. An fd closed and
// reused for another O_DIRECT file with the same flags keeps the old
// file's alignment until the flags differ; the kernel still checks
// alignment itself, so the cost of that rare case is an EINVAL event
// instead of an EINVAL from Submit. Registered fds (RegisterFile) skip
// all of this.
type fdCache struct {
	batchValid bool
	batchFd    int32
	batchFlags int
	batchMode  uint32 // 0: not looked up yet
	dio        map[int32]dioEntry
	// reg holds the fds of RegisterFile: classified without a syscall.
	reg map[int32]regEntry
	// regHit and regLast remember the last fd found in reg, plus one (0:
	// none, so the zero value is empty), which spares a map lookup per
	// iocb when one registered file takes all the IO. Changes to reg
	// reset regHit.
	regHit  int64
	regLast regEntry
}

// registered returns fd's RegisterFile entry, if it has one.
func (f *fdCache) registered(fd int32) (regEntry, bool) {
	// regHit 0 is "none": fd -1 must not match it (found by review,
	// 2026-11-22: fd -1 was taken for the last registered file, or an
	// empty entry, instead of being refused with EBADF).
	if f.regHit != 0 && int64(fd)+1 == f.regHit {
		return f.regLast, true
	}
	e, ok := f.reg[fd]
	if ok {
		f.regHit, f.regLast = int64(fd)+1, e
	}
	return e, ok
}

type dioEntry struct {
	flags int
	align DIOAlignment
	mode  uint32 // S_IFMT bits; 0 if statx failed
}

// classifyLocked chooses the driver of an iocb and the kind of IO it is
// for the collectors. It returns EBADF for an fd that is not open.
func (c *Context) classifyLocked(fd int32, op uint16) (drv uint8, kind attrs.Kind, align DIOAlignment, err error) {
	switch op {
	case abi.OpNoop:
		return drvNoop, attrs.KindNoop, align, nil
	case abi.OpSyscall:
		return drvPool, attrs.KindSyscall, align, nil
	}
	f := &c.fds
	reg, isReg := f.registered(fd)
	flags := reg.flags
	if !isReg {
		if !f.batchValid || f.batchFd != fd {
			fl, e := fdFlags(fd)
			if e != 0 {
				return 0, 0, align, errorf("submit", e, "fd %d: %v", fd, e)
			}
			f.batchValid, f.batchFd, f.batchFlags, f.batchMode = true, fd, fl, 0
		}
		flags = f.batchFlags
	}
	switch op {
	case abi.OpFsync, abi.OpFdsync:
		// Native AIO hands FSYNC/FDSYNC to a kernel workqueue: truly
		// asynchronous whatever the file is.
		return drvNative, attrs.KindSync, align, nil
	case abi.OpPoll:
		return drvPoll, attrs.KindPoll, align, nil
	}
	if flags&unix.O_DIRECT != 0 {
		// O_DIRECT on a pipe is packet mode, not direct IO: natively,
		// io_submit would run the pipe's read or write itself, blocking
		// with c.mu held (or ending in -EINTR at the runtime's next
		// preemption signal). Pipes go to the poll path below.
		if isReg {
			if !pollMode(reg.mode) {
				return drvNative, attrs.KindDirect, reg.align, nil
			}
		} else if a, mode := f.dioAlign(fd, flags); !pollMode(mode) {
			return drvNative, attrs.KindDirect, a, nil
		}
	}
	mode := reg.mode
	if !isReg {
		if f.batchMode == 0 {
			m, e := fdMode(fd)
			if e != 0 {
				return 0, 0, align, errorf("submit", e, "fd %d: fstat: %v", fd, e)
			}
			f.batchMode = m
		}
		mode = f.batchMode
	}
	if pollMode(mode) {
		return drvPoll, attrs.KindPoll, align, nil
	}
	// Buffered regular files and block devices: native AIO would do the
	// copy inside io_submit, synchronously. Character devices and the
	// rest may block on read with no readiness to wait for.
	return drvPool, attrs.KindBuffered, align, nil
}

// pollMode reports whether files of mode (S_IFMT bits) have readiness to
// wait for: sockets and pipes.
func pollMode(mode uint32) bool {
	switch mode & unix.S_IFMT {
	case unix.S_IFSOCK, unix.S_IFIFO:
		return true
	}
	return false
}

// dioAlign returns fd's O_DIRECT alignment and file type (S_IFMT bits),
// cached while its flags stay the same. Zero values mean "unknown": Submit
// then leaves the alignment check to the kernel.
func (f *fdCache) dioAlign(fd int32, flags int) (DIOAlignment, uint32) {
	if e, ok := f.dio[fd]; ok && e.flags == flags {
		return e.align, e.mode
	}
	a, mode, err := statxDIO(int(fd))
	if err != nil {
		a = DIOAlignment{}
	}
	if f.dio == nil {
		f.dio = make(map[int32]dioEntry)
	}
	f.dio[fd] = dioEntry{flags: flags, align: a, mode: mode}
	return a, mode
}

// DIOAlign returns fd's O_DIRECT alignment from statx(STATX_DIOALIGN).
// It fails with EOPNOTSUPP when the file system does not report it.
func DIOAlign(fd int) (DIOAlignment, error) {
	a, _, err := statxDIO(fd)
	return a, err
}

// statxDIO is DIOAlign, also returning the file type (S_IFMT bits, 0 if
// statx failed), which the same call reports.
func statxDIO(fd int) (DIOAlignment, uint32, error) {
	var stx unix.Statx_t
	if err := unix.Statx(fd, "", unix.AT_EMPTY_PATH, unix.STATX_DIOALIGN|unix.STATX_TYPE, &stx); err != nil {
		return DIOAlignment{}, 0, errorf("statx", errnoOf(err), "fd %d: %v", fd, err)
	}
	mode := uint32(stx.Mode) & unix.S_IFMT
	if stx.Mask&unix.STATX_DIOALIGN == 0 || stx.Dio_mem_align == 0 {
		return DIOAlignment{}, mode, errorf("statx", unix.EOPNOTSUPP, "fd %d: the file system reports no O_DIRECT alignment (STATX_DIOALIGN)", fd)
	}
	return DIOAlignment{Mem: stx.Dio_mem_align, Offset: stx.Dio_offset_align}, mode, nil
}

// DIOAlignment is what statx(STATX_DIOALIGN) says O_DIRECT IO on a file
// needs.
type DIOAlignment struct {
	// Mem is the alignment of the user buffer's address.
	Mem uint32
	// Offset is the alignment of the file offset and of each segment's
	// length.
	Offset uint32
}

// misaligned builds the error of a misaligned O_DIRECT iocb.
func misaligned(fd int32, a DIOAlignment, what string, v uint64) error {
	return errorf("submit", unix.EINVAL, "O_DIRECT IO on fd %d needs buffer addresses aligned to %d bytes and file offsets and lengths aligned to %d bytes (statx DIOALIGN); %s %#x is not", fd, a.Mem, a.Offset, what, v)
}

// checkAlign checks slot s's buffers against a. A raw iovec array is not
// read here (it is the caller's memory); the kernel checks it.
func checkAlign(s *slot, a DIOAlignment) error {
	fd := s.cb.Fd
	off := uint64(a.Offset)
	if off != 0 && notMultiple(uint64(s.cb.Offset), off) {
		return misaligned(fd, a, "offset", uint64(s.cb.Offset))
	}
	switch s.rawMode {
	case rawSingle:
		if notMultiple(s.cb.Addr, uint64(a.Mem)) {
			return misaligned(fd, a, "address", s.cb.Addr)
		}
		if off != 0 && notMultiple(s.cb.Nbytes, off) {
			return misaligned(fd, a, "length", s.cb.Nbytes)
		}
	case rawVec:
	default:
		for i := range s.iov {
			if b := iovBase(&s.iov[i]); notMultiple(b, uint64(a.Mem)) {
				return misaligned(fd, a, "address", b)
			}
			if off != 0 && notMultiple(s.iov[i].Len, off) {
				return misaligned(fd, a, "length", s.iov[i].Len)
			}
		}
	}
	return nil
}

// notMultiple reports whether v is not a multiple of a (a > 0). The
// alignments statx reports are powers of two, for which a mask replaces
// a 64-bit division (tens of cycles, three per iocb).
func notMultiple(v, a uint64) bool {
	if a&(a-1) == 0 {
		return v&(a-1) != 0
	}
	return v%a != 0
}

// SyscallAllowed reports whether the SYSCALL opcode runs syscall nr. The
// allowlist holds file-system and file-IO calls that act only on the
// file descriptors and paths they are given and return a value: what an
// application wants off its event loop. It leaves out every call that
// changes the process itself (clone, execve, exit, mmap, munmap, mprotect,
// brk, signals, credentials, prctl, seccomp), that would confuse the Go
// runtime (threads, signal masks, the address space), ioctl (arbitrary
// device behaviour), and the AIO and io_uring calls themselves. It does
// allow close, which closes whatever fd it is given: closing one the
// process still uses (the runtime's, the context's own eventfd or ring
// memfd) is the caller's mistake, as it would be with close(2) itself.
func SyscallAllowed(nr uint64) bool {
	switch nr {
	case unix.SYS_OPENAT, unix.SYS_OPENAT2, unix.SYS_CLOSE,
		unix.SYS_STATX, unix.SYS_NEWFSTATAT, unix.SYS_FSTAT, unix.SYS_FSTATFS, unix.SYS_STATFS,
		unix.SYS_FALLOCATE, unix.SYS_FTRUNCATE, unix.SYS_TRUNCATE,
		unix.SYS_FSYNC, unix.SYS_FDATASYNC, unix.SYS_SYNC_FILE_RANGE, unix.SYS_SYNCFS,
		unix.SYS_COPY_FILE_RANGE, unix.SYS_SENDFILE, unix.SYS_SPLICE, unix.SYS_TEE,
		unix.SYS_RENAMEAT2, unix.SYS_UNLINKAT, unix.SYS_MKDIRAT, unix.SYS_LINKAT, unix.SYS_SYMLINKAT,
		unix.SYS_READLINKAT, unix.SYS_GETDENTS64, unix.SYS_FADVISE64, unix.SYS_READAHEAD,
		unix.SYS_READ, unix.SYS_WRITE, unix.SYS_PREAD64, unix.SYS_PWRITE64,
		unix.SYS_READV, unix.SYS_WRITEV, unix.SYS_PREADV, unix.SYS_PWRITEV,
		unix.SYS_PREADV2, unix.SYS_PWRITEV2,
		unix.SYS_FCHMOD, unix.SYS_FCHMODAT, unix.SYS_FCHOWN, unix.SYS_FCHOWNAT, unix.SYS_UTIMENSAT,
		unix.SYS_FGETXATTR, unix.SYS_FSETXATTR, unix.SYS_FLISTXATTR, unix.SYS_FREMOVEXATTR,
		unix.SYS_FLOCK:
		return true
	}
	return false
}
