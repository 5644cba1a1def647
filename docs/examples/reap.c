/*
 * reap.c - reap a shared aio2 ring from C, using only abi/aio2_abi.h and
 * the protocol of docs/abi.md ("Reaping") / docs/ring.md.
 *
 *   gcc -O2 -std=c11 -Wall -Wextra -I abi -o /tmp/reap docs/examples/reap.c
 *   /tmp/reap /proc/PID/fd/N [expected-events]
 *
 * It maps the region read-write, refuses a region whose header fails its
 * checks, then reaps with the lock-free CAS protocol until the producer has
 * set AIO2_F_DEAD and the ring is empty (or expected-events were reaped).
 * Every record is bound-checked before it is copied; every attribute is
 * walked by its length. It prints one summary line:
 *
 *   reaped N events, P pads, A attributes (OK a, UNSUPPORTED u, UNAVAILABLE v, ERROR e), errors E
 *
 * and exits 1 on a malformed record or a refused region.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "aio2_abi.h"

static uint32_t ld32(const void *p) { return __atomic_load_n((const uint32_t *)p, __ATOMIC_ACQUIRE); }

/* The record bytes may be overwritten by the producer while we copy them
 * (the CAS below decides whether the copy counts), so copy with relaxed
 * atomic 8-byte loads: records are 8-aligned. */
static void copy_record(uint64_t *dst, const uint8_t *src, uint32_t len)
{
	for (uint32_t i = 0; i < len / 8; i++)
		dst[i] = __atomic_load_n((const uint64_t *)(src + 8 * i), __ATOMIC_RELAXED);
}

static int fail(const char *what)
{
	fprintf(stderr, "reap: %s\n", what);
	return 1;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return fail("usage: reap PATH [expected-events]");
	long long expected = argc > 2 ? atoll(argv[2]) : -1;

	int fd = open(argv[1], O_RDWR);
	if (fd < 0) {
		perror(argv[1]);
		return 1;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || st.st_size < (off_t)AIO2_HEADER_BYTES)
		return fail("region smaller than the 4096-byte header");
	uint8_t *base = mmap(NULL, st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	struct aio2_ring_hdr *h = (struct aio2_ring_hdr *)base;

	/* Refuse a region whose header fails its own checks. */
	uint32_t rb = h->ring_bytes, mask = h->ring_mask, maxev = h->max_event_bytes;
	if (h->magic != AIO2_RING_MAGIC || h->version != AIO2_VERSION_2 || h->header_bytes != AIO2_HEADER_BYTES)
		return fail("not an aio2 version 2 ring (magic, version or header_bytes)");
	if (rb < AIO2_MIN_RING_BYTES || rb > AIO2_MAX_RING_BYTES || (rb & (rb - 1)) || mask != rb - 1)
		return fail("ring_bytes is not a power of two in range, or ring_mask is wrong");
	if ((uint64_t)st.st_size < (uint64_t)AIO2_HEADER_BYTES + rb)
		return fail("file too small for ring_bytes");
	if (maxev < AIO2_MIN_EVENT_BYTES || maxev > rb / 4 || maxev % 8)
		return fail("max_event_bytes out of range");
	if (h->incompat_features & ~AIO2_KNOWN_INCOMPAT_FEATURES)
		return fail("unknown incompat_features: use getevents");

	const uint8_t *data = base + AIO2_HEADER_BYTES;
	uint64_t *rec = malloc(maxev > rb ? maxev : rb);
	long long events = 0, pads = 0, attrs = 0, status[4] = {0};
	uint32_t bad_head = 0;
	bool seen_bad = false;
	struct timespec idle = {0, 200000}; /* 200 us between polls of an empty ring */

	for (;;) {
		if (expected >= 0 && events >= expected)
			break;
		uint32_t hd = ld32(&h->head), tl = ld32(&h->tail);
		if (hd == tl) {
			uint32_t fl = ld32(&h->flags);
			if (fl & AIO2_F_DEAD) {
				/* Dead: the producer will publish nothing more. Re-read
				 * tail once, in case it published just before. */
				if (ld32(&h->tail) == ld32(&h->head))
					break;
				continue;
			}
			/* A real reaper would wait on the context's eventfd here, or
			 * call getevents when AIO2_F_OVERFLOW is set; this one runs in
			 * another process without the eventfd, so it polls. */
			nanosleep(&idle, NULL);
			continue;
		}
		uint32_t avail = tl - hd, pos = hd & mask;
		uint32_t len = __atomic_load_n((const uint32_t *)(data + pos), __ATOMIC_RELAXED);
		uint16_t type = __atomic_load_n((const uint16_t *)(data + pos + 4), __ATOMIC_RELAXED);
		bool ok = len % 8 == 0 && len >= AIO2_RECORD_HEADER_BYTES && len <= avail &&
			  (uint64_t)pos + len <= rb &&
			  ((type == AIO2_REC_PAD && (uint64_t)pos + len == rb) ||
			   (type == AIO2_REC_EVENT && len >= AIO2_EVENT_HEADER_BYTES && len <= maxev));
		if (!ok) {
			/* Torn read, or corruption: the same head failing twice is
			 * corruption. */
			if (seen_bad && bad_head == hd && ld32(&h->head) == hd) {
				fprintf(stderr, "reap: corrupt record at position %u: len %u type %u\n", pos, len, type);
				return 1;
			}
			seen_bad = true;
			bad_head = hd;
			continue;
		}
		seen_bad = false;
		copy_record(rec, data + pos, len);
		uint32_t expect = hd;
		if (!__atomic_compare_exchange_n(&h->head, &expect, hd + len, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			continue; /* another reaper took it; our copy does not count */
		/* The CAS succeeded, so head never moved past these bytes while we
		 * copied them: the producer cannot have reused them, and the copy
		 * holds the record we checked. Use the checked len and type. */
		if (type == AIO2_REC_PAD) {
			pads++;
			continue;
		}
		events++;
		/* Walk the attributes by their lengths. */
		const uint8_t *p = (const uint8_t *)rec + AIO2_EVENT_HEADER_BYTES, *end = (const uint8_t *)rec + len;
		while (p < end) {
			if (end - p < (long)AIO2_ATTR_HEADER_BYTES)
				return fail("attribute header runs past the record");
			const struct aio2_attr_hdr *a = (const struct aio2_attr_hdr *)p;
			uint64_t padded = ((uint64_t)a->len + 7) & ~(uint64_t)7;
			if (padded > (uint64_t)(end - p) - AIO2_ATTR_HEADER_BYTES)
				return fail("attribute value runs past the record");
			if (a->status > AIO2_ATTR_ERROR)
				return fail("attribute with an unknown status");
			if (a->status != AIO2_ATTR_OK && a->len != 0)
				return fail("attribute that is not OK carries a value");
			attrs++;
			status[a->status]++;
			p += AIO2_ATTR_HEADER_BYTES + padded;
		}
	}
	printf("reaped %lld events, %lld pads, %lld attributes (OK %lld, UNSUPPORTED %lld, UNAVAILABLE %lld, ERROR %lld), errors 0\n",
	       events, pads, attrs, status[0], status[1], status[2], status[3]);
	free(rec);
	munmap(base, st.st_size);
	close(fd);
	return 0;
}
