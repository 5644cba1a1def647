package abi_test

import (
	"encoding/binary"
	"errors"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aio2/aio2/abi"
)

func goodParams() abi.Params {
	return abi.Params{
		Size: abi.ParamsSize, Version: abi.Version2, Flags: abi.SetupShared,
		RingBytes: 1 << 16, MaxEventBytes: 512, Eventfd: -1, MaxInflight: 128,
		Features: abi.FeatNoDrop | abi.FeatAttrs, Attrs: 1<<abi.AttrLatency | 1<<abi.AttrTag,
	}
}

func TestParamsRoundTrip(t *testing.T) {
	p := goodParams()
	b := abi.AppendParams(nil, &p)
	require.Len(t, b, abi.ParamsSize)
	le := binary.LittleEndian
	// Spot-check the wire against the spec's offsets.
	assert.Equal(t, uint32(64), le.Uint32(b[0:]))
	assert.Equal(t, uint32(2), le.Uint32(b[4:]))
	assert.Equal(t, uint32(abi.SetupShared), le.Uint32(b[8:]))
	assert.Equal(t, uint32(1<<16), le.Uint32(b[12:]))
	assert.Equal(t, uint32(512), le.Uint32(b[16:]))
	assert.Equal(t, uint32(0xffffffff), le.Uint32(b[20:]))
	assert.Equal(t, uint32(128), le.Uint32(b[24:]))
	assert.Equal(t, p.Features, le.Uint64(b[32:]))
	assert.Equal(t, p.Attrs, le.Uint64(b[40:]))

	var q abi.Params
	require.NoError(t, abi.DecodeParams(b, &q))
	assert.Equal(t, p, q)
	// Appending to a non-empty buffer leaves the prefix alone.
	b2 := abi.AppendParams([]byte{9, 9}, &p)
	assert.Equal(t, []byte{9, 9}, b2[:2])
	assert.Equal(t, b, b2[2:])
}

// A caller that knows a larger struct: zero extra bytes are accepted (and
// ignored), non-zero ones are E2BIG.
func TestParamsLarger(t *testing.T) {
	p := goodParams()
	p.Size = 96
	b := abi.AppendParams(nil, &p)
	b = append(b, make([]byte, 32)...)
	var q abi.Params
	require.NoError(t, abi.DecodeParams(b, &q))
	assert.Equal(t, uint32(96), q.Size)
	assert.Equal(t, p.RingBytes, q.RingBytes)

	b[95] = 1
	err := abi.DecodeParams(b, &q)
	require.ErrorIs(t, err, syscall.E2BIG)
	assert.EqualError(t, err, "abi: params at byte 0: byte 95 beyond this implementation's 64-byte struct is not zero")

	// Bytes beyond size are not the caller's struct and are not looked at.
	b[95] = 0
	b = append(b, 0xff)
	require.NoError(t, abi.DecodeParams(b, &q))
}

func TestParamsRules(t *testing.T) {
	le := binary.LittleEndian
	tests := []struct {
		name  string
		edit  func(b []byte) []byte
		errno syscall.Errno
		msg   string
	}{
		{"short", func(b []byte) []byte { return b[:3] }, syscall.EINVAL,
			"abi: params at byte 0: 3 bytes is too short to hold the size field"},
		{"size below 64", func(b []byte) []byte { le.PutUint32(b, 56); return b }, syscall.EINVAL,
			"abi: params at byte 0: size 56 is below the minimum 64"},
		{"size zero", func(b []byte) []byte { le.PutUint32(b, 0); return b }, syscall.EINVAL,
			"abi: params at byte 0: size 0 is below the minimum 64"},
		{"size beyond buffer", func(b []byte) []byte { le.PutUint32(b, 72); return b }, syscall.EINVAL,
			"abi: params at byte 0: size 72 is larger than the 64 bytes given"},
		{"truncated", func(b []byte) []byte { return b[:63] }, syscall.EINVAL,
			"abi: params at byte 0: size 64 is larger than the 63 bytes given"},
		{"unknown flag", func(b []byte) []byte { le.PutUint32(b[8:], 1<<7|abi.SetupShared); return b }, syscall.EINVAL,
			"abi: params at byte 8: unknown setup flags 0x80"},
		{"reserved at 28", func(b []byte) []byte { b[28] = 1; return b }, syscall.EINVAL,
			"abi: params at byte 28: reserved field at offset 28 is 0x1, must be 0"},
		{"reserved at 48", func(b []byte) []byte { b[48] = 1; return b }, syscall.EINVAL,
			"abi: params at byte 48: reserved fields at offsets 48..63 must be 0"},
		{"reserved at 63", func(b []byte) []byte { b[63] = 0x80; return b }, syscall.EINVAL,
			"abi: params at byte 48: reserved fields at offsets 48..63 must be 0"},
		{"version 0", func(b []byte) []byte { le.PutUint32(b[4:], 0); return b }, syscall.EINVAL,
			"abi: params at byte 4: version 0: ask for 1 (legacy ring) or 2 (byte ring)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := goodParams()
			b := tt.edit(abi.AppendParams(nil, &p))
			var q abi.Params
			err := abi.DecodeParams(b, &q)
			require.Error(t, err)
			assert.ErrorIs(t, err, tt.errno)
			var ae *abi.Error
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, "params", ae.What)
			assert.EqualError(t, err, tt.msg)
		})
	}
}

// Accepted inputs: both versions, a version from the future (the
// implementation grants what it has), every known flag, out-only fields
// set by a careless caller.
func TestParamsAccepted(t *testing.T) {
	for _, edit := range []func(*abi.Params){
		func(p *abi.Params) { p.Version = abi.VersionLegacy },
		func(p *abi.Params) { p.Version = 3 },
		func(p *abi.Params) { p.Flags = abi.SetupKnown },
		func(p *abi.Params) { p.Flags = 0 },
		func(p *abi.Params) { p.Features = ^uint64(0); p.Attrs = ^uint64(0) },
		func(p *abi.Params) { p.Eventfd = 7 },
	} {
		p := goodParams()
		edit(&p)
		var q abi.Params
		require.NoError(t, abi.DecodeParams(abi.AppendParams(nil, &p), &q))
		assert.Equal(t, p, q)
		assert.NoError(t, p.Validate())
	}
}

func TestParamsValidate(t *testing.T) {
	p := goodParams()
	p.Size = 0
	assert.ErrorIs(t, p.Validate(), syscall.EINVAL)
	p = goodParams()
	p.Reserved2[1] = 1
	assert.ErrorIs(t, p.Validate(), syscall.EINVAL)
	assert.False(t, errors.Is(p.Validate(), syscall.E2BIG))
}

func TestGrantRingBytes(t *testing.T) {
	for _, tt := range []struct{ want, got uint32 }{
		{0, 4096}, {1, 4096}, {4096, 4096}, {4097, 8192}, {65535, 65536}, {65536, 65536},
		{1<<30 - 1, 1 << 30}, {1 << 30, 1 << 30}, {1<<30 + 1, 1 << 30}, {0xffffffff, 1 << 30},
	} {
		assert.Equal(t, tt.got, abi.GrantRingBytes(tt.want), "want %d", tt.want)
	}
}

func TestGrantMaxEventBytes(t *testing.T) {
	for _, tt := range []struct{ want, ring, got uint32 }{
		{0, 1 << 20, 4096}, // default
		{0, 4096, 1024},    // default, clamped to ring/4
		{1, 1 << 20, 40},   // at least a bare EVENT
		{41, 1 << 20, 40},  // a multiple of 8, never above what was asked
		{47, 1 << 20, 40},
		{48, 1 << 20, 48},
		{4095, 1 << 20, 4088},
		{100000, 65536, 16384}, // at most ring/4
		{0xffffffff, 1 << 30, 1 << 28},
	} {
		got := abi.GrantMaxEventBytes(tt.want, tt.ring)
		assert.Equal(t, tt.got, got, "want %d ring %d", tt.want, tt.ring)
		assert.Zero(t, got%8)
	}
}
