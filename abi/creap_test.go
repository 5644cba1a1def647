package abi_test

import (
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aio2/aio2/abi"
)

// creap is a minimal reaper written against aio2_abi.h alone, following
// docs/abi.md section 5 (one reaper, so no retry loop): it shows that the
// header is enough to reap a ring from C. It reads a region from a file
// and prints each EVENT and attribute it takes, then the final head.
const creap = `#include %q
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
	if (argc != 2) return 1;
	FILE *f = fopen(argv[1], "rb");
	if (!f) return 2;
	void *region = aligned_alloc(64, 1 << 20);
	size_t n = fread(region, 1, 1 << 20, f);
	fclose(f);
	struct aio2_ring_hdr *hdr = aio2_ring_hdr(region);
	if (n < AIO2_HEADER_BYTES || hdr->magic != AIO2_RING_MAGIC || hdr->version != AIO2_VERSION_2 ||
	    hdr->header_bytes != AIO2_HEADER_BYTES || (hdr->incompat_features & ~AIO2_KNOWN_INCOMPAT_FEATURES) ||
	    aio2_region_bytes(hdr->ring_bytes) > n)
		return 3;
	uint8_t *data = aio2_ring_data(region);
	uint32_t h = __atomic_load_n(&hdr->head, __ATOMIC_ACQUIRE);
	uint32_t t = __atomic_load_n(&hdr->tail, __ATOMIC_ACQUIRE);
	while (h != t) {
		uint32_t pos = aio2_ring_pos(h, hdr->ring_mask);
		struct aio2_rec_hdr rh;
		memcpy(&rh, data + pos, sizeof rh);
		if (rh.len %% 8 || rh.len < AIO2_RECORD_HEADER_BYTES || rh.len > t - h ||
		    (uint64_t)pos + rh.len > hdr->ring_bytes ||
		    (rh.type != AIO2_REC_PAD && (rh.len > hdr->max_event_bytes || rh.len < AIO2_EVENT_HEADER_BYTES)))
			return 4;
		if (rh.type == AIO2_REC_EVENT) {
			struct aio2_event ev;
			memcpy(&ev, data + pos, sizeof ev);
			printf("E %%llu %%llu %%lld %%lld %%u\n", (unsigned long long)ev.data, (unsigned long long)ev.obj,
			       (long long)ev.res, (long long)ev.res2, (unsigned)ev.hdr.flags);
			uint64_t off = AIO2_EVENT_HEADER_BYTES;
			while (off + AIO2_ATTR_HEADER_BYTES <= rh.len) {
				struct aio2_attr_hdr ah;
				memcpy(&ah, data + pos + off, sizeof ah);
				if (off + aio2_attr_bytes(ah.len) > rh.len) return 5;
				uint64_t v = 0;
				if (ah.status == AIO2_ATTR_OK) /* the first 8 value bytes, at most */
					memcpy(&v, aio2_attr_value(data + pos + off), ah.len < 8 ? ah.len : 8);
				printf("A %%u %%u %%u %%llu\n", ah.id, ah.status, ah.len, (unsigned long long)v);
				off += aio2_attr_bytes(ah.len);
			}
		} else if (rh.type != AIO2_REC_PAD) {
			return 6;
		}
		uint32_t want = h;
		if (!__atomic_compare_exchange_n(&hdr->head, &want, h + rh.len, 0, __ATOMIC_RELEASE, __ATOMIC_RELAXED))
			return 7;
		h += rh.len;
	}
	printf("H %%u\n", __atomic_load_n(&hdr->head, __ATOMIC_ACQUIRE));
	return 0;
}
`

// TestCHeaderReapsRing builds a ring in Go (a PAD at the end of the data
// area, free-running counters that wrap past 2^32) and reaps it with a C
// program that knows only aio2_abi.h.
func TestCHeaderReapsRing(t *testing.T) {
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		skipOrFail(t, "gcc not found: %v", err)
	}
	hdr, err := filepath.Abs("aio2_abi.h")
	require.NoError(t, err)
	dir := t.TempDir()
	src := filepath.Join(dir, "creap.c")
	require.NoError(t, os.WriteFile(src, fmt.Appendf(nil, creap, hdr), 0o644))
	bin := filepath.Join(dir, "creap")
	out, err := exec.Command(gcc, "-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", "-o", bin, src).CombinedOutput()
	require.NoError(t, err, "%s", out)

	const ringBytes = 4096
	region := make([]byte, abi.RegionBytes(ringBytes))
	abi.PutRingHeader(region, ringBytes, 1024)
	le := binary.LittleEndian
	data := region[abi.HeaderBytes:]
	// Start 56 bytes before the end of the data area, 56 bytes before the
	// counters wrap.
	head := uint32(0xffffffff - 55)
	tail := head
	var want []string
	put := func(rec []byte) {
		pos := tail % ringBytes
		if int(pos)+len(rec) > ringBytes {
			abi.PutPad(data[pos:])
			tail += ringBytes - pos
			pos = 0
		}
		copy(data[pos:], rec)
		tail += uint32(len(rec))
	}
	for i := range 4 {
		b := abi.BeginEvent(nil, uint64(i), uint64(100+i), int64(512*i), -1)
		b = abi.AppendAttrU64(b, abi.AttrLatency, uint64(1000*i))
		b = abi.AppendAttr(b, abi.AttrTag, abi.AttrOK, []byte("tag"))
		b = abi.AppendAttrStatus(b, abi.AttrCache, abi.AttrUnavailable)
		b = abi.EndEvent(b, 0, uint16(i%2))
		put(b)
		want = append(want,
			fmt.Sprintf("E %d %d %d -1 %d", i, 100+i, 512*i, i%2),
			fmt.Sprintf("A 1 0 8 %d", 1000*i),
			fmt.Sprintf("A 6 0 3 %d", le.Uint64(append([]byte("tag"), 0, 0, 0, 0, 0))),
			"A 3 2 0 0")
	}
	want = append(want, fmt.Sprintf("H %d", tail))
	require.Less(t, tail, head, "the counters wrapped")
	le.PutUint32(region[abi.OffHead:], head)
	le.PutUint32(region[abi.OffTail:], tail)
	file := filepath.Join(dir, "ring")
	require.NoError(t, os.WriteFile(file, region, 0o644))

	out, err = exec.Command(bin, file).Output()
	require.NoError(t, err)
	assert.Equal(t, strings.Join(want, "\n")+"\n", string(out))
}
