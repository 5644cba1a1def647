package ring

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The benchmarks move test events (8-byte header + 32 or 96 payload bytes,
// the same records as ringbench -p 32 / -p 96 of shared/bench/floor) from a
// producer to reapers that read every payload word, publishing tail every
// 64 records and head once per Reap of up to 64 records (ringbench -c 64
// -b 64). ns/op is per event; Mev/s is millions of events per second over
// all reapers. docs/ring.md has the figures and the commands.

const (
	benchRing  = 65536
	benchBatch = 64
)

var benchSizes = []int{40, 104}

// sumPayload reads every word after the 8-byte header of each record in
// buf, as the C consumer does.
func sumPayload(buf []byte) (sum uint64) {
	for off := 0; off < len(buf); {
		n := int(binary.LittleEndian.Uint32(buf[off:]))
		for i := off + 8; i < off+n; i += 8 {
			sum += binary.LittleEndian.Uint64(buf[i:])
		}
		off += n
	}
	return sum
}

var sink atomic.Uint64

func reportRate(b *testing.B, events int, d time.Duration) {
	b.ReportMetric(float64(events)/d.Seconds()/1e6, "Mev/s")
}

// produceReap is the loop of the one-goroutine benchmarks: b.N events of
// size bytes, appended and committed in batches of benchBatch, each batch
// reaped at once; it reports the rate, and returns the payload checksum
// when sum is set (0 otherwise, so that the store cost is measured alone).
func produceReap(b *testing.B, p *Producer, rp *Reaper, size int, sum bool) uint64 {
	rec := appendTestEvent(nil, 1, size)
	buf := make([]byte, 0, benchBatch*size)
	var total uint64
	b.ResetTimer()
	start := time.Now()
	for done := 0; done < b.N; {
		k := min(benchBatch, b.N-done)
		for i := 0; i < k; i++ {
			p.Append(rec)
		}
		p.Commit()
		var n int
		buf, n, _ = rp.Reap(buf[:0], benchBatch)
		if sum {
			total += sumPayload(buf)
		}
		done += n
	}
	reportRate(b, b.N, time.Since(start))
	return total
}

// BenchmarkOneGoroutine produces 64 events, commits, and reaps them, in one
// goroutine: the instruction cost of the protocol, with no cache-line
// transfers (ringbench -1).
func BenchmarkOneGoroutine(b *testing.B) {
	for _, size := range benchSizes {
		for _, mode := range []string{"cas", "single"} {
			b.Run(fmt.Sprintf("ev=%d/%s", size, mode), func(b *testing.B) {
				r := mustHeap(b, benchRing, 1024)
				p := NewProducer(r)
				rp, _ := NewReaper(r)
				if mode == "single" {
					rp, _ = NewSingleReaper(r)
				}
				b.ReportAllocs()
				sink.Add(produceReap(b, p, rp, size, true))
			})
		}
	}
}

// BenchmarkProducerStores measures what the atomic stores used under the
// race detector cost against plain stores (one goroutine, as above).
func BenchmarkProducerStores(b *testing.B) {
	for _, atomicStores := range []bool{false, true} {
		b.Run(fmt.Sprintf("atomic=%v", atomicStores), func(b *testing.B) {
			r := mustHeap(b, benchRing, 1024)
			p := NewProducer(r)
			p.atomicStores = atomicStores
			rp, _ := NewSingleReaper(r)
			produceReap(b, p, rp, 104, false)
		})
	}
}

// BenchmarkRing runs the producer in the benchmark goroutine and reapers
// in others. The producer waits (TryAppend, Commit, yield) when the ring
// is full rather than use the overflow list.
func BenchmarkRing(b *testing.B) {
	for _, size := range benchSizes {
		for _, reapers := range []string{"1single", "1", "2", "4"} {
			b.Run(fmt.Sprintf("ev=%d/reapers=%s", size, reapers), func(b *testing.B) {
				benchRing2(b, size, reapers)
			})
		}
	}
}

func benchRing2(b *testing.B, size int, reapers string) {
	r := mustHeap(b, benchRing, 1024)
	p := NewProducer(r)
	nreap, single := 1, reapers == "1single"
	fmt.Sscan(reapers, &nreap)
	var total atomic.Int64
	var wg sync.WaitGroup
	rec := appendTestEvent(nil, 1, size)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for k := 0; k < nreap; k++ {
		rp, _ := NewReaper(r)
		if single {
			rp, _ = NewSingleReaper(r)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 0, benchBatch*size)
			var sum uint64
			for total.Load() < int64(b.N) {
				var n int
				buf, n, _ = rp.Reap(buf[:0], benchBatch)
				if n == 0 {
					runtime.Gosched()
					continue
				}
				sum += sumPayload(buf)
				total.Add(int64(n))
			}
			sink.Add(sum)
		}()
	}
	for i := 0; i < b.N; i++ {
		for {
			if ok, _ := p.TryAppend(rec); ok {
				break
			}
			p.Commit()
			runtime.Gosched()
		}
		if i%benchBatch == benchBatch-1 {
			p.Commit()
		}
	}
	p.Commit()
	wg.Wait()
	reportRate(b, b.N, time.Since(start))
}

// BenchmarkChan is the reference: a buffered channel (capacity 2048)
// carrying the same events, as byte arrays, from the benchmark goroutine
// to one receiver that reads every payload word.
func BenchmarkChan(b *testing.B) {
	b.Run("ev=40", func(b *testing.B) {
		benchChan(b, func(e *[40]byte) []byte { return e[:] })
	})
	b.Run("ev=104", func(b *testing.B) {
		benchChan(b, func(e *[104]byte) []byte { return e[:] })
	})
}

func benchChan[E any](b *testing.B, bytes func(*E) []byte) {
	var ev E
	copy(bytes(&ev), appendTestEvent(nil, 1, len(bytes(&ev))))
	ch := make(chan E, 2048)
	done := make(chan uint64)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	go func() {
		var sum uint64
		var e E // one copy, outside the loop: bytes(&e) makes it escape
		for x := range ch {
			e = x
			sum += sumPayload(bytes(&e))
		}
		done <- sum
	}()
	for i := 0; i < b.N; i++ {
		ch <- ev
	}
	close(ch)
	sink.Add(<-done)
	reportRate(b, b.N, time.Since(start))
}
