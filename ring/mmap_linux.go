package ring

import (
	"fmt"
	"os"

	"github.com/aio2/aio2/abi"
	"golang.org/x/sys/unix"
)

// This file holds the system calls of the package: memfd_create, the seals,
// mmap and munmap. None of them can fail with EINTR here: they do not
// sleep interruptibly (open of a regular file or memfd, fstat, pread of a
// regular file, ftruncate and fcntl on a memfd, mmap), so no retry loop.

// requiredSeals are the seals of a SETUP_SHARED ring (spec section 1): its
// size can never change, so no mapping of it can fault with SIGBUS, and no
// one can remove the seals.
const requiredSeals = unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_SEAL

// NewMemfd makes a fresh ring in a memfd named name, sealed with
// F_SEAL_SHRINK, F_SEAL_GROW and F_SEAL_SEAL and mapped MAP_SHARED. Another
// process may map it read-write with Open(r.Path()). The descriptor is
// close-on-exec; pass it explicitly to a child that should inherit it.
func NewMemfd(name string, ringBytes, maxEventBytes uint32) (*Region, error) {
	if err := checkGeometry(ringBytes, maxEventBytes); err != nil {
		return nil, err
	}
	fd, mem, path, err := sealedMemfd(name, abi.RegionBytes(ringBytes))
	if err != nil {
		return nil, err
	}
	abi.PutRingHeader(mem, ringBytes, maxEventBytes)
	return newRegion(mem, ringBytes, maxEventBytes, fd, path, unix.Munmap), nil
}

// sealedMemfd makes a memfd of size bytes, seals it and maps it shared.
func sealedMemfd(name string, size int) (fd int, mem []byte, path string, err error) {
	fd, err = unix.MemfdCreate(name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return -1, nil, "", os.NewSyscallError("memfd_create", err)
	}
	fail := func(call string, err error) (int, []byte, string, error) {
		unix.Close(fd)
		return -1, nil, "", os.NewSyscallError(call, err)
	}
	if err := unix.Ftruncate(fd, int64(size)); err != nil {
		return fail("ftruncate", err)
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, requiredSeals); err != nil {
		return fail("fcntl F_ADD_SEALS", err)
	}
	mem, err = unix.Mmap(fd, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fail("mmap", err)
	}
	return fd, mem, fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), fd), nil
}

// Open maps read-write an existing regular file holding a version 2 ring,
// such as another process's memfd by its /proc/PID/fd/N path. The header
// is read and validated with abi against the file's size before anything
// is mapped: a bad header, or a file too small for one, gets an
// *abi.Error; what is not a regular file, an *os.PathError with EINVAL.
//
// Open does not ensure that the file cannot shrink. It refuses only a
// file that could still be sealed but is not sealed against shrinking (a
// memfd made with MFD_ALLOW_SEALING, without F_SEAL_SHRINK or
// F_SEAL_SEAL), with an *os.PathError wrapping EPERM. It accepts a file
// sealed with F_SEAL_SHRINK, and also one whose seals can no longer change
// or that cannot be sealed at all: a plain file on tmpfs (/dev/shm), a
// memfd made without MFD_ALLOW_SEALING or sealed with F_SEAL_SEAL alone,
// a file on disk. Such a file's owner can truncate it while it is mapped,
// and then an access past the new end faults with SIGBUS, which kills the
// process unless the goroutine touching the ring runs under
// debug.SetPanicOnFault (as cmd/aio2's reap does).
func Open(path string) (*Region, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	fail := func(err error) (*Region, error) {
		unix.Close(fd)
		return nil, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fail(&os.PathError{Op: "fstat", Path: path, Err: err})
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return fail(&os.PathError{Op: "open", Path: path, Err: unix.EINVAL})
	}
	seals, err := unix.FcntlInt(uintptr(fd), unix.F_GET_SEALS, 0)
	switch {
	case err == unix.EINVAL:
		// Not a file that can be sealed: nothing to check.
	case err == nil && seals&unix.F_SEAL_SEAL != 0 && seals&unix.F_SEAL_SHRINK == 0:
		// Cannot be sealed any more: a plain file on tmpfs (which
		// reports F_SEAL_SEAL), or a memfd its maker closed to seals.
		// Like any plain file: accepted, its owner must not truncate it
		// (found by review, 2026-11-22: /dev/shm files were refused as
		// unsealed memfds, while ext4 files were taken).
	case err != nil:
		return fail(&os.PathError{Op: "fcntl F_GET_SEALS", Path: path, Err: err})
	case seals&unix.F_SEAL_SHRINK == 0:
		return fail(&os.PathError{Op: "open", Path: path, Err: fmt.Errorf("memfd is not sealed against shrinking: %w", unix.EPERM)})
	}
	hdr := make([]byte, abi.RingHeaderSize)
	if st.Size < int64(len(hdr)) {
		return fail(&abi.Error{What: "ring header", Off: 0, Errno: unix.EINVAL,
			Msg: fmt.Sprintf("file of %d bytes is smaller than the %d-byte header", st.Size, len(hdr))})
	}
	if _, err := unix.Pread(fd, hdr, 0); err != nil {
		return fail(&os.PathError{Op: "pread", Path: path, Err: err})
	}
	var h abi.RingHeader
	regionLen := int(min(st.Size, int64(abi.HeaderBytes+abi.MaxRingBytes)))
	// DecodeRingHeader validates against the 192 bytes read, which always
	// fails the size check; the header is validated against the file's
	// size just below instead.
	_ = abi.DecodeRingHeader(hdr, &h)
	if err := h.Validate(regionLen); err != nil {
		return fail(err)
	}
	size := abi.RegionBytes(h.RingBytes)
	mem, err := unix.Mmap(fd, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fail(&os.PathError{Op: "mmap", Path: path, Err: err})
	}
	return newRegion(mem, h.RingBytes, h.MaxEventBytes, fd, path, unix.Munmap), nil
}
