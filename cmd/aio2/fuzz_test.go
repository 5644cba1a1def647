package main

import (
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
)

// FuzzRingFile feeds arbitrary bytes, as a ring file, to ring inspect:
// whatever the bytes, it may not panic or read out of bounds (the fuzzer
// reports either). A review found its walk unfuzzed (2026-11-22): a head 4
// bytes from the data area's end made it read past the region. The reap
// loop over such bytes is TestHostileRegionsDoNotPanic's (and
// fuzz.FuzzReapRegion's for ring.Reaper). The seeds run with every `go
// test`; fuzz it with `go test ./cmd/aio2 -run '^$' -fuzz FuzzRingFile`.
func FuzzRingFile(f *testing.F) {
	good := validRegion(f)
	f.Add(good)
	bad := append([]byte(nil), good...)
	bad[64] = 0xfc // head 4 bytes short of a 4096-byte data area's end
	bad[65] = 0x0f
	f.Add(bad)
	f.Add(good[:4096])
	dir := f.TempDir()
	var n atomic.Int64
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(dir, "ring-"+strconv.FormatInt(n.Add(1), 10))
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(path)
		_ = cmdInspect([]string{"--limit=0", path}, io.Discard, io.Discard)
	})
}
