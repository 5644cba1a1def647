package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/aio2/aio2/abi"
	"github.com/aio2/aio2/ring"
)

// cRingWriter writes a version 2 ring region into a file from C, with
// nothing but abi/aio2_abi.h: head and tail start just below 2^32 so the
// free-running counters wrap, records vary in length (an experimental
// attribute id 70 among them), one PAD fills the data area's end, and
// F_DEAD is set. With "corrupt" it gives one record an impossible length.
// It prints the counts a reaper must find.
const cRingWriter = `
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "aio2_abi.h"

int main(int argc, char **argv) {
	const uint32_t rb = 4096;
	size_t size = AIO2_HEADER_BYTES + rb;
	unsigned char *m = calloc(1, size);
	struct aio2_ring_hdr *h = (void *)m;
	unsigned char *data = m + AIO2_HEADER_BYTES;
	h->magic = AIO2_RING_MAGIC; h->version = AIO2_VERSION_2;
	h->header_bytes = AIO2_HEADER_BYTES; h->ring_bytes = rb; h->ring_mask = rb - 1;
	h->max_event_bytes = 1024;
	uint32_t head = 0xFFFFF818u, tail = head;
	int events = 0, pads = 0, lat_ok = 0, cpu_unavail = 0, corrupt = argc > 2;
	for (;;) {
		uint32_t len = AIO2_EVENT_HEADER_BYTES + 16;
		if (events % 3 == 0) len += 8;
		if (events % 5 == 0) len += 16;
		uint32_t pos = tail & h->ring_mask, room = rb - pos;
		uint32_t need = len + (len > room ? room : 0);
		if (tail + need - head > rb) break;
		if (len > room) {
			struct aio2_rec_hdr *p = (void *)(data + pos);
			p->len = room; p->type = AIO2_REC_PAD; p->flags = 0;
			tail += room; pads++; pos = 0;
		}
		unsigned char *r = data + pos;
		memset(r, 0, len);
		struct aio2_event *e = (void *)r;
		e->hdr.len = len; e->hdr.type = AIO2_REC_EVENT;
		e->data = events; e->obj = 1000 + events; e->res = 4096;
		unsigned char *a = r + AIO2_EVENT_HEADER_BYTES;
		struct aio2_attr_hdr *ah = (void *)a;
		ah->id = AIO2_ATTR_LATENCY; ah->status = AIO2_ATTR_OK; ah->len = 8;
		uint64_t ns = 50000 + events; memcpy(a + 8, &ns, 8); a += 16; lat_ok++;
		if (events % 3 == 0) {
			ah = (void *)a; ah->id = AIO2_ATTR_CPU; ah->status = AIO2_ATTR_UNAVAILABLE; ah->len = 0;
			a += 8; cpu_unavail++;
		}
		if (events % 5 == 0) {
			ah = (void *)a; ah->id = 70; ah->status = AIO2_ATTR_OK; ah->len = 3;
			memcpy(a + 8, "xyz", 3); a += 16;
		}
		if (corrupt && events == 20) e->hdr.len = 12;
		tail += len; events++;
	}
	h->head = head; h->tail = tail; h->flags = AIO2_F_DEAD;
	FILE *f = fopen(argv[1], "wb");
	if (!f || fwrite(m, 1, size, f) != size || fclose(f)) { perror(argv[1]); return 1; }
	printf("%d %d %d %d\n", events, pads, lat_ok, cpu_unavail);
	return 0;
}
`

// writeCRing compiles cRingWriter and runs it; it returns the ring file
// and the counts the C program printed.
func writeCRing(t *testing.T, corrupt bool) (path string, events, pads, latOK, cpuUnavail int) {
	t.Helper()
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		if os.Getenv("AIO2_REQUIRE_TOOLS") == "1" {
			t.Fatal("AIO2_REQUIRE_TOOLS=1 but gcc is not installed")
		}
		t.Skip("gcc not installed")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "writer.c")
	if err := os.WriteFile(src, []byte(cRingWriter), 0o644); err != nil {
		t.Fatal(err)
	}
	abiDir, err := filepath.Abs("../../abi")
	if err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dir, "writer")
	if out, err := exec.Command(gcc, "-std=c11", "-Wall", "-Werror", "-I", abiDir, "-o", exe, src).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	path = filepath.Join(dir, "ring.bin")
	args := []string{path}
	if corrupt {
		args = append(args, "corrupt")
	}
	out, err := exec.Command(exe, args...).Output()
	if err != nil {
		t.Fatalf("writer: %v", err)
	}
	f := strings.Fields(string(out))
	if len(f) != 4 {
		t.Fatalf("writer printed %q", out)
	}
	n := make([]int, 4)
	for i := range f {
		n[i], _ = strconv.Atoi(f[i])
	}
	return path, n[0], n[1], n[2], n[3]
}

// TestReapRingWrittenInC reaps a ring that a C program wrote into a plain
// file, with four reaper threads, and checks every count.
func TestReapRingWrittenInC(t *testing.T) {
	t.Parallel()
	path, events, pads, latOK, cpuUnavail := writeCRing(t, false)
	if pads != 1 || events < 50 {
		t.Fatalf("writer made %d events and %d PADs; the test wants a wrap", events, pads)
	}
	// ring inspect decodes the same records without reaping them.
	r := runBin(t, "ring", "inspect", "--limit=0", path)
	if r.code != 0 {
		t.Fatalf("inspect: status %d\n%s", r.code, r.stderr)
	}
	if got := strings.Count(r.stdout, " EVENT len="); got != events || strings.Count(r.stdout, " PAD ") != pads ||
		!strings.Contains(r.stdout, "(DEAD)") || !strings.Contains(r.stdout, "head               0xfffff818") {
		t.Fatalf("inspect shows %d events; want %d and one PAD, DEAD, head 0xfffff800:\n%.3000s", got, events, r.stdout)
	}

	r = runBin(t, "reap", "--threads=4", "--timeout=20", "--output-format=json", path)
	if r.code != 0 {
		t.Fatalf("reap: status %d\n%s", r.code, r.stderr)
	}
	var s reapSummary
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
		t.Fatalf("reap JSON: %v\n%s", err, r.stdout)
	}
	if s.Events != int64(events) || s.Pads != int64(pads) || s.StoppedBy != "dead" {
		t.Fatalf("reaped %d events, %d PADs, stopped by %q; want %d, %d, dead", s.Events, s.Pads, s.StoppedBy, events, pads)
	}
	if s.Attrs["latency"]["ok"] != int64(latOK) || s.Attrs["cpu"]["unavailable"] != int64(cpuUnavail) {
		t.Fatalf("attrs %v; want latency ok=%d, cpu unavailable=%d", s.Attrs, latOK, cpuUnavail)
	}
	if want := int64((events + 4) / 5); s.Unknown != want {
		t.Fatalf("unknown (experimental) ids %d, want %d", s.Unknown, want)
	}
	if strings.Contains(r.stdout, "eventfd_wakes") {
		t.Fatalf("eventfd_wakes in the summary of a reap without --eventfd:\n%s", r.stdout)
	}

	// --events prints one line per event, in ring order with one thread.
	// Reaping moved head in the file: write the ring again.
	path, _, _, _, _ = writeCRing(t, false)
	r = runBin(t, "reap", "--events", "--timeout=20", path)
	if r.code != 0 {
		t.Fatalf("reap --events: status %d\n%s", r.code, r.stderr)
	}
	lines := strings.Count(r.stdout, "EVENT len=")
	if lines != events || !strings.Contains(r.stdout, "data=0x0 obj=0x3e8 res=4096") ||
		!strings.Contains(r.stdout, "latency=OK(50000ns)") || !strings.Contains(r.stdout, "cpu=UNAVAILABLE") {
		t.Fatalf("reap --events printed %d event lines, want %d:\n%.2000s", lines, events, r.stdout)
	}

}

// TestReapCorruptRecordFails: a record with an impossible length is
// reported, with status 1, after the records before it.
func TestReapCorruptRecordFails(t *testing.T) {
	t.Parallel()
	path, _, _, _, _ := writeCRing(t, true)
	r := runBin(t, "reap", "--timeout=20", "--output-format=json", path)
	if r.code != 1 || !strings.Contains(r.stderr, "malformed") {
		t.Fatalf("status %d, stderr %q; want 1 and \"malformed\"", r.code, r.stderr)
	}
	var s reapSummary
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
		t.Fatalf("reap JSON: %v\n%s", err, r.stdout)
	}
	if s.Events != 20 || s.StoppedBy != "malformed" {
		t.Fatalf("reaped %d events before the bad one (want 20), stopped by %q", s.Events, s.StoppedBy)
	}
	r = runBin(t, "ring", "inspect", path)
	if r.code != 1 || !strings.Contains(r.stdout, "MALFORMED") {
		t.Fatalf("inspect: status %d, want 1 and MALFORMED in:\n%s", r.code, r.stdout)
	}
}

// TestReapLiveMemfd: this process produces into a sealed memfd ring while
// "aio2 reap --threads=3" in another process reaps it through
// /proc/PID/fd/N; every event arrives once, and F_DEAD ends the reaper.
func TestReapLiveMemfd(t *testing.T) {
	reg, err := ring.NewMemfd("aio2-cmd-test", 4096, 512)
	if err != nil {
		requirePriv(t, fmt.Sprintf("memfd ring: %v", err))
	}
	defer reg.Close()
	p := ring.NewProducer(reg)
	cmd := exec.Command(bin, "reap", "--threads=3", "--timeout=30", "--output-format=json", reg.Path())
	var out strings.Builder
	cmd.Stdout = &out
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	const total = 20000
	rec := make([]byte, 0, 128)
	produced := 0
	for produced < total {
		rec = abi.BeginEvent(rec[:0], uint64(produced), uint64(produced), 512, 0)
		rec = abi.AppendAttrU64(rec, abi.AttrLatency, uint64(produced))
		if produced%7 == 0 {
			rec = abi.AppendAttrStatus(rec, abi.AttrDevice, abi.AttrUnavailable)
		}
		rec = abi.EndEvent(rec, 0, 0)
		// Wait for room rather than use the overflow list: nothing in
		// this process would flush it.
		ok, err := p.TryAppend(rec)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			p.Commit()
			continue
		}
		produced++
		if produced%16 == 0 {
			p.Commit()
		}
	}
	p.Commit()
	p.SetDead()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("reap: %v\n%s", err, out.String())
	}
	var s reapSummary
	if err := json.Unmarshal([]byte(out.String()), &s); err != nil {
		t.Fatalf("reap JSON: %v\n%s", err, out.String())
	}
	if s.Events != total || s.StoppedBy != "dead" || s.Attrs["latency"]["ok"] != total ||
		s.Attrs["device"]["unavailable"] != (total+6)/7 || s.Pads == 0 {
		t.Fatalf("summary %+v; want %d events, stopped by dead, every latency ok, some PADs", s, total)
	}
}

// TestReapCount stops after --count events and leaves the rest.
func TestReapCount(t *testing.T) {
	t.Parallel()
	path, events, _, _, _ := writeCRing(t, false)
	r := runBin(t, "reap", "--count=10", "--threads=2", "--output-format=json", path)
	if r.code != 0 {
		t.Fatalf("status %d: %s", r.code, r.stderr)
	}
	var s reapSummary
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
		t.Fatal(err)
	}
	if s.Events != 10 || s.StoppedBy != "count" {
		t.Fatalf("reaped %d, stopped by %q; want 10, count", s.Events, s.StoppedBy)
	}
	// The file kept the reaped head: the rest are still there.
	r = runBin(t, "reap", "--output-format=json", "--timeout=20", path)
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
		t.Fatal(err)
	}
	if s.Events != int64(events-10) {
		t.Fatalf("second reap got %d events, want %d", s.Events, events-10)
	}
}
