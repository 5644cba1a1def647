package main

import "unsafe"

// addrOf is the address of b's first byte, for an iocb2's addr field. b is
// memory from kioctx.AlignedBuf, outside the Go heap, so the address stays
// valid without pinning while the IO is in flight.
func addrOf(b []byte) uint64 { return uint64(uintptr(unsafe.Pointer(unsafe.SliceData(b)))) }

// ctxAddr is the address io_setup writes the new aio_context_t to.
func ctxAddr(p *uintptr) uintptr { return uintptr(unsafe.Pointer(p)) }
