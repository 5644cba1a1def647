package main

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/aio2/aio2/abi"
	"github.com/aio2/aio2/ring"
)

// inspectEvent is one EVENT record as a producer writes it.
func inspectEvent(data uint64, attrs []byte, flags uint16) []byte {
	return abi.AppendEvent(nil, &abi.Event{Data: data, Obj: data, Res: 4096, Flags: flags, Attrs: attrs})
}

// craftRing returns a dead version 2 region of ringBytes (max_event_bytes
// 1024) with recs written back to back from the free-running position
// head on, as bytes (not through package ring, so that head may be where
// no producer would put it), and tail just after them. A record that runs
// past the data area's end is cut there.
func craftRing(ringBytes, head uint32, recs ...[]byte) []byte {
	b := make([]byte, abi.RegionBytes(ringBytes))
	abi.PutRingHeader(b, ringBytes, 1024)
	data := b[abi.HeaderBytes:]
	tail := head
	for _, r := range recs {
		copy(data[tail&(ringBytes-1):], r)
		tail += uint32(len(r))
	}
	setHeadTail(b, head, tail)
	binary.LittleEndian.PutUint32(b[abi.OffFlags:], abi.FDead)
	return b
}

func setHeadTail(b []byte, head, tail uint32) {
	binary.LittleEndian.PutUint32(b[abi.OffHead:], head)
	binary.LittleEndian.PutUint32(b[abi.OffTail:], tail)
}

// writeRingFile writes b to a new file and returns its path.
func writeRingFile(t *testing.T, b []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ring")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// producedRing returns the bytes of a dead ring of 4096 bytes that a
// ring.Producer filled with more than 64 records: counters just below 2^32
// so that they wrap, a PAD at the data area's end, bare events and events
// with attributes. It returns the number of EVENT records.
func producedRing(t *testing.T) ([]byte, int) {
	t.Helper()
	return produceRegion(t, 4096, 0xFFFFF000+3008, -1, true, func(n int) []byte {
		rec := abi.BeginEvent(nil, uint64(n), uint64(n), 4096, 0)
		if n%7 == 0 {
			rec = abi.AppendAttrU64(rec, abi.AttrLatency, 1000)
			rec = abi.AppendAttrStatus(rec, abi.AttrCPU, abi.AttrUnavailable)
		}
		return abi.EndEvent(rec, 0, 0)
	})
}

// countLines counts the lines of out that contain sub.
func countLines(out, sub string) int {
	n := 0
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, sub) {
			n++
		}
	}
	return n
}

// wantMalformed checks the outcome of inspecting a malformed ring: status
// 1, one line on stderr, and a MALFORMED line on stdout naming the
// position and what is wrong.
func wantMalformed(t *testing.T, r result, at uint32, what string) {
	t.Helper()
	line := fmt.Sprintf("  0x%08x  MALFORMED", at)
	if r.code != 1 || !strings.Contains(r.stdout, line) || !strings.Contains(r.stdout, what) {
		t.Fatalf("status %d, want 1 and %q with %q in:\n%s", r.code, line, what, r.stdout)
	}
	if r.stderr == "" || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "malformed") {
		t.Fatalf("stderr %q: want one line saying malformed", r.stderr)
	}
}

// TestInspectHeaderChecks: ring inspect applies the checks a reaper makes
// to head and tail (spec section 4) before it reads a record, reports a
// bad one as MALFORMED with status 1, and never panics (found by review:
// a head 4 bytes from the data area's end read a record header past it;
// a misaligned head was decoded as if it were a record's start and passed
// with status 0 while aio2 reap called it corrupt).
func TestInspectHeaderChecks(t *testing.T) {
	t.Parallel()
	ev := inspectEvent(1, nil, 0)
	tooFar := craftRing(4096, 0, ev)
	setHeadTail(tooFar, 0, 4096+8)
	ragged := craftRing(4096, 0, ev)
	setHeadTail(ragged, 0, 44)
	wrapBad := craftRing(4096, 0xFFFFFFFC, ev)
	for _, tc := range []struct {
		name string
		b    []byte
		at   uint32
		what string
	}{
		{"head at the data area's last 4 bytes", craftRing(4096, 0xffc, abi.AppendPad(nil, 8)), 0xffc, "bad head"},
		{"misaligned head before a valid-looking event", craftRing(4096, 4, ev), 4, "bad head"},
		{"misaligned head across 2^32", wrapBad, 0xFFFFFFFC, "bad head"},
		{"tail - head above ring_bytes", tooFar, 0, "bad tail"},
		{"tail - head not a multiple of 8", ragged, 0, "bad tail"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeRingFile(t, tc.b)
			for _, limit := range []string{"--limit=64", "--limit=0"} {
				r := runBin(t, "ring", "inspect", limit, path)
				wantMalformed(t, r, tc.at, tc.what)
				if strings.Contains(r.stdout, "EVENT len=") {
					t.Fatalf("%s: an EVENT was printed from a ring whose header is corrupt:\n%s", limit, r.stdout)
				}
			}
		})
	}
	// The same places, well formed: a head on the data area's last 8
	// bytes (a PAD there, then an event at position 0) is fine.
	t.Run("head at the data area's last 8 bytes", func(t *testing.T) {
		path := writeRingFile(t, craftRing(4096, 0xff8, abi.AppendPad(nil, 8), ev))
		r := runBin(t, "ring", "inspect", path)
		if r.code != 0 || !strings.Contains(r.stdout, "0x00000ff8  PAD   len=8") ||
			!strings.Contains(r.stdout, "0x00001000  EVENT len=40") || !strings.HasSuffix(r.stdout, "\n2 records\n") {
			t.Fatalf("status %d (stderr %q), want 0, the PAD, the event and 2 records:\n%s", r.code, r.stderr, r.stdout)
		}
	})
}

// TestInspectValidatesEveryRecord: --limit limits what is printed, not
// what is checked; a malformed record after the limit still gives status
// 1 (found by review: 65 good events and a bad one passed with the default
// --limit=64).
func TestInspectValidatesEveryRecord(t *testing.T) {
	t.Parallel()
	good, events := producedRing(t)
	if events <= 64 {
		t.Fatalf("the producer made %d events; the test wants more than the default --limit", events)
	}
	t.Run("good", func(t *testing.T) {
		path := writeRingFile(t, good)
		all := runBin(t, "ring", "inspect", "--limit=0", path)
		pads := countLines(all.stdout, "  PAD   len=")
		if all.code != 0 || countLines(all.stdout, "  EVENT len=") != events || pads != 1 ||
			!strings.HasSuffix(all.stdout, fmt.Sprintf("\n%d records\n", events+pads)) {
			t.Fatalf("--limit=0: status %d (stderr %q), want 0 with %d events and 1 PAD:\n%s", all.code, all.stderr, events, all.stdout)
		}
		for _, limit := range []int{1, 64} {
			r := runBin(t, "ring", "inspect", fmt.Sprintf("--limit=%d", limit), path)
			if r.code != 0 || countLines(r.stdout, "  EVENT len=")+countLines(r.stdout, "  PAD   len=") != limit ||
				!strings.Contains(r.stdout, fmt.Sprintf("  ... %d more records", events+pads-limit)) ||
				!strings.HasSuffix(r.stdout, fmt.Sprintf("\n%d records\n", events+pads)) {
				t.Fatalf("--limit=%d: status %d (stderr %q), want 0 and %d records printed of %d:\n%s", limit, r.code, r.stderr, limit, events+pads, r.stdout)
			}
		}
	})
	bads := []struct {
		name string
		rec  []byte
		what string
	}{
		{"attribute status 7", inspectEvent(99, abi.AppendAttrStatus(nil, abi.AttrLatency, 7), 0), "unknown status 7"},
		{"unknown event flags", inspectEvent(99, nil, 0x8000), "unknown flags"},
		{"attribute longer than the record", inspectEvent(99, binary.LittleEndian.AppendUint32(abi.AppendAttrU64(nil, abi.AttrTag, 1)[:4], 64), 0), "does not fit"},
		{"record len not a multiple of 8", append(binary.LittleEndian.AppendUint32(nil, 44), abi.RecEvent, 0, 0, 0), "bad len"},
	}
	for _, bad := range bads {
		t.Run(bad.name, func(t *testing.T) {
			recs := make([][]byte, 0, 66)
			for i := range 65 {
				recs = append(recs, inspectEvent(uint64(i), nil, 0))
			}
			path := writeRingFile(t, craftRing(4096, 0, append(recs, bad.rec)...))
			for _, limit := range []string{"--limit=64", "--limit=1", "--limit=65", "--limit=0", "--limit=1000"} {
				r := runBin(t, "ring", "inspect", limit, path)
				wantMalformed(t, r, 65*40, bad.what)
			}
			r := runBin(t, "ring", "inspect", path) // the default --limit
			wantMalformed(t, r, 65*40, bad.what)
			if n := countLines(r.stdout, "  EVENT len="); n != 64 {
				t.Fatalf("default --limit printed %d events, want 64:\n%s", n, r.stdout)
			}
		})
	}
}

// TestInspectReadsOnlyItsRegion: ring inspect reads the header and the
// data area it describes, not the whole file (found by review: it read up
// to 1 GiB whatever ring_bytes said), and refuses a file too short for
// its ring_bytes with status 2.
func TestInspectReadsOnlyItsRegion(t *testing.T) {
	recs := [][]byte{inspectEvent(1, abi.AppendAttrU64(nil, abi.AttrLatency, 5), 0), inspectEvent(2, nil, 0)}
	region := craftRing(4096, 0x100, recs...)
	sparse := writeRingFile(t, region)
	// A file far larger than its ring, as a sparse file or a memfd sized
	// for another ring is: 256 MiB, of which 8 KiB are the region.
	if err := os.Truncate(sparse, 256<<20); err != nil {
		t.Fatal(err)
	}

	t.Run("correct", func(t *testing.T) {
		r := runBin(t, "ring", "inspect", sparse)
		if r.code != 0 || !strings.Contains(r.stdout, "0x00000100  EVENT len=56 data=0x1") ||
			!strings.Contains(r.stdout, "latency=OK(5ns)") || !strings.HasSuffix(r.stdout, "\n2 records\n") {
			t.Fatalf("status %d (stderr %q), want 0 and the 2 events:\n%s", r.code, r.stderr, r.stdout)
		}
	})

	// In this process, so that the bytes read can be counted: every
	// byte read lands in a buffer allocated for it. Not parallel, so
	// that no other test allocates meanwhile.
	t.Run("allocates only the region", func(t *testing.T) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		if err := cmdInspect([]string{sparse}, io.Discard, io.Discard); err != nil {
			t.Fatal(err)
		}
		runtime.ReadMemStats(&after)
		if n := after.TotalAlloc - before.TotalAlloc; n > 4<<20 {
			t.Fatalf("inspecting an 8 KiB region in a 256 MiB file allocated %d bytes", n)
		}
	})

	t.Run("file shorter than its ring", func(t *testing.T) {
		b := craftRing(8192, 0, recs...)
		for _, size := range []int{abi.RegionBytes(8192) - 8, abi.HeaderBytes, 100} {
			path := writeRingFile(t, b[:size])
			r := runBin(t, "ring", "inspect", path)
			if r.code != 2 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "is not an aio2 ring region") {
				t.Fatalf("%d bytes: status %d, stderr %q; want 2 and one line saying it is not a ring", size, r.code, r.stderr)
			}
		}
		path := writeRingFile(t, b[:abi.RegionBytes(8192)-8])
		if r := runBin(t, "ring", "inspect", path); !strings.Contains(r.stderr, fmt.Sprintf("%d bytes cannot hold", abi.RegionBytes(8192)-8)) {
			t.Fatalf("stderr %q does not say the file's %d bytes cannot hold the ring", r.stderr, abi.RegionBytes(8192)-8)
		}
	})

	// A legacy ring is still read whole (header and nr io_events), also
	// from a larger file.
	t.Run("legacy", func(t *testing.T) {
		lr, err := ring.NewLegacyHeap(16)
		if err != nil {
			t.Fatal(err)
		}
		lp := ring.NewLegacyProducer(lr)
		for i := range 5 {
			if err := lp.Append(abi.IoEvent{Data: uint64(i), Obj: 7, Res: 512}); err != nil {
				t.Fatal(err)
			}
		}
		lp.Commit()
		path := writeRingFile(t, lr.Bytes())
		if err := os.Truncate(path, 1<<20); err != nil {
			t.Fatal(err)
		}
		r := runBin(t, "ring", "inspect", path)
		if r.code != 0 || !strings.Contains(r.stdout, "io_events between head and tail: 5") ||
			!strings.Contains(r.stdout, "[4] data=0x4 obj=0x7 res=512 res2=0") {
			t.Fatalf("status %d (stderr %q), want 0 and 5 io_events:\n%s", r.code, r.stderr, r.stdout)
		}
	})
}
