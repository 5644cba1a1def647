package abi

import (
	"fmt"
	"syscall"
)

// Error is a validation error. It names the structure, the byte offset at
// which the structure starts in the caller's buffer, and what is wrong; it
// unwraps to the errno the spec prescribes (EINVAL, E2BIG, ...), so callers
// may test it with errors.Is(err, syscall.EINVAL).
type Error struct {
	// What is the structure: "params", "ring header", "record", "event",
	// "iocb2", "attribute", "attribute request".
	What string
	// Off is the structure's offset in the buffer the caller passed.
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
