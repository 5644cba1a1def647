package abi

import (
	"encoding/binary"
	"syscall"
)

// Attribute ids, the first set (spec section 9). Ids 1 to 63 are the
// catalogue; 64 and up are for experiments and never appear in
// params.attrs.
const (
	AttrLatency    = 1 // u64 ns, submission to completion
	AttrTimestamps = 2 // u64 submit, u64 issue, u64 complete (CLOCK_MONOTONIC ns)
	AttrCache      = 3 // u32 pages found in the page cache, u32 pages not found
	AttrDevice     = 4 // u64 ns in the device, u32 requests
	AttrCPU        = 5 // u32 cpu that submitted, u32 cpu that completed
	AttrTag        = 6 // the request's argument bytes echoed back (0 to 256)

	// AttrMaxCatalogue is the highest id that may appear in params.attrs.
	AttrMaxCatalogue = 63
	// AttrFirstExperimental is the first id reserved for experiments.
	AttrFirstExperimental = 64
	// MaxTagBytes is the longest TAG argument.
	MaxTagBytes = 256
)

// Attribute statuses (spec section 3). Only OK carries a value.
const (
	AttrOK          = 0
	AttrUnsupported = 1 // unknown id, or no driver of this context serves it
	AttrUnavailable = 2 // supported, but not measurable for this request
	// AttrError is ERROR, which the spec lists without defining: in
	// aio2, the collector could not produce a value (package attrs gives
	// it, say, for a TAG over 256 bytes that got past decoding). As only
	// OK carries a value, the cause does not reach the reaper
	// (docs/abi.md, section 10, note 9).
	AttrError = 3
)

// IOCBFlags for attribute requests: none defined; must be 0.

// AttrHeaderBytes is the size of an attribute's (or attribute request's)
// header: u16 id, u16 status (flags in a request), u32 len.
const AttrHeaderBytes = 8

// AttrValueLen returns the value length an OK attribute of id must have, or
// -1 for a variable length (TAG: 0 to 256) or an unknown id.
func AttrValueLen(id uint16) int {
	switch id {
	case AttrLatency:
		return 8
	case AttrTimestamps:
		return 24
	case AttrCache, AttrCPU:
		return 8
	case AttrDevice:
		return 12
	}
	return -1
}

var attrNames = [...]string{
	AttrLatency:    "latency",
	AttrTimestamps: "timestamps",
	AttrCache:      "cache",
	AttrDevice:     "device",
	AttrCPU:        "cpu",
	AttrTag:        "tag",
}

// AttrName returns the lower-case name of a catalogue id ("latency"), or ""
// for an id this package does not know.
func AttrName(id uint16) string {
	if int(id) < len(attrNames) {
		return attrNames[id]
	}
	return ""
}

// AttrByName returns the id named name (as AttrName spells it).
func AttrByName(name string) (uint16, bool) {
	for id, n := range attrNames {
		if n != "" && n == name {
			return uint16(id), true
		}
	}
	return 0, false
}

// KnownAttr reports whether id is in the catalogue this package knows.
func KnownAttr(id uint16) bool { return AttrName(id) != "" }

var statusNames = [...]string{"OK", "UNSUPPORTED", "UNAVAILABLE", "ERROR"}

// StatusName returns the spec's name for an attribute status.
func StatusName(s uint16) string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return "UNKNOWN"
}

// Attr is one attribute of an event, or one attribute request of an iocb2.
// Value is a view into the record (without padding).
type Attr struct {
	ID uint16
	// Status of an event attribute; the flags of an attribute request.
	Status uint16
	Value  []byte
}

// AttrIter walks a sequence of attribute TLVs (an event's or an iocb2's)
// without allocating. Framing faults stop it; Err reports them.
type AttrIter struct {
	b   []byte
	off int
	err error
}

// NewAttrIter returns an iterator over the TLVs in b.
func NewAttrIter(b []byte) AttrIter { return AttrIter{b: b} }

// Offset is the offset in b of the next TLV.
func (it *AttrIter) Offset() int { return it.off }

// Next returns the next attribute, or false at the end or on a framing
// fault (then Err is non-nil).
func (it *AttrIter) Next() (Attr, bool) {
	// The end is checked here, where the compiler can inline it, and the
	// rest in next: every walk ends with this check, and a call that only
	// found the end cost as much as one that decodes (the prologue of a
	// 0x88-byte frame): in perf, Next was 4 ns per call and ten calls per
	// IO with LATENCY at QD32 on zram. A fault cuts b at off, so that this
	// one check also stops the walk after it.
	if it.off >= len(it.b) {
		return Attr{}, false
	}
	return it.next()
}

// next decodes the TLV at off, which is below len(b).
func (it *AttrIter) next() (Attr, bool) {
	rest := len(it.b) - it.off
	if rest < AttrHeaderBytes {
		it.fail(errf("attribute", it.off, syscall.EINVAL, "%d bytes left, too few for an attribute header", rest))
		return Attr{}, false
	}
	le := binary.LittleEndian
	p := it.b[it.off:]
	a := Attr{ID: le.Uint16(p), Status: le.Uint16(p[2:])}
	n := le.Uint32(p[4:])
	// Pad in 64 bits: Pad8u32 saturates, and for n > 0xfffffff8 the
	// saturated value is below n, which would let a 4 GiB input slice
	// past its end.
	padded := (uint64(n) + 7) &^ 7
	if padded > uint64(rest-AttrHeaderBytes) {
		it.fail(errf("attribute", it.off, syscall.EINVAL, "id %d: value len %d does not fit the %d bytes left", a.ID, n, rest-AttrHeaderBytes))
		return Attr{}, false
	}
	a.Value = p[AttrHeaderBytes : AttrHeaderBytes+int(n)]
	it.off += AttrHeaderBytes + int(padded)
	return a, true
}

// fail stops the walk at off with err: Next sees the end there, Offset
// still says where the fault is.
func (it *AttrIter) fail(err error) {
	it.err = err
	it.b = it.b[:it.off]
}

// Err returns the framing fault that stopped the iterator, if any.
func (it *AttrIter) Err() error { return it.err }

// ValidateAttr checks one event attribute: a known status, no value unless
// OK, and for known ids the value size the catalogue prescribes.
func ValidateAttr(a Attr, off int) error {
	if a.Status > AttrError {
		return errf("attribute", off, syscall.EINVAL, "id %d: unknown status %d", a.ID, a.Status)
	}
	if a.Status != AttrOK {
		if len(a.Value) != 0 {
			return errf("attribute", off, syscall.EINVAL, "id %d: status %s carries a %d-byte value (only OK may)", a.ID, StatusName(a.Status), len(a.Value))
		}
		return nil
	}
	if want := AttrValueLen(a.ID); want >= 0 && len(a.Value) != want {
		return errf("attribute", off, syscall.EINVAL, "id %d (%s): value of %d bytes, want %d", a.ID, AttrName(a.ID), len(a.Value), want)
	}
	if a.ID == AttrTag && len(a.Value) > MaxTagBytes {
		return errf("attribute", off, syscall.EINVAL, "tag of %d bytes is longer than %d", len(a.Value), MaxTagBytes)
	}
	return nil
}

// AppendAttrHeader appends an attribute header; the caller appends n value
// bytes and then AppendAttrPad(dst, n).
func AppendAttrHeader(dst []byte, id, status uint16, n int) []byte {
	le := binary.LittleEndian
	dst = le.AppendUint16(dst, id)
	dst = le.AppendUint16(dst, status)
	return le.AppendUint32(dst, uint32(n))
}

// AppendAttrPad appends the zero padding after an n-byte value.
func AppendAttrPad(dst []byte, n int) []byte {
	for i := n; i%8 != 0; i++ {
		dst = append(dst, 0)
	}
	return dst
}

// AppendAttr appends a whole attribute: header, value, padding.
func AppendAttr(dst []byte, id, status uint16, value []byte) []byte {
	dst = AppendAttrHeader(dst, id, status, len(value))
	dst = append(dst, value...)
	return AppendAttrPad(dst, len(value))
}

// AppendAttrStatus appends a valueless attribute (UNSUPPORTED,
// UNAVAILABLE, ERROR).
func AppendAttrStatus(dst []byte, id, status uint16) []byte {
	return AppendAttrHeader(dst, id, status, 0)
}

// AppendAttrU64 appends an OK attribute whose value is one u64 (LATENCY).
func AppendAttrU64(dst []byte, id uint16, v uint64) []byte {
	dst = AppendAttrHeader(dst, id, AttrOK, 8)
	return binary.LittleEndian.AppendUint64(dst, v)
}

// AppendAttrU32Pair appends an OK attribute whose value is two u32 (CACHE,
// CPU).
func AppendAttrU32Pair(dst []byte, id uint16, a, b uint32) []byte {
	dst = AppendAttrHeader(dst, id, AttrOK, 8)
	dst = binary.LittleEndian.AppendUint32(dst, a)
	return binary.LittleEndian.AppendUint32(dst, b)
}

// AppendAttrTimestamps appends an OK TIMESTAMPS attribute.
func AppendAttrTimestamps(dst []byte, submit, issue, complete uint64) []byte {
	dst = AppendAttrHeader(dst, AttrTimestamps, AttrOK, 24)
	dst = binary.LittleEndian.AppendUint64(dst, submit)
	dst = binary.LittleEndian.AppendUint64(dst, issue)
	return binary.LittleEndian.AppendUint64(dst, complete)
}

// AppendAttrDevice appends an OK DEVICE attribute (12 value bytes, padded
// to 16).
func AppendAttrDevice(dst []byte, ns uint64, requests uint32) []byte {
	dst = AppendAttrHeader(dst, AttrDevice, AttrOK, 12)
	dst = binary.LittleEndian.AppendUint64(dst, ns)
	dst = binary.LittleEndian.AppendUint32(dst, requests)
	return AppendAttrPad(dst, 12)
}

// AttrBytes returns the bytes an attribute with an n-byte value occupies.
func AttrBytes(n int) int { return AttrHeaderBytes + Pad8(n) }

// U64 returns a one-u64 value (LATENCY).
func (a Attr) U64() (uint64, bool) {
	if len(a.Value) < 8 {
		return 0, false
	}
	return binary.LittleEndian.Uint64(a.Value), true
}

// U32Pair returns a two-u32 value (CACHE: hit, miss; CPU: submit,
// complete).
func (a Attr) U32Pair() (x, y uint32, ok bool) {
	if len(a.Value) < 8 {
		return 0, 0, false
	}
	return binary.LittleEndian.Uint32(a.Value), binary.LittleEndian.Uint32(a.Value[4:]), true
}

// Timestamps returns a TIMESTAMPS value.
func (a Attr) Timestamps() (submit, issue, complete uint64, ok bool) {
	if len(a.Value) < 24 {
		return 0, 0, 0, false
	}
	le := binary.LittleEndian
	return le.Uint64(a.Value), le.Uint64(a.Value[8:]), le.Uint64(a.Value[16:]), true
}

// Device returns a DEVICE value.
func (a Attr) Device() (ns uint64, requests uint32, ok bool) {
	if len(a.Value) < 12 {
		return 0, 0, false
	}
	return binary.LittleEndian.Uint64(a.Value), binary.LittleEndian.Uint32(a.Value[8:]), true
}
