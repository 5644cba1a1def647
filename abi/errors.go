package abi

import (
	"fmt"
	"syscall"
)

// Error is a validation error. It names the structure, where in it or in
// the caller's buffer the fault is, and what is wrong; it unwraps to the
// errno the spec prescribes (EINVAL, E2BIG, ...), so callers may test it
// with errors.Is(err, syscall.EINVAL). Package ring returns it too.
type Error struct {
	// What is the structure: "params", "ring header", "event", "iocb2",
	// "attribute", "attribute request"; from package ring also "record"
	// (a record handed to a Producer), "aio_ring" (a version 1 ring's
	// header) and "legacy ring" (a version 1 ring's nr out of range).
	What string
	// Off depends on What. For a fixed-layout header ("params", "ring
	// header", "aio_ring") it is the offset of the faulty field in the
	// header, or 0 when no one field is at fault (a size, a short
	// buffer). For "event", "iocb2", "attribute" and "attribute request"
	// it is where the record or attribute starts in the caller's buffer,
	// as the off argument places it (for AttrIter.Err, in the bytes given
	// to NewAttrIter). For "record" and "legacy ring" it is 0.
	Off int
	// Msg says what is wrong, in words a user can act on.
	Msg string
	// Errno is the errno the spec gives for this fault.
	Errno syscall.Errno
}

func (e *Error) Error() string {
	return fmt.Sprintf("abi: %s at byte %d: %s", e.What, e.Off, e.Msg)
}

// Unwrap returns the errno, so errors.Is(err, syscall.EINVAL) works.
func (e *Error) Unwrap() error { return e.Errno }

func errf(what string, off int, errno syscall.Errno, format string, args ...any) error {
	return &Error{What: what, Off: off, Msg: fmt.Sprintf(format, args...), Errno: errno}
}
