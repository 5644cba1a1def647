package abi_test

import (
	"encoding/binary"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aio2/aio2/abi"
)

func TestAttrCatalogue(t *testing.T) {
	assert.Equal(t, []int{1, 2, 3, 4, 5, 6}, []int{abi.AttrLatency, abi.AttrTimestamps, abi.AttrCache, abi.AttrDevice, abi.AttrCPU, abi.AttrTag})
	assert.Equal(t, []int{0, 1, 2, 3}, []int{abi.AttrOK, abi.AttrUnsupported, abi.AttrUnavailable, abi.AttrError})
	names := map[uint16]string{1: "latency", 2: "timestamps", 3: "cache", 4: "device", 5: "cpu", 6: "tag"}
	lens := map[uint16]int{1: 8, 2: 24, 3: 8, 4: 12, 5: 8}
	for id := range uint16(300) {
		assert.Equal(t, names[id], abi.AttrName(id), "id %d", id)
		assert.Equal(t, names[id] != "", abi.KnownAttr(id), "id %d", id)
		want, ok := lens[id]
		if !ok {
			want = -1
		}
		assert.Equal(t, want, abi.AttrValueLen(id), "id %d", id)
		if n := names[id]; n != "" {
			got, ok := abi.AttrByName(n)
			assert.True(t, ok)
			assert.Equal(t, id, got)
		}
	}
	_, ok := abi.AttrByName("")
	assert.False(t, ok)
	_, ok = abi.AttrByName("LATENCY")
	assert.False(t, ok)
	assert.Equal(t, "UNAVAILABLE", abi.StatusName(abi.AttrUnavailable))
	assert.Equal(t, "UNKNOWN", abi.StatusName(9))
}

func TestAttrEncodersAndAccessors(t *testing.T) {
	var b []byte
	b = abi.AppendAttrU64(b, abi.AttrLatency, 1<<50)
	b = abi.AppendAttrTimestamps(b, 10, 20, 30)
	b = abi.AppendAttrU32Pair(b, abi.AttrCache, 7, 9)
	b = abi.AppendAttrDevice(b, 5000, 2)
	b = abi.AppendAttr(b, abi.AttrTag, abi.AttrOK, []byte("xyz"))
	b = abi.AppendAttrStatus(b, abi.AttrCPU, abi.AttrUnsupported)
	assert.Len(t, b, 16+32+16+24+16+8)
	assert.Zero(t, len(b)%8)
	assert.Equal(t, abi.AttrBytes(12), 24)
	assert.Equal(t, abi.AttrBytes(0), 8)

	it := abi.NewAttrIter(b)
	var got []abi.Attr
	for a, ok := it.Next(); ok; a, ok = it.Next() {
		require.NoError(t, abi.ValidateAttr(a, 0))
		got = append(got, a)
	}
	require.NoError(t, it.Err())
	require.Len(t, got, 6)
	assert.Equal(t, len(b), it.Offset())

	v, ok := got[0].U64()
	assert.True(t, ok)
	assert.Equal(t, uint64(1<<50), v)
	s, i, c, ok := got[1].Timestamps()
	assert.True(t, ok)
	assert.Equal(t, []uint64{10, 20, 30}, []uint64{s, i, c})
	x, y, ok := got[2].U32Pair()
	assert.True(t, ok)
	assert.Equal(t, []uint32{7, 9}, []uint32{x, y})
	ns, n, ok := got[3].Device()
	assert.True(t, ok)
	assert.Equal(t, uint64(5000), ns)
	assert.Equal(t, uint32(2), n)
	assert.Len(t, got[3].Value, 12, "the value view excludes padding")
	assert.Equal(t, "xyz", string(got[4].Value))
	assert.Equal(t, abi.Attr{ID: abi.AttrCPU, Status: abi.AttrUnsupported, Value: got[5].Value}, got[5])
	assert.Empty(t, got[5].Value)

	// Padding is zero.
	assert.Equal(t, make([]byte, 4), b[16+32+16+8+12:16+32+16+24])
	// Accessors refuse short values instead of panicking.
	var empty abi.Attr
	_, ok = empty.U64()
	assert.False(t, ok)
	_, _, ok = empty.U32Pair()
	assert.False(t, ok)
	_, _, _, ok = empty.Timestamps()
	assert.False(t, ok)
	_, _, ok = empty.Device()
	assert.False(t, ok)
}

func TestAttrIterFaults(t *testing.T) {
	le := binary.LittleEndian
	good := abi.AppendAttrU64(nil, abi.AttrLatency, 1)
	tests := []struct {
		name string
		b    []byte
		n    int // attributes returned before the fault
		msg  string
	}{
		{"empty", nil, 0, ""},
		{"partial header", append(clone(good), 1, 2, 3), 1, "abi: attribute at byte 16: 3 bytes left, too few for an attribute header"},
		{"len past end", func() []byte { b := clone(good); le.PutUint32(b[4:], 100); return b }(), 0,
			"abi: attribute at byte 0: id 1: value len 100 does not fit the 8 bytes left"},
		{"max len", func() []byte { b := clone(good); le.PutUint32(b[4:], 0xffffffff); return b }(), 0,
			"abi: attribute at byte 0: id 1: value len 4294967295 does not fit the 8 bytes left"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			it := abi.NewAttrIter(tt.b)
			n := 0
			for _, ok := it.Next(); ok; _, ok = it.Next() {
				n++
			}
			assert.Equal(t, tt.n, n)
			if tt.msg == "" {
				assert.NoError(t, it.Err())
				return
			}
			assert.ErrorIs(t, it.Err(), syscall.EINVAL)
			assert.EqualError(t, it.Err(), tt.msg)
			// Stays stopped.
			_, ok := it.Next()
			assert.False(t, ok)
		})
	}
}
