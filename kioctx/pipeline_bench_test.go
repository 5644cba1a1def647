package kioctx

import (
	"testing"
	"time"

	"github.com/aio2/aio2/abi"
)

// BenchmarkNoopRoundTrip is the v2 pipeline alone, without a device: one
// NOOP iocb2 through SubmitRaw, completed inline, produced into the ring
// and taken back out with GetEvents, then decoded; without attributes and
// with LATENCY. It is most of what a QD1 IO on a RAM device pays in user
// space on top of the kernel's work (a native iocb adds building the
// legacy iocb and draining the kernel's ring).
//
//	go test ./kioctx -run '^$' -bench NoopRoundTrip -benchmem
func BenchmarkNoopRoundTrip(b *testing.B) {
	for _, v := range []struct {
		name string
		reqs []byte
	}{
		{"none", nil},
		{"latency", abi.AppendAttrReq(nil, abi.AttrLatency, nil)},
	} {
		b.Run(v.name, func(b *testing.B) {
			c := newCtx(b, 16, 0, 0)
			// As aio2 io does: nobody waits on the context's eventfd,
			// so the producer need not write it per publication.
			c.reg.SetUserFlags(abi.UFNoEventfd, 0)
			rec := abi.AppendIocb(nil, &abi.Iocb{Opcode: abi.OpNoop, Data: 1}, v.reqs)
			out := make([]byte, 16*c.maxEv)
			var ev abi.Event
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.SubmitRaw(rec); err != nil {
					b.Fatal(err)
				}
				n, err := c.GetEvents(1, out, time.Second)
				if err != nil || n == 0 {
					b.Fatal(n, err)
				}
				if _, err := abi.NextEvent(out[:n], 0, &ev); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
