package abi

import (
	"encoding/binary"
	"syscall"
)

// The version 2 ring region (spec section 2): a header of HeaderBytes, then
// the data area of ring_bytes.
const (
	RingMagic   = 0xA10A10A2
	HeaderBytes = 4096
)

// Offsets of the ring header fields (spec section 2). head and tail sit
// alone on their cache lines.
const (
	OffMagic            = 0
	OffVersion          = 4
	OffHeaderBytes      = 8
	OffRingBytes        = 12
	OffRingMask         = 16
	OffMaxEventBytes    = 20
	OffCompatFeatures   = 24
	OffIncompatFeatures = 28
	OffFlags            = 32
	OffUserFlags        = 36
	OffOverflowed       = 40
	OffHead             = 64
	OffTail             = 128
)

// Ring flags, written by the producer (header field flags).
const (
	// FOverflow: events wait on the overflow list; call getevents.
	FOverflow = 1 << 0
	// FDead: the producer stopped using the ring (context destroyed, or
	// head found corrupt).
	FDead = 1 << 1
)

// User flags, written by reapers (header field user_flags).
const (
	// UFNoEventfd asks the producer not to signal the eventfd.
	UFNoEventfd = 1 << 0
)

// Feature bits of the ring header. None are defined yet: a reaper must
// refuse a ring with any incompat bit it does not know.
const (
	KnownCompatFeatures   = 0
	KnownIncompatFeatures = 0
)

// RingHeader is the version 2 ring header. Its Go layout is the wire layout
// of the first 192 bytes of the region; the rest of the 4096-byte header is
// reserved and zero. This value is a snapshot: the live fields of a mapped
// ring (flags, user_flags, overflowed, head, tail) must be accessed with
// atomics, which package ring does.
type RingHeader struct {
	Magic            uint32 // 0
	Version          uint32 // 4
	HeaderBytes      uint32 // 8
	RingBytes        uint32 // 12
	RingMask         uint32 // 16
	MaxEventBytes    uint32 // 20
	CompatFeatures   uint32 // 24
	IncompatFeatures uint32 // 28
	Flags            uint32 // 32
	UserFlags        uint32 // 36
	Overflowed       uint64 // 40
	_                [16]byte
	Head             uint32 // 64
	_                [60]byte
	Tail             uint32 // 128
	_                [60]byte
}

// RingHeaderSize is the number of header bytes that have a meaning.
const RingHeaderSize = 192

// PutRingHeader writes a fresh header for a ring of ringBytes into b, which
// must hold at least HeaderBytes: magic, version, sizes, and zero counters.
func PutRingHeader(b []byte, ringBytes, maxEventBytes uint32) {
	clear(b[:HeaderBytes])
	le := binary.LittleEndian
	le.PutUint32(b[OffMagic:], RingMagic)
	le.PutUint32(b[OffVersion:], Version2)
	le.PutUint32(b[OffHeaderBytes:], HeaderBytes)
	le.PutUint32(b[OffRingBytes:], ringBytes)
	le.PutUint32(b[OffRingMask:], ringBytes-1)
	le.PutUint32(b[OffMaxEventBytes:], maxEventBytes)
	le.PutUint32(b[OffCompatFeatures:], KnownCompatFeatures)
	le.PutUint32(b[OffIncompatFeatures:], KnownIncompatFeatures)
}

// DecodeRingHeader reads a snapshot of the header in b (plain loads; use it
// for inspection, not for reaping a live ring) and validates it against
// len(b) as the region's size. It never reads outside b.
func DecodeRingHeader(b []byte, h *RingHeader) error {
	if len(b) < RingHeaderSize {
		return errf("ring header", 0, syscall.EINVAL, "region of %d bytes is smaller than the %d-byte header", len(b), RingHeaderSize)
	}
	le := binary.LittleEndian
	*h = RingHeader{
		Magic:            le.Uint32(b[OffMagic:]),
		Version:          le.Uint32(b[OffVersion:]),
		HeaderBytes:      le.Uint32(b[OffHeaderBytes:]),
		RingBytes:        le.Uint32(b[OffRingBytes:]),
		RingMask:         le.Uint32(b[OffRingMask:]),
		MaxEventBytes:    le.Uint32(b[OffMaxEventBytes:]),
		CompatFeatures:   le.Uint32(b[OffCompatFeatures:]),
		IncompatFeatures: le.Uint32(b[OffIncompatFeatures:]),
		Flags:            le.Uint32(b[OffFlags:]),
		UserFlags:        le.Uint32(b[OffUserFlags:]),
		Overflowed:       le.Uint64(b[OffOverflowed:]),
		Head:             le.Uint32(b[OffHead:]),
		Tail:             le.Uint32(b[OffTail:]),
	}
	return h.Validate(len(b))
}

// Validate applies the checks of spec section 4 that a reaper makes before
// reaping: magic, version, header_bytes, ring_bytes a power of two within
// limits, ring_mask, max_event_bytes within bounds, the region large enough,
// and no unknown incompat_features. regionLen is the size of the mapping or
// file that holds the ring.
func (h *RingHeader) Validate(regionLen int) error {
	switch {
	case h.Magic != RingMagic:
		return errf("ring header", OffMagic, syscall.EINVAL, "magic %#x is not %#x: not an aio2 version 2 ring", h.Magic, uint32(RingMagic))
	case h.Version != Version2:
		return errf("ring header", OffVersion, syscall.EINVAL, "version %d is not %d", h.Version, Version2)
	case h.HeaderBytes != HeaderBytes:
		return errf("ring header", OffHeaderBytes, syscall.EINVAL, "header_bytes %d is not %d", h.HeaderBytes, HeaderBytes)
	case h.RingBytes < MinRingBytes || h.RingBytes > MaxRingBytes || h.RingBytes&(h.RingBytes-1) != 0:
		return errf("ring header", OffRingBytes, syscall.EINVAL, "ring_bytes %d is not a power of two in [%d, %d]", h.RingBytes, MinRingBytes, MaxRingBytes)
	case h.RingMask != h.RingBytes-1:
		return errf("ring header", OffRingMask, syscall.EINVAL, "ring_mask %#x is not ring_bytes-1 (%#x)", h.RingMask, h.RingBytes-1)
	case h.MaxEventBytes < MinEventBytes || h.MaxEventBytes > h.RingBytes/4 || h.MaxEventBytes%8 != 0:
		return errf("ring header", OffMaxEventBytes, syscall.EINVAL, "max_event_bytes %d is not a multiple of 8 in [%d, ring_bytes/4 = %d]", h.MaxEventBytes, MinEventBytes, h.RingBytes/4)
	case uint64(regionLen) < uint64(HeaderBytes)+uint64(h.RingBytes):
		return errf("ring header", 0, syscall.EINVAL, "region of %d bytes cannot hold header %d + ring_bytes %d", regionLen, HeaderBytes, h.RingBytes)
	case h.IncompatFeatures&^KnownIncompatFeatures != 0:
		return errf("ring header", OffIncompatFeatures, syscall.EOPNOTSUPP, "unknown incompat_features %#x: reap with getevents instead", h.IncompatFeatures&^KnownIncompatFeatures)
	}
	return nil
}

// RegionBytes is the size of a version 2 ring region with ringBytes of data.
func RegionBytes(ringBytes uint32) int { return HeaderBytes + int(ringBytes) }
