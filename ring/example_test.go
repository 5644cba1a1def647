package ring_test

import (
	"fmt"

	"github.com/aio2/aio2/abi"
	"github.com/aio2/aio2/ring"
)

// A producer appends completions and publishes them with one Commit; a
// reaper takes them out, several per compare-and-swap.
func Example() {
	r, err := ring.NewHeap(abi.GrantRingBytes(4096), abi.GrantMaxEventBytes(0, 4096))
	if err != nil {
		panic(err)
	}
	p := ring.NewProducer(r)
	var rec []byte
	for i := uint64(1); i <= 3; i++ {
		rec = abi.BeginEvent(rec[:0], i, 100+i, 4096, 0)
		rec = abi.EndEvent(rec, 0, 0)
		if err := p.Append(rec); err != nil {
			panic(err)
		}
	}
	if p.Commit() {
		// Here the context would write its eventfd.
	}

	rp, err := ring.NewReaper(r)
	if err != nil {
		panic(err)
	}
	buf, n, err := rp.Reap(nil, 16)
	if err != nil {
		panic(err)
	}
	fmt.Println("reaped", n)
	var ev abi.Event
	for off := 0; off < len(buf); {
		off, err = abi.NextEvent(buf, off, &ev)
		if err != nil {
			panic(err)
		}
		fmt.Println(ev.Data, ev.Obj, ev.Res)
	}
	// Output:
	// reaped 3
	// 1 101 4096
	// 2 102 4096
	// 3 103 4096
}

// Records that do not fit wait, in order, on the overflow list, which
// F_OVERFLOW announces; Flush moves them into the ring when room appears.
func ExampleProducer_Flush() {
	r, _ := ring.NewHeap(4096, 1024)
	p := ring.NewProducer(r)
	rp, _ := ring.NewReaper(r)
	rec := abi.EndEvent(abi.BeginEvent(nil, 7, 0, 0, 0), 0, 0)
	for i := 0; i < 110; i++ { // 110 * 40 bytes > 4096
		p.Append(rec)
	}
	p.Commit()
	fmt.Println("overflow:", p.OverflowLen(), r.Flags()&abi.FOverflow != 0, r.Overflowed())
	_, n, _ := rp.Reap(nil, 1000)
	fmt.Println("reaped", n)
	p.Flush()
	p.Commit()
	_, n, _ = rp.Reap(nil, 1000)
	fmt.Println("reaped", n, "overflow:", p.OverflowLen(), r.Flags()&abi.FOverflow != 0)
	// Output:
	// overflow: 8 true 8
	// reaped 102
	// reaped 8 overflow: 0 false
}
