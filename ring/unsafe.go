package ring

import (
	"sync/atomic"
	"unsafe"
)

// This file holds every use of unsafe in the package: typed views of byte
// memory (Go heap or mapped) for sync/atomic.

// alignedBytes returns n zeroed bytes of Go memory aligned to 8, so that
// 64-bit atomics work on every word of it.
func alignedBytes(n int) []byte {
	w := make([]uint64, (n+7)/8)
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(w))), n)
}

// aligned8 reports whether b starts on an 8-byte boundary.
func aligned8(b []byte) bool {
	return uintptr(unsafe.Pointer(unsafe.SliceData(b)))%8 == 0
}

// u32At returns the 32-bit word at b[off:off+4]. b must be 8-aligned (see
// aligned8) and off a multiple of 4, inside b: callers pass constants
// checked against len(b) once, at construction.
func u32At(b []byte, off int) *atomic.Uint32 {
	_ = b[off+3]
	return (*atomic.Uint32)(unsafe.Pointer(&b[off]))
}

// u64At is u32At for the 64-bit word at b[off:off+8], off a multiple of 8.
func u64At(b []byte, off int) *atomic.Uint64 {
	_ = b[off+7]
	return (*atomic.Uint64)(unsafe.Pointer(&b[off]))
}

// words views b (8-aligned, len a multiple of 8) as 64-bit words.
func words(b []byte) []uint64 {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(b))), len(b)/8)
}
