/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * aio2_abi.h - the aio2 binary interface, version 2, for C99 and later.
 *
 * This header states the layout of docs/abi.md (normative text:
 * spec/abi-v2.md) for programs that are not written in Go: the io_setup2
 * parameters, the version 2 ring header, records (PAD and EVENT),
 * attributes, iocb2 submission records, and the legacy (version 1)
 * structures of Linux native AIO. The Go package
 * github.com/aio2/aio2/abi holds the same layout; its test
 * TestCHeaderMatchesGo compiles this header with gcc and compares every
 * size, offset and constant.
 *
 * All integers are little-endian and naturally aligned; offsets are bytes.
 * The static inline functions below compute positions only. The reaping
 * protocol (acquire loads of head and tail, the bound checks, the CAS on
 * head) is in docs/abi.md section "Reaping"; this header does not do it
 * for you, on purpose: every fault in it is a fault of the caller's reaper.
 *
 * Fields that other parties write while you read them (ring flags,
 * user_flags, overflowed, head, tail, and the data area) must be accessed
 * with atomic operations, e.g. __atomic_load_n(&hdr->tail,
 * __ATOMIC_ACQUIRE).
 */
#ifndef AIO2_ABI_H
#define AIO2_ABI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A compile-time assertion that works in C99 (no _Static_assert there). */
#if defined(__cplusplus) && __cplusplus >= 201103L
#define AIO2_STATIC_ASSERT(cond, name) static_assert(cond, #name)
#elif defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
#define AIO2_STATIC_ASSERT(cond, name) _Static_assert(cond, #name)
#else
#define AIO2_STATIC_ASSERT(cond, name) \
	typedef char aio2_static_assert_##name[(cond) ? 1 : -1]
#endif

/* ------------------------------------------------------------------ */
/* Section 1: io_setup2 parameters                                     */
/* ------------------------------------------------------------------ */

/* Ring versions (params.version). */
#define AIO2_VERSION_LEGACY 1u /* struct aio_ring + io_event[nr] */
#define AIO2_VERSION_2      2u /* the byte-unit ring below */

/* Setup flags (params.flags); any other bit is EINVAL. */
#define AIO2_SETUP_NO_RING (1u << 0) /* no ring; events only through getevents */
#define AIO2_SETUP_SHARED  (1u << 1) /* ring in a sealed memfd others may map */
#define AIO2_SETUP_KNOWN   (AIO2_SETUP_NO_RING | AIO2_SETUP_SHARED)

/* Feature bits (params.features, out). aio2's values; see docs/abi.md. */
#define AIO2_FEAT_NO_DROP    (1ull << 0) /* overflow list, nothing dropped */
#define AIO2_FEAT_ATTRS      (1ull << 1) /* iocbs may request attributes */
#define AIO2_FEAT_SYSCALL    (1ull << 2) /* the SYSCALL opcode is served */
#define AIO2_FEAT_POLL       (1ull << 3) /* POLL and pollable fds are async */
#define AIO2_FEAT_SHARED     (1ull << 4) /* AIO2_SETUP_SHARED is available */
#define AIO2_FEAT_CAS_REAP   (1ull << 5) /* lock-free reaping by several reapers */
#define AIO2_FEAT_ISSUE_SYNC (1ull << 6) /* issue-sync is available */

/* Limits. */
#define AIO2_PARAMS_SIZE             64u      /* sizeof(struct aio2_params) */
#define AIO2_MIN_RING_BYTES          4096u    /* ring_bytes lower bound */
#define AIO2_MAX_RING_BYTES          (1u << 30) /* ring_bytes upper bound */
#define AIO2_DEFAULT_MAX_EVENT_BYTES 4096u    /* max_event_bytes when 0 is asked */
#define AIO2_MIN_EVENT_BYTES         40u      /* a bare EVENT record */

/* io_setup2's argument, size-versioned like clone3's and openat2's. */
struct aio2_params {
	uint32_t size;            /* in: sizeof as the caller knows it, >= 64 */
	uint32_t version;         /* in: highest ring version understood; out: granted */
	uint32_t flags;           /* in: AIO2_SETUP_* */
	uint32_t ring_bytes;      /* in: wanted data area; out: granted power of two */
	uint32_t max_event_bytes; /* in: largest event accepted (0 = 4096); out: granted */
	int32_t eventfd;          /* in: -1, or an eventfd the caller owns */
	uint32_t max_inflight;    /* in: submitted-but-unreaped iocbs; out: granted */
	uint32_t reserved;        /* must be 0 */
	uint64_t features;        /* out: AIO2_FEAT_* */
	uint64_t attrs;           /* out: bit i set where attribute id i is supported */
	uint64_t reserved2[2];    /* must be 0 */
};

/* ------------------------------------------------------------------ */
/* Section 2: the version 2 ring region                                */
/* ------------------------------------------------------------------ */

#define AIO2_RING_MAGIC   0xA10A10A2u
#define AIO2_HEADER_BYTES 4096u /* the data area's offset in the region */

/* Ring flags (hdr.flags), written by the producer. */
#define AIO2_F_OVERFLOW (1u << 0) /* events wait on the overflow list: getevents */
#define AIO2_F_DEAD     (1u << 1) /* the producer stopped using the ring */

/* User flags (hdr.user_flags), written by reapers. */
#define AIO2_UF_NO_EVENTFD (1u << 0) /* do not signal the eventfd */

/* Feature bits of the ring header known to this header: none yet. A reaper
 * must not reap from a ring whose incompat_features has a bit it does not
 * know; compat bits may be ignored. */
#define AIO2_KNOWN_COMPAT_FEATURES   0u
#define AIO2_KNOWN_INCOMPAT_FEATURES 0u

/* The first 192 bytes of the region; bytes 192..4095 are reserved, zero. */
struct aio2_ring_hdr {
	uint32_t magic;             /* AIO2_RING_MAGIC; written by setup */
	uint32_t version;           /* 2 */
	uint32_t header_bytes;      /* 4096: the data area starts here */
	uint32_t ring_bytes;        /* data area size, a power of two */
	uint32_t ring_mask;         /* ring_bytes - 1 */
	uint32_t max_event_bytes;   /* no EVENT record is longer */
	uint32_t compat_features;   /* bits a reaper may ignore */
	uint32_t incompat_features; /* a reaper must know every set bit */
	uint32_t flags;             /* AIO2_F_*; producer; atomic */
	uint32_t user_flags;        /* AIO2_UF_*; reapers; atomic */
	uint64_t overflowed;        /* events ever sent to the overflow list; atomic */
	uint8_t pad0[16];           /* reserved, zero */
	uint32_t head;              /* free-running byte counter; reapers; atomic */
	uint8_t pad1[60];           /* head is alone on its cache line */
	uint32_t tail;              /* free-running byte counter; producer; atomic */
	uint8_t pad2[60];           /* tail is alone on its cache line */
};

#define AIO2_RING_HDR_SIZE 192u /* sizeof(struct aio2_ring_hdr) */

/* Offsets of the ring header fields. */
#define AIO2_OFF_MAGIC             0u
#define AIO2_OFF_VERSION           4u
#define AIO2_OFF_HEADER_BYTES      8u
#define AIO2_OFF_RING_BYTES        12u
#define AIO2_OFF_RING_MASK         16u
#define AIO2_OFF_MAX_EVENT_BYTES   20u
#define AIO2_OFF_COMPAT_FEATURES   24u
#define AIO2_OFF_INCOMPAT_FEATURES 28u
#define AIO2_OFF_FLAGS             32u
#define AIO2_OFF_USER_FLAGS        36u
#define AIO2_OFF_OVERFLOWED        40u
#define AIO2_OFF_HEAD              64u
#define AIO2_OFF_TAIL              128u

/* ------------------------------------------------------------------ */
/* Section 3: records and attributes                                   */
/* ------------------------------------------------------------------ */

#define AIO2_REC_PAD   0u /* fills the data area's end; skip it */
#define AIO2_REC_EVENT 1u /* a completion */

/* EVENT record flags. */
#define AIO2_EVENT_ATTRS_TRUNCATED (1u << 0) /* some attributes left out */

#define AIO2_RECORD_HEADER_BYTES 8u
#define AIO2_EVENT_HEADER_BYTES  40u

/* Every record starts with this; records start 8-aligned, never wrap. */
struct aio2_rec_hdr {
	uint32_t len;   /* whole record, a multiple of 8, >= 8 */
	uint16_t type;  /* AIO2_REC_PAD or AIO2_REC_EVENT */
	uint16_t flags; /* EVENT: AIO2_EVENT_* */
};

/* An EVENT record without its attributes. Bytes 8..39 are a struct
 * aio2_io_event (the legacy struct io_event) byte for byte. */
struct aio2_event {
	struct aio2_rec_hdr hdr; /* type AIO2_REC_EVENT */
	uint64_t data;           /* the iocb's data */
	uint64_t obj;            /* the iocb's key as assigned by submit */
	int64_t res;             /* bytes done, or -errno */
	int64_t res2;            /* op-specific second result */
	/* attributes follow, to hdr.len */
};

/* Attribute ids (the catalogue, 1..63; 64 and up are experimental). */
#define AIO2_ATTR_LATENCY    1u /* u64 ns, submission to completion */
#define AIO2_ATTR_TIMESTAMPS 2u /* u64 submit, issue, complete (CLOCK_MONOTONIC ns) */
#define AIO2_ATTR_CACHE      3u /* u32 pages in the page cache, u32 not */
#define AIO2_ATTR_DEVICE     4u /* u64 ns in the device, u32 requests (12 bytes) */
#define AIO2_ATTR_CPU        5u /* u32 submitting cpu, u32 completing cpu */
#define AIO2_ATTR_TAG        6u /* the request's argument echoed (0..256 bytes) */
#define AIO2_ATTR_MAX_CATALOGUE      63u
#define AIO2_ATTR_FIRST_EXPERIMENTAL 64u
#define AIO2_MAX_TAG_BYTES           256u

/* Attribute statuses. Only OK carries a value. */
#define AIO2_ATTR_OK          0u
#define AIO2_ATTR_UNSUPPORTED 1u /* unknown id, or no driver serves it */
#define AIO2_ATTR_UNAVAILABLE 2u /* supported, not measurable for this request */
#define AIO2_ATTR_ERROR       3u

#define AIO2_ATTR_HEADER_BYTES 8u

/* An attribute in an event, or an attribute request in an iocb2. */
struct aio2_attr_hdr {
	uint16_t id;     /* AIO2_ATTR_*; skip unknown ids by len */
	uint16_t status; /* event: AIO2_ATTR_OK...; request: flags, must be 0 */
	uint32_t len;    /* value bytes, without this header or padding */
	/* len value bytes follow, zero-padded to a multiple of 8 */
};

/* ------------------------------------------------------------------ */
/* Section 7: submission                                               */
/* ------------------------------------------------------------------ */

/* Opcodes: the legacy IOCB_CMD_* numbers, and SYSCALL. */
#define AIO2_OP_PREAD   0u
#define AIO2_OP_PWRITE  1u
#define AIO2_OP_FSYNC   2u
#define AIO2_OP_FDSYNC  3u
#define AIO2_OP_POLL    5u
#define AIO2_OP_NOOP    6u
#define AIO2_OP_PREADV  7u
#define AIO2_OP_PWRITEV 8u
#define AIO2_OP_SYSCALL 64u /* syscall arg with six u64 arguments at addr */

/* iocb2 flags. */
#define AIO2_IOCB_F_REQUIRE_ATTRS (1u << 0) /* EOPNOTSUPP instead of UNSUPPORTED */

#define AIO2_IOCB_HEADER_BYTES 64u
#define AIO2_OFF_IOCB_KEY      16u

/* One submission record; attribute requests (struct aio2_attr_hdr with
 * status = 0, then the argument padded to 8) follow it, to len. */
struct aio2_iocb {
	uint32_t len;      /* whole record, a multiple of 8, >= 64 */
	uint16_t opcode;   /* AIO2_OP_* */
	uint16_t flags;    /* AIO2_IOCB_F_* */
	uint64_t data;     /* returned in the event's data */
	uint64_t key;      /* written by submit; cancel takes it; event's obj */
	int32_t fd;        /* file descriptor */
	uint32_t rw_flags; /* RWF_* */
	uint64_t addr;     /* buffer, iovec array, or SYSCALL's six u64 arguments */
	uint64_t nbytes;   /* bytes, or number of iovecs */
	int64_t offset;    /* file offset */
	uint64_t arg;      /* POLL events; SYSCALL number */
};

/* ------------------------------------------------------------------ */
/* Section 6: the legacy (version 1) structures                        */
/* ------------------------------------------------------------------ */

/* These mirror include/uapi/linux/aio_abi.h (struct iocb, struct io_event)
 * and the header of struct aio_ring in fs/aio.c, on little-endian 64-bit
 * machines; they are renamed so that this header and <linux/aio_abi.h> can
 * be included together. */

#define AIO2_AIO_RING_MAGIC             0xa10a10a1u
#define AIO2_AIO_RING_COMPAT_FEATURES   1u
#define AIO2_AIO_RING_INCOMPAT_FEATURES 0u
#define AIO2_AIO_RING_HEADER_BYTES      32u
#define AIO2_IO_EVENT_BYTES             32u
#define AIO2_LEGACY_IOCB_BYTES          64u

#define AIO2_IOCB_FLAG_RESFD  (1u << 0) /* signal aio_resfd on completion */
#define AIO2_IOCB_FLAG_IOPRIO (1u << 1) /* aio_reqprio is valid */

/* struct iocb (include/uapi/linux/aio_abi.h), little-endian layout. */
struct aio2_legacy_iocb {
	uint64_t aio_data;       /* returned in io_event.data */
	uint32_t aio_key;        /* the kernel writes KIOCB_KEY (0) */
	uint32_t aio_rw_flags;   /* RWF_* */
	uint16_t aio_lio_opcode; /* IOCB_CMD_* (= AIO2_OP_*) */
	int16_t aio_reqprio;     /* I/O priority, with IOCB_FLAG_IOPRIO */
	uint32_t aio_fildes;     /* file descriptor */
	uint64_t aio_buf;        /* buffer or iovec array */
	uint64_t aio_nbytes;     /* bytes or number of iovecs */
	int64_t aio_offset;      /* file offset */
	uint64_t aio_reserved2;  /* must be 0 */
	uint32_t aio_flags;      /* IOCB_FLAG_* */
	uint32_t aio_resfd;      /* eventfd, with IOCB_FLAG_RESFD */
};

/* struct io_event (include/uapi/linux/aio_abi.h). */
struct aio2_io_event {
	uint64_t data; /* the iocb's aio_data */
	uint64_t obj;  /* the iocb's address (legacy) or key (aio2) */
	int64_t res;   /* bytes done, or -errno */
	int64_t res2;  /* op-specific second result */
};

/* The header of struct aio_ring (fs/aio.c); nr io_events follow it. head
 * and tail are event indices modulo nr. */
struct aio2_aio_ring {
	uint32_t id;                /* the context's id */
	uint32_t nr;                /* number of io_events */
	uint32_t head;              /* reapers; atomic */
	uint32_t tail;              /* producer; atomic */
	uint32_t magic;             /* AIO2_AIO_RING_MAGIC */
	uint32_t compat_features;   /* 1 */
	uint32_t incompat_features; /* 0; otherwise use io_getevents */
	uint32_t header_length;     /* 32 */
};

/* ------------------------------------------------------------------ */
/* Layout helpers: positions only, no protocol.                        */
/* ------------------------------------------------------------------ */

/* pad8(n): n rounded up to a multiple of 8. */
static inline uint32_t aio2_pad8(uint32_t n) { return (n + 7u) & ~7u; }

/* The ring header at the start of a mapped version 2 region. */
static inline struct aio2_ring_hdr *aio2_ring_hdr(void *region)
{
	return (struct aio2_ring_hdr *)region;
}

/* The data area of a mapped version 2 region (header_bytes after it). */
static inline uint8_t *aio2_ring_data(void *region)
{
	return (uint8_t *)region + AIO2_HEADER_BYTES;
}

/* The size of a version 2 region with ring_bytes of data. */
static inline uint64_t aio2_region_bytes(uint32_t ring_bytes)
{
	return (uint64_t)AIO2_HEADER_BYTES + ring_bytes;
}

/* The position in the data area of the free-running counter c. */
static inline uint32_t aio2_ring_pos(uint32_t c, uint32_t ring_mask)
{
	return c & ring_mask;
}

/* The first attribute of an EVENT record. */
static inline uint8_t *aio2_event_attrs(void *rec)
{
	return (uint8_t *)rec + AIO2_EVENT_HEADER_BYTES;
}

/* The attribute requests of an iocb2 record. */
static inline uint8_t *aio2_iocb_attrs(void *iocb)
{
	return (uint8_t *)iocb + AIO2_IOCB_HEADER_BYTES;
}

/* The value bytes of an attribute. */
static inline uint8_t *aio2_attr_value(void *attr)
{
	return (uint8_t *)attr + AIO2_ATTR_HEADER_BYTES;
}

/* The bytes an attribute with a len-byte value occupies (header, value,
 * padding). Use 64-bit arithmetic: len comes from someone else. */
static inline uint64_t aio2_attr_bytes(uint32_t len)
{
	return AIO2_ATTR_HEADER_BYTES + (((uint64_t)len + 7u) & ~(uint64_t)7u);
}

/* The events of a legacy ring, after its 32-byte header. */
static inline struct aio2_io_event *aio2_aio_ring_events(void *ring)
{
	return (struct aio2_io_event *)((uint8_t *)ring + AIO2_AIO_RING_HEADER_BYTES);
}

/* ------------------------------------------------------------------ */
/* Layout checks                                                       */
/* ------------------------------------------------------------------ */

AIO2_STATIC_ASSERT(sizeof(struct aio2_params) == AIO2_PARAMS_SIZE, params_size);
AIO2_STATIC_ASSERT(offsetof(struct aio2_params, version) == 4, params_version);
AIO2_STATIC_ASSERT(offsetof(struct aio2_params, flags) == 8, params_flags);
AIO2_STATIC_ASSERT(offsetof(struct aio2_params, ring_bytes) == 12, params_ring_bytes);
AIO2_STATIC_ASSERT(offsetof(struct aio2_params, max_event_bytes) == 16, params_max_event_bytes);
AIO2_STATIC_ASSERT(offsetof(struct aio2_params, eventfd) == 20, params_eventfd);
AIO2_STATIC_ASSERT(offsetof(struct aio2_params, max_inflight) == 24, params_max_inflight);
AIO2_STATIC_ASSERT(offsetof(struct aio2_params, reserved) == 28, params_reserved);
AIO2_STATIC_ASSERT(offsetof(struct aio2_params, features) == 32, params_features);
AIO2_STATIC_ASSERT(offsetof(struct aio2_params, attrs) == 40, params_attrs);
AIO2_STATIC_ASSERT(offsetof(struct aio2_params, reserved2) == 48, params_reserved2);

AIO2_STATIC_ASSERT(sizeof(struct aio2_ring_hdr) == AIO2_RING_HDR_SIZE, ring_hdr_size);
AIO2_STATIC_ASSERT(offsetof(struct aio2_ring_hdr, magic) == AIO2_OFF_MAGIC, hdr_magic);
AIO2_STATIC_ASSERT(offsetof(struct aio2_ring_hdr, version) == AIO2_OFF_VERSION, hdr_version);
AIO2_STATIC_ASSERT(offsetof(struct aio2_ring_hdr, header_bytes) == AIO2_OFF_HEADER_BYTES, hdr_header_bytes);
AIO2_STATIC_ASSERT(offsetof(struct aio2_ring_hdr, ring_bytes) == AIO2_OFF_RING_BYTES, hdr_ring_bytes);
AIO2_STATIC_ASSERT(offsetof(struct aio2_ring_hdr, ring_mask) == AIO2_OFF_RING_MASK, hdr_ring_mask);
AIO2_STATIC_ASSERT(offsetof(struct aio2_ring_hdr, max_event_bytes) == AIO2_OFF_MAX_EVENT_BYTES, hdr_max_event_bytes);
AIO2_STATIC_ASSERT(offsetof(struct aio2_ring_hdr, compat_features) == AIO2_OFF_COMPAT_FEATURES, hdr_compat);
AIO2_STATIC_ASSERT(offsetof(struct aio2_ring_hdr, incompat_features) == AIO2_OFF_INCOMPAT_FEATURES, hdr_incompat);
AIO2_STATIC_ASSERT(offsetof(struct aio2_ring_hdr, flags) == AIO2_OFF_FLAGS, hdr_flags);
AIO2_STATIC_ASSERT(offsetof(struct aio2_ring_hdr, user_flags) == AIO2_OFF_USER_FLAGS, hdr_user_flags);
AIO2_STATIC_ASSERT(offsetof(struct aio2_ring_hdr, overflowed) == AIO2_OFF_OVERFLOWED, hdr_overflowed);
AIO2_STATIC_ASSERT(offsetof(struct aio2_ring_hdr, head) == AIO2_OFF_HEAD, hdr_head);
AIO2_STATIC_ASSERT(offsetof(struct aio2_ring_hdr, tail) == AIO2_OFF_TAIL, hdr_tail);

AIO2_STATIC_ASSERT(sizeof(struct aio2_rec_hdr) == AIO2_RECORD_HEADER_BYTES, rec_hdr_size);
AIO2_STATIC_ASSERT(offsetof(struct aio2_rec_hdr, type) == 4, rec_type);
AIO2_STATIC_ASSERT(offsetof(struct aio2_rec_hdr, flags) == 6, rec_flags);

AIO2_STATIC_ASSERT(sizeof(struct aio2_event) == AIO2_EVENT_HEADER_BYTES, event_size);
AIO2_STATIC_ASSERT(offsetof(struct aio2_event, data) == 8, event_data);
AIO2_STATIC_ASSERT(offsetof(struct aio2_event, obj) == 16, event_obj);
AIO2_STATIC_ASSERT(offsetof(struct aio2_event, res) == 24, event_res);
AIO2_STATIC_ASSERT(offsetof(struct aio2_event, res2) == 32, event_res2);

AIO2_STATIC_ASSERT(sizeof(struct aio2_attr_hdr) == AIO2_ATTR_HEADER_BYTES, attr_hdr_size);
AIO2_STATIC_ASSERT(offsetof(struct aio2_attr_hdr, status) == 2, attr_status);
AIO2_STATIC_ASSERT(offsetof(struct aio2_attr_hdr, len) == 4, attr_len);

AIO2_STATIC_ASSERT(sizeof(struct aio2_iocb) == AIO2_IOCB_HEADER_BYTES, iocb_size);
AIO2_STATIC_ASSERT(offsetof(struct aio2_iocb, opcode) == 4, iocb_opcode);
AIO2_STATIC_ASSERT(offsetof(struct aio2_iocb, flags) == 6, iocb_flags);
AIO2_STATIC_ASSERT(offsetof(struct aio2_iocb, data) == 8, iocb_data);
AIO2_STATIC_ASSERT(offsetof(struct aio2_iocb, key) == AIO2_OFF_IOCB_KEY, iocb_key);
AIO2_STATIC_ASSERT(offsetof(struct aio2_iocb, fd) == 24, iocb_fd);
AIO2_STATIC_ASSERT(offsetof(struct aio2_iocb, rw_flags) == 28, iocb_rw_flags);
AIO2_STATIC_ASSERT(offsetof(struct aio2_iocb, addr) == 32, iocb_addr);
AIO2_STATIC_ASSERT(offsetof(struct aio2_iocb, nbytes) == 40, iocb_nbytes);
AIO2_STATIC_ASSERT(offsetof(struct aio2_iocb, offset) == 48, iocb_offset);
AIO2_STATIC_ASSERT(offsetof(struct aio2_iocb, arg) == 56, iocb_arg);

AIO2_STATIC_ASSERT(sizeof(struct aio2_legacy_iocb) == AIO2_LEGACY_IOCB_BYTES, legacy_iocb_size);
AIO2_STATIC_ASSERT(offsetof(struct aio2_legacy_iocb, aio_key) == 8, legacy_key);
AIO2_STATIC_ASSERT(offsetof(struct aio2_legacy_iocb, aio_rw_flags) == 12, legacy_rw_flags);
AIO2_STATIC_ASSERT(offsetof(struct aio2_legacy_iocb, aio_lio_opcode) == 16, legacy_opcode);
AIO2_STATIC_ASSERT(offsetof(struct aio2_legacy_iocb, aio_reqprio) == 18, legacy_reqprio);
AIO2_STATIC_ASSERT(offsetof(struct aio2_legacy_iocb, aio_fildes) == 20, legacy_fildes);
AIO2_STATIC_ASSERT(offsetof(struct aio2_legacy_iocb, aio_buf) == 24, legacy_buf);
AIO2_STATIC_ASSERT(offsetof(struct aio2_legacy_iocb, aio_nbytes) == 32, legacy_nbytes);
AIO2_STATIC_ASSERT(offsetof(struct aio2_legacy_iocb, aio_offset) == 40, legacy_offset);
AIO2_STATIC_ASSERT(offsetof(struct aio2_legacy_iocb, aio_reserved2) == 48, legacy_reserved2);
AIO2_STATIC_ASSERT(offsetof(struct aio2_legacy_iocb, aio_flags) == 56, legacy_flags);
AIO2_STATIC_ASSERT(offsetof(struct aio2_legacy_iocb, aio_resfd) == 60, legacy_resfd);

AIO2_STATIC_ASSERT(sizeof(struct aio2_io_event) == AIO2_IO_EVENT_BYTES, io_event_size);
AIO2_STATIC_ASSERT(offsetof(struct aio2_io_event, obj) == 8, io_event_obj);
AIO2_STATIC_ASSERT(offsetof(struct aio2_io_event, res) == 16, io_event_res);
AIO2_STATIC_ASSERT(offsetof(struct aio2_io_event, res2) == 24, io_event_res2);

AIO2_STATIC_ASSERT(sizeof(struct aio2_aio_ring) == AIO2_AIO_RING_HEADER_BYTES, aio_ring_size);
AIO2_STATIC_ASSERT(offsetof(struct aio2_aio_ring, head) == 8, aio_ring_head);
AIO2_STATIC_ASSERT(offsetof(struct aio2_aio_ring, tail) == 12, aio_ring_tail);
AIO2_STATIC_ASSERT(offsetof(struct aio2_aio_ring, magic) == 16, aio_ring_magic);
AIO2_STATIC_ASSERT(offsetof(struct aio2_aio_ring, header_length) == 28, aio_ring_header_length);

#ifdef __cplusplus
}
#endif

#endif /* AIO2_ABI_H */
