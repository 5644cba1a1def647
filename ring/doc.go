// Package ring is the completion ring of aio2 over a memory region: the
// version 2 byte-unit ring of spec sections 2 to 5 (docs/ring.md) and the
// legacy version 1 ring of section 6.
//
// What belongs here: the region (Go memory for tests and private rings, a
// sealed memfd mapped MAP_SHARED for rings other processes reap), the
// producer (PAD at wrap, publication of tail, the ordered overflow list,
// validation of the untrusted head), the reapers (lock-free CAS reaping by
// any number of goroutines or processes, batch reaping, a single-reaper fast
// path), and the legacy aio_ring producer and reaper, which also reaps the
// ring the kernel maps for io_setup.
//
// What does not: the wire formats themselves (package abi encodes and
// validates headers and records; ring only moves whole records), what is in
// a record (attributes), eventfds, and any notion of a context or of
// in-flight IO (package kioctx).
//
// Every field of the region that more than one party writes (head, tail,
// flags, user_flags, overflowed) is touched only through sync/atomic. A
// reaper's copy of a record is speculative: it may race with the producer
// reusing the bytes, and the CAS on head decides whether the copy counts.
// Record headers are always loaded atomically; the rest of a record is
// copied with atomic loads and stores when the race detector is on (so it
// reports only real races) and with copy otherwise (race.go, norace.go).
// unsafe is confined to unsafe.go; system calls to mmap_linux.go, but for
// closing a region's own fd (region.go) and passing unix.Munmap as a
// legacy region's unmap (legacy.go).
package ring
