package abi_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/aio2/aio2/abi"
)

// Usable is the check a user-space reaper makes before reading the
// kernel's aio_ring (fs/aio.c writes magic, compat 1, incompat 0,
// header_length 32).
func TestAioRingUsable(t *testing.T) {
	good := abi.AioRing{ID: 5, Nr: 128, Magic: abi.AIO_RING_MAGIC, CompatFeatures: abi.AIO_RING_COMPAT_FEATURES,
		IncompatFeatures: abi.AIO_RING_INCOMPAT_FEATURES, HeaderLength: abi.AioRingHeaderBytes}
	assert.True(t, good.Usable())
	for name, edit := range map[string]func(*abi.AioRing){
		"magic":         func(r *abi.AioRing) { r.Magic = abi.RingMagic },
		"incompat":      func(r *abi.AioRing) { r.IncompatFeatures = 1 },
		"header_length": func(r *abi.AioRing) { r.HeaderLength = 128 },
		"nr zero":       func(r *abi.AioRing) { r.Nr = 0 },
	} {
		r := good
		edit(&r)
		assert.False(t, r.Usable(), name)
	}
	// compat_features, id, head and tail do not matter.
	r := good
	r.CompatFeatures, r.Head, r.Tail = 0xff, 3, 4
	assert.True(t, r.Usable())
}
