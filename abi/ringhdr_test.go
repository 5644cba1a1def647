package abi_test

import (
	"encoding/binary"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aio2/aio2/abi"
)

func freshRegion(ringBytes, maxEvent uint32) []byte {
	b := make([]byte, abi.RegionBytes(ringBytes))
	abi.PutRingHeader(b, ringBytes, maxEvent)
	return b
}

func TestRingHeaderRoundTrip(t *testing.T) {
	b := freshRegion(8192, 512)
	le := binary.LittleEndian
	le.PutUint32(b[abi.OffFlags:], abi.FOverflow)
	le.PutUint32(b[abi.OffUserFlags:], abi.UFNoEventfd)
	le.PutUint64(b[abi.OffOverflowed:], 1<<40)
	le.PutUint32(b[abi.OffHead:], 0xfffffff0)
	le.PutUint32(b[abi.OffTail:], 0x10)
	var h abi.RingHeader
	require.NoError(t, abi.DecodeRingHeader(b, &h))
	assert.Equal(t, abi.RingHeader{
		Magic: abi.RingMagic, Version: abi.Version2, HeaderBytes: abi.HeaderBytes,
		RingBytes: 8192, RingMask: 8191, MaxEventBytes: 512,
		Flags: abi.FOverflow, UserFlags: abi.UFNoEventfd, Overflowed: 1 << 40,
		Head: 0xfffffff0, Tail: 0x10,
	}, h)
	assert.Equal(t, 4096+8192, abi.RegionBytes(8192))
}

// PutRingHeader clears the whole 4096-byte header, including reserved
// bytes and a stale head and tail.
func TestPutRingHeaderClears(t *testing.T) {
	b := make([]byte, abi.RegionBytes(4096))
	for i := range b {
		b[i] = 0xee
	}
	abi.PutRingHeader(b, 4096, 1024)
	for i := abi.OffOverflowed; i < abi.HeaderBytes; i++ {
		require.Zero(t, b[i], "header byte %d", i)
	}
	assert.Equal(t, byte(0xee), b[abi.HeaderBytes], "data area untouched")
}

func TestRingHeaderRules(t *testing.T) {
	le := binary.LittleEndian
	put := func(off int, v uint32) func([]byte) []byte {
		return func(b []byte) []byte { le.PutUint32(b[off:], v); return b }
	}
	tests := []struct {
		name  string
		edit  func([]byte) []byte
		errno syscall.Errno
		msg   string
	}{
		{"tiny region", func(b []byte) []byte { return b[:191] }, syscall.EINVAL,
			"abi: ring header at byte 0: region of 191 bytes is smaller than the 192-byte header"},
		{"magic", put(abi.OffMagic, abi.AIO_RING_MAGIC), syscall.EINVAL,
			"abi: ring header at byte 0: magic 0xa10a10a1 is not 0xa10a10a2: not an aio2 version 2 ring"},
		{"version 1", put(abi.OffVersion, 1), syscall.EINVAL,
			"abi: ring header at byte 4: version 1 is not 2"},
		{"header_bytes", put(abi.OffHeaderBytes, 8192), syscall.EINVAL,
			"abi: ring header at byte 8: header_bytes 8192 is not 4096"},
		{"ring_bytes not a power of two", put(abi.OffRingBytes, 12288), syscall.EINVAL,
			"abi: ring header at byte 12: ring_bytes 12288 is not a power of two in [4096, 1073741824]"},
		{"ring_bytes too small", put(abi.OffRingBytes, 2048), syscall.EINVAL,
			"abi: ring header at byte 12: ring_bytes 2048 is not a power of two in [4096, 1073741824]"},
		{"ring_bytes zero", put(abi.OffRingBytes, 0), syscall.EINVAL,
			"abi: ring header at byte 12: ring_bytes 0 is not a power of two in [4096, 1073741824]"},
		{"ring_bytes too large", put(abi.OffRingBytes, 1<<31), syscall.EINVAL,
			"abi: ring header at byte 12: ring_bytes 2147483648 is not a power of two in [4096, 1073741824]"},
		{"ring_mask", put(abi.OffRingMask, 4095), syscall.EINVAL,
			"abi: ring header at byte 16: ring_mask 0xfff is not ring_bytes-1 (0x1fff)"},
		{"max_event_bytes small", put(abi.OffMaxEventBytes, 32), syscall.EINVAL,
			"abi: ring header at byte 20: max_event_bytes 32 is not a multiple of 8 in [40, ring_bytes/4 = 2048]"},
		{"max_event_bytes large", put(abi.OffMaxEventBytes, 2056), syscall.EINVAL,
			"abi: ring header at byte 20: max_event_bytes 2056 is not a multiple of 8 in [40, ring_bytes/4 = 2048]"},
		{"max_event_bytes odd", put(abi.OffMaxEventBytes, 44), syscall.EINVAL,
			"abi: ring header at byte 20: max_event_bytes 44 is not a multiple of 8 in [40, ring_bytes/4 = 2048]"},
		{"region short", func(b []byte) []byte { return b[:len(b)-8] }, syscall.EINVAL,
			"abi: ring header at byte 0: region of 12280 bytes cannot hold header 4096 + ring_bytes 8192"},
		{"incompat", put(abi.OffIncompatFeatures, 1<<3), syscall.EOPNOTSUPP,
			"abi: ring header at byte 28: unknown incompat_features 0x8: reap with getevents instead"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.edit(freshRegion(8192, 512))
			var h abi.RingHeader
			err := abi.DecodeRingHeader(b, &h)
			require.Error(t, err)
			assert.ErrorIs(t, err, tt.errno)
			assert.EqualError(t, err, tt.msg)
		})
	}
}

// What a reaper may ignore: compat features, the producer's flags, the
// live counters, and a larger region than needed.
func TestRingHeaderAccepted(t *testing.T) {
	le := binary.LittleEndian
	b := freshRegion(4096, 1024)
	le.PutUint32(b[abi.OffCompatFeatures:], 0xffffffff)
	le.PutUint32(b[abi.OffFlags:], abi.FDead|abi.FOverflow)
	b = append(b, make([]byte, 4096)...)
	var h abi.RingHeader
	require.NoError(t, abi.DecodeRingHeader(b, &h))
	for _, rb := range []uint32{abi.MinRingBytes, 1 << 20} {
		h := abi.RingHeader{Magic: abi.RingMagic, Version: 2, HeaderBytes: 4096, RingBytes: rb, RingMask: rb - 1, MaxEventBytes: abi.MinEventBytes}
		assert.NoError(t, h.Validate(abi.RegionBytes(rb)))
	}
	h = abi.RingHeader{Magic: abi.RingMagic, Version: 2, HeaderBytes: 4096, RingBytes: abi.MaxRingBytes, RingMask: abi.MaxRingBytes - 1, MaxEventBytes: 4096}
	assert.NoError(t, h.Validate(abi.RegionBytes(abi.MaxRingBytes)))
	assert.Error(t, h.Validate(abi.RegionBytes(abi.MaxRingBytes)-1))
}
