// Package fuzz holds the fuzz targets of aio2: one for every decoder that
// parses bytes someone else wrote. That is the io_setup2 parameters, the
// ring header, a submission buffer of iocb2 records, a getevents buffer
// of EVENT records, attribute TLVs, a whole version 2 ring region as
// another process may have scribbled it, and a legacy struct aio_ring.
//
// What belongs here: the targets (in _test.go files, so the package has no
// code of its own to import), their oracles (small, independent
// re-statements of the spec's rules, against which each decoder's verdict
// is compared), and the seed corpora in testdata/fuzz/<Target>/, which
// `go test ./fuzz/` runs as ordinary tests. What does not: unit tests of
// the packages themselves (they live beside the code), and any target
// that needs privileges or I/O.
//
// Each target checks properties, not only the absence of a panic: an input
// a decoder accepts re-encodes to the same bytes, an input it refuses gets
// a typed error (an *abi.Error with the spec's errno, or a
// *ring.CorruptError), its verdict matches the oracle's, and a reaper
// delivers exactly the records the oracle finds, never more bytes than
// tail - head.
//
// Run one target at a time on a shared machine, e.g.
//
//	go test ./fuzz -run='^$' -fuzz='^FuzzReapRegion$' -fuzztime=5m -parallel=1
//
// Seeds come from two places: f.Add calls, most built with the real
// encoders and the real ring producer (seeds_test.go), and files in
// testdata/fuzz/<Target>/, which are inputs the fuzzer found that reach
// new code, kept so that every `go test` run covers them.
package fuzz
