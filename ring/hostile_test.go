package ring

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aio2/aio2/abi"
)

// TestHostileNeighbour runs a producer and a reaper while another goroutine
// writes random values into the shared fields a neighbour may write: head,
// user_flags and the data area. Nothing may panic, nothing may be written
// outside the region (the canary after it stays intact), every error must
// be typed, and the producer must report a corrupt head.
func TestHostileNeighbour(t *testing.T) {
	for _, c := range []struct {
		name      string
		head      bool // scribble on head too
		wantDeath bool
	}{
		{"head+user_flags+data", true, true},
		{"user_flags+data", false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			const R = 8192
			size := abi.RegionBytes(R)
			big := alignedBytes(size + 4096)
			for i := size; i < len(big); i++ {
				big[i] = 0xA5
			}
			abi.PutRingHeader(big, R, 1024)
			r, err := FromBytes(big[:size])
			if err != nil {
				t.Fatal(err)
			}
			dur := 300 * time.Millisecond
			if testing.Short() {
				dur = 100 * time.Millisecond
			}
			start := time.Now()
			stop := make(chan struct{})
			var wg sync.WaitGroup
			var hostileWrites, reaped, headWrites atomic.Int64
			wg.Add(1)
			go func() { // the neighbour
				defer wg.Done()
				rng := rand.New(rand.NewPCG(1, 2))
				for {
					select {
					case <-stop:
						return
					default:
					}
					switch rng.IntN(8) {
					case 0:
						// Let the ring work for a while first.
						if c.head && (reaped.Load() > 200 && time.Since(start) > dur/3) {
							r.head.Store(rng.Uint32())
							headWrites.Add(1)
						}
					case 1:
						r.userFlags.Store(rng.Uint32())
					default:
						atomic.StoreUint64(&r.data[rng.IntN(len(r.data))], rng.Uint64())
					}
					hostileWrites.Add(1)
					// Slow enough that the ring also works between writes.
					runtime.Gosched()
				}
			}()
			var reapErrs atomic.Int64
			wg.Add(1)
			go func() { // a reaper, which must survive too
				defer wg.Done()
				rp, err := NewReaper(r)
				if err != nil {
					t.Error(err)
					return
				}
				buf := make([]byte, 0, 1<<16)
				for {
					select {
					case <-stop:
						return
					default:
					}
					var n int
					buf, n, err = rp.Reap(buf[:0], 16)
					if err != nil {
						var ce *CorruptError
						if !errors.As(err, &ce) {
							t.Errorf("reaper: untyped error %v", err)
							return
						}
						reapErrs.Add(1)
						// Give up on what is in the ring, as a reaper falling
						// back to getevents would, so that the test goes on.
						if h, tl := r.Head(), r.Tail(); tl-h <= R && h%8 == 0 && tl%8 == 0 {
							r.head.CompareAndSwap(h, tl)
						}
					}
					if len(buf) > 16*1024 {
						t.Errorf("reaper: %d bytes for %d records of at most 1024", len(buf), n)
						return
					}
					reaped.Add(int64(n))
					if n == 0 {
						runtime.Gosched()
					}
				}
			}()
			p := NewProducer(r)
			var rec, popped []byte
			var corrupt error
			deadline := time.Now().Add(dur)
			for seq := uint64(0); time.Now().Before(deadline); seq++ {
				rec = appendTestEvent(rec[:0], seq, 40+8*int(seq%100))
				err := p.Append(rec)
				if err == nil {
					err = p.Flush()
				}
				if err != nil {
					if !errors.Is(err, ErrCorrupt) {
						t.Fatalf("producer: %v", err)
					}
					if corrupt == nil {
						t.Logf("producer: event %d, %d reaped, %d hostile writes: %v", seq, reaped.Load(), hostileWrites.Load(), err)
					}
					corrupt = err
				}
				p.Commit()
				if seq%64 == 0 {
					runtime.Gosched() // the three goroutines share 2 CPUs
				}
				// Keep the list bounded, as getevents would.
				for p.OverflowLen() > 64 {
					var ok bool
					popped, ok = p.PopOverflow(popped[:0])
					if !ok {
						t.Fatal("PopOverflow found nothing")
					}
					// Records taken back from the ring when it died may
					// carry the neighbour's bytes; their framing is ours.
					if len(popped) < abi.EventHeaderBytes || int(binary.LittleEndian.Uint32(popped)) != len(popped) {
						t.Fatalf("popped a badly framed record of %d bytes", len(popped))
					}
				}
			}
			close(stop)
			wg.Wait()
			for i := size; i < len(big); i++ {
				if big[i] != 0xA5 {
					t.Fatalf("byte %d after the region was written", i-size)
				}
			}
			dead, derr := p.Dead()
			t.Logf("%d hostile writes (%d to head), %d reaped, %d reaper errors, producer dead %v: %v",
				hostileWrites.Load(), headWrites.Load(), reaped.Load(), reapErrs.Load(), dead, derr)
			if c.wantDeath {
				if !dead {
					// The random head values may all have been overwritten
					// by the reaper's CAS before the producer needed to load
					// head; make sure the check itself works.
					t.Logf("not dead after the random phase; storing a head past the published tail")
					r.head.Store(r.Tail() + 8)
					for i := 0; i < R/40+1 && corrupt == nil; i++ {
						corrupt = p.Append(appendTestEvent(rec[:0], 0, 40))
					}
					dead, _ = p.Dead()
				}
				if !errors.Is(corrupt, ErrCorrupt) || !dead || r.Flags()&abi.FDead == 0 {
					t.Fatalf("the producer did not report the corrupt head (dead %v, flags %#x)", dead, r.Flags())
				}
			} else {
				if corrupt != nil || dead {
					t.Fatalf("the producer died though head was left alone: %v", corrupt)
				}
				if reaped.Load() == 0 {
					t.Fatal("nothing reaped: the test did not exercise the ring")
				}
			}
		})
	}
}
