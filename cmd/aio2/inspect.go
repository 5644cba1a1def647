package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/aio2/aio2/abi"
)

// readRegion reads a snapshot of the file at path (at most a version 2
// region's largest size). Errors a user can fix are usage errors.
func readRegion(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, usagef("%s: no such file (give the ring's path, such as the /proc/PID/fd/N that \"aio2 io --reaper=external\" prints)", path)
		}
		return nil, usagef("%s: %v", path, unwrapPath(err))
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, usagef("%s is not a regular file or memfd, so it cannot hold a ring", path)
	}
	n := min(st.Size(), int64(abi.RegionBytes(abi.MaxRingBytes)))
	b := make([]byte, n)
	if _, err := io.ReadFull(f, b); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return b, nil
}

// notRing explains why b is not a ring region, as a usage error.
func notRing(path string, err error) error {
	return usagef("%s is not an aio2 ring region: %v", path, err)
}

func cmdInspect(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("ring inspect", "ring inspect [--limit=N] PATH")
	limit := fs.Int("limit", 64, "print at most N records (0: all)")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("ring inspect: give one PATH (a file or /proc/PID/fd/N holding a ring region)")
	}
	path := fs.Arg(0)
	b, err := readRegion(path)
	if err != nil {
		return err
	}
	if len(b) >= abi.AioRingHeaderBytes && binary.LittleEndian.Uint32(b[abi.OffAioRingMagic:]) == abi.AIO_RING_MAGIC {
		return inspectLegacy(path, b, *limit, stdout)
	}
	var h abi.RingHeader
	if err := abi.DecodeRingHeader(b, &h); err != nil {
		return notRing(path, err)
	}
	w := stdout
	fmt.Fprintf(w, "ring %s: version %d (a snapshot: a live ring moves while it is read)\n", path, h.Version)
	fmt.Fprintf(w, "  magic              %#x\n", h.Magic)
	fmt.Fprintf(w, "  header_bytes       %d\n", h.HeaderBytes)
	fmt.Fprintf(w, "  ring_bytes         %d (mask %#x)\n", h.RingBytes, h.RingMask)
	fmt.Fprintf(w, "  max_event_bytes    %d\n", h.MaxEventBytes)
	fmt.Fprintf(w, "  compat_features    %#x\n", h.CompatFeatures)
	fmt.Fprintf(w, "  incompat_features  %#x\n", h.IncompatFeatures)
	fmt.Fprintf(w, "  flags              %#x%s\n", h.Flags, flagNames(h.Flags, "OVERFLOW", "DEAD"))
	fmt.Fprintf(w, "  user_flags         %#x%s\n", h.UserFlags, flagNames(h.UserFlags, "NO_EVENTFD"))
	fmt.Fprintf(w, "  overflowed         %d\n", h.Overflowed)
	fmt.Fprintf(w, "  head               0x%08x (position %#x)\n", h.Head, h.Head&h.RingMask)
	fmt.Fprintf(w, "  tail               0x%08x (position %#x)\n", h.Tail, h.Tail&h.RingMask)
	avail := h.Tail - h.Head
	fmt.Fprintf(w, "  unreaped           %d bytes\n", avail)
	if avail > h.RingBytes {
		return fmt.Errorf("tail - head = %d is more than ring_bytes %d: head or tail is corrupt", avail, h.RingBytes)
	}
	data := b[h.HeaderBytes : h.HeaderBytes+h.RingBytes]
	fmt.Fprintf(w, "records between head and tail:\n")
	var ev abi.Event
	nrec := 0
	for consumed := uint32(0); consumed < avail; {
		at := h.Head + consumed
		pos := at & h.RingMask
		rh := abi.ReadRecordHeader(data[pos:])
		if f := abi.CheckRecord(rh, pos, avail-consumed, h.RingBytes, h.MaxEventBytes); f != "" {
			fmt.Fprintf(w, "  0x%08x  MALFORMED: bad %s (len=%d type=%d flags=%#x)\n", at, f, rh.Len, rh.Type, rh.Flags)
			return fmt.Errorf("malformed record at %#x: bad %s", at, f)
		}
		consumed += rh.Len
		nrec++
		if *limit > 0 && nrec > *limit {
			continue
		}
		if rh.Type == abi.RecPad {
			fmt.Fprintf(w, "  0x%08x  PAD   len=%d\n", at, rh.Len)
			continue
		}
		rec := data[pos : pos+rh.Len]
		err := abi.DecodeEvent(rec, int(pos), &ev)
		if err == nil {
			err = abi.ValidateEvent(&ev, int(pos))
		}
		if err != nil {
			fmt.Fprintf(w, "  0x%08x  MALFORMED EVENT len=%d: %v\n", at, rh.Len, err)
			return fmt.Errorf("malformed record at %#x: %w", at, err)
		}
		fmt.Fprintf(w, "  0x%08x  %s\n", at, eventLine(&ev, rh.Len))
	}
	if *limit > 0 && nrec > *limit {
		fmt.Fprintf(w, "  ... %d more records (--limit=0 prints all)\n", nrec-*limit)
	}
	fmt.Fprintf(w, "%d records\n", nrec)
	return nil
}

// eventLine formats one EVENT record on one line.
func eventLine(ev *abi.Event, n uint32) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "EVENT len=%d data=%#x obj=%#x res=%d res2=%d", n, ev.Data, ev.Obj, ev.Res, ev.Res2)
	if ev.Flags&abi.EventAttrsTruncated != 0 {
		sb.WriteString(" ATTRS_TRUNCATED")
	}
	it := abi.NewAttrIter(ev.Attrs)
	for {
		a, ok := it.Next()
		if !ok {
			break
		}
		sb.WriteString(" ")
		sb.WriteString(attrText(a))
	}
	return sb.String()
}

// attrText formats one attribute: name=STATUS(value).
func attrText(a abi.Attr) string {
	name := abi.AttrName(a.ID)
	if name == "" {
		name = fmt.Sprintf("id%d", a.ID)
	}
	st := abi.StatusName(a.Status)
	if a.Status != abi.AttrOK {
		return name + "=" + st
	}
	var v string
	switch a.ID {
	case abi.AttrLatency:
		x, _ := a.U64()
		v = fmt.Sprintf("%dns", x)
	case abi.AttrTimestamps:
		s, i, c, _ := a.Timestamps()
		v = fmt.Sprintf("submit=%d issue=+%dns complete=+%dns", s, int64(i-s), int64(c-s))
	case abi.AttrCache:
		h, m, _ := a.U32Pair()
		v = fmt.Sprintf("hit=%d miss=%d", h, m)
	case abi.AttrDevice:
		ns, r, _ := a.Device()
		v = fmt.Sprintf("%dns requests=%d", ns, r)
	case abi.AttrCPU:
		s, c, _ := a.U32Pair()
		v = fmt.Sprintf("cpu%d->cpu%d", s, c)
	default:
		v = fmt.Sprintf("%x", a.Value)
	}
	return name + "=" + st + "(" + v + ")"
}

func flagNames(f uint32, names ...string) string {
	var parts []string
	for i, n := range names {
		if f&(1<<i) != 0 {
			parts = append(parts, n)
		}
	}
	if rest := f &^ (1<<len(names) - 1); rest != 0 {
		parts = append(parts, fmt.Sprintf("unknown %#x", rest))
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, "|") + ")"
}

// inspectLegacy prints a version 1 ring: Linux's struct aio_ring header
// and the io_events between head and tail.
func inspectLegacy(path string, b []byte, limit int, w io.Writer) error {
	le := binary.LittleEndian
	h := abi.AioRing{
		ID: le.Uint32(b[abi.OffAioRingID:]), Nr: le.Uint32(b[abi.OffAioRingNr:]),
		Head: le.Uint32(b[abi.OffAioRingHead:]), Tail: le.Uint32(b[abi.OffAioRingTail:]),
		Magic: le.Uint32(b[abi.OffAioRingMagic:]), CompatFeatures: le.Uint32(b[abi.OffAioRingCompat:]),
		IncompatFeatures: le.Uint32(b[abi.OffAioRingIncompat:]), HeaderLength: le.Uint32(b[abi.OffAioRingHeaderLength:]),
	}
	fmt.Fprintf(w, "ring %s: version 1 (legacy struct aio_ring; a snapshot)\n", path)
	fmt.Fprintf(w, "  id %d, nr %d, head %d, tail %d, magic %#x, compat %#x, incompat %#x, header_length %d\n",
		h.ID, h.Nr, h.Head, h.Tail, h.Magic, h.CompatFeatures, h.IncompatFeatures, h.HeaderLength)
	if !h.Usable() {
		return notRing(path, fmt.Errorf("legacy header not usable (incompat %#x, header_length %d)", h.IncompatFeatures, h.HeaderLength))
	}
	if h.Nr == 0 || uint64(h.Nr)*abi.IoEventBytes > uint64(len(b)-abi.AioRingHeaderBytes) {
		return notRing(path, fmt.Errorf("nr %d io_events do not fit in the file's %d bytes", h.Nr, len(b)))
	}
	if h.Head >= h.Nr || h.Tail >= h.Nr {
		return fmt.Errorf("head %d or tail %d is not below nr %d: corrupt", h.Head, h.Tail, h.Nr)
	}
	n := (h.Tail + h.Nr - h.Head) % h.Nr
	fmt.Fprintf(w, "io_events between head and tail: %d\n", n)
	for k := uint32(0); k < n; k++ {
		if limit > 0 && int(k) >= limit {
			fmt.Fprintf(w, "  ... %d more (--limit=0 prints all)\n", n-k)
			break
		}
		i := (h.Head + k) % h.Nr
		e := b[abi.AioRingHeaderBytes+int(i)*abi.IoEventBytes:]
		fmt.Fprintf(w, "  [%d] data=%#x obj=%#x res=%d res2=%d\n", i, le.Uint64(e), le.Uint64(e[8:]),
			int64(le.Uint64(e[16:])), int64(le.Uint64(e[24:])))
	}
	return nil
}
