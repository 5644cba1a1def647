package abi_test

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"

	"github.com/aio2/aio2/abi"
)

// field is one struct field's expected offset and size, as the spec (or,
// for the legacy structs, include/uapi/linux/aio_abi.h and fs/aio.c) gives
// them.
type field struct {
	name      string
	off, size uintptr
	gotOff    uintptr
	gotSize   uintptr
}

func checkLayout(t *testing.T, what string, size, want uintptr, fields []field) {
	t.Helper()
	assert.Equal(t, want, size, "sizeof(%s)", what)
	for _, f := range fields {
		assert.Equal(t, f.off, f.gotOff, "%s.%s offset", what, f.name)
		assert.Equal(t, f.size, f.gotSize, "%s.%s size", what, f.name)
	}
}

func TestLayoutParams(t *testing.T) {
	var p abi.Params
	checkLayout(t, "Params", unsafe.Sizeof(p), abi.ParamsSize, []field{
		{"size", 0, 4, unsafe.Offsetof(p.Size), unsafe.Sizeof(p.Size)},
		{"version", 4, 4, unsafe.Offsetof(p.Version), unsafe.Sizeof(p.Version)},
		{"flags", 8, 4, unsafe.Offsetof(p.Flags), unsafe.Sizeof(p.Flags)},
		{"ring_bytes", 12, 4, unsafe.Offsetof(p.RingBytes), unsafe.Sizeof(p.RingBytes)},
		{"max_event_bytes", 16, 4, unsafe.Offsetof(p.MaxEventBytes), unsafe.Sizeof(p.MaxEventBytes)},
		{"eventfd", 20, 4, unsafe.Offsetof(p.Eventfd), unsafe.Sizeof(p.Eventfd)},
		{"max_inflight", 24, 4, unsafe.Offsetof(p.MaxInflight), unsafe.Sizeof(p.MaxInflight)},
		{"reserved", 28, 4, unsafe.Offsetof(p.Reserved), unsafe.Sizeof(p.Reserved)},
		{"features", 32, 8, unsafe.Offsetof(p.Features), unsafe.Sizeof(p.Features)},
		{"attrs", 40, 8, unsafe.Offsetof(p.Attrs), unsafe.Sizeof(p.Attrs)},
		{"reserved2", 48, 16, unsafe.Offsetof(p.Reserved2), unsafe.Sizeof(p.Reserved2)},
	})
	assert.Len(t, abi.AppendParams(nil, &p), abi.ParamsSize)
}

func TestLayoutRingHeader(t *testing.T) {
	var h abi.RingHeader
	checkLayout(t, "RingHeader", unsafe.Sizeof(h), abi.RingHeaderSize, []field{
		{"magic", abi.OffMagic, 4, unsafe.Offsetof(h.Magic), unsafe.Sizeof(h.Magic)},
		{"version", abi.OffVersion, 4, unsafe.Offsetof(h.Version), unsafe.Sizeof(h.Version)},
		{"header_bytes", abi.OffHeaderBytes, 4, unsafe.Offsetof(h.HeaderBytes), unsafe.Sizeof(h.HeaderBytes)},
		{"ring_bytes", abi.OffRingBytes, 4, unsafe.Offsetof(h.RingBytes), unsafe.Sizeof(h.RingBytes)},
		{"ring_mask", abi.OffRingMask, 4, unsafe.Offsetof(h.RingMask), unsafe.Sizeof(h.RingMask)},
		{"max_event_bytes", abi.OffMaxEventBytes, 4, unsafe.Offsetof(h.MaxEventBytes), unsafe.Sizeof(h.MaxEventBytes)},
		{"compat_features", abi.OffCompatFeatures, 4, unsafe.Offsetof(h.CompatFeatures), unsafe.Sizeof(h.CompatFeatures)},
		{"incompat_features", abi.OffIncompatFeatures, 4, unsafe.Offsetof(h.IncompatFeatures), unsafe.Sizeof(h.IncompatFeatures)},
		{"flags", abi.OffFlags, 4, unsafe.Offsetof(h.Flags), unsafe.Sizeof(h.Flags)},
		{"user_flags", abi.OffUserFlags, 4, unsafe.Offsetof(h.UserFlags), unsafe.Sizeof(h.UserFlags)},
		{"overflowed", abi.OffOverflowed, 8, unsafe.Offsetof(h.Overflowed), unsafe.Sizeof(h.Overflowed)},
		{"head", abi.OffHead, 4, unsafe.Offsetof(h.Head), unsafe.Sizeof(h.Head)},
		{"tail", abi.OffTail, 4, unsafe.Offsetof(h.Tail), unsafe.Sizeof(h.Tail)},
	})
	// The spec's literal offsets, so that a change of an Off constant is
	// caught as well as a change of the struct.
	assert.Equal(t, []int{0, 4, 8, 12, 16, 20, 24, 28, 32, 36, 40, 64, 128}, []int{
		abi.OffMagic, abi.OffVersion, abi.OffHeaderBytes, abi.OffRingBytes, abi.OffRingMask,
		abi.OffMaxEventBytes, abi.OffCompatFeatures, abi.OffIncompatFeatures, abi.OffFlags,
		abi.OffUserFlags, abi.OffOverflowed, abi.OffHead, abi.OffTail,
	})
	// head and tail alone on their 64-byte cache lines.
	assert.Equal(t, 0, abi.OffHead%64)
	assert.Equal(t, 0, abi.OffTail%64)
	assert.Equal(t, 4096, abi.HeaderBytes)
	assert.Equal(t, uint32(0xA10A10A2), uint32(abi.RingMagic))
}

func TestLayoutRecordHeader(t *testing.T) {
	var h abi.RecordHeader
	checkLayout(t, "RecordHeader", unsafe.Sizeof(h), abi.RecordHeaderBytes, []field{
		{"len", 0, 4, unsafe.Offsetof(h.Len), unsafe.Sizeof(h.Len)},
		{"type", 4, 2, unsafe.Offsetof(h.Type), unsafe.Sizeof(h.Type)},
		{"flags", 6, 2, unsafe.Offsetof(h.Flags), unsafe.Sizeof(h.Flags)},
	})
	assert.Equal(t, 40, abi.EventHeaderBytes)
	assert.Equal(t, 8, abi.AttrHeaderBytes)
}

func TestLayoutIocb(t *testing.T) {
	var cb abi.Iocb
	checkLayout(t, "Iocb", unsafe.Sizeof(cb), abi.IocbHeaderBytes, []field{
		{"len", 0, 4, unsafe.Offsetof(cb.Len), unsafe.Sizeof(cb.Len)},
		{"opcode", 4, 2, unsafe.Offsetof(cb.Opcode), unsafe.Sizeof(cb.Opcode)},
		{"flags", 6, 2, unsafe.Offsetof(cb.Flags), unsafe.Sizeof(cb.Flags)},
		{"data", 8, 8, unsafe.Offsetof(cb.Data), unsafe.Sizeof(cb.Data)},
		{"key", abi.OffIocbKey, 8, unsafe.Offsetof(cb.Key), unsafe.Sizeof(cb.Key)},
		{"fd", 24, 4, unsafe.Offsetof(cb.Fd), unsafe.Sizeof(cb.Fd)},
		{"rw_flags", 28, 4, unsafe.Offsetof(cb.RWFlags), unsafe.Sizeof(cb.RWFlags)},
		{"addr", 32, 8, unsafe.Offsetof(cb.Addr), unsafe.Sizeof(cb.Addr)},
		{"nbytes", 40, 8, unsafe.Offsetof(cb.Nbytes), unsafe.Sizeof(cb.Nbytes)},
		{"offset", 48, 8, unsafe.Offsetof(cb.Offset), unsafe.Sizeof(cb.Offset)},
		{"arg", 56, 8, unsafe.Offsetof(cb.Arg), unsafe.Sizeof(cb.Arg)},
	})
	assert.Equal(t, 16, abi.OffIocbKey)
	assert.Len(t, abi.AppendIocb(nil, &cb, nil), abi.IocbHeaderBytes)
}

// The legacy structs mirror include/uapi/linux/aio_abi.h (struct iocb,
// struct io_event) and fs/aio.c (struct aio_ring) on little-endian 64-bit.
func TestLayoutLegacy(t *testing.T) {
	var cb abi.LegacyIocb
	checkLayout(t, "LegacyIocb", unsafe.Sizeof(cb), abi.LegacyIocbBytes, []field{
		{"aio_data", 0, 8, unsafe.Offsetof(cb.Data), unsafe.Sizeof(cb.Data)},
		{"aio_key", 8, 4, unsafe.Offsetof(cb.Key), unsafe.Sizeof(cb.Key)},
		{"aio_rw_flags", 12, 4, unsafe.Offsetof(cb.RWFlags), unsafe.Sizeof(cb.RWFlags)},
		{"aio_lio_opcode", 16, 2, unsafe.Offsetof(cb.Opcode), unsafe.Sizeof(cb.Opcode)},
		{"aio_reqprio", 18, 2, unsafe.Offsetof(cb.Reqprio), unsafe.Sizeof(cb.Reqprio)},
		{"aio_fildes", 20, 4, unsafe.Offsetof(cb.Fildes), unsafe.Sizeof(cb.Fildes)},
		{"aio_buf", 24, 8, unsafe.Offsetof(cb.Buf), unsafe.Sizeof(cb.Buf)},
		{"aio_nbytes", 32, 8, unsafe.Offsetof(cb.Nbytes), unsafe.Sizeof(cb.Nbytes)},
		{"aio_offset", 40, 8, unsafe.Offsetof(cb.Offset), unsafe.Sizeof(cb.Offset)},
		{"aio_reserved2", 48, 8, unsafe.Offsetof(cb.Reserved2), unsafe.Sizeof(cb.Reserved2)},
		{"aio_flags", 56, 4, unsafe.Offsetof(cb.Flags), unsafe.Sizeof(cb.Flags)},
		{"aio_resfd", 60, 4, unsafe.Offsetof(cb.Resfd), unsafe.Sizeof(cb.Resfd)},
	})
	assert.Equal(t, 64, abi.LegacyIocbBytes)

	var ev abi.IoEvent
	checkLayout(t, "IoEvent", unsafe.Sizeof(ev), abi.IoEventBytes, []field{
		{"data", 0, 8, unsafe.Offsetof(ev.Data), unsafe.Sizeof(ev.Data)},
		{"obj", 8, 8, unsafe.Offsetof(ev.Obj), unsafe.Sizeof(ev.Obj)},
		{"res", 16, 8, unsafe.Offsetof(ev.Res), unsafe.Sizeof(ev.Res)},
		{"res2", 24, 8, unsafe.Offsetof(ev.Res2), unsafe.Sizeof(ev.Res2)},
	})
	assert.Equal(t, 32, abi.IoEventBytes)

	var r abi.AioRing
	checkLayout(t, "AioRing", unsafe.Sizeof(r), abi.AioRingHeaderBytes, []field{
		{"id", abi.OffAioRingID, 4, unsafe.Offsetof(r.ID), unsafe.Sizeof(r.ID)},
		{"nr", abi.OffAioRingNr, 4, unsafe.Offsetof(r.Nr), unsafe.Sizeof(r.Nr)},
		{"head", abi.OffAioRingHead, 4, unsafe.Offsetof(r.Head), unsafe.Sizeof(r.Head)},
		{"tail", abi.OffAioRingTail, 4, unsafe.Offsetof(r.Tail), unsafe.Sizeof(r.Tail)},
		{"magic", abi.OffAioRingMagic, 4, unsafe.Offsetof(r.Magic), unsafe.Sizeof(r.Magic)},
		{"compat_features", abi.OffAioRingCompat, 4, unsafe.Offsetof(r.CompatFeatures), unsafe.Sizeof(r.CompatFeatures)},
		{"incompat_features", abi.OffAioRingIncompat, 4, unsafe.Offsetof(r.IncompatFeatures), unsafe.Sizeof(r.IncompatFeatures)},
		{"header_length", abi.OffAioRingHeaderLength, 4, unsafe.Offsetof(r.HeaderLength), unsafe.Sizeof(r.HeaderLength)},
	})
	assert.Equal(t, []int{0, 4, 8, 12, 16, 20, 24, 28}, []int{
		abi.OffAioRingID, abi.OffAioRingNr, abi.OffAioRingHead, abi.OffAioRingTail,
		abi.OffAioRingMagic, abi.OffAioRingCompat, abi.OffAioRingIncompat, abi.OffAioRingHeaderLength,
	})
	assert.Equal(t, uint32(0xa10a10a1), uint32(abi.AIO_RING_MAGIC))
}

// Bytes 8 to 40 of an EVENT record are a struct io_event, byte for byte.
func TestEventEmbedsIoEvent(t *testing.T) {
	ev := abi.Event{Data: 0x1122334455667788, Obj: 42, Res: -5, Res2: 7}
	rec := abi.AppendEvent(nil, &ev)
	io := abi.IoEvent{Data: ev.Data, Obj: ev.Obj, Res: ev.Res, Res2: ev.Res2}
	raw := unsafe.Slice((*byte)(unsafe.Pointer(&io)), unsafe.Sizeof(io))
	assert.Equal(t, raw, rec[8:40])
}
