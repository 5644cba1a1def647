package abi_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aio2/aio2/abi"
)

// Encoders append into a caller's buffer and decoders fill caller-owned
// values: none of them allocates on success.
func TestNoAllocs(t *testing.T) {
	attrs := sampleAttrs()
	ev := abi.Event{Data: 1, Obj: 2, Res: 3, Attrs: attrs}
	evBuf := make([]byte, 0, 4096)
	rec := abi.AppendEvent(nil, &ev)
	getevents := abi.AppendEvent(abi.AppendEvent(nil, &ev), &ev)

	reqs := abi.AppendAttrReq(abi.AppendAttrReq(nil, abi.AttrLatency, nil), abi.AttrTag, []byte("tag"))
	cb := abi.Iocb{Opcode: abi.OpPread, Nbytes: 4096}
	iocbs := abi.AppendIocb(abi.AppendIocb(nil, &cb, reqs), &cb, nil)
	cbBuf := make([]byte, 0, 1024)

	p := goodParams()
	params := abi.AppendParams(nil, &p)
	pBuf := make([]byte, 0, 64)
	region := freshRegion(4096, 1024)

	cases := map[string]func(){
		"AppendEvent": func() { evBuf = abi.AppendEvent(evBuf[:0], &ev) },
		"BeginEndEvent": func() {
			evBuf = abi.BeginEvent(evBuf[:0], 1, 2, 3, 4)
			evBuf = abi.AppendAttrU64(evBuf, abi.AttrLatency, 9)
			evBuf = abi.AppendAttrTimestamps(evBuf, 1, 2, 3)
			evBuf = abi.AppendAttrU32Pair(evBuf, abi.AttrCache, 1, 2)
			evBuf = abi.AppendAttrDevice(evBuf, 1, 2)
			evBuf = abi.AppendAttrStatus(evBuf, abi.AttrCPU, abi.AttrUnavailable)
			evBuf = abi.AppendAttr(evBuf, abi.AttrTag, abi.AttrOK, []byte("t"))
			evBuf = abi.EndEvent(evBuf, 0, 0)
		},
		"AppendPad": func() { evBuf = abi.AppendPad(evBuf[:0], 64) },
		"PutPad":    func() { abi.PutPad(evBuf[:16]) },
		"DecodeEvent+ValidateEvent": func() {
			var e abi.Event
			if abi.DecodeEvent(rec, 0, &e) != nil || abi.ValidateEvent(&e, 0) != nil {
				panic("decode")
			}
		},
		"NextEvent": func() {
			var e abi.Event
			for off := 0; off < len(getevents); {
				var err error
				if off, err = abi.NextEvent(getevents, off, &e); err != nil {
					panic(err)
				}
			}
		},
		"AttrIter": func() {
			it := abi.NewAttrIter(attrs)
			for a, ok := it.Next(); ok; a, ok = it.Next() {
				_, _ = a.U64()
			}
		},
		"CheckRecord": func() {
			if abi.CheckRecord(abi.ReadRecordHeader(rec), 0, 4096, 4096, 1024) != "" {
				panic("check")
			}
		},
		"AppendIocb": func() { cbBuf = abi.AppendIocb(cbBuf[:0], &cb, reqs) },
		"DecodeIocb": func() {
			var c abi.Iocb
			for off := 0; off < len(iocbs); {
				var err error
				if _, off, err = abi.DecodeIocb(iocbs, off, &c); err != nil {
					panic(err)
				}
			}
		},
		"AppendParams": func() { pBuf = abi.AppendParams(pBuf[:0], &p) },
		"DecodeParams": func() {
			var q abi.Params
			if abi.DecodeParams(params, &q) != nil {
				panic("params")
			}
		},
		"DecodeRingHeader": func() {
			var h abi.RingHeader
			if abi.DecodeRingHeader(region, &h) != nil {
				panic("header")
			}
		},
		"PutRingHeader": func() { abi.PutRingHeader(region, 4096, 1024) },
	}
	for name, f := range cases {
		t.Run(name, func(t *testing.T) {
			require.NotPanics(t, f)
			assert.Zero(t, testing.AllocsPerRun(100, f))
		})
	}
}

func BenchmarkAppendDecodeEvent(b *testing.B) {
	ev := abi.Event{Data: 1, Obj: 2, Res: 3, Attrs: sampleAttrs()}
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		buf = abi.AppendEvent(buf[:0], &ev)
		var e abi.Event
		if abi.DecodeEvent(buf, 0, &e) != nil || abi.ValidateEvent(&e, 0) != nil {
			b.Fatal("decode")
		}
	}
}

// iocbSink keeps BenchmarkDecodeIocb's copies from being optimized away.
var iocbSink abi.Iocb

// BenchmarkDecodeIocb decodes one iocb2 record and copies the result, as
// kioctx's submit path does: one without attribute requests, and one that
// asks for LATENCY (a request to validate). Decoding field by field (not
// through a struct literal) keeps the copy from stalling on store
// forwarding.
func BenchmarkDecodeIocb(b *testing.B) {
	cb := abi.Iocb{Opcode: abi.OpPread, Data: 7, Fd: 3, Addr: 4096, Nbytes: 4096, Offset: 8192}
	for name, reqs := range map[string][]byte{
		"plain":   nil,
		"latency": abi.AppendAttrReq(nil, abi.AttrLatency, nil),
	} {
		rec := abi.AppendIocb(nil, &cb, reqs)
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var got abi.Iocb
				if _, _, err := abi.DecodeIocb(rec, 0, &got); err != nil {
					b.Fatal(err)
				}
				iocbSink = got
			}
		})
	}
}

// attrSink keeps BenchmarkAttrIter's loop from being optimized away.
var attrSink int

// BenchmarkAttrIter walks an event's attributes as a reaper does: once
// with one LATENCY attribute (what "aio2 io --attrs=latency" reaps per
// IO) and once over every kind of attribute.
func BenchmarkAttrIter(b *testing.B) {
	for name, attrs := range map[string][]byte{
		"latency": abi.AppendAttrU64(nil, abi.AttrLatency, 12345),
		"all":     sampleAttrs(),
	} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				it := abi.NewAttrIter(attrs)
				for {
					a, ok := it.Next()
					if !ok {
						break
					}
					attrSink += len(a.Value)
				}
				if it.Err() != nil {
					b.Fatal(it.Err())
				}
			}
		})
	}
}
