package abi

import (
	"encoding/binary"
	"syscall"
)

// Record framing (spec section 3).
const (
	// RecordHeaderBytes is the size of the header every record starts with.
	RecordHeaderBytes = 8
	// EventHeaderBytes is the size of an EVENT record without attributes.
	EventHeaderBytes = 40

	RecPad   = 0 // PAD: fills the data area's end; reapers skip it
	RecEvent = 1 // EVENT: a completion

	// EventAttrsTruncated (EVENT flags bit 0): some attributes were left out
	// to fit max_event_bytes.
	EventAttrsTruncated = 1 << 0
	// EventFlagsKnown is every EVENT flag this package knows.
	EventFlagsKnown = EventAttrsTruncated
)

// RecordHeader is the 8-byte header of every record.
type RecordHeader struct {
	Len   uint32 // the whole record, a multiple of 8, at least 8
	Type  uint16 // RecPad or RecEvent
	Flags uint16
}

// Event is a decoded EVENT record. Bytes 8 to 40 of the record are
// byte-for-byte the legacy struct io_event. Attrs is a view into the
// decoded record (valid while the record's bytes are), holding the
// attribute TLVs; walk it with NewAttrIter.
type Event struct {
	Flags uint16
	Data  uint64 // the iocb's data
	Obj   uint64 // the iocb's key
	Res   int64  // bytes done, or -errno
	Res2  int64
	Attrs []byte
}

// ReadRecordHeader reads the record header at b[0:8]. b must hold 8 bytes.
func ReadRecordHeader(b []byte) RecordHeader {
	_ = b[7]
	return RecordHeader{
		Len:   binary.LittleEndian.Uint32(b),
		Type:  binary.LittleEndian.Uint16(b[4:]),
		Flags: binary.LittleEndian.Uint16(b[6:]),
	}
}

// CheckRecord applies the bound checks of spec section 4 to a record header
// read at data-area position pos, with avail = tail - head bytes
// unreaped. It returns the name of the first field at fault, or "" if the
// record may be copied. A reaper that gets a fault retries from the top
// (the read may be torn) and reports corruption if the same head fails
// again. Beyond the spec's list it checks that an EVENT is at least 40
// bytes and that a PAD ends at the end of the data area: a producer writes
// a PAD only there (section 5), so one elsewhere is corruption
// (docs/abi.md, section 10).
func CheckRecord(h RecordHeader, pos, avail, ringBytes, maxEventBytes uint32) string {
	switch {
	case h.Len%8 != 0 || h.Len < RecordHeaderBytes:
		return "len"
	case h.Len > avail:
		return "len"
	case uint64(pos)+uint64(h.Len) > uint64(ringBytes):
		return "len"
	case h.Type == RecPad:
		if uint64(pos)+uint64(h.Len) != uint64(ringBytes) {
			return "len"
		}
		return ""
	case h.Type != RecEvent:
		return "type"
	case h.Len < EventHeaderBytes || h.Len > maxEventBytes:
		return "len"
	}
	return ""
}

// BeginEvent appends the first 40 bytes of an EVENT record to dst, with a
// length to be fixed by EndEvent. Append attributes with the AppendAttr
// functions, then call EndEvent with the index at which the record began
// (len(dst) before BeginEvent).
func BeginEvent(dst []byte, data, obj uint64, res, res2 int64) []byte {
	le := binary.LittleEndian
	dst = le.AppendUint32(dst, EventHeaderBytes)
	dst = le.AppendUint16(dst, RecEvent)
	dst = le.AppendUint16(dst, 0)
	dst = le.AppendUint64(dst, data)
	dst = le.AppendUint64(dst, obj)
	dst = le.AppendUint64(dst, uint64(res))
	return le.AppendUint64(dst, uint64(res2))
}

// EndEvent pads the record that starts at dst[start:] to a multiple of 8
// (attributes are already padded, so this is a no-op for well-formed input)
// and writes its length and flags.
func EndEvent(dst []byte, start int, flags uint16) []byte {
	for (len(dst)-start)%8 != 0 {
		dst = append(dst, 0)
	}
	binary.LittleEndian.PutUint32(dst[start:], uint32(len(dst)-start))
	binary.LittleEndian.PutUint16(dst[start+6:], flags)
	return dst
}

// AppendEvent appends a whole EVENT record: header, ev's fields and
// ev.Attrs (which must be well-framed TLVs, as the AppendAttr functions
// make).
func AppendEvent(dst []byte, ev *Event) []byte {
	start := len(dst)
	dst = BeginEvent(dst, ev.Data, ev.Obj, ev.Res, ev.Res2)
	dst = append(dst, ev.Attrs...)
	return EndEvent(dst, start, ev.Flags)
}

// AppendPad appends a PAD record of n bytes (n a multiple of 8, >= 8).
func AppendPad(dst []byte, n int) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, n)...)
	binary.LittleEndian.PutUint32(dst[start:], uint32(n))
	return dst
}

// PutPad writes a PAD record header filling b (len(b) a multiple of 8).
func PutPad(b []byte) {
	binary.LittleEndian.PutUint32(b, uint32(len(b)))
	binary.LittleEndian.PutUint32(b[4:], 0)
}

// DecodeEvent decodes the EVENT record rec, which must be exactly one
// record (len(rec) equal to its len field). off is rec's offset in the
// caller's buffer, for error messages. ev.Attrs is a view into rec. The
// attributes are not validated here; use ValidateEvent for that.
func DecodeEvent(rec []byte, off int, ev *Event) error {
	if len(rec) < EventHeaderBytes {
		return errf("event", off, syscall.EINVAL, "%d bytes is shorter than the %d-byte EVENT header", len(rec), EventHeaderBytes)
	}
	h := ReadRecordHeader(rec)
	switch {
	case h.Type != RecEvent:
		return errf("event", off, syscall.EINVAL, "type %d is not EVENT (%d)", h.Type, RecEvent)
	case h.Len%8 != 0:
		return errf("event", off, syscall.EINVAL, "len %d is not a multiple of 8", h.Len)
	case uint64(h.Len) != uint64(len(rec)):
		return errf("event", off, syscall.EINVAL, "len %d does not match the record's %d bytes", h.Len, len(rec))
	}
	le := binary.LittleEndian
	// Field by field, not *ev = Event{...}: a literal is built on the
	// stack with narrow stores and copied with 16-byte loads, which the
	// CPU cannot forward from them (a stall per event when reaping).
	ev.Flags = h.Flags
	ev.Data = le.Uint64(rec[8:])
	ev.Obj = le.Uint64(rec[16:])
	ev.Res = int64(le.Uint64(rec[24:]))
	ev.Res2 = int64(le.Uint64(rec[32:]))
	ev.Attrs = rec[EventHeaderBytes:]
	return nil
}

// NextEvent decodes the EVENT record at buf[off:] in a getevents buffer
// (whole EVENT records back to back, no PAD) and returns the offset of the
// next one. It never reads outside buf.
func NextEvent(buf []byte, off int, ev *Event) (next int, err error) {
	if off < 0 || off > len(buf) || len(buf)-off < RecordHeaderBytes {
		return off, errf("event", off, syscall.EINVAL, "%d bytes left, too few for a record header", max(len(buf)-off, 0))
	}
	n := binary.LittleEndian.Uint32(buf[off:])
	if n < EventHeaderBytes {
		return off, errf("event", off, syscall.EINVAL, "len %d is shorter than the %d-byte EVENT header", n, EventHeaderBytes)
	}
	if uint64(n) > uint64(len(buf)-off) {
		return off, errf("event", off, syscall.EINVAL, "len %d runs past the end of the buffer (%d bytes left)", n, len(buf)-off)
	}
	if err := DecodeEvent(buf[off:off+int(n)], off, ev); err != nil {
		return off, err
	}
	return off + int(n), nil
}

// ValidateEvent checks an EVENT record fully, as a strict reaper (aio2 reap)
// does: known flags, attributes well framed, known statuses, values only on
// OK and of the size their id prescribes. off is for error messages.
func ValidateEvent(ev *Event, off int) error {
	if ev.Flags&^EventFlagsKnown != 0 {
		return errf("event", off, syscall.EINVAL, "unknown flags %#x", ev.Flags&^EventFlagsKnown)
	}
	if len(ev.Attrs) == 0 {
		return nil
	}
	it := NewAttrIter(ev.Attrs)
	for {
		aoff := off + EventHeaderBytes + it.Offset()
		a, ok := it.Next()
		if !ok {
			break
		}
		if err := ValidateAttr(a, aoff); err != nil {
			return err
		}
	}
	if err := it.Err(); err != nil {
		var e *Error
		if asError(err, &e) {
			e.Off += off + EventHeaderBytes
		}
		return err
	}
	return nil
}

func asError(err error, target **Error) bool {
	e, ok := err.(*Error)
	if ok {
		*target = e
	}
	return ok
}
