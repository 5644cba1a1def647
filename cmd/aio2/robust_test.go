package main

import (
	"bufio"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aio2/aio2/abi"
	"github.com/aio2/aio2/ring"
)

// produceRegion runs a ring.Producer over a heap ring of ringBytes whose
// counters start at start: it appends the events mk makes, n of them, or
// while they fit if n < 0, commits, sets F_DEAD if dead, and returns the
// region's bytes and the number of events. n < 0 fills the ring.
func produceRegion(t testing.TB, ringBytes, start uint32, n int, dead bool, mk func(i int) []byte) ([]byte, int) {
	t.Helper()
	reg, err := ring.NewHeap(ringBytes, 512)
	if err != nil {
		t.Fatal(err)
	}
	reg.SetStart(start)
	p := ring.NewProducer(reg)
	i := 0
	for ; n < 0 || i < n; i++ {
		ok, err := p.TryAppend(mk(i))
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			if n >= 0 {
				t.Fatalf("event %d of %d does not fit a ring of %d bytes", i, n, ringBytes)
			}
			break
		}
	}
	p.Commit()
	if dead {
		p.SetDead()
	}
	return append([]byte(nil), reg.Bytes()...), i
}

// validRegion returns the bytes of a version 2 ring holding a mix of
// events (with attributes) and a PAD, dead, as a producer leaves it.
func validRegion(t testing.TB) []byte {
	t.Helper()
	b, _ := produceRegion(t, 4096, 0xFFFFF000+3000&^7, -1, true, func(i int) []byte {
		rec := abi.BeginEvent(nil, uint64(i), uint64(i), int64(i*512), 0)
		rec = abi.AppendAttrU64(rec, abi.AttrLatency, 1000)
		if i%2 == 0 {
			rec = abi.AppendAttrTimestamps(rec, 1, 2, 3)
		}
		if i%3 == 0 {
			rec = abi.AppendAttr(rec, abi.AttrTag, abi.AttrOK, []byte("tagged"))
		}
		return abi.EndEvent(rec, 0, 0)
	})
	return b
}

// TestHostileRegionsDoNotPanic mutates a valid ring region at random
// (header fields, record headers, attribute bytes) and runs ring inspect
// and the reap loop over each: they may refuse or report corruption, but
// must never panic or hang.
func TestHostileRegionsDoNotPanic(t *testing.T) {
	t.Parallel()
	good := validRegion(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "ring")
	rng := rand.New(rand.NewPCG(7, 11))
	iters := 600
	if testing.Short() {
		iters = 100
	}
	for it := range iters {
		b := append([]byte(nil), good...)
		for range 1 + rng.IntN(4) {
			var off int
			switch rng.IntN(3) {
			case 0: // a header field
				off = rng.IntN(abi.RingHeaderSize)
			case 1: // near head's position in the data area
				off = abi.HeaderBytes + int(0xFFFFF000+3000&^7)&4095 + rng.IntN(256)
			default:
				off = rng.IntN(len(b))
			}
			if off >= len(b) {
				continue
			}
			b[off] = byte(rng.Uint32())
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("iteration %d: ring inspect panicked: %v", it, r)
				}
			}()
			_ = cmdInspect([]string{"--limit=0", path}, io.Discard, io.Discard)
		}()
		reg, err := ring.FromBytes(b)
		if err != nil {
			continue // refused before reaping, as it must be
		}
		rp, err := ring.NewReaper(reg)
		if err != nil {
			continue
		}
		var stop atomic.Bool
		var remaining atomic.Int64
		var stopped atomic.Value
		var mu sync.Mutex
		var tot reapTotals
		done := make(chan struct{})
		go func() {
			defer close(done)
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("iteration %d: reap panicked: %v", it, r)
				}
			}()
			_ = reapLoop(rp, reg, &tot, reapCtl{stop: &stop, remaining: &remaining, deadline: time.Now().Add(50 * time.Millisecond),
				stoppedBy: &stopped, events: true, out: bufio.NewWriter(io.Discard), outMu: &mu})
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("iteration %d: reap did not stop", it)
		}
	}
}
