package fuzz

import (
	"bytes"
	"errors"
	"syscall"
	"testing"

	"github.com/aio2/aio2/abi"
	"github.com/aio2/aio2/ring"
)

// regionData is the size of the data area a fuzzed region has room for;
// its header says 4096 unless the input rewrites it (8192 also fits).
const regionData = 8192

// buildRegion makes a version 2 region from fuzz input: a fresh header
// for a 4096-byte ring with max_event_bytes 1024, overwritten by hdr (so
// any header field may be anything), head and tail set, and data copied
// into the data area starting at head's position and wrapping, so that
// the records a reaper meets first are the input's first bytes.
func buildRegion(hdr []byte, head, tail uint32, data []byte) []byte {
	b := make([]byte, abi.HeaderBytes+regionData)
	abi.PutRingHeader(b, 4096, 1024)
	copy(b[:abi.RingHeaderSize], hdr)
	le.PutUint32(b[abi.OffHead:], head)
	le.PutUint32(b[abi.OffTail:], tail)
	rb := le.Uint32(b[abi.OffRingBytes:])
	if rb == 0 || rb > regionData || rb&(rb-1) != 0 {
		rb = regionData
	}
	area := b[abi.HeaderBytes : abi.HeaderBytes+int(rb)]
	pos := int(head & (rb - 1))
	for len(data) > 0 {
		n := copy(area[pos:], data)
		data = data[n:]
		pos = 0
		if n == 0 {
			break
		}
	}
	return b
}

// oracleReap walks the ring as spec section 4 says a lone reaper does,
// on memory nothing else touches: the EVENT records it delivers, the head
// it ends at, and whether it finds corruption there.
func oracleReap(b []byte) (recs [][]byte, end uint32, corrupt bool) {
	h := le.Uint32(b[abi.OffHead:])
	t := le.Uint32(b[abi.OffTail:])
	rb := le.Uint32(b[abi.OffRingBytes:])
	maxEv := le.Uint32(b[abi.OffMaxEventBytes:])
	data := b[abi.HeaderBytes:]
	if t == h {
		return nil, h, false
	}
	if h%8 != 0 || t-h > rb || (t-h)%8 != 0 {
		return nil, h, true
	}
	for h != t {
		pos := h & (rb - 1)
		n := le.Uint32(data[pos:])
		typ := le.Uint16(data[pos+4:])
		if recordFault(n, typ, pos, t-h, rb, maxEv) != "" {
			return recs, h, true
		}
		if typ == abi.RecEvent {
			recs = append(recs, data[pos:pos+n])
		}
		h += n
	}
	return recs, h, false
}

// FuzzReapRegion reaps a region of arbitrary bytes, as a reaper in
// another process would find it. Whatever the bytes: the region is
// refused with an *abi.Error exactly when its header is invalid; the
// reaper delivers exactly the EVENT records the oracle finds, in order,
// each passing abi's record checks; it never claims more than tail - head
// bytes; and it reports a *ring.CorruptError exactly where the oracle
// finds corruption, leaving head there.
func FuzzReapRegion(f *testing.F) {
	for _, s := range reapSeeds() {
		f.Add(s.hdr, s.head, s.tail, s.data, s.single, s.max, s.unaligned)
	}
	f.Fuzz(func(t *testing.T, hdr []byte, head, tail uint32, data []byte, single bool, max uint8, unaligned bool) {
		b := buildRegion(hdr, head, tail, data)
		var want abi.RingHeader
		hdrErr := abi.DecodeRingHeader(b, &want)
		in := b
		if unaligned {
			// An input that does not start on an 8-byte boundary: FromBytes
			// must work on an aligned copy.
			in = append(make([]byte, 1, len(b)+1), b...)[1:]
		}
		r, err := ring.FromBytes(in)
		if hdrErr != nil {
			var e *abi.Error
			if err == nil || !errors.As(err, &e) {
				t.Fatalf("FromBytes accepted a bad header (%v): err %v", hdrErr, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("FromBytes refused a good header: %v", err)
		}
		newReaper := ring.NewReaper
		if single {
			newReaper = ring.NewSingleReaper
		}
		rp, err := newReaper(r)
		if err != nil {
			t.Fatalf("NewReaper refused a header FromBytes took: %v", err)
		}
		wantRecs, wantEnd, wantCorrupt := oracleReap(b)
		before := append([]byte(nil), r.Bytes()...)

		h0, t0 := r.Head(), r.Tail()
		if h0 != head || t0 != tail {
			t.Fatalf("region shows head %d tail %d, wrote %d %d", h0, t0, head, tail)
		}
		batch := int(max%16) + 1
		var got [][]byte
		var rerr error
		buf := make([]byte, 0, 4096)
		for range regionData/8 + 2 { // every Reap that delivers moves head by >= 40 bytes
			var n int
			buf, n, rerr = rp.Reap(buf[:0], batch)
			if n > batch {
				t.Fatalf("Reap delivered %d records, max %d", n, batch)
			}
			for off := 0; off < len(buf); {
				var ev abi.Event
				next, err := abi.NextEvent(buf, off, &ev)
				if err != nil {
					t.Fatalf("reaped record %d fails abi checks: %v", len(got), err)
				}
				if uint32(next-off) > want.MaxEventBytes {
					t.Fatalf("reaped record of %d bytes, max_event_bytes %d", next-off, want.MaxEventBytes)
				}
				got = append(got, append([]byte(nil), buf[off:next]...))
				off = next
				n--
			}
			if n != 0 {
				t.Fatalf("Reap's count is off by %d from the records it appended", -n)
			}
			if moved := r.Head() - h0; moved > t0-h0 {
				t.Fatalf("head moved %d bytes, only %d were published", moved, t0-h0)
			}
			if rerr != nil || len(buf) == 0 {
				break
			}
		}
		if len(got) != len(wantRecs) {
			t.Fatalf("reaped %d records, oracle %d (err %v)", len(got), len(wantRecs), rerr)
		}
		for i := range got {
			if !bytes.Equal(got[i], wantRecs[i]) {
				t.Fatalf("record %d:\n got %x\nwant %x", i, got[i], wantRecs[i])
			}
		}
		if wantCorrupt {
			var ce *ring.CorruptError
			if !errors.As(rerr, &ce) || !errors.Is(rerr, ring.ErrCorrupt) || !errors.Is(rerr, syscall.EUCLEAN) {
				t.Fatalf("corrupt ring not reported: err %v", rerr)
			}
			if ce.Field == "" || ce.Msg == "" {
				t.Fatalf("corruption error says nothing: %+v", ce)
			}
		} else if rerr != nil {
			t.Fatalf("Reap failed on a sound ring: %v", rerr)
		}
		if end := r.Head(); end != wantEnd {
			t.Fatalf("head ends at %d, oracle %d", end, wantEnd)
		}
		// A reaper writes head and nothing else.
		after := r.Bytes()
		le.PutUint32(before[abi.OffHead:], r.Head())
		if !bytes.Equal(before, after) {
			for i := range before {
				if before[i] != after[i] {
					t.Fatalf("a reaper wrote byte %d of the region (%#x -> %#x)", i, before[i], after[i])
				}
			}
		}
	})
}

// buildLegacy makes a legacy aio_ring from fuzz input: a Usable header for
// nr slots (1 to 64), overwritten by hdr, head and tail set, and the
// events copied from data.
func buildLegacy(hdr []byte, nr uint8, head, tail uint32, data []byte) []byte {
	slots := int(nr%64) + 1
	b := make([]byte, abi.AioRingHeaderBytes+slots*abi.IoEventBytes)
	le.PutUint32(b[abi.OffAioRingNr:], uint32(slots))
	le.PutUint32(b[abi.OffAioRingMagic:], abi.AIO_RING_MAGIC)
	le.PutUint32(b[abi.OffAioRingCompat:], abi.AIO_RING_COMPAT_FEATURES)
	le.PutUint32(b[abi.OffAioRingHeaderLength:], abi.AioRingHeaderBytes)
	copy(b[:abi.AioRingHeaderBytes], hdr)
	le.PutUint32(b[abi.OffAioRingHead:], head)
	le.PutUint32(b[abi.OffAioRingTail:], tail)
	copy(b[abi.AioRingHeaderBytes:], data)
	return b
}

// FuzzLegacyReap reaps an arbitrary struct aio_ring, as a reaper of the
// kernel's own ring (or of the simulator's) would find it. The ring is
// refused with an *abi.Error exactly when it is not Usable or nr does
// not fit; a head or tail out of range is a *ring.CorruptError; otherwise
// the reaper delivers exactly (tail - head) mod nr events, the slots from
// head on, and leaves head at tail.
func FuzzLegacyReap(f *testing.F) {
	for _, s := range legacySeeds() {
		f.Add(s.hdr, s.nr, s.head, s.tail, s.data, s.max, s.unaligned)
	}
	f.Fuzz(func(t *testing.T, hdr []byte, nr uint8, head, tail uint32, data []byte, max uint8, unaligned bool) {
		b := buildLegacy(hdr, nr, head, tail, data)
		in := b
		if unaligned {
			in = append(make([]byte, 4, len(b)+4), b...)[4:]
		}
		rp, err := ring.NewLegacyReaperAt(in)
		hd := abi.AioRing{
			Nr: le.Uint32(b[4:]), Magic: le.Uint32(b[16:]),
			IncompatFeatures: le.Uint32(b[24:]), HeaderLength: le.Uint32(b[28:]),
		}
		usable := hd.Magic == 0xa10a10a1 && hd.IncompatFeatures == 0 && hd.HeaderLength == 32 && hd.Nr > 0 &&
			uint64(hd.Nr)*32 <= uint64(len(b)-32) && !unaligned
		if !usable {
			var e *abi.Error
			if !errors.As(err, &e) || !errors.Is(err, syscall.EINVAL) {
				t.Fatalf("unusable ring (%+v, unaligned %v) not refused with an *abi.Error: %v", hd, unaligned, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("usable ring refused: %v", err)
		}
		n32 := hd.Nr
		if head >= n32 || tail >= n32 {
			_, err := rp.Reap(make([]abi.IoEvent, 4))
			var ce *ring.CorruptError
			if !errors.As(err, &ce) || !errors.Is(err, ring.ErrCorrupt) {
				t.Fatalf("head %d tail %d with nr %d: err %v, want a CorruptError", head, tail, n32, err)
			}
			if rp.Pending() != 0 {
				t.Fatalf("Pending %d on a corrupt ring", rp.Pending())
			}
			return
		}
		want := int((uint64(tail) + uint64(n32) - uint64(head)) % uint64(n32))
		if rp.Pending() != want {
			t.Fatalf("Pending %d, want %d", rp.Pending(), want)
		}
		dst := make([]abi.IoEvent, int(max%8)+1)
		i := 0
		for range want + 2 {
			n, err := rp.Reap(dst)
			if err != nil {
				t.Fatalf("Reap: %v", err)
			}
			if n > len(dst) {
				t.Fatalf("Reap returned %d events into %d slots", n, len(dst))
			}
			if n == 0 {
				break
			}
			for _, ev := range dst[:n] {
				slot := (head + uint32(i)) % n32
				raw := b[32+32*slot:]
				w := abi.IoEvent{Data: le.Uint64(raw), Obj: le.Uint64(raw[8:]), Res: int64(le.Uint64(raw[16:])), Res2: int64(le.Uint64(raw[24:]))}
				if ev != w {
					t.Fatalf("event %d (slot %d): got %+v, want %+v", i, slot, ev, w)
				}
				i++
			}
		}
		if i != want {
			t.Fatalf("reaped %d events, want %d", i, want)
		}
		if h := le.Uint32(in[abi.OffAioRingHead:]); h != tail {
			t.Fatalf("head ends at %d, tail is %d", h, tail)
		}
	})
}
