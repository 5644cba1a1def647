package kioctx

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aio2/aio2/abi"
)

// Several goroutines submit O_DIRECT reads, buffered writes and NOOPs and
// reap with GetEvents (blocking and not) and Reap at once, so that the
// completions change hands between GetEvents callers and the background
// goroutine all the time. Every accepted iocb's event is reaped exactly
// once, and nothing hangs.
func TestConcurrentSubmitAndReap(t *testing.T) {
	c := newCtx(t, 64, 8192, 0)
	f, _ := directFile(t, 1<<20)
	bf := bufferedFile(t)
	mem := alignedBuf(t, 16*4096)
	const workers, quota = 4, 400
	var (
		mu        sync.Mutex
		seen      = map[uint64]bool{}
		submitted atomic.Int64
		reaped    atomic.Int64
		failed    atomic.Value
	)
	// byPath counts the events each way of reaping delivered: each must
	// take part (a Reap that never works would otherwise go unnoticed).
	var byPath [4]atomic.Int64
	take := func(b []byte) (n int) {
		mu.Lock()
		defer mu.Unlock()
		for off := 0; off < len(b); {
			var ev abi.Event
			next, err := abi.NextEvent(b, off, &ev)
			if err != nil {
				failed.Store(err.Error())
				return
			}
			off = next
			if seen[ev.Obj] {
				failed.Store("an event twice")
			}
			seen[ev.Obj] = true
			if ev.Res < 0 {
				failed.Store("negative res")
			}
			reaped.Add(1)
			n++
		}
		return n
	}
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			out := make([]byte, 16*c.maxEv)
			for done := 0; done < quota; {
				var cbs []Iocb
				switch done % 3 {
				case 0:
					i := w*4 + done%4
					cbs = []Iocb{{Opcode: abi.OpPread, Fd: int32(f.Fd()), Buf: mem[i*4096 : (i+1)*4096], Offset: int64(done%64) * 4096}}
				case 1:
					cbs = []Iocb{{Opcode: abi.OpPwrite, Fd: int32(bf.Fd()), Buf: []byte("x"), Offset: int64(w)}}
				default:
					cbs = noops(0, 2)
				}
				n, err := c.Submit(cbs)
				if err != nil && !errors.Is(err, ErrInflightFull) {
					failed.Store(err.Error())
					return
				}
				done += n
				submitted.Add(int64(n))
				var k int
				var err2 error
				path := done % 4
				switch path {
				case 0:
					k, err2 = c.GetEvents(1, out, 20*time.Millisecond)
				case 1:
					k, err2 = c.GetEvents(0, out, 0)
				case 2:
					k, err2 = c.Reap(out)
				default:
					k, err2 = c.GetEvents(1, out, -1)
				}
				// A timeout is the only error a path may give here (a
				// Reap never times out).
				if err2 != nil && (path == 2 || !errors.Is(err2, ErrTimeout)) {
					failed.Store(fmt.Sprintf("path %d: %v", path, err2))
					return
				}
				byPath[path].Add(int64(take(out[:k])))
			}
		}(w)
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	// A worker in GetEvents(1, -1) waits, as io_getevents would, for as
	// long as nothing completes: once the others took its IO and their
	// last, nothing will. While nothing is in flight, a NOOP now and then
	// gives it an event (an earlier version of this test hung here once
	// in some hundred runs).
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	stuck := time.After(60 * time.Second)
wait:
	for {
		select {
		case <-finished:
			break wait
		case <-tick.C:
			if c.Inflight() == 0 {
				n, err := c.Submit(noops(0, 1))
				if err != nil {
					t.Fatal(err)
				}
				submitted.Add(int64(n))
			}
		case <-stuck:
			t.Fatalf("workers stuck: submitted %d reaped %d", submitted.Load(), reaped.Load())
		}
	}
	if v := failed.Load(); v != nil {
		t.Fatal(v)
	}
	out := make([]byte, 16*c.maxEv)
	deadline := time.Now().Add(10 * time.Second)
	for reaped.Load() < submitted.Load() {
		if time.Now().After(deadline) {
			t.Fatalf("reaped %d of %d", reaped.Load(), submitted.Load())
		}
		k, err := c.GetEvents(1, out, 100*time.Millisecond)
		if err != nil && !errors.Is(err, ErrTimeout) {
			t.Fatal(err)
		}
		take(out[:k])
	}
	t.Logf("%d iocbs submitted and reaped; by GetEvents(1, 20ms), GetEvents(0), Reap, GetEvents(1, forever): %d %d %d %d",
		submitted.Load(), byPath[0].Load(), byPath[1].Load(), byPath[2].Load(), byPath[3].Load())
	for i := range byPath {
		if byPath[i].Load() == 0 {
			t.Errorf("reaping path %d delivered no event", i)
		}
	}
	if reaped.Load() != submitted.Load() || c.Inflight() != 0 {
		t.Fatalf("reaped %d of %d, Inflight %d", reaped.Load(), submitted.Load(), c.Inflight())
	}
}
