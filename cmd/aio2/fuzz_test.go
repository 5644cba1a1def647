package main

import (
	"bytes"
	"io"
	"testing"
)

// FuzzRingFile feeds arbitrary bytes, as a ring file, to ring inspect's
// read (readRegionAt, which sizes what it reads from the header) and walk
// (inspectRegion): whatever the bytes, they may not panic or read out of
// bounds (the fuzzer reports either). A review found the walk unfuzzed
// (2026-11-22): a head 4 bytes from the data area's end made it read past
// the region. The reap loop over such bytes is
// TestHostileRegionsDoNotPanic's (and fuzz.FuzzReapRegion's for
// ring.Reaper). The path and flag handling around them are
// inspect_test.go's.
//
// The bytes go through a bytes.Reader, not a file: with a file written
// and removed per input it did a few hundred inputs a second, here 6 000
// to 8 000. Minimizing each new input still takes long in this package's
// large test binary (every try compares its coverage map), so without a
// cap (-fuzzminimizetime, 60 s by default) the status line shows no
// progress for up to a minute. The seeds run with every `go test`; fuzz
// it with `go test ./cmd/aio2 -run '^$' -fuzz FuzzRingFile
// -fuzzminimizetime=3s` (CI's fuzz smoke does, for 10 s).
func FuzzRingFile(f *testing.F) {
	good := validRegion(f)
	f.Add(good)
	bad := append([]byte(nil), good...)
	bad[64] = 0xfc // head 4 bytes short of a 4096-byte data area's end
	bad[65] = 0x0f
	f.Add(bad)
	f.Add(good[:4096])
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := readRegionAt(bytes.NewReader(b), int64(len(b)), "fuzz")
		if err != nil {
			t.Fatalf("reading %d bytes from memory: %v", len(b), err)
		}
		if len(r) > len(b) || !bytes.Equal(r, b[:len(r)]) {
			t.Fatalf("readRegionAt returned %d bytes that are not a prefix of the %d given", len(r), len(b))
		}
		_ = inspectRegion("fuzz", r, 0, io.Discard)
	})
}
