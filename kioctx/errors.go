package kioctx

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// Error is the typed error of this package. It says which call failed and
// why, in words a user can act on, and unwraps to the errno a kernel
// implementation of io_setup2 would return, so callers test it with
// errors.Is(err, unix.EAGAIN).
type Error struct {
	// Op names what failed: "setup", "submit", "getevents", "cancel",
	// "issue-sync", "reap", "alignedbuf", "register", "statx" (DIOAlign),
	// or "context" (ErrDestroyed, from any call). A pre-boxed error
	// keeps one Op wherever it is returned: ErrBufTooSmall says
	// "getevents" from Reap too, and IssueSync's refusals of the iocb
	// itself say "submit", as Submit's would.
	Op string
	// Msg says what is wrong.
	Msg string
	// Errno is the errno this error stands for.
	Errno unix.Errno
}

func (e *Error) Error() string { return "kioctx: " + e.Op + ": " + e.Msg }

// Unwrap returns the errno.
func (e *Error) Unwrap() error { return e.Errno }

func errorf(op string, errno unix.Errno, format string, args ...any) error {
	return &Error{Op: op, Msg: fmt.Sprintf(format, args...), Errno: errno}
}

// Pre-boxed errors of the hot paths: returning them allocates nothing.
var (
	// ErrInflightFull: max_inflight iocbs are submitted and not yet
	// reaped; reap events (Reap or GetEvents) before submitting more.
	ErrInflightFull error = &Error{Op: "submit", Msg: "max_inflight iocbs are submitted and not yet reaped: reap events first", Errno: unix.EAGAIN}
	// ErrDestroyed: the context was destroyed.
	ErrDestroyed error = &Error{Op: "context", Msg: "context destroyed", Errno: unix.EINVAL}
	// ErrTimeout: GetEvents returned fewer than min events because its
	// timeout expired. It is returned together with the events found.
	ErrTimeout error = &Error{Op: "getevents", Msg: "timeout before min events arrived", Errno: unix.ETIME}
	// ErrNoRing: the context has no ring to reap (SETUP_NO_RING, or the
	// ring is dead); use GetEvents.
	ErrNoRing error = &Error{Op: "reap", Msg: "context has no ring (SETUP_NO_RING, or F_DEAD): use GetEvents", Errno: unix.EOPNOTSUPP}
	// ErrBufTooSmall: the buffer passed to Reap or GetEvents is shorter
	// than max_event_bytes, so no event is sure to fit.
	ErrBufTooSmall error = &Error{Op: "getevents", Msg: "buffer too small for the next event (give at least max_event_bytes)", Errno: unix.EINVAL}
	// ErrAlreadyDone: Cancel found the iocb completed; its event is (or
	// was) in the ring.
	ErrAlreadyDone error = &Error{Op: "cancel", Msg: "iocb already completed", Errno: unix.EALREADY}
	// ErrUnknownKey: Cancel was given a key this context never assigned.
	ErrUnknownKey error = &Error{Op: "cancel", Msg: "unknown key", Errno: unix.ENOENT}
	// ErrInProgress: Cancel found the iocb in the device or running in a
	// worker where it cannot be stopped; its event will carry its result.
	ErrInProgress error = &Error{Op: "cancel", Msg: "iocb is in progress and cannot be cancelled; its event will follow", Errno: unix.EINPROGRESS}
	// ErrNotPermitted: a SYSCALL iocb names a syscall outside the
	// allowlist.
	ErrNotPermitted error = &Error{Op: "submit", Msg: "SYSCALL: syscall not in the allowlist", Errno: unix.EPERM}
)

// IsNotSupported reports whether err means a feature is missing here
// (EOPNOTSUPP, ENOSYS).
func IsNotSupported(err error) bool {
	return errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS)
}
