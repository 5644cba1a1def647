package main

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/aio2/aio2/abi"
)

// openRegion opens the file at path for reading and returns its size.
// Errors a user can fix are usage errors.
func openRegion(path string) (*os.File, int64, error) {
	// Stat first: opening a FIFO for reading would wait for a writer.
	if st, err := os.Stat(path); err == nil && !st.Mode().IsRegular() {
		return nil, 0, notRegular(path)
	}
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, 0, usagef("%s: no such file (give the ring's path, such as the /proc/PID/fd/N that \"aio2 io --reaper=external\" prints)", path)
		}
		return nil, 0, usagef("%s: %v", path, unwrapPath(err))
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, 0, notRegular(path)
	}
	return f, st.Size(), nil
}

// notRegular is the usage error for a PATH that is not a regular file
// (a device such as /dev/null, a directory, a FIFO): only a regular file
// or a memfd can hold a ring region.
func notRegular(path string) error {
	return usagef("%s is not a regular file or memfd, so it cannot hold a ring", path)
}

// onePath checks that fs, parsed, left exactly one argument, PATH, and
// returns it. The flag package stops at the first argument that is not a
// flag, so flags given after PATH are left as arguments: the error says
// so rather than only asking for one PATH.
func onePath(fs *flag.FlagSet, cmd string) (string, error) {
	if fs.NArg() > 1 {
		for _, a := range fs.Args()[1:] {
			if strings.HasPrefix(a, "-") && a != "-" {
				return "", usagef("%s: flags go before PATH: %q comes after %q (aio2 %s [flags] PATH)", cmd, a, fs.Arg(0), cmd)
			}
		}
	}
	if fs.NArg() != 1 {
		return "", usagef("%s: give one PATH (a file or /proc/PID/fd/N holding a ring region)", cmd)
	}
	return fs.Arg(0), nil
}

// atByteOf names the origin of an abi error's byte offset: the same
// fault was reported by ring inspect at an offset in the data area and
// by reap at one in the record, both as "at byte N". base is subtracted
// from the offset first (to count from a record's start rather than from
// the start of the buffer it was decoded in). Other errors are returned
// as they are.
func atByteOf(err error, base int, origin string) error {
	var ae *abi.Error
	if !errors.As(err, &ae) {
		return err
	}
	return &placedError{e: ae, off: ae.Off - base, origin: origin}
}

// placedError is an abi.Error whose offset names its origin.
type placedError struct {
	e      *abi.Error
	off    int
	origin string
}

func (p *placedError) Error() string {
	return fmt.Sprintf("abi: %s at byte %d of %s: %s", p.e.What, p.off, p.origin, p.e.Msg)
}

func (p *placedError) Unwrap() error { return p.e }

// readTo extends b, the file's first len(b) bytes, to its first n bytes
// (n at most the file's size). It reads only what b lacks: the header
// that sized the read is the one decoded, not a second, later copy.
func readTo(f io.ReaderAt, path string, b []byte, n int64) ([]byte, error) {
	if n <= int64(len(b)) {
		return b, nil
	}
	k := len(b)
	// One allocation of n: the data area may be 1 GiB.
	b = slices.Grow(b, int(n)-k)[:n]
	if _, err := f.ReadAt(b[k:], int64(k)); err != nil {
		// n is within the size Stat gave: the file shrank since, or the
		// read failed.
		return nil, fmt.Errorf("read %s: %d bytes from offset %d: %w", path, n-int64(k), k, err)
	}
	return b, nil
}

// readRegion reads a snapshot of the ring region in the file at path: the
// header, then only the area the header describes (a version 2 header's
// ring_bytes, a legacy header's nr io_events), as far as the file holds
// it. The file may be far larger than its ring (a sparse file, a memfd
// sized for another ring); reading all of it, up to 1 GiB, cost that much
// memory for bytes nobody looks at. A file shorter than its ring is left
// short here, for the header checks to refuse.
func readRegion(path string) ([]byte, error) {
	f, size, err := openRegion(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readRegionAt(f, size, path)
}

// readRegionAt is readRegion on size bytes read through f.
func readRegionAt(f io.ReaderAt, size int64, path string) ([]byte, error) {
	b, err := readTo(f, path, nil, min(size, abi.HeaderBytes))
	if err != nil {
		return nil, err
	}
	le := binary.LittleEndian
	want := uint64(len(b))
	switch {
	case len(b) >= abi.AioRingHeaderBytes && le.Uint32(b[abi.OffAioRingMagic:]) == abi.AIO_RING_MAGIC:
		want = abi.AioRingHeaderBytes + uint64(le.Uint32(b[abi.OffAioRingNr:]))*abi.IoEventBytes
	case len(b) >= abi.RingHeaderSize && le.Uint32(b[abi.OffMagic:]) == abi.RingMagic:
		want = uint64(abi.RegionBytes(min(le.Uint32(b[abi.OffRingBytes:]), abi.MaxRingBytes)))
	}
	// Never more than the largest region: a header claims what it likes.
	want = min(want, uint64(size), uint64(abi.RegionBytes(abi.MaxRingBytes)))
	return readTo(f, path, b, int64(want))
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
	path, err := onePath(fs, "ring inspect")
	if err != nil {
		return err
	}
	if *limit < 0 {
		return usagef("--limit=%d: use 0 (all) or more", *limit)
	}
	b, err := readRegion(path)
	if err != nil {
		return err
	}
	return inspectRegion(path, b, *limit, stdout)
}

// inspectRegion prints the region b read from path (readRegion): its
// header and the records between head and tail, at most limit of them
// (0: all). Every record is checked whatever is printed; it returns an
// error for the first malformed one.
func inspectRegion(path string, b []byte, limit int, stdout io.Writer) error {
	if len(b) >= abi.AioRingHeaderBytes && binary.LittleEndian.Uint32(b[abi.OffAioRingMagic:]) == abi.AIO_RING_MAGIC {
		return inspectLegacy(path, b, limit, stdout)
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
	fmt.Fprintf(w, "records between head and tail:\n")
	// The checks a reaper makes before it reads a record (spec section
	// 4): records start at multiples of 8, and a head that is not one
	// would be decoded from the middle of a record (or, 4 bytes from the
	// data area's end, past it). tail - head is a whole number of records
	// and never more than the data area.
	var fault string
	switch {
	case h.Head%8 != 0:
		fault = fmt.Sprintf("head (%#x is not a multiple of 8)", h.Head)
	case avail > h.RingBytes:
		fault = fmt.Sprintf("tail (tail - head = %d is more than ring_bytes %d)", avail, h.RingBytes)
	case avail%8 != 0:
		fault = fmt.Sprintf("tail (tail - head = %d is not a multiple of 8)", avail)
	}
	if fault != "" {
		fmt.Fprintf(w, "  0x%08x  MALFORMED: bad %s\n", h.Head, fault)
		return fmt.Errorf("malformed ring at head %#x: bad %s", h.Head, fault)
	}
	data := b[h.HeaderBytes : h.HeaderBytes+h.RingBytes]
	var ev abi.Event
	nrec := 0
	// skipped says how many records --limit left unprinted so far: at
	// the end, and before a MALFORMED line, which is printed whatever
	// --limit is.
	skipped := func() {
		if limit > 0 && nrec > limit {
			fmt.Fprintf(w, "  ... %d more records (--limit=0 prints all)\n", nrec-limit)
		}
	}
	// Every record is checked, also those --limit does not print: the
	// status says whether the ring is well formed, whatever is printed.
	for consumed := uint32(0); consumed < avail; {
		at := h.Head + consumed
		// A multiple of 8 below ring_bytes (head and every len are), so
		// the record header is inside the data area.
		pos := at & h.RingMask
		rh := abi.ReadRecordHeader(data[pos:])
		if f := abi.CheckRecord(rh, pos, avail-consumed, h.RingBytes, h.MaxEventBytes); f != "" {
			skipped()
			fmt.Fprintf(w, "  0x%08x  MALFORMED: bad %s (len=%d type=%d flags=%#x)\n", at, f, rh.Len, rh.Type, rh.Flags)
			return fmt.Errorf("malformed record at %#x: bad %s", at, f)
		}
		show := limit <= 0 || nrec < limit
		if rh.Type != abi.RecPad {
			rec := data[pos : pos+rh.Len]
			err := abi.DecodeEvent(rec, int(pos), &ev)
			if err == nil {
				err = abi.ValidateEvent(&ev, int(pos))
			}
			if err != nil {
				// The offset counts from the data area's start, where
				// reap's counts from the record's.
				err = atByteOf(err, 0, "the data area")
				skipped()
				fmt.Fprintf(w, "  0x%08x  MALFORMED EVENT len=%d: %v\n", at, rh.Len, err)
				return fmt.Errorf("malformed record at %#x: %w", at, err)
			}
		}
		consumed += rh.Len
		nrec++
		switch {
		case !show:
		case rh.Type == abi.RecPad:
			fmt.Fprintf(w, "  0x%08x  PAD   len=%d\n", at, rh.Len)
		default:
			fmt.Fprintf(w, "  0x%08x  %s\n", at, eventLine(&ev, rh.Len))
		}
	}
	skipped()
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
