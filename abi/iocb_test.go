package abi_test

import (
	"encoding/binary"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aio2/aio2/abi"
)

func TestIocbRoundTrip(t *testing.T) {
	cb := abi.Iocb{
		Opcode: abi.OpPread, Flags: abi.IocbRequireAttrs, Data: 0xdeadbeef, Key: 0,
		Fd: -1, RWFlags: 0x8, Addr: 0x7f0000001000, Nbytes: 4096, Offset: -1, Arg: 3,
	}
	var reqs []byte
	reqs = abi.AppendAttrReq(reqs, abi.AttrLatency, nil)
	reqs = abi.AppendAttrReq(reqs, abi.AttrTag, []byte("a tag"))
	reqs = abi.AppendAttrReq(reqs, 300, []byte{1, 2, 3}) // experimental id with an argument
	buf := abi.AppendIocb(nil, &cb, reqs)
	require.Len(t, buf, 64+len(reqs))
	le := binary.LittleEndian
	assert.Equal(t, uint32(len(buf)), le.Uint32(buf))
	assert.Equal(t, uint64(0xdeadbeef), le.Uint64(buf[8:]))
	assert.Equal(t, uint32(0xffffffff), le.Uint32(buf[24:]))
	assert.Equal(t, uint64(3), le.Uint64(buf[56:]))

	// Submit writes the key in place.
	le.PutUint64(buf[abi.OffIocbKey:], 77)
	buf = abi.AppendIocb(buf, &abi.Iocb{Opcode: abi.OpSyscall, Arg: 39}, nil)

	var got abi.Iocb
	gotReqs, next, err := abi.DecodeIocb(buf, 0, &got)
	require.NoError(t, err)
	cb.Len, cb.Key = uint32(64+len(reqs)), 77
	assert.Equal(t, cb, got)
	assert.Equal(t, reqs, gotReqs)
	assert.Equal(t, 64+len(reqs), next)
	// A decoded iocb re-encodes to the same bytes.
	assert.Equal(t, buf[:next], abi.AppendIocb(nil, &got, gotReqs))

	_, next2, err := abi.DecodeIocb(buf, next, &got)
	require.NoError(t, err)
	assert.Equal(t, len(buf), next2)
	assert.Equal(t, uint16(abi.OpSyscall), got.Opcode)
	assert.Equal(t, uint32(64), got.Len)

	it := abi.NewAttrIter(gotReqs)
	var ids []uint16
	for a, ok := it.Next(); ok; a, ok = it.Next() {
		ids = append(ids, a.ID)
	}
	require.NoError(t, it.Err())
	assert.Equal(t, []uint16{abi.AttrLatency, abi.AttrTag, 300}, ids)
}

func TestIocbRules(t *testing.T) {
	le := binary.LittleEndian
	base := func(reqs []byte) []byte {
		// One good iocb first, so that offsets in messages are not all 0.
		b := abi.AppendIocb(nil, &abi.Iocb{Opcode: abi.OpNoop}, nil)
		return abi.AppendIocb(b, &abi.Iocb{Opcode: abi.OpPwrite, Nbytes: 1}, reqs)
	}
	req := func(id, flags uint16, arg []byte) []byte { return abi.AppendAttr(nil, id, flags, arg) }
	tests := []struct {
		name string
		buf  func() []byte
		what string
		msg  string
	}{
		{"short", func() []byte { return base(nil)[:64+63] }, "iocb2",
			"abi: iocb2 at byte 64: 63 bytes left, too few for a 64-byte iocb2"},
		{"len unaligned", func() []byte { b := base(req(abi.AttrLatency, 0, nil)); le.PutUint32(b[64:], 68); return b }, "iocb2",
			"abi: iocb2 at byte 64: len 68 is not a multiple of 8"},
		{"len below 64", func() []byte { b := base(nil); le.PutUint32(b[64:], 56); return b }, "iocb2",
			"abi: iocb2 at byte 64: len 56 is below the minimum 64"},
		{"len zero", func() []byte { b := base(nil); le.PutUint32(b[64:], 0); return b }, "iocb2",
			"abi: iocb2 at byte 64: len 0 is below the minimum 64"},
		{"len past end", func() []byte { b := base(nil); le.PutUint32(b[64:], 72); return b }, "iocb2",
			"abi: iocb2 at byte 64: len 72 runs past the end of the buffer (64 bytes left)"},
		{"len huge", func() []byte { b := base(nil); le.PutUint32(b[64:], 0xfffffff8); return b }, "iocb2",
			"abi: iocb2 at byte 64: len 4294967288 runs past the end of the buffer (64 bytes left)"},
		{"unknown flags", func() []byte { b := base(nil); le.PutUint16(b[64+6:], 0x8001); return b }, "iocb2",
			"abi: iocb2 at byte 64: unknown flags 0x8000"},
		{"unknown opcode 4", func() []byte { b := base(nil); le.PutUint16(b[64+4:], 4); return b }, "iocb2",
			"abi: iocb2 at byte 64: unknown opcode 4"},
		{"unknown opcode 65", func() []byte { b := base(nil); le.PutUint16(b[64+4:], 65); return b }, "iocb2",
			"abi: iocb2 at byte 64: unknown opcode 65"},
		{"request flags", func() []byte { return base(req(abi.AttrLatency, 1, nil)) }, "attribute request",
			"abi: attribute request at byte 128: id 1: flags 0x1 must be 0"},
		{"request id 0", func() []byte { return base(req(0, 0, nil)) }, "attribute request",
			"abi: attribute request at byte 128: id 0 is not an attribute"},
		{"known id with argument", func() []byte {
			return base(append(req(abi.AttrTag, 0, []byte("x")), req(abi.AttrCache, 0, []byte{1})...))
		}, "attribute request",
			"abi: attribute request at byte 144: id 3 (cache) takes no argument, got 1 bytes"},
		{"tag too long", func() []byte { return base(req(abi.AttrTag, 0, make([]byte, 257))) }, "attribute request",
			"abi: attribute request at byte 128: TAG argument of 257 bytes is longer than the 256 allowed"},
		{"request overruns iocb", func() []byte {
			r := req(abi.AttrTag, 0, []byte("12345678"))
			le.PutUint32(r[4:], 9)
			return base(r)
		}, "attribute request",
			"abi: attribute request at byte 128: id 6: value len 9 does not fit the 8 bytes left"},
		{"trailing partial header", func() []byte {
			// A record whose tail holds 8 bytes that are a header with an
			// overlong len: the iocb's len bounds the requests, not the buffer.
			b := base(req(abi.AttrLatency, 0, nil))
			return append(b, req(abi.AttrLatency, 0, nil)...)
		}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			buf := tt.buf()
			var cb abi.Iocb
			_, next, err := abi.DecodeIocb(buf, 0, &cb)
			require.NoError(t, err)
			require.Equal(t, 64, next)
			_, next, err = abi.DecodeIocb(buf, next, &cb)
			if tt.msg == "" {
				require.NoError(t, err)
				return
			}
			assert.Equal(t, 64, next, "next stays at the refused record")
			assert.ErrorIs(t, err, syscall.EINVAL)
			var ae *abi.Error
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, tt.what, ae.What)
			assert.EqualError(t, err, tt.msg)
		})
	}
}

func TestDecodeIocbBadOffset(t *testing.T) {
	buf := abi.AppendIocb(nil, &abi.Iocb{}, nil)
	var cb abi.Iocb
	for _, off := range []int{-1, -64, 1, 65, 1 << 40} {
		_, next, err := abi.DecodeIocb(buf, off, &cb)
		assert.ErrorIs(t, err, syscall.EINVAL, "off %d", off)
		assert.Equal(t, off, next)
	}
}

func TestOpcodes(t *testing.T) {
	known := map[uint16]string{0: "PREAD", 1: "PWRITE", 2: "FSYNC", 3: "FDSYNC", 5: "POLL", 6: "NOOP", 7: "PREADV", 8: "PWRITEV", 64: "SYSCALL"}
	for op := range uint16(200) {
		name, ok := known[op]
		assert.Equal(t, ok, abi.KnownOpcode(op), "op %d", op)
		assert.Equal(t, name, abi.OpName(op), "op %d", op)
	}
	// The legacy numbers are the same.
	assert.Equal(t, []int{0, 1, 2, 3, 5, 6, 7, 8}, []int{abi.IOCB_CMD_PREAD, abi.IOCB_CMD_PWRITE, abi.IOCB_CMD_FSYNC, abi.IOCB_CMD_FDSYNC, abi.IOCB_CMD_POLL, abi.IOCB_CMD_NOOP, abi.IOCB_CMD_PREADV, abi.IOCB_CMD_PWRITEV})
	assert.Equal(t, []int{abi.OpPread, abi.OpPwrite, abi.OpFsync, abi.OpFdsync, abi.OpPoll, abi.OpNoop, abi.OpPreadv, abi.OpPwritev}, []int{abi.IOCB_CMD_PREAD, abi.IOCB_CMD_PWRITE, abi.IOCB_CMD_FSYNC, abi.IOCB_CMD_FDSYNC, abi.IOCB_CMD_POLL, abi.IOCB_CMD_NOOP, abi.IOCB_CMD_PREADV, abi.IOCB_CMD_PWRITEV})
}
