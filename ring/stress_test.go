package ring

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// stressEvents is how many events the concurrent test moves: a few million
// normally, fewer under -short or the race detector, which slows atomics
// by an order of magnitude.
func stressEvents() int {
	switch {
	case raceEnabled:
		return 150_000
	case testing.Short():
		return 300_000
	}
	return 3_000_000
}

// produceAll produces n test events of varying sizes into r, committing
// every batch. It switches every 10000 events between two ways of meeting a
// full ring: Append onto the overflow list, waiting, like kioctx with
// max_inflight, for the reapers when the list grows long (flushing whenever
// it runs); and TryAppend, waiting for room in the ring.
func produceAll(t testing.TB, r *Region, n int, batch int) {
	p := NewProducer(r)
	var rec []byte
	for seq := 0; seq < n; seq++ {
		rec = appendTestEvent(rec[:0], uint64(seq), 40+8*(seq*7%9))
		if seq/10000%2 == 1 {
			for p.OverflowLen() > 0 {
				p.Commit()
				runtime.Gosched()
				if err := p.Flush(); err != nil {
					t.Errorf("Flush: %v", err)
					return
				}
			}
			for {
				ok, err := p.TryAppend(rec)
				if err != nil {
					t.Errorf("TryAppend: %v", err)
					return
				}
				if ok {
					break
				}
				p.Commit()
				runtime.Gosched()
			}
		} else if err := p.Append(rec); err != nil {
			t.Errorf("Append: %v", err)
			return
		}
		if seq%batch == batch-1 {
			p.Commit()
		}
		for p.OverflowLen() > 256 {
			p.Commit()
			runtime.Gosched()
			if err := p.Flush(); err != nil {
				t.Errorf("Flush: %v", err)
				return
			}
		}
	}
	for p.OverflowLen() > 0 {
		p.Commit()
		runtime.Gosched()
		if err := p.Flush(); err != nil {
			t.Errorf("Flush: %v", err)
			return
		}
	}
	p.Commit()
}

func TestConcurrentReapers(t *testing.T) {
	n := stressEvents()
	for _, reapers := range []int{1, 2, 4} {
		t.Run(fmt.Sprint(reapers), func(t *testing.T) {
			r := mustHeap(t, 16384, 1024)
			r.SetStart(^uint32(0) - 3*16384 + 1) // the counters wrap early on
			seen := make([]atomic.Uint32, n)
			var total atomic.Int64
			var wg sync.WaitGroup
			for k := 0; k < reapers; k++ {
				mk := NewReaper
				if reapers == 1 {
					mk = NewSingleReaper
				}
				rp, err := mk(r)
				if err != nil {
					t.Fatal(err)
				}
				wg.Add(1)
				go func(k int) {
					defer wg.Done()
					buf := make([]byte, 0, 64*1024)
					last := int64(-1)
					for total.Load() < int64(n) {
						var got int
						var err error
						buf, got, err = rp.Reap(buf[:0], 1+k*13%64)
						if err != nil {
							t.Errorf("reaper %d: %v", k, err)
							return
						}
						if got == 0 {
							runtime.Gosched()
							continue
						}
						for off := 0; off < len(buf); {
							l := int(binary.LittleEndian.Uint32(buf[off:]))
							seq, bad := verifyTestEvent(buf[off : off+l])
							if bad != "" {
								t.Errorf("reaper %d: event %d: %s", k, seq, bad)
								return
							}
							if int64(seq) <= last {
								t.Errorf("reaper %d: seq %d after %d", k, seq, last)
								return
							}
							last = int64(seq)
							seen[seq].Add(1)
							off += l
						}
						total.Add(int64(got))
					}
				}(k)
			}
			produceAll(t, r, n, 64)
			wg.Wait()
			for seq := range seen {
				if c := seen[seq].Load(); c != 1 {
					t.Fatalf("event %d reaped %d times", seq, c)
				}
			}
			if r.Flags() != 0 || r.Head() != r.Tail() {
				t.Fatalf("flags %#x head %#x tail %#x", r.Flags(), r.Head(), r.Tail())
			}
			t.Logf("%d events, %d reapers, %d overflowed", n, reapers, r.Overflowed())
		})
	}
}
