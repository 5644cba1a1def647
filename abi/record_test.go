package abi_test

import (
	"encoding/binary"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aio2/aio2/abi"
)

// sampleAttrs is one attribute of every catalogue id, plus an unknown id
// and the valueless statuses.
func sampleAttrs() []byte {
	var a []byte
	a = abi.AppendAttrU64(a, abi.AttrLatency, 12345)
	a = abi.AppendAttrTimestamps(a, 1, 2, 3)
	a = abi.AppendAttrU32Pair(a, abi.AttrCache, 10, 2)
	a = abi.AppendAttrDevice(a, 999, 3)
	a = abi.AppendAttrU32Pair(a, abi.AttrCPU, 0, 1)
	a = abi.AppendAttr(a, abi.AttrTag, abi.AttrOK, []byte("hello"))
	a = abi.AppendAttr(a, 200, abi.AttrOK, []byte{1, 2, 3, 4, 5, 6, 7, 8, 9})
	a = abi.AppendAttrStatus(a, abi.AttrCache, abi.AttrUnavailable)
	a = abi.AppendAttrStatus(a, 77, abi.AttrUnsupported)
	return abi.AppendAttrStatus(a, abi.AttrDevice, abi.AttrError)
}

func TestEventRoundTrip(t *testing.T) {
	for _, ev := range []abi.Event{
		{Data: 1, Obj: 2, Res: 4096, Res2: 0},
		{Flags: abi.EventAttrsTruncated, Data: ^uint64(0), Obj: 1 << 63, Res: -int64(syscall.ECANCELED), Res2: -1, Attrs: sampleAttrs()},
	} {
		rec := abi.AppendEvent([]byte{0xaa}, &ev)[1:]
		require.Zero(t, len(rec)%8)
		le := binary.LittleEndian
		assert.Equal(t, uint32(len(rec)), le.Uint32(rec))
		assert.Equal(t, uint16(abi.RecEvent), le.Uint16(rec[4:]))
		assert.Equal(t, ev.Flags, le.Uint16(rec[6:]))

		var got abi.Event
		require.NoError(t, abi.DecodeEvent(rec, 0, &got))
		if len(ev.Attrs) == 0 {
			ev.Attrs = rec[40:40]
		}
		assert.Equal(t, ev, got)
		require.NoError(t, abi.ValidateEvent(&got, 0))
		// Re-encoding gives the same bytes.
		assert.Equal(t, rec, abi.AppendEvent(nil, &got))
	}
}

// BeginEvent/EndEvent, the way a producer builds a record in place.
func TestBeginEndEvent(t *testing.T) {
	buf := []byte("prefix..")
	start := len(buf)
	buf = abi.BeginEvent(buf, 7, 8, 9, 10)
	buf = abi.AppendAttr(buf, abi.AttrTag, abi.AttrOK, []byte("abc"))
	buf = abi.EndEvent(buf, start, abi.EventAttrsTruncated)
	var ev abi.Event
	next, err := abi.NextEvent(buf, start, &ev)
	require.NoError(t, err)
	assert.Equal(t, len(buf), next)
	assert.Equal(t, uint16(abi.EventAttrsTruncated), ev.Flags)
	assert.Equal(t, []int64{9, 10}, []int64{ev.Res, ev.Res2})
	it := abi.NewAttrIter(ev.Attrs)
	a, ok := it.Next()
	require.True(t, ok)
	assert.Equal(t, "abc", string(a.Value))
	_, ok = it.Next()
	assert.False(t, ok)
	assert.NoError(t, it.Err())
	// EndEvent pads a record whose tail was left unaligned.
	b := abi.BeginEvent(nil, 0, 0, 0, 0)
	b = append(b, 1, 2, 3)
	b = abi.EndEvent(b, 0, 0)
	assert.Len(t, b, 48)
	assert.Equal(t, uint32(48), binary.LittleEndian.Uint32(b))
}

func TestPad(t *testing.T) {
	b := abi.AppendPad([]byte{1}, 24)
	assert.Len(t, b, 25)
	h := abi.ReadRecordHeader(b[1:])
	assert.Equal(t, abi.RecordHeader{Len: 24, Type: abi.RecPad}, h)

	p := make([]byte, 16)
	for i := range p {
		p[i] = 0xff
	}
	abi.PutPad(p)
	assert.Equal(t, abi.RecordHeader{Len: 16, Type: abi.RecPad}, abi.ReadRecordHeader(p))
	assert.Equal(t, "", abi.CheckRecord(abi.ReadRecordHeader(p), 4096-16, 16, 4096, 1024))

	assert.Equal(t, 0, abi.Pad8(0))
	assert.Equal(t, 8, abi.Pad8(1))
	assert.Equal(t, 8, abi.Pad8(8))
	assert.Equal(t, uint32(16), abi.Pad8u32(9))
	assert.Equal(t, uint32(0xfffffff8), abi.Pad8u32(0xfffffff8))
	assert.Equal(t, uint32(0xfffffff8), abi.Pad8u32(0xffffffff), "saturates instead of wrapping to 0")
}

// CheckRecord: the reaper's bound checks of spec section 4.
func TestCheckRecord(t *testing.T) {
	const ring, maxEv = 4096, 1024
	tests := []struct {
		name       string
		h          abi.RecordHeader
		pos, avail uint32
		fault      string
	}{
		{"event ok", abi.RecordHeader{Len: 40, Type: abi.RecEvent}, 0, 40, ""},
		{"event at end", abi.RecordHeader{Len: 64, Type: abi.RecEvent}, ring - 64, 64, ""},
		{"event max", abi.RecordHeader{Len: maxEv, Type: abi.RecEvent}, 0, 4096, ""},
		{"pad ok", abi.RecordHeader{Len: 8, Type: abi.RecPad}, ring - 8, 100, ""},
		{"pad larger than max_event", abi.RecordHeader{Len: 2048, Type: abi.RecPad}, 2048, 2048, ""},
		{"pad short of the end", abi.RecordHeader{Len: 8, Type: abi.RecPad}, ring - 16, 100, "len"},
		{"pad in the middle", abi.RecordHeader{Len: 160, Type: abi.RecPad}, 1024, 2048, "len"},
		{"len zero", abi.RecordHeader{Len: 0, Type: abi.RecEvent}, 0, 100, "len"},
		{"len zero pad", abi.RecordHeader{Len: 0, Type: abi.RecPad}, 0, 100, "len"},
		{"len unaligned", abi.RecordHeader{Len: 44, Type: abi.RecEvent}, 0, 100, "len"},
		{"len beyond tail", abi.RecordHeader{Len: 48, Type: abi.RecEvent}, 0, 40, "len"},
		{"len wraps the end", abi.RecordHeader{Len: 48, Type: abi.RecEvent}, ring - 40, 100, "len"},
		{"len huge", abi.RecordHeader{Len: 0xfffffff8, Type: abi.RecPad}, 8, 0xffffffff, "len"},
		{"event shorter than header", abi.RecordHeader{Len: 32, Type: abi.RecEvent}, 0, 100, "len"},
		{"event over max", abi.RecordHeader{Len: maxEv + 8, Type: abi.RecEvent}, 0, 4096, "len"},
		{"unknown type", abi.RecordHeader{Len: 40, Type: 2}, 0, 100, "type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.fault, abi.CheckRecord(tt.h, tt.pos, tt.avail, ring, maxEv))
		})
	}
}

func TestDecodeEventRules(t *testing.T) {
	good := abi.AppendEvent(nil, &abi.Event{Data: 1, Attrs: abi.AppendAttrU64(nil, abi.AttrLatency, 5)})
	le := binary.LittleEndian
	tests := []struct {
		name string
		rec  func() []byte
		msg  string
	}{
		{"short", func() []byte { return good[:39] }, "abi: event at byte 16: 39 bytes is shorter than the 40-byte EVENT header"},
		{"pad", func() []byte { b := clone(good); le.PutUint16(b[4:], abi.RecPad); return b }, "abi: event at byte 16: type 0 is not EVENT (1)"},
		{"unknown type", func() []byte { b := clone(good); le.PutUint16(b[4:], 9); return b }, "abi: event at byte 16: type 9 is not EVENT (1)"},
		{"unaligned", func() []byte { b := clone(good); le.PutUint32(b, 52); return b }, "abi: event at byte 16: len 52 is not a multiple of 8"},
		{"len mismatch", func() []byte { b := clone(good); le.PutUint32(b, 48); return b }, "abi: event at byte 16: len 48 does not match the record's 56 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ev abi.Event
			err := abi.DecodeEvent(tt.rec(), 16, &ev)
			assert.ErrorIs(t, err, syscall.EINVAL)
			assert.EqualError(t, err, tt.msg)
		})
	}
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }

// A getevents buffer: whole EVENT records back to back.
func TestNextEventWalk(t *testing.T) {
	var buf []byte
	var want []abi.Event
	for i := range 5 {
		var attrs []byte
		for range i {
			attrs = abi.AppendAttr(attrs, abi.AttrTag, abi.AttrOK, []byte("0123456789")[:i])
		}
		ev := abi.Event{Data: uint64(i), Obj: uint64(100 + i), Res: int64(i * 512), Attrs: attrs}
		want = append(want, ev)
		buf = abi.AppendEvent(buf, &ev)
	}
	off := 0
	for i := range want {
		var ev abi.Event
		next, err := abi.NextEvent(buf, off, &ev)
		require.NoError(t, err, "event %d", i)
		require.NoError(t, abi.ValidateEvent(&ev, off))
		if len(want[i].Attrs) == 0 {
			want[i].Attrs = ev.Attrs[:0]
		}
		assert.Equal(t, want[i], ev)
		off = next
	}
	assert.Equal(t, len(buf), off)
	var ev abi.Event
	_, err := abi.NextEvent(buf, off, &ev)
	assert.Equal(t, 360, len(buf))
	assert.EqualError(t, err, "abi: event at byte 360: 0 bytes left, too few for a record header")
	_, err = abi.NextEvent(buf, len(buf)+8, &ev)
	assert.ErrorIs(t, err, syscall.EINVAL)
	_, err = abi.NextEvent(buf, -1, &ev)
	assert.ErrorIs(t, err, syscall.EINVAL)
}

func TestNextEventRules(t *testing.T) {
	le := binary.LittleEndian
	good := abi.AppendEvent(nil, &abi.Event{Data: 1})
	tests := []struct {
		name string
		buf  func() []byte
		msg  string
	}{
		{"len past end", func() []byte { b := clone(good); le.PutUint32(b, 48); return b },
			"abi: event at byte 0: len 48 runs past the end of the buffer (40 bytes left)"},
		{"len below event header", func() []byte { b := clone(good); le.PutUint32(b, 8); return b },
			"abi: event at byte 0: len 8 is shorter than the 40-byte EVENT header"},
		{"a PAD is corruption here", func() []byte { b := clone(good); le.PutUint16(b[4:], abi.RecPad); return b },
			"abi: event at byte 0: type 0 is not EVENT (1)"},
		{"torn header", func() []byte { return good[:7] },
			"abi: event at byte 0: 7 bytes left, too few for a record header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ev abi.Event
			next, err := abi.NextEvent(tt.buf(), 0, &ev)
			assert.Equal(t, 0, next)
			assert.ErrorIs(t, err, syscall.EINVAL)
			assert.EqualError(t, err, tt.msg)
		})
	}
}

func TestValidateEventRules(t *testing.T) {
	le := binary.LittleEndian
	tests := []struct {
		name  string
		flags uint16
		attrs func() []byte
		msg   string
	}{
		{"unknown flags", 0x6, func() []byte { return nil }, "abi: event at byte 80: unknown flags 0x6"},
		{"latency too short", 0, func() []byte { return abi.AppendAttr(nil, abi.AttrLatency, abi.AttrOK, []byte{1, 2, 3, 4}) },
			"abi: attribute at byte 120: id 1 (latency): value of 4 bytes, want 8"},
		{"device padded value", 0, func() []byte { return abi.AppendAttr(nil, abi.AttrDevice, abi.AttrOK, make([]byte, 16)) },
			"abi: attribute at byte 120: id 4 (device): value of 16 bytes, want 12"},
		{"second attribute bad", 0, func() []byte {
			a := abi.AppendAttrU64(nil, abi.AttrLatency, 1)
			return abi.AppendAttr(a, abi.AttrCPU, abi.AttrOK, make([]byte, 4))
		}, "abi: attribute at byte 136: id 5 (cpu): value of 4 bytes, want 8"},
		{"value on UNAVAILABLE", 0, func() []byte { return abi.AppendAttr(nil, abi.AttrCache, abi.AttrUnavailable, make([]byte, 8)) },
			"abi: attribute at byte 120: id 3: status UNAVAILABLE carries a 8-byte value (only OK may)"},
		{"value on ERROR", 0, func() []byte { return abi.AppendAttr(nil, abi.AttrCache, abi.AttrError, make([]byte, 8)) },
			"abi: attribute at byte 120: id 3: status ERROR carries a 8-byte value (only OK may)"},
		{"unknown status", 0, func() []byte { return abi.AppendAttrStatus(nil, abi.AttrLatency, 4) },
			"abi: attribute at byte 120: id 1: unknown status 4"},
		{"tag too long", 0, func() []byte { return abi.AppendAttr(nil, abi.AttrTag, abi.AttrOK, make([]byte, 257)) },
			"abi: attribute at byte 120: tag of 257 bytes is longer than 256"},
		{"attribute overruns record", 0, func() []byte {
			a := abi.AppendAttrU64(nil, abi.AttrLatency, 1)
			le.PutUint32(a[4:], 16)
			return a
		}, "abi: attribute at byte 120: id 1: value len 16 does not fit the 8 bytes left"},
		{"unpadded value overruns", 0, func() []byte {
			a := abi.AppendAttrU64(nil, abi.AttrLatency, 1)
			le.PutUint32(a[4:], 9)
			return a
		}, "abi: attribute at byte 120: id 1: value len 9 does not fit the 8 bytes left"},
		{"hostile len", 0, func() []byte {
			a := abi.AppendAttrU64(nil, abi.AttrLatency, 1)
			le.PutUint32(a[4:], 0xffffffff)
			return a
		}, "abi: attribute at byte 120: id 1: value len 4294967295 does not fit the 8 bytes left"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// At offset 80 of a getevents buffer, after two bare events.
			buf := abi.AppendEvent(nil, &abi.Event{})
			buf = abi.AppendEvent(buf, &abi.Event{})
			off := len(buf)
			buf = abi.AppendEvent(buf, &abi.Event{Flags: tt.flags, Attrs: tt.attrs()})
			var ev abi.Event
			_, err := abi.NextEvent(buf, off, &ev)
			require.NoError(t, err)
			err = abi.ValidateEvent(&ev, off)
			assert.ErrorIs(t, err, syscall.EINVAL)
			assert.EqualError(t, err, tt.msg)
		})
	}
}

// Valid edge cases: unknown ids of any length are skipped; a TAG of 0 and
// 256 bytes; valueless statuses on any id.
func TestValidateEventAccepts(t *testing.T) {
	var a []byte
	a = abi.AppendAttr(a, 9999, abi.AttrOK, make([]byte, 300))
	a = abi.AppendAttr(a, 64, abi.AttrOK, nil)
	a = abi.AppendAttr(a, abi.AttrTag, abi.AttrOK, nil)
	a = abi.AppendAttr(a, abi.AttrTag, abi.AttrOK, make([]byte, 256))
	a = abi.AppendAttrStatus(a, abi.AttrTag, abi.AttrUnsupported)
	a = abi.AppendAttrStatus(a, 0, abi.AttrUnsupported)
	ev := abi.Event{Attrs: a}
	assert.NoError(t, abi.ValidateEvent(&ev, 0))
}
