package fuzz

import (
	"bytes"
	"syscall"
	"testing"

	"github.com/aio2/aio2/abi"
)

// FuzzDecodeParams decodes a params block of any size. An accepted block
// re-encodes to its first 64 bytes and its tail is zero; a refused one
// gets the errno the oracle predicts (E2BIG only for a non-zero tail).
func FuzzDecodeParams(f *testing.F) {
	good := abi.Params{Size: 64, Version: 2, Flags: abi.SetupShared, RingBytes: 1 << 16, Eventfd: -1, MaxInflight: 64}
	f.Add(abi.AppendParams(nil, &good))
	big := good
	big.Size = 80
	f.Add(append(abi.AppendParams(nil, &big), make([]byte, 16)...))
	f.Add(append(abi.AppendParams(nil, &big), append(make([]byte, 15), 1)...))
	f.Add([]byte{64, 0, 0})
	f.Add(make([]byte, 64))

	f.Fuzz(func(t *testing.T, b []byte) {
		var p abi.Params
		err := abi.DecodeParams(b, &p)

		// The oracle: spec section 1, in the order DecodeParams applies it
		// (E2BIG before the field checks, so that a newer caller learns
		// first that its struct is too new).
		want := syscall.Errno(0)
		switch size := uint64(0); {
		case len(b) < 4:
			want = syscall.EINVAL
		case func() bool { size = uint64(le.Uint32(b)); return size < 64 || size > uint64(len(b)) }():
			want = syscall.EINVAL
		case nonZero(b[64:size]):
			want = syscall.E2BIG
		case le.Uint32(b[8:])&^3 != 0, le.Uint32(b[28:]) != 0, le.Uint64(b[48:]) != 0, le.Uint64(b[56:]) != 0, le.Uint32(b[4:]) == 0:
			want = syscall.EINVAL
		}
		if want != 0 {
			e := wantABIError(t, err, want, "DecodeParams")
			if e.Off < 0 || e.Off >= 64 {
				t.Fatalf("error offset %d outside the struct", e.Off)
			}
			return
		}
		if err != nil {
			t.Fatalf("DecodeParams refused a valid block: %v", err)
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("decoded params fail Validate: %v", err)
		}
		if got := abi.AppendParams(nil, &p); !bytes.Equal(got, b[:64]) {
			t.Fatalf("re-encoded params differ:\n got %x\nwant %x", got, b[:64])
		}
	})
}

// FuzzDecodeRingHeader decodes a header and validates it against a region
// of any claimed size. The snapshot holds exactly the bytes at the spec's
// offsets; the verdict matches the oracle's; a valid header survives
// PutRingHeader unchanged.
func FuzzDecodeRingHeader(f *testing.F) {
	h := make([]byte, abi.HeaderBytes)
	abi.PutRingHeader(h, 4096, 1024)
	f.Add(h[:abi.RingHeaderSize], uint32(8192))
	f.Add(h[:abi.RingHeaderSize], uint32(8191))
	abi.PutRingHeader(h, abi.MaxRingBytes, 4096)
	f.Add(h[:abi.RingHeaderSize], uint32(abi.HeaderBytes+abi.MaxRingBytes))
	le.PutUint32(h[abi.OffIncompatFeatures:], 4)
	f.Add(h[:abi.RingHeaderSize], uint32(0xffffffff))
	f.Add(h[:100], uint32(0))

	f.Fuzz(func(t *testing.T, b []byte, regionLen uint32) {
		var h abi.RingHeader
		err := abi.DecodeRingHeader(b, &h)
		if len(b) < abi.RingHeaderSize {
			wantABIError(t, err, syscall.EINVAL, "short header")
			return
		}
		// The snapshot is the bytes at the spec's offsets.
		u32 := func(off int) uint32 { return le.Uint32(b[off:]) }
		snap := abi.RingHeader{
			Magic: u32(0), Version: u32(4), HeaderBytes: u32(8), RingBytes: u32(12), RingMask: u32(16),
			MaxEventBytes: u32(20), CompatFeatures: u32(24), IncompatFeatures: u32(28), Flags: u32(32),
			UserFlags: u32(36), Overflowed: le.Uint64(b[40:]), Head: u32(64), Tail: u32(128),
		}
		if h != snap {
			t.Fatalf("snapshot %+v, bytes say %+v", h, snap)
		}
		check := func(regionLen int, err error) {
			rb := uint64(h.RingBytes)
			want := syscall.Errno(0)
			switch {
			case h.Magic != 0xA10A10A2, h.Version != 2, h.HeaderBytes != 4096,
				rb < 4096, rb > 1<<30, rb&(rb-1) != 0, uint64(h.RingMask) != rb-1,
				h.MaxEventBytes < 40, uint64(h.MaxEventBytes) > rb/4, h.MaxEventBytes%8 != 0,
				uint64(regionLen) < 4096+rb:
				want = syscall.EINVAL
			case h.IncompatFeatures != 0:
				want = syscall.EOPNOTSUPP
			}
			if want != 0 {
				wantABIError(t, err, want, "Validate")
				return
			}
			if err != nil {
				t.Fatalf("valid header refused (region %d): %v", regionLen, err)
			}
		}
		check(len(b), err)
		err = h.Validate(int(regionLen))
		check(int(regionLen), err)
		if err == nil {
			fresh := make([]byte, abi.HeaderBytes)
			abi.PutRingHeader(fresh, h.RingBytes, h.MaxEventBytes)
			// Decode the header alone (it fails the region-size check) and
			// validate it against the region it describes, rather than
			// allocate up to 1 GiB of data area per input.
			var g abi.RingHeader
			_ = abi.DecodeRingHeader(fresh, &g)
			if err := g.Validate(abi.RegionBytes(h.RingBytes)); err != nil {
				t.Fatalf("PutRingHeader of a valid geometry does not validate: %v", err)
			}
			if g.RingBytes != h.RingBytes || g.RingMask != h.RingMask || g.MaxEventBytes != h.MaxEventBytes {
				t.Fatalf("geometry changed through PutRingHeader: %+v -> %+v", h, g)
			}
		}
	})
}

// FuzzDecodeIocbBuffer walks a submission buffer as io_submit2 does:
// records from the front until the first one refused. Every accepted
// iocb2 re-encodes to the same bytes; each verdict matches the oracle's; a
// refusal is an EINVAL *abi.Error at or after the refused record's start,
// and never moves the cursor.
func FuzzDecodeIocbBuffer(f *testing.F) {
	var reqs []byte
	reqs = abi.AppendAttrReq(reqs, abi.AttrLatency, nil)
	reqs = abi.AppendAttrReq(reqs, abi.AttrTag, []byte("tag!"))
	reqs = abi.AppendAttrReq(reqs, 100, []byte{1, 2, 3, 4, 5, 6, 7, 8, 9})
	buf := abi.AppendIocb(nil, &abi.Iocb{Opcode: abi.OpPread, Fd: 3, Nbytes: 4096, Data: 1}, reqs)
	buf = abi.AppendIocb(buf, &abi.Iocb{Opcode: abi.OpSyscall, Arg: 39, Flags: abi.IocbRequireAttrs}, nil)
	f.Add(buf)
	f.Add(buf[:len(buf)-8])
	f.Add(abi.AppendIocb(nil, &abi.Iocb{Opcode: abi.OpNoop}, abi.AppendAttrReq(nil, abi.AttrTag, make([]byte, 256))))
	f.Add(abi.AppendIocb(nil, &abi.Iocb{Opcode: abi.OpNoop}, abi.AppendAttrReq(nil, abi.AttrCache, []byte{1})))

	f.Fuzz(func(t *testing.T, buf []byte) {
		var cb abi.Iocb
		off := 0
		for off < len(buf) {
			want := iocbOK(buf, off)
			// DecodeIocbHeader (kioctx's path, which checks requests
			// itself) agrees with DecodeIocb wherever the header is good,
			// and its requests fail ValidateAttrReqs exactly when
			// DecodeIocb refuses the record for them.
			var hcb abi.Iocb
			hreqs, hnext, herr := abi.DecodeIocbHeader(buf, off, &hcb)
			reqs, next, err := abi.DecodeIocb(buf, off, &cb)
			if herr == nil {
				verr := abi.ValidateAttrReqs(hreqs, off+abi.IocbHeaderBytes)
				if (verr == nil) != (err == nil) || (err != nil && verr.Error() != err.Error()) {
					t.Fatalf("iocb at %d: DecodeIocb says %v, header then requests say %v", off, err, verr)
				}
				if err == nil && (hnext != next || hcb != cb || !bytes.Equal(hreqs, reqs)) {
					t.Fatalf("iocb at %d: DecodeIocbHeader decodes differently", off)
				}
			} else if err == nil || herr.Error() != err.Error() {
				t.Fatalf("iocb at %d: header refused (%v), DecodeIocb says %v", off, herr, err)
			}
			if want < 0 {
				e := wantABIError(t, err, syscall.EINVAL, "DecodeIocb")
				if next != off {
					t.Fatalf("refused iocb moved the cursor from %d to %d", off, next)
				}
				if e.Off < off || e.Off > len(buf) {
					t.Fatalf("error offset %d outside [%d, %d]", e.Off, off, len(buf))
				}
				return
			}
			if err != nil {
				t.Fatalf("iocb at %d refused, oracle accepts it: %v", off, err)
			}
			if next != off+want || int(cb.Len) != want {
				t.Fatalf("iocb at %d: next %d len %d, want len %d", off, next, cb.Len, want)
			}
			if got := abi.AppendIocb(nil, &cb, reqs); !bytes.Equal(got, buf[off:next]) {
				t.Fatalf("iocb at %d re-encodes differently:\n got %x\nwant %x", off, got, buf[off:next])
			}
			off = next
		}
		if off != len(buf) {
			t.Fatalf("walk ended at %d of %d", off, len(buf))
		}
	})
}

// FuzzNextEvent walks a getevents buffer (whole EVENT records back to
// back) and validates each record as a strict reaper does. Every record
// NextEvent accepts re-encodes to the same bytes; ValidateEvent's verdict
// matches the oracle's; refusals are EINVAL *abi.Errors.
func FuzzNextEvent(f *testing.F) {
	var buf []byte
	buf = abi.AppendEvent(buf, &abi.Event{Data: 1, Obj: 2, Res: 4096})
	attrs := abi.AppendAttrU64(nil, abi.AttrLatency, 1000)
	attrs = abi.AppendAttrTimestamps(attrs, 1, 2, 3)
	attrs = abi.AppendAttrU32Pair(attrs, abi.AttrCache, 3, 4)
	attrs = abi.AppendAttrDevice(attrs, 5, 6)
	attrs = abi.AppendAttrU32Pair(attrs, abi.AttrCPU, 0, 1)
	attrs = abi.AppendAttr(attrs, abi.AttrTag, abi.AttrOK, []byte("tag"))
	attrs = abi.AppendAttrStatus(attrs, 9, abi.AttrUnsupported)
	attrs = abi.AppendAttrStatus(attrs, abi.AttrDevice, abi.AttrUnavailable)
	buf = abi.AppendEvent(buf, &abi.Event{Flags: abi.EventAttrsTruncated, Data: 3, Res: -5, Attrs: attrs})
	f.Add(buf)
	f.Add(abi.AppendPad(nil, 48))
	f.Add(abi.AppendEvent(nil, &abi.Event{Attrs: abi.AppendAttr(nil, abi.AttrCache, abi.AttrError, []byte{1})}))

	f.Fuzz(func(t *testing.T, buf []byte) {
		var ev abi.Event
		off := 0
		for off < len(buf) {
			next, err := abi.NextEvent(buf, off, &ev)
			// The oracle: a record header that fits, len a multiple of 8,
			// at least 40, within the buffer, type EVENT. No PAD here.
			ok := len(buf)-off >= 8
			var n uint64
			if ok {
				n = uint64(le.Uint32(buf[off:]))
				ok = n%8 == 0 && n >= 40 && n <= uint64(len(buf)-off) && le.Uint16(buf[off+4:]) == 1
			}
			if !ok {
				wantABIError(t, err, syscall.EINVAL, "NextEvent")
				if next != off {
					t.Fatalf("refused record moved the cursor")
				}
				return
			}
			if err != nil {
				t.Fatalf("record at %d refused, oracle accepts it: %v", off, err)
			}
			if next != off+int(n) {
				t.Fatalf("next %d, want %d", next, off+int(n))
			}
			rec := buf[off:next]
			if got := abi.AppendEvent(nil, &ev); !bytes.Equal(got, rec) {
				t.Fatalf("event at %d re-encodes differently:\n got %x\nwant %x", off, got, rec)
			}
			verr := abi.ValidateEvent(&ev, off)
			if want := eventOK(le.Uint16(rec[6:]), rec[40:]); want != (verr == nil) {
				t.Fatalf("ValidateEvent at %d says %v, oracle says valid=%v", off, verr, want)
			}
			if verr != nil {
				e := wantABIError(t, verr, syscall.EINVAL, "ValidateEvent")
				if e.Off < off || e.Off >= next {
					t.Fatalf("ValidateEvent error offset %d outside the record [%d, %d)", e.Off, off, next)
				}
			}
			off = next
		}
	})
}

// FuzzAttrIter walks attribute TLVs. The iterator returns exactly the
// attributes the oracle finds, as views of the right bytes, advances by
// header plus padded value, and reports a framing fault exactly when the
// oracle does. ValidateAttr agrees with the oracle on each attribute.
func FuzzAttrIter(f *testing.F) {
	f.Add(abi.AppendAttrDevice(abi.AppendAttrU64(nil, abi.AttrLatency, 7), 1, 2))
	f.Add(abi.AppendAttr(nil, abi.AttrTag, abi.AttrOK, make([]byte, 257)))
	f.Add([]byte{1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{6, 0, 0, 0, 1, 0, 0, 0, 'x'})

	f.Fuzz(func(t *testing.T, b []byte) {
		want, wantOK := walkAttrs(b)
		it := abi.NewAttrIter(b)
		i := 0
		for {
			off := it.Offset()
			a, ok := it.Next()
			if !ok {
				break
			}
			if i >= len(want) {
				t.Fatalf("iterator returned attribute %d at %d, oracle found %d", i, off, len(want))
			}
			w := want[i]
			if off != w.off || a.ID != w.id || a.Status != w.status || !bytes.Equal(a.Value, w.value) {
				t.Fatalf("attribute %d: got id %d status %d at %d len %d, want id %d status %d at %d len %d",
					i, a.ID, a.Status, off, len(a.Value), w.id, w.status, w.off, len(w.value))
			}
			if len(a.Value) > 0 && &a.Value[0] != &b[off+8] {
				t.Fatalf("attribute %d value is not a view of the input", i)
			}
			if verr := abi.ValidateAttr(a, off); (verr == nil) != attrOK(w) {
				t.Fatalf("ValidateAttr(%+v) = %v, oracle says valid=%v", w, verr, attrOK(w))
			} else if verr != nil {
				wantABIError(t, verr, syscall.EINVAL, "ValidateAttr")
			}
			i++
		}
		if i != len(want) {
			t.Fatalf("iterator returned %d attributes, oracle %d", i, len(want))
		}
		if wantOK {
			if it.Err() != nil {
				t.Fatalf("framing error on well-framed input: %v", it.Err())
			}
			if it.Offset() != len(b) {
				t.Fatalf("iterator stopped at %d of %d", it.Offset(), len(b))
			}
		} else {
			e := wantABIError(t, it.Err(), syscall.EINVAL, "AttrIter")
			if e.Off != it.Offset() {
				t.Fatalf("fault reported at %d, iterator is at %d", e.Off, it.Offset())
			}
		}
	})
}

func nonZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return true
		}
	}
	return false
}
