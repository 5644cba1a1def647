package kioctx

// Buffers handed to the kernel: pinning Go memory for the time an iocb is
// in flight, building iovec arrays, and off-heap aligned buffers. The
// unsafe code that turns Go slices into addresses lives here.

import (
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/aio2/aio2/abi"
)

// raw buffer modes of a slot.
const (
	rawNone   = iota // typed: s.iov holds the pinned Go buffers
	rawSingle        // raw PREAD/PWRITE: rawOne is the one iovec
	rawVec           // raw PREADV/PWRITEV: rawIov is the caller's array
)

// maxIov is UIO_MAXIOV.
const maxIov = 1024

func iovBase(v *unix.Iovec) uint64 { return uint64(uintptr(unsafe.Pointer(v.Base))) }

// iocbAddr is the address io_submit is given for l (the kernel keeps it
// as the request's ki_res.obj, and posts it as io_event.obj).
func iocbAddr(l *abi.LegacyIocb) uint64 { return uint64(uintptr(unsafe.Pointer(l))) }

// setBuffers fills slot s's buffer fields from r: for typed iocbs it pins
// every Go buffer (runtime.Pinner; a no-op for memory outside the Go heap)
// and builds the iovec array in the slot; for raw ones it records the
// addresses as given. It sets s.cb.Addr and s.cb.Nbytes as the native
// driver passes them.
func (c *Context) setBuffers(s *slot, r *req) error {
	s.rawMode = rawNone
	op := r.cb.Opcode
	switch op {
	case abi.OpPread, abi.OpPwrite:
		if !r.typed {
			s.rawMode = rawSingle
			s.rawOne = [2]uint64{r.cb.Addr, r.cb.Nbytes}
			s.rwCnt = 1
			return nil
		}
		s.cb.Addr, s.cb.Nbytes = 0, uint64(len(r.buf))
		if len(r.buf) > 0 {
			p := &r.buf[0]
			s.pin.Pin(p)
			s.pinned = true
			s.iov = append(s.iov, unix.Iovec{Base: p, Len: uint64(len(r.buf))})
			s.cb.Addr = uint64(uintptr(unsafe.Pointer(p)))
			s.rwCnt = 1
		}
	case abi.OpPreadv, abi.OpPwritev:
		if !r.typed {
			if r.cb.Nbytes > maxIov {
				return errorf("submit", unix.EINVAL, "%d iovecs is more than %d", r.cb.Nbytes, maxIov)
			}
			s.rawMode = rawVec
			s.rawIov = uintptr(r.cb.Addr)
			s.rwCnt = int(r.cb.Nbytes)
			return nil
		}
		if len(r.iov) > maxIov {
			return errorf("submit", unix.EINVAL, "%d iovecs is more than %d", len(r.iov), maxIov)
		}
		for _, b := range r.iov {
			var p *byte
			if len(b) > 0 {
				p = &b[0]
				s.pin.Pin(p)
				s.pinned = true
			}
			s.iov = append(s.iov, unix.Iovec{Base: p, Len: uint64(len(b))})
		}
		s.rwCnt = len(s.iov)
		s.cb.Nbytes = uint64(len(s.iov))
		s.cb.Addr = 0
		if len(s.iov) > 0 {
			// The kernel copies the iovec array during io_submit, which
			// runs before the slot can change.
			s.cb.Addr = uint64(uintptr(unsafe.Pointer(&s.iov[0])))
		}
	}
	return nil
}

// iovAddr is the address of the iovec array for slot s's IO on the pool
// and poll paths.
func (s *slot) iovAddr() uintptr {
	switch s.rawMode {
	case rawSingle:
		return uintptr(unsafe.Pointer(&s.rawOne))
	case rawVec:
		return s.rawIov
	}
	if len(s.iov) == 0 {
		return 0
	}
	return uintptr(unsafe.Pointer(&s.iov[0]))
}

// AlignedBuf returns size bytes of anonymous memory outside the Go heap,
// page-aligned (which satisfies every O_DIRECT memory alignment), for
// buffers handed to the kernel. Free it with FreeBuf. Memory outside the
// Go heap needs no pinning, and raw iocb2 records may point at it.
func AlignedBuf(size int) ([]byte, error) {
	if size <= 0 {
		return nil, errorf("alignedbuf", unix.EINVAL, "size %d must be positive", size)
	}
	b, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return nil, errorf("alignedbuf", errnoOf(err), "mmap %d bytes: %v", size, err)
	}
	return b, nil
}

// AlignedBufFor returns an AlignedBuf for O_DIRECT IO on fd: size rounded
// up to fd's offset alignment (statx DIOALIGN), and that alignment.
func AlignedBufFor(fd int, size int) ([]byte, DIOAlignment, error) {
	a, err := DIOAlign(fd)
	if err != nil {
		return nil, a, err
	}
	if a.Mem > uint32(unix.Getpagesize()) {
		return nil, a, errorf("alignedbuf", unix.EINVAL, "fd %d wants %d-byte memory alignment, more than a page", fd, a.Mem)
	}
	if o := int(a.Offset); o > 0 {
		size = (size + o - 1) / o * o
	}
	b, err := AlignedBuf(size)
	return b, a, err
}

// FreeBuf unmaps a buffer from AlignedBuf (the whole buffer, as returned).
func FreeBuf(b []byte) error {
	if err := unix.Munmap(b); err != nil {
		return errorf("alignedbuf", errnoOf(err), "munmap: %v", err)
	}
	return nil
}

// ioBytes is the byte count of slot s's IO, for the collectors: the
// buffer's length, the sum of a typed iovec array, 0 for a raw iovec array
// (the caller's memory, not read here) and for the other opcodes.
func ioBytes(s *slot) uint64 {
	switch s.cb.Opcode {
	case abi.OpPread, abi.OpPwrite:
		return s.cb.Nbytes
	case abi.OpPreadv, abi.OpPwritev:
		var n uint64
		for i := range s.iov {
			n += s.iov[i].Len
		}
		return n
	}
	return 0
}
