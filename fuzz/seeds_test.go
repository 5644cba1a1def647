package fuzz

import (
	"github.com/aio2/aio2/abi"
	"github.com/aio2/aio2/ring"
)

type reapSeed struct {
	hdr        []byte
	head, tail uint32
	data       []byte
	single     bool
	max        uint8
	unaligned  bool
}

// event is a record as the producer makes them, with n TAG bytes.
func event(data uint64, n int) []byte {
	b := abi.BeginEvent(nil, data, data+1000, int64(n), 0)
	b = abi.AppendAttrU64(b, abi.AttrLatency, 12345)
	if n > 0 {
		b = abi.AppendAttr(b, abi.AttrTag, abi.AttrOK, make([]byte, n))
	}
	return abi.EndEvent(b, 0, 0)
}

// produced runs the real producer from start over recs and returns the
// ring as a seed: head, tail, and the data area rotated so that it starts
// at head's position (buildRegion puts it back).
func produced(start uint32, recs ...[]byte) reapSeed {
	r, err := ring.NewHeap(4096, 1024)
	if err != nil {
		panic(err)
	}
	r.SetStart(start)
	p := ring.NewProducer(r)
	for _, rec := range recs {
		if err := p.Append(rec); err != nil {
			panic(err)
		}
	}
	p.Commit()
	b := r.Bytes()
	area := b[abi.HeaderBytes:]
	pos := r.Head() & 4095
	data := append(append([]byte(nil), area[pos:]...), area[:pos]...)
	return reapSeed{head: r.Head(), tail: r.Tail(), data: data, max: 15}
}

func reapSeeds() []reapSeed {
	many := make([][]byte, 30)
	for i := range many {
		many[i] = event(uint64(i), i*3)
	}
	wrap := produced(0xfffff000-48, event(1, 0), event(2, 20))
	seeds := []reapSeed{
		{},                                     // empty
		produced(0, event(7, 5)),               // one record
		produced(0, many...),                   // a full-ish ring, batches
		wrap,                                   // a PAD at the end, counters wrap 2^32
		produced(0xffffffd8, event(3, 0)),      // tail wraps past 2^32 mid-record
		produced(4096-40, event(4, 1000-40)),   // max-size record after a PAD
		{head: 0, tail: 48, data: event(5, 0)}, // tail inside a record: corrupt
	}
	single := produced(64, event(8, 8), event(9, 9))
	single.single, single.max = true, 0
	seeds = append(seeds, single)
	un := produced(0, event(10, 1))
	un.unaligned = true
	seeds = append(seeds, un)

	// Corruption a reaper must report, not loop on or read past.
	zero := produced(0, event(11, 0))
	zero.data = make([]byte, 64)
	badType := produced(0, event(12, 0))
	badType.data[4] = 7
	huge := produced(0, event(13, 0))
	huge.data[0], huge.data[3] = 0xf8, 0xff
	overRing := produced(0, event(14, 0))
	overRing.tail = overRing.head + 8192
	oddHead := produced(0, event(15, 0))
	oddHead.head, oddHead.tail = 4, 4+uint32(len(event(15, 0)))
	afterGood := produced(0, event(16, 0), event(17, 0))
	afterGood.data[len(event(16, 0))+4] = 9 // second record's type
	seeds = append(seeds, zero, badType, huge, overRing, oddHead, afterGood)

	// Headers: an 8192-byte ring (fits the fuzz region), and refusals.
	h := make([]byte, abi.HeaderBytes)
	abi.PutRingHeader(h, 8192, 2048)
	big := produced(0, event(18, 0))
	big.hdr = h[:abi.RingHeaderSize]
	abi.PutRingHeader(h, 16384, 2048) // does not fit the region
	tooBig := produced(0, event(19, 0))
	tooBig.hdr = h[:abi.RingHeaderSize]
	abi.PutRingHeader(h, 4096, 1024)
	le.PutUint32(h[abi.OffIncompatFeatures:], 1)
	incompat := produced(0, event(20, 0))
	incompat.hdr = h[:abi.RingHeaderSize]
	return append(seeds, big, tooBig, incompat)
}

type legacySeed struct {
	hdr        []byte
	nr         uint8
	head, tail uint32
	data       []byte
	max        uint8
	unaligned  bool
}

func legacyProduced(nr, start uint32, n int) legacySeed {
	lr, err := ring.NewLegacyHeap(nr)
	if err != nil {
		panic(err)
	}
	lr.SetStart(start)
	p := ring.NewLegacyProducer(lr)
	for i := range n {
		if err := p.Append(abi.IoEvent{Data: uint64(i), Obj: uint64(i) << 32, Res: int64(i * 512), Res2: -1}); err != nil {
			panic(err)
		}
	}
	p.Commit()
	b := lr.Bytes()
	return legacySeed{
		nr:   uint8(nr - 1),
		head: le.Uint32(b[abi.OffAioRingHead:]), tail: le.Uint32(b[abi.OffAioRingTail:]),
		data: append([]byte(nil), b[abi.AioRingHeaderBytes:]...), max: 3,
	}
}

func legacySeeds() []legacySeed {
	full := legacyProduced(16, 10, 15) // nr-1 events, wrapping
	seeds := []legacySeed{
		legacyProduced(2, 0, 0),
		legacyProduced(8, 0, 5),
		full,
		legacyProduced(64, 63, 40),
	}
	badHead := legacyProduced(8, 0, 3)
	badHead.head = 8
	badTail := legacyProduced(8, 0, 3)
	badTail.tail = 1 << 31
	un := legacyProduced(8, 0, 3)
	un.unaligned = true
	magic := legacyProduced(8, 0, 3)
	magic.hdr = []byte{0, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xa2, 0x10, 0x0a, 0xa1}
	bigNr := legacyProduced(8, 0, 3)
	bigNr.hdr = []byte{0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}
	return append(seeds, badHead, badTail, un, magic, bigNr)
}
