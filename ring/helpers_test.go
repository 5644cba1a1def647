package ring

import (
	"encoding/binary"
	"os"
	"testing"

	"github.com/aio2/aio2/abi"
)

// skipOrFail skips a test that lacks a privilege or kernel feature, unless
// CI (running as root with AIO2_REQUIRE_PRIV=1) demands it run.
func skipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("AIO2_REQUIRE_PRIV") == "1" {
		t.Fatalf("AIO2_REQUIRE_PRIV=1 but: "+format, args...)
	}
	t.Skipf(format, args...)
}

// word is the i-th payload word of event seq: every word of a test event
// depends on its sequence number, so a torn or stale copy is detected.
func word(seq uint64, i int) uint64 { return seq*0x9E3779B97F4A7C15 + uint64(i) }

// appendTestEvent appends an EVENT record of size bytes (a multiple of 8,
// at least 40) for sequence number seq to dst.
func appendTestEvent(dst []byte, seq uint64, size int) []byte {
	start := len(dst)
	dst = abi.BeginEvent(dst, seq, word(seq, 0), int64(size), int64(word(seq, 1)))
	for i := 2; len(dst)-start < size; i++ {
		dst = binary.LittleEndian.AppendUint64(dst, word(seq, i))
	}
	return abi.EndEvent(dst, start, 0)
}

// checkTestEvent verifies rec is exactly the event appendTestEvent makes
// and returns its sequence number.
func checkTestEvent(t fataler, rec []byte) uint64 {
	t.Helper()
	seq, err := verifyTestEvent(rec)
	if err != "" {
		t.Fatalf("event %d: %s", seq, err)
	}
	return seq
}

func verifyTestEvent(rec []byte) (uint64, string) {
	if len(rec) < abi.EventHeaderBytes {
		return 0, "short record"
	}
	var ev abi.Event
	if err := abi.DecodeEvent(rec, 0, &ev); err != nil {
		return 0, err.Error()
	}
	seq := ev.Data
	if ev.Obj != word(seq, 0) || ev.Res != int64(len(rec)) || ev.Res2 != int64(word(seq, 1)) {
		return seq, "header fields do not match the sequence number"
	}
	for i := 0; i < len(ev.Attrs)/8; i++ {
		if binary.LittleEndian.Uint64(ev.Attrs[8*i:]) != word(seq, i+2) {
			return seq, "payload word does not match the sequence number"
		}
	}
	return seq, ""
}

// fataler is what testing.TB and *rapid.T have in common.
type fataler interface {
	Helper()
	Fatalf(format string, args ...any)
}

// records splits a Reap result into its records.
func records(t fataler, buf []byte) [][]byte {
	t.Helper()
	var out [][]byte
	for off := 0; off < len(buf); {
		n := int(binary.LittleEndian.Uint32(buf[off:]))
		if n < abi.EventHeaderBytes || off+n > len(buf) {
			t.Fatalf("bad record length %d at %d of %d", n, off, len(buf))
		}
		out = append(out, buf[off:off+n])
		off += n
	}
	return out
}
