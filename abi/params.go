package abi

import (
	"encoding/binary"
	"syscall"
)

// Ring versions a caller may ask for in Params.Version.
const (
	// VersionLegacy is the legacy ring of spec section 6: Linux's
	// struct aio_ring header and nr 32-byte io_events.
	VersionLegacy = 1
	// Version2 is the byte-unit ring of spec sections 2 to 5.
	Version2 = 2
)

// Setup flags (Params.Flags).
const (
	// SetupNoRing maps no ring; events come only through getevents.
	SetupNoRing = 1 << 0
	// SetupShared puts the ring in a sealed memfd that another process may
	// map read-write to reap.
	SetupShared = 1 << 1

	// SetupKnown is every setup flag this package knows.
	SetupKnown = SetupNoRing | SetupShared
)

// Feature bits (Params.Features, out). The spec names the field but leaves
// the bits to the implementation; these are aio2's, documented in
// docs/abi.md. A bit, once given a meaning, keeps it.
const (
	// FeatNoDrop: completions that do not fit go to the ordered overflow
	// list, never dropped.
	FeatNoDrop = 1 << 0
	// FeatAttrs: iocbs may carry attribute requests (section 9).
	FeatAttrs = 1 << 1
	// FeatSyscall: the SYSCALL opcode is served (from an allowlist).
	FeatSyscall = 1 << 2
	// FeatPoll: POLL and reads/writes on pollable fds complete
	// asynchronously.
	FeatPoll = 1 << 3
	// FeatShared: SETUP_SHARED is available.
	FeatShared = 1 << 4
	// FeatCASReap: the ring supports lock-free reaping by several reapers
	// (section 4).
	FeatCASReap = 1 << 5
	// FeatIssueSync: issue-sync is available.
	FeatIssueSync = 1 << 6
)

// Limits of the ring sizes (spec section 1).
const (
	MinRingBytes         = 4096
	MaxRingBytes         = 1 << 30
	DefaultMaxEventBytes = 4096
	// MinEventBytes is the smallest max_event_bytes: a bare EVENT record.
	MinEventBytes = EventHeaderBytes
)

// ParamsSize is the size of Params as this implementation knows it.
const ParamsSize = 64

// Params is the io_setup2 parameter block (spec section 1), a
// size-versioned struct in the convention of clone3 and openat2. Its Go
// layout is its wire layout (64 bytes, little-endian on the wire).
type Params struct {
	Size          uint32 // 0: sizeof as the caller knows it, >= 64
	Version       uint32 // 4: in: highest ring version understood; out: granted
	Flags         uint32 // 8: SETUP_*
	RingBytes     uint32 // 12: in: wanted; out: granted (power of two)
	MaxEventBytes uint32 // 16: in: 0 = default 4096; out: granted
	Eventfd       int32  // 20: -1: the context makes its own
	MaxInflight   uint32 // 24: submitted-but-unreaped iocbs allowed at once
	Reserved      uint32 // 28: must be 0
	Features      uint64 // 32: out: FEAT_*
	Attrs         uint64 // 40: out: bit i = attribute id i supported
	Reserved2     [2]uint64
}

// AppendParams appends the 64-byte wire form of p to dst.
func AppendParams(dst []byte, p *Params) []byte {
	le := binary.LittleEndian
	dst = le.AppendUint32(dst, p.Size)
	dst = le.AppendUint32(dst, p.Version)
	dst = le.AppendUint32(dst, p.Flags)
	dst = le.AppendUint32(dst, p.RingBytes)
	dst = le.AppendUint32(dst, p.MaxEventBytes)
	dst = le.AppendUint32(dst, uint32(p.Eventfd))
	dst = le.AppendUint32(dst, p.MaxInflight)
	dst = le.AppendUint32(dst, p.Reserved)
	dst = le.AppendUint64(dst, p.Features)
	dst = le.AppendUint64(dst, p.Attrs)
	dst = le.AppendUint64(dst, p.Reserved2[0])
	return le.AppendUint64(dst, p.Reserved2[1])
}

// DecodeParams reads a params block of any size from b and applies the
// rules of spec section 1: size below 64 or beyond len(b), unknown flags,
// or non-zero reserved fields are EINVAL; a size larger than ParamsSize
// whose extra bytes are not all zero is E2BIG.
func DecodeParams(b []byte, p *Params) error {
	if len(b) < 4 {
		return errf("params", 0, syscall.EINVAL, "%d bytes is too short to hold the size field", len(b))
	}
	le := binary.LittleEndian
	size := le.Uint32(b)
	if size < ParamsSize {
		return errf("params", 0, syscall.EINVAL, "size %d is below the minimum %d", size, ParamsSize)
	}
	if uint64(size) > uint64(len(b)) {
		return errf("params", 0, syscall.EINVAL, "size %d is larger than the %d bytes given", size, len(b))
	}
	for i := ParamsSize; i < int(size); i++ {
		if b[i] != 0 {
			return errf("params", 0, syscall.E2BIG, "byte %d beyond this implementation's %d-byte struct is not zero", i, ParamsSize)
		}
	}
	*p = Params{
		Size:          size,
		Version:       le.Uint32(b[4:]),
		Flags:         le.Uint32(b[8:]),
		RingBytes:     le.Uint32(b[12:]),
		MaxEventBytes: le.Uint32(b[16:]),
		Eventfd:       int32(le.Uint32(b[20:])),
		MaxInflight:   le.Uint32(b[24:]),
		Reserved:      le.Uint32(b[28:]),
		Features:      le.Uint64(b[32:]),
		Attrs:         le.Uint64(b[40:]),
		Reserved2:     [2]uint64{le.Uint64(b[48:]), le.Uint64(b[56:])},
	}
	return p.Validate()
}

// Validate checks the input rules of spec section 1 that do not depend on
// the implementation's limits: flags known, reserved fields zero, size at
// least 64, version 1 or more. Out-only fields (features, attrs) are ignored
// on input.
func (p *Params) Validate() error {
	if p.Size < ParamsSize {
		return errf("params", 0, syscall.EINVAL, "size %d is below the minimum %d", p.Size, ParamsSize)
	}
	if p.Flags&^SetupKnown != 0 {
		return errf("params", 8, syscall.EINVAL, "unknown setup flags %#x", p.Flags&^SetupKnown)
	}
	if p.Reserved != 0 {
		return errf("params", 28, syscall.EINVAL, "reserved field at offset 28 is %#x, must be 0", p.Reserved)
	}
	if p.Reserved2 != [2]uint64{} {
		return errf("params", 48, syscall.EINVAL, "reserved fields at offsets 48..63 must be 0")
	}
	if p.Version == 0 {
		return errf("params", 4, syscall.EINVAL, "version 0: ask for %d (legacy ring) or %d (byte ring)", VersionLegacy, Version2)
	}
	return nil
}

// GrantRingBytes returns the data-area size granted for a wanted size: the
// next power of two, clamped to [MinRingBytes, MaxRingBytes].
func GrantRingBytes(want uint32) uint32 {
	if want <= MinRingBytes {
		return MinRingBytes
	}
	if want >= MaxRingBytes {
		return MaxRingBytes
	}
	n := uint32(MinRingBytes)
	for n < want {
		n <<= 1
	}
	return n
}

// GrantMaxEventBytes returns max_event_bytes as granted for a ring of
// ringBytes: 0 means DefaultMaxEventBytes; the result is a multiple of 8,
// at least MinEventBytes and at most ringBytes/4. want is the largest
// event the caller accepts (spec section 1), so it is rounded down to a
// multiple of 8, the size of every record, never up: no event is larger
// than the caller said, except that every caller accepts a bare EVENT.
func GrantMaxEventBytes(want, ringBytes uint32) uint32 {
	if want == 0 {
		want = DefaultMaxEventBytes
	}
	want &^= 7
	if want < MinEventBytes {
		want = MinEventBytes
	}
	if limit := ringBytes / 4; want > limit {
		want = limit
	}
	return want
}
