package abi

// The legacy (version 1) structures of Linux native AIO. They mirror
// include/uapi/linux/aio_abi.h (struct iocb, struct io_event) and the
// private struct aio_ring of fs/aio.c, whose header the kernel maps into
// user space at the address io_setup returns. Their Go layout is the
// kernel's on little-endian 64-bit machines; sizes and offsets are checked
// by tests, and against C in abi/aio2_abi.h.

// IOCB_CMD_* opcodes (include/uapi/linux/aio_abi.h).
const (
	IOCB_CMD_PREAD   = 0
	IOCB_CMD_PWRITE  = 1
	IOCB_CMD_FSYNC   = 2
	IOCB_CMD_FDSYNC  = 3
	IOCB_CMD_POLL    = 5
	IOCB_CMD_NOOP    = 6
	IOCB_CMD_PREADV  = 7
	IOCB_CMD_PWRITEV = 8
)

// IOCB_FLAG_* (include/uapi/linux/aio_abi.h).
const (
	// IOCB_FLAG_RESFD: signal the eventfd in aio_resfd on completion.
	IOCB_FLAG_RESFD = 1 << 0
	// IOCB_FLAG_IOPRIO: aio_reqprio is valid.
	IOCB_FLAG_IOPRIO = 1 << 1
)

// AIO_RING_MAGIC and the header the kernel writes (fs/aio.c).
const (
	AIO_RING_MAGIC             = 0xa10a10a1
	AIO_RING_COMPAT_FEATURES   = 1
	AIO_RING_INCOMPAT_FEATURES = 0
	// AioRingHeaderBytes is sizeof(struct aio_ring) without the events
	// (fs/aio.c's comment says 128; it is 32).
	AioRingHeaderBytes = 32
	// IoEventBytes is sizeof(struct io_event).
	IoEventBytes = 32
	// LegacyIocbBytes is sizeof(struct iocb).
	LegacyIocbBytes = 64
)

// LegacyIocb mirrors struct iocb of include/uapi/linux/aio_abi.h on
// little-endian machines (aio_key before aio_rw_flags).
type LegacyIocb struct {
	Data      uint64 // aio_data: returned in io_event.data
	Key       uint32 // aio_key: the kernel writes KIOCB_KEY (0)
	RWFlags   uint32 // aio_rw_flags: RWF_*
	Opcode    uint16 // aio_lio_opcode: IOCB_CMD_*
	Reqprio   int16  // aio_reqprio
	Fildes    uint32 // aio_fildes
	Buf       uint64 // aio_buf
	Nbytes    uint64 // aio_nbytes
	Offset    int64  // aio_offset
	Reserved2 uint64 // aio_reserved2: must be 0
	Flags     uint32 // aio_flags: IOCB_FLAG_*
	Resfd     uint32 // aio_resfd
}

// IoEvent mirrors struct io_event of include/uapi/linux/aio_abi.h. Bytes 8
// to 40 of a version 2 EVENT record are this struct, byte for byte.
type IoEvent struct {
	Data uint64 // the iocb's aio_data
	Obj  uint64 // the iocb's address (legacy) or key (aio2)
	Res  int64
	Res2 int64
}

// AioRing mirrors the header of struct aio_ring in fs/aio.c. The version 1
// ring of spec section 6 has this header followed by Nr IoEvents; head and
// tail are event indices modulo Nr.
type AioRing struct {
	ID               uint32 // kernel: the context's id
	Nr               uint32 // number of io_events
	Head             uint32 // written by reapers
	Tail             uint32 // written by the producer
	Magic            uint32 // AIO_RING_MAGIC
	CompatFeatures   uint32
	IncompatFeatures uint32
	HeaderLength     uint32 // sizeof(struct aio_ring) = 32
}

// Offsets in struct aio_ring, for atomic access to a mapped ring.
const (
	OffAioRingID           = 0
	OffAioRingNr           = 4
	OffAioRingHead         = 8
	OffAioRingTail         = 12
	OffAioRingMagic        = 16
	OffAioRingCompat       = 20
	OffAioRingIncompat     = 24
	OffAioRingHeaderLength = 28
)

// Usable reports whether a user-space reaper may read events from this
// ring without a syscall: the kernel's magic, no incompat features, and
// the header length this package knows (the check libev, seastar and SPDK
// make). Otherwise io_getevents must be used.
func (r *AioRing) Usable() bool {
	return r.Magic == AIO_RING_MAGIC && r.IncompatFeatures == 0 && r.HeaderLength == AioRingHeaderBytes && r.Nr > 0
}
