package abi

import (
	"encoding/binary"
	"syscall"
)

// Opcodes (spec section 7). They keep the legacy IOCB_CMD_* numbers.
const (
	OpPread   = 0
	OpPwrite  = 1
	OpFsync   = 2
	OpFdsync  = 3
	OpPoll    = 5
	OpNoop    = 6
	OpPreadv  = 7
	OpPwritev = 8
	// OpSyscall runs syscall Arg with the six u64 arguments at Addr.
	OpSyscall = 64
)

// KnownOpcode reports whether op is an opcode of spec section 7.
func KnownOpcode(op uint16) bool {
	switch op {
	case OpPread, OpPwrite, OpFsync, OpFdsync, OpPoll, OpNoop, OpPreadv, OpPwritev, OpSyscall:
		return true
	}
	return false
}

var opNames = map[uint16]string{
	OpPread: "PREAD", OpPwrite: "PWRITE", OpFsync: "FSYNC", OpFdsync: "FDSYNC",
	OpPoll: "POLL", OpNoop: "NOOP", OpPreadv: "PREADV", OpPwritev: "PWRITEV", OpSyscall: "SYSCALL",
}

// OpName returns the spec's name of an opcode, or "" if unknown.
func OpName(op uint16) string { return opNames[op] }

// iocb2 flags.
const (
	// IocbRequireAttrs refuses the iocb (EOPNOTSUPP) rather than answer an
	// attribute UNSUPPORTED.
	IocbRequireAttrs = 1 << 0
	// IocbFlagsKnown is every iocb2 flag this package knows.
	IocbFlagsKnown = IocbRequireAttrs
)

// IocbHeaderBytes is the size of an iocb2 without attribute requests.
const IocbHeaderBytes = 64

// OffIocbKey is the offset of the key field, which submit writes into the
// caller's buffer.
const OffIocbKey = 16

// Iocb is the fixed part of an iocb2 record (spec section 7). Its Go layout
// is its wire layout (64 bytes). Attribute requests follow it on the wire;
// DecodeIocb returns them as a separate view.
type Iocb struct {
	Len     uint32 // 0: whole record, multiple of 8, >= 64
	Opcode  uint16 // 4
	Flags   uint16 // 6: IOCB_F_*
	Data    uint64 // 8: returned in the event
	Key     uint64 // 16: written by submit
	Fd      int32  // 24
	RWFlags uint32 // 28: RWF_*
	Addr    uint64 // 32: buffer, iovec array, or SYSCALL's six u64 arguments
	Nbytes  uint64 // 40: bytes, or number of iovecs
	Offset  int64  // 48
	Arg     uint64 // 56: POLL events; SYSCALL number
}

// AppendIocb appends cb followed by the attribute requests reqs (well-framed
// TLVs, as AppendAttrReq makes) to dst; the len field is computed.
func AppendIocb(dst []byte, cb *Iocb, reqs []byte) []byte {
	le := binary.LittleEndian
	dst = le.AppendUint32(dst, uint32(IocbHeaderBytes+Pad8(len(reqs))))
	dst = le.AppendUint16(dst, cb.Opcode)
	dst = le.AppendUint16(dst, cb.Flags)
	dst = le.AppendUint64(dst, cb.Data)
	dst = le.AppendUint64(dst, cb.Key)
	dst = le.AppendUint32(dst, uint32(cb.Fd))
	dst = le.AppendUint32(dst, cb.RWFlags)
	dst = le.AppendUint64(dst, cb.Addr)
	dst = le.AppendUint64(dst, cb.Nbytes)
	dst = le.AppendUint64(dst, uint64(cb.Offset))
	dst = le.AppendUint64(dst, cb.Arg)
	dst = append(dst, reqs...)
	return AppendAttrPad(dst, len(reqs))
}

// AppendAttrReq appends one attribute request: id, flags 0, and the
// argument bytes (TAG's bytes; empty for the other ids), padded to 8.
func AppendAttrReq(dst []byte, id uint16, arg []byte) []byte {
	return AppendAttr(dst, id, 0, arg)
}

// DecodeIocb decodes and validates the iocb2 at buf[off:], filling cb, and
// returns its attribute requests (a view into buf) and the offset of the
// next record. Rules: len a multiple of 8, at least 64, within buf; flags
// known; a known opcode; attribute requests well framed, with flags 0, no
// argument for ids other than TAG, and a TAG of at most 256 bytes. Every
// fault is an *Error wrapping EINVAL. It never reads outside buf.
func DecodeIocb(buf []byte, off int, cb *Iocb) (reqs []byte, next int, err error) {
	reqs, next, err = DecodeIocbHeader(buf, off, cb)
	if err != nil {
		return nil, off, err
	}
	if err := ValidateAttrReqs(reqs, off+IocbHeaderBytes); err != nil {
		return nil, off, err
	}
	return reqs, next, nil
}

// DecodeIocbHeader is DecodeIocb without the check of the attribute
// requests: it applies every other rule and returns reqs unchecked. The
// caller must pass them to ValidateAttrReqs (with off+IocbHeaderBytes)
// before use, or know them equal to requests that passed; kioctx does the
// latter, since a workload sends the same requests with every iocb.
func DecodeIocbHeader(buf []byte, off int, cb *Iocb) (reqs []byte, next int, err error) {
	if off < 0 || off > len(buf) || len(buf)-off < IocbHeaderBytes {
		return nil, off, errf("iocb2", off, syscall.EINVAL, "%d bytes left, too few for a %d-byte iocb2", max(len(buf)-off, 0), IocbHeaderBytes)
	}
	le := binary.LittleEndian
	p := buf[off:]
	p = p[:IocbHeaderBytes:len(p)] // one bounds check for the header
	// Field by field, not *cb = Iocb{...}: the literal is built on the
	// stack with narrow stores and then copied with 16-byte loads, which
	// the CPU cannot forward from those stores (a stall per record on
	// the submit path).
	cb.Len = le.Uint32(p)
	cb.Opcode = le.Uint16(p[4:])
	cb.Flags = le.Uint16(p[6:])
	cb.Data = le.Uint64(p[8:])
	cb.Key = le.Uint64(p[16:])
	cb.Fd = int32(le.Uint32(p[24:]))
	cb.RWFlags = le.Uint32(p[28:])
	cb.Addr = le.Uint64(p[32:])
	cb.Nbytes = le.Uint64(p[40:])
	cb.Offset = int64(le.Uint64(p[48:]))
	cb.Arg = le.Uint64(p[56:])
	p = buf[off:]
	switch {
	case cb.Len%8 != 0:
		return nil, off, errf("iocb2", off, syscall.EINVAL, "len %d is not a multiple of 8", cb.Len)
	case cb.Len < IocbHeaderBytes:
		return nil, off, errf("iocb2", off, syscall.EINVAL, "len %d is below the minimum %d", cb.Len, IocbHeaderBytes)
	case uint64(cb.Len) > uint64(len(p)):
		return nil, off, errf("iocb2", off, syscall.EINVAL, "len %d runs past the end of the buffer (%d bytes left)", cb.Len, len(p))
	case cb.Flags&^IocbFlagsKnown != 0:
		return nil, off, errf("iocb2", off, syscall.EINVAL, "unknown flags %#x", cb.Flags&^IocbFlagsKnown)
	case !KnownOpcode(cb.Opcode):
		return nil, off, errf("iocb2", off, syscall.EINVAL, "unknown opcode %d", cb.Opcode)
	}
	return p[IocbHeaderBytes:cb.Len], off + int(cb.Len), nil
}

// ValidateAttrReqs checks a sequence of attribute requests; off is its
// offset in the caller's buffer, for error messages.
func ValidateAttrReqs(reqs []byte, off int) error {
	it := NewAttrIter(reqs)
	for {
		aoff := off + it.Offset()
		a, ok := it.Next()
		if !ok {
			break
		}
		switch {
		case a.Status != 0:
			return errf("attribute request", aoff, syscall.EINVAL, "id %d: flags %#x must be 0", a.ID, a.Status)
		case a.ID == 0:
			return errf("attribute request", aoff, syscall.EINVAL, "id 0 is not an attribute")
		case a.ID == AttrTag && len(a.Value) > MaxTagBytes:
			return errf("attribute request", aoff, syscall.EINVAL, "TAG argument of %d bytes is longer than the %d allowed", len(a.Value), MaxTagBytes)
		case a.ID != AttrTag && KnownAttr(a.ID) && len(a.Value) != 0:
			return errf("attribute request", aoff, syscall.EINVAL, "id %d (%s) takes no argument, got %d bytes", a.ID, AttrName(a.ID), len(a.Value))
		}
	}
	if err := it.Err(); err != nil {
		if e, ok := err.(*Error); ok {
			e.What = "attribute request"
			e.Off += off
		}
		return err
	}
	return nil
}
