package fuzz

import (
	"encoding/binary"
	"errors"
	"syscall"
	"testing"

	"github.com/aio2/aio2/abi"
)

// The oracles below restate the rules of spec/abi-v2.md (and of
// docs/abi.md where aio2 fills in what the spec leaves open) as plainly as
// possible, without calling the code under test, so that a target can
// compare verdicts and not only watch for panics. They use 64-bit
// arithmetic everywhere so that no hostile length can wrap.

var le = binary.LittleEndian

// oAttr is one attribute TLV as the oracle walks it.
type oAttr struct {
	id, status uint16
	off        int // of the header, in the walked slice
	value      []byte
}

// walkAttrs walks TLVs; ok is false on a framing fault (then attrs holds
// the well-framed ones before it).
func walkAttrs(b []byte) (attrs []oAttr, ok bool) {
	off := 0
	for off < len(b) {
		if len(b)-off < 8 {
			return attrs, false
		}
		n := uint64(le.Uint32(b[off+4:]))
		if 8+(n+7)/8*8 > uint64(len(b)-off) {
			return attrs, false
		}
		attrs = append(attrs, oAttr{
			id: le.Uint16(b[off:]), status: le.Uint16(b[off+2:]), off: off,
			value: b[off+8 : off+8+int(n)],
		})
		off += 8 + int((n+7)/8*8)
	}
	return attrs, true
}

// catalogueLen is the value size of an OK attribute of a catalogue id
// (spec section 9), or -1 where the spec gives none (TAG, unknown ids).
func catalogueLen(id uint16) int {
	switch id {
	case 1, 3, 5:
		return 8
	case 2:
		return 24
	case 4:
		return 12
	}
	return -1
}

// attrOK is the strict reaper's verdict on one event attribute.
func attrOK(a oAttr) bool {
	switch {
	case a.status > 3:
		return false
	case a.status != 0:
		return len(a.value) == 0 // only OK carries a value
	case catalogueLen(a.id) >= 0:
		return len(a.value) == catalogueLen(a.id)
	case a.id == 6:
		return len(a.value) <= 256
	}
	return true // unknown ids are skipped by length
}

// eventOK is the verdict on a whole EVENT record's flags and attributes.
func eventOK(flags uint16, attrs []byte) bool {
	if flags&^1 != 0 {
		return false
	}
	as, ok := walkAttrs(attrs)
	if !ok {
		return false
	}
	for _, a := range as {
		if !attrOK(a) {
			return false
		}
	}
	return true
}

// reqsOK is the verdict on an iocb2's attribute requests: well framed,
// flags 0, id not 0, no argument for known ids other than TAG, TAG at most
// 256 bytes.
func reqsOK(reqs []byte) bool {
	as, ok := walkAttrs(reqs)
	if !ok {
		return false
	}
	for _, a := range as {
		known := a.id >= 1 && a.id <= 6
		switch {
		case a.status != 0, a.id == 0:
			return false
		case a.id == 6 && len(a.value) > 256:
			return false
		case known && a.id != 6 && len(a.value) != 0:
			return false
		}
	}
	return true
}

// iocbOK is the verdict on the iocb2 at buf[off:]: its length, or -1.
func iocbOK(buf []byte, off int) int {
	if len(buf)-off < 64 {
		return -1
	}
	p := buf[off:]
	n := uint64(le.Uint32(p))
	op, flags := le.Uint16(p[4:]), le.Uint16(p[6:])
	switch {
	case n%8 != 0, n < 64, n > uint64(len(p)):
		return -1
	case flags&^1 != 0:
		return -1
	}
	switch op {
	case 0, 1, 2, 3, 5, 6, 7, 8, 64:
	default:
		return -1
	}
	if !reqsOK(p[64:n]) {
		return -1
	}
	return int(n)
}

// recordFault is the reaper's check of spec section 4 on a record header
// at data-area position pos with avail bytes unreaped: "" if the record
// may be taken.
func recordFault(rlen uint32, typ uint16, pos, avail, ringBytes, maxEv uint32) string {
	l := uint64(rlen)
	switch {
	case l%8 != 0 || l < 8 || l > uint64(avail) || uint64(pos)+l > uint64(ringBytes):
		return "len"
	case typ == 0 && uint64(pos)+l != uint64(ringBytes):
		return "len" // a PAD fills the data area to its end, nothing else
	case typ == 0:
		return ""
	case typ != 1:
		return "type"
	case l < 40 || l > uint64(maxEv):
		return "len"
	}
	return ""
}

// wantABIError fails t unless err is an *abi.Error that unwraps to errno.
func wantABIError(t *testing.T, err error, errno syscall.Errno, ctx string) *abi.Error {
	t.Helper()
	var e *abi.Error
	if !errors.As(err, &e) {
		t.Fatalf("%s: error %v (%T) is not an *abi.Error", ctx, err, err)
	}
	if !errors.Is(err, errno) {
		t.Fatalf("%s: error %q unwraps to %v, want %v", ctx, err, e.Errno, errno)
	}
	if e.Msg == "" || e.What == "" {
		t.Fatalf("%s: error %q does not say what is wrong", ctx, err)
	}
	return e
}
