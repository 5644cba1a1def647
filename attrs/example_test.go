package attrs_test

import (
	"fmt"
	"time"

	"github.com/aio2/aio2/abi"
	"github.com/aio2/aio2/attrs"
)

// An IO asked for LATENCY, an id nobody serves (40) and a TAG; the event
// carries all three, in order, each with a status.
func ExampleEngine_Encode() {
	e := attrs.NewEngine(attrs.Clock{})
	reqs := abi.AppendAttrReq(nil, abi.AttrLatency, nil)
	reqs = abi.AppendAttrReq(reqs, 40, nil)
	reqs = abi.AppendAttrReq(reqs, abi.AttrTag, []byte("job-7"))

	t := attrs.Target{Kind: attrs.KindNoop, Opcode: abi.OpNoop, Want: attrs.Wanted(reqs)}
	s := attrs.Stamp{SubmitNs: 1000, IssueNs: 1200, CompleteNs: 4500}
	e.Begin(&t, &s)
	e.End(&t, &s)
	out, truncated := e.Encode(nil, reqs, &t, &s, 4096)

	it := abi.NewAttrIter(out)
	for {
		a, ok := it.Next()
		if !ok {
			break
		}
		fmt.Printf("id %d %s %q\n", a.ID, abi.StatusName(a.Status), a.Value)
	}
	fmt.Println("truncated:", truncated)
	first := abi.NewAttrIter(out)
	v, _ := first.Next()
	lat, _ := v.U64()
	fmt.Println("latency ns:", lat)
	// Output:
	// id 1 OK "\xac\r\x00\x00\x00\x00\x00\x00"
	// id 40 UNSUPPORTED ""
	// id 6 OK "job-7"
	// truncated: false
	// latency ns: 3500
}

// Supported is what a context reports in params.attrs.
func ExampleEngine_Supported() {
	e := attrs.NewEngine(attrs.Clock{}, attrs.NewCache(attrs.CacheAuto), attrs.NewDevice())
	for id := uint16(1); id <= 6; id++ {
		fmt.Println(abi.AttrName(id), e.Supported().Has(id))
	}
	// Output:
	// latency true
	// timestamps true
	// cache true
	// device true
	// cpu true
	// tag true
}

// A benchmark asks for DEVICE on every IO. Preparing the engine first
// loads the eBPF programs now, rather than inside the first IO's
// submission; without privilege the error says why, and DEVICE will come
// back UNAVAILABLE.
func ExampleEngine_Prepare() {
	e := attrs.Default()
	var want attrs.Mask
	want = want.With(abi.AttrLatency).With(abi.AttrDevice)
	if err := e.Prepare(want); err != nil {
		fmt.Println("DEVICE will be UNAVAILABLE:", err)
	}
	// ... set up contexts with kioctx.WithEngine(e) and run the IO.
}

// Durations on the TSC where it is a reliable clock, on CLOCK_MONOTONIC
// otherwise; the two are never mixed in one duration.
func ExampleWaitTSC() {
	var since func() time.Duration
	if t, err := attrs.WaitTSC(); err == nil {
		start := attrs.ReadTSC()
		since = func() time.Duration { return time.Duration(t.Ns(int64(attrs.ReadTSC() - start))) }
	} else {
		start := attrs.Now()
		since = func() time.Duration { return time.Duration(attrs.Now() - start) }
	}
	time.Sleep(10 * time.Millisecond)
	fmt.Println(since() >= 10*time.Millisecond)
	// Output: true
}

// A run that asks for DEVICE reads the programs' counters around it, so
// that it can say how many IOs' records the ring dropped. The counters
// are the whole machine's.
func ExampleDevice_Counters() {
	dev := attrs.NewDevice()
	before, err := dev.Counters()
	if err != nil {
		fmt.Println("no DEVICE here:", err)
		return
	}
	// ... run the IO, with DEVICE asked on each iocb.
	after, _ := dev.Counters()
	d := after.Sub(before)
	fmt.Printf("%d requests completed, %d records, %d dropped\n", d.Completes, d.Records, d.Dropped)
}
