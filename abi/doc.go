// Package abi holds the wire formats of the aio2 interface, exactly as
// ../shared/spec/abi-v2.md (mirrored in docs/abi.md) defines them: the
// io_setup2 parameters, the version 2 ring header, EVENT and PAD records,
// iocb2 submission records, attribute framing and the attribute ids, and
// the legacy (version 1) structures of Linux native AIO that the kernel
// shares with user space.
//
// What belongs here: constants, plain structs whose layout is the ABI,
// encoders that append into a caller's buffer, decoders that fill
// caller-owned values or return views into the input, and validation with
// typed errors. What does not: any I/O, syscalls, goroutines, shared-memory
// atomics (package ring), or policy about what an implementation supports
// (package kioctx).
//
// Decoders never panic and never read outside the slice they are given,
// whatever the bytes; they are fuzzed in package fuzz. Encoders allocate
// only when dst lacks the capacity (append grows it); decoders and
// validators allocate only the *Error of a fault (alloc_test.go checks
// zero allocations on success).
//
// The C header aio2_abi.h in this directory states the same layout for
// programs in other languages; a test compiles it with gcc and checks every
// size and offset against this package.
package abi
