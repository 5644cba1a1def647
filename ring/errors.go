package ring

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// ErrCorrupt is wrapped by every *CorruptError: a value found in shared
// memory (head, tail, a record's length or type) that no correct party
// could have written.
var ErrCorrupt = errors.New("ring: corrupt shared memory")

// ErrLegacyFull is returned by (*LegacyProducer).Append when nr-1 events
// are unreaped: the legacy ring has no overflow list. It wraps EAGAIN.
var ErrLegacyFull error = &fullError{}

type fullError struct{}

func (*fullError) Error() string { return "ring: legacy ring full (nr-1 events unreaped)" }
func (*fullError) Unwrap() error { return unix.EAGAIN }

// CorruptError says where the ring's shared memory was found corrupt. It
// unwraps to ErrCorrupt and to EUCLEAN ("structure needs cleaning"), so
// errors.Is works with either.
type CorruptError struct {
	// Field is what was wrong: "head", "tail", "len", "type", "nr".
	Field string
	// Pos is the free-running counter (head or tail for v2, an event
	// index for the legacy ring) at which the fault was seen.
	Pos uint32
	// Value is the value found.
	Value uint64
	// Msg explains the check that failed.
	Msg string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("ring: corrupt %s %#x at position %#x: %s", e.Field, e.Value, e.Pos, e.Msg)
}

// Unwrap returns ErrCorrupt and EUCLEAN.
func (e *CorruptError) Unwrap() []error { return []error{ErrCorrupt, unix.EUCLEAN} }
