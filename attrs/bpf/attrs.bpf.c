// SPDX-License-Identifier: GPL-2.0
/*
 * eBPF programs behind the CACHE and DEVICE attributes of package attrs.
 *
 * DEVICE: block_rq_issue stamps each struct request; block_rq_complete
 * computes its time in the device and, for every bio of the request that an
 * iomap direct IO submitted (bio->bi_private is the struct iomap_dio, whose
 * iocb is the caller's struct kiocb), writes one record {dev, ino, pos,
 * issue, complete} to a ring buffer. (dev, ino, pos) is the join key: user
 * space knows it for its IO from fstat(fd) and the iocb's offset, and
 * kiocb->ki_pos is still the submitted offset when the request completes
 * (iomap advances it only after the last bio ends).
 *
 * CACHE: user space claims a slot in an mmapable array before a buffered
 * read (tid, fd, requested page range) and releases it after. While a slot
 * is claimed, mm_filemap_add_to_page_cache in that thread counts the pages
 * of the inserted folio (a large folio is many pages) that fall inside the
 * requested range of that fd's mapping: those were not in the page cache.
 * mm_filemap_get_pages confirms the read went through the page cache and
 * reports i_size, so user space can clamp the range at end of file.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "GPL";

/* Filled in by user space before load: the address of
 * iomap_dio_bio_end_io from /proc/kallsyms, 0 when it cannot be read (then
 * every bio with a private pointer is tried; a wrong guess yields a key that
 * matches no IO). */
volatile const u64 iomap_end_io = 0;
/* The address of bio_chain_endio: a bio split off to fit the queue's limits
 * ends through it, and its bi_private is the parent bio. 0 if unknown. */
volatile const u64 chain_end_io = 0;

/* The address of aio_complete_rw, the ki_complete of a native AIO read
 * or write: such a kiocb is the first member of a struct aio_kiocb, whose
 * ki_res holds the iocb's aio_data and user address. 0 if unknown (then
 * records carry no AIO identity and user space joins by offset). */
volatile const u64 aio_rw_complete = 0;

/* ---- DEVICE ---- */

struct dev_rec {
	u64 ino;
	s64 pos;
	u64 issue_ns;
	u64 complete_ns;
	u64 kiocb;    /* identifies the IO among IOs with the same key */
	u64 aio_obj;  /* native AIO: the user iocb's address (ki_res.obj), else 0 */
	u64 aio_data; /* native AIO: its aio_data (ki_res.data) */
	u32 dev;
	u32 nr_bytes;
};

/* Issue times of requests in flight, in an array indexed by a hash of the
 * struct request pointer. An array, not a hash map: hash map updates take a
 * bucket lock and fail (EBUSY) when a completion interrupt on the same cpu
 * finds it held, which lost issue times at depth 32. Two requests in
 * flight that hash alike lose one stamp (counted in no_stamp); with 65536
 * slots and a few hundred requests in flight that is rare. */
#define ISSUE_SLOTS (1 << 16)

struct issue_slot {
	u64 rq;
	u64 ns;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, ISSUE_SLOTS);
	__type(key, u32);
	__type(value, struct issue_slot);
} rq_issue SEC(".maps");

static __always_inline u32 rq_slot(u64 rq)
{
	return (u32)(((rq >> 6) * 0x9E3779B97F4A7C15ULL) >> 48) & (ISSUE_SLOTS - 1);
}

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22);
} dev_events SEC(".maps");

/* Counters user space reads for `aio2 features` and tests. */
struct stats {
	u64 rq_complete;  /* requests completed with a known issue time */
	u64 dev_records;  /* records written */
	u64 dev_dropped;  /* records the ring had no room for */
	u64 cache_adds;   /* folio insertions attributed to a slot */
	u64 no_stamp;     /* completions whose issue time was not found */
	u64 issues;       /* block_rq_issue runs */
	u64 completes;    /* block_rq_complete runs */
	u64 bios_skipped; /* bios not from iomap direct IO */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct stats);
} stats_map SEC(".maps");

static __always_inline struct stats *get_stats(void)
{
	u32 zero = 0;
	return bpf_map_lookup_elem(&stats_map, &zero);
}

/* The request pointer as a plain number. tp_btf hands the program a typed
 * pointer, on which the verifier forbids the arithmetic of a hash; reading
 * the argument slot back yields the same bits as a scalar. */
static __always_inline u64 arg0(unsigned long long *ctx)
{
	u64 v = 0;
	bpf_probe_read_kernel(&v, sizeof(v), &ctx[0]);
	return v;
}

static __always_inline int on_issue(u64 rq)
{
	u32 idx = rq_slot(rq);
	struct issue_slot *sl = bpf_map_lookup_elem(&rq_issue, &idx);
	struct stats *st = get_stats();
	if (st)
		__sync_fetch_and_add(&st->issues, 1);
	if (!sl)
		return 0;
	sl->ns = bpf_ktime_get_ns();
	sl->rq = rq;
	return 0;
}

#define MAX_BIOS 16

static __always_inline int on_complete(u64 rqv, unsigned int nr_bytes)
{
	struct request *rq = (struct request *)rqv;
	u32 idx = rq_slot(rqv);
	struct issue_slot *sl = bpf_map_lookup_elem(&rq_issue, &idx);
	struct stats *st = get_stats();
	if (st)
		__sync_fetch_and_add(&st->completes, 1);
	if (!sl)
		return 0;
	u64 issue = sl->ns;
	if (sl->rq != rqv || !issue) {
		if (st)
			__sync_fetch_and_add(&st->no_stamp, 1);
		return 0;
	}
	sl->rq = 0;
	u64 now = bpf_ktime_get_ns();
	if (st)
		__sync_fetch_and_add(&st->rq_complete, 1);

	u64 end_io = iomap_end_io;
	struct bio *bio = BPF_CORE_READ(rq, bio);
	struct kiocb *last = 0;
	for (int i = 0; i < MAX_BIOS && bio; i++) {
		void *priv = BPF_CORE_READ(bio, bi_private);
		u64 fn = (u64)BPF_CORE_READ(bio, bi_end_io);
		struct bio *next = BPF_CORE_READ(bio, bi_next);
		/* A split-off piece: its IO is its parent's. */
		for (int j = 0; j < 2 && chain_end_io && fn == chain_end_io && priv; j++) {
			struct bio *parent = priv;
			priv = BPF_CORE_READ(parent, bi_private);
			fn = (u64)BPF_CORE_READ(parent, bi_end_io);
		}
		if (!priv || (end_io && fn != end_io)) {
			if (st)
				__sync_fetch_and_add(&st->bios_skipped, 1);
			bio = next;
			continue;
		}
		struct kiocb *iocb = BPF_CORE_READ((struct iomap_dio *)priv, iocb);
		if (!iocb || iocb == last) {
			bio = next;
			continue;
		}
		last = iocb;
		struct inode *inode = BPF_CORE_READ(iocb, ki_filp, f_inode);
		if (!inode) {
			bio = next;
			continue;
		}
		struct dev_rec *r = bpf_ringbuf_reserve(&dev_events, sizeof(*r), 0);
		if (!r) {
			if (st)
				__sync_fetch_and_add(&st->dev_dropped, 1);
			bio = next;
			continue;
		}
		r->ino = BPF_CORE_READ(inode, i_ino);
		r->dev = BPF_CORE_READ(inode, i_sb, s_dev);
		r->pos = BPF_CORE_READ(iocb, ki_pos);
		r->kiocb = (u64)iocb;
		r->aio_obj = 0;
		r->aio_data = 0;
		u64 done = aio_rw_complete;
		if (done && (u64)BPF_CORE_READ(iocb, ki_complete) == done) {
			struct aio_kiocb *req = (void *)iocb - bpf_core_field_offset(struct aio_kiocb, rw);
			r->aio_obj = BPF_CORE_READ(req, ki_res.obj);
			r->aio_data = BPF_CORE_READ(req, ki_res.data);
		}
		r->issue_ns = issue;
		r->complete_ns = now;
		r->nr_bytes = nr_bytes;
		/* No wakeup: user space reads the ring without polling. */
		bpf_ringbuf_submit(r, BPF_RB_NO_WAKEUP);
		if (st)
			__sync_fetch_and_add(&st->dev_records, 1);
		bio = next;
	}
	return 0;
}

/* Keeps struct dev_rec in BTF for bpf2go -type. */
const struct dev_rec *unused_dev_rec __attribute__((unused));

SEC("tp_btf/block_rq_issue")
int BPF_PROG(tp_rq_issue, struct request *rq)
{
	return on_issue(arg0(ctx));
}

SEC("tp_btf/block_rq_complete")
int BPF_PROG(tp_rq_complete, struct request *rq, blk_status_t error, unsigned int nr_bytes)
{
	return on_complete(arg0(ctx), nr_bytes);
}

SEC("raw_tp/block_rq_issue")
int BPF_PROG(raw_rq_issue, struct request *rq)
{
	return on_issue((u64)rq);
}

SEC("raw_tp/block_rq_complete")
int BPF_PROG(raw_rq_complete, struct request *rq, blk_status_t error, unsigned int nr_bytes)
{
	return on_complete((u64)rq, nr_bytes);
}

/* ---- CACHE ---- */

#define NSLOTS 256 /* power of two; must match cacheSlots in Go */
#define PROBES 8   /* must match cacheProbes in Go */

/* One buffered read in flight on one thread. User space writes tid last
 * (and clears it last); the program touches a slot only while tid is the
 * current thread, so user space and programs of the same thread never race,
 * and other threads never touch it. Must match cacheSlot in Go. */
struct cache_slot {
	u32 tid;
	s32 fd;
	u64 first;   /* first requested page index */
	u64 last;    /* last requested page index (inclusive) */
	u64 mapping; /* the fd's struct address_space *, found on first event */
	s64 isize;   /* i_size seen by mm_filemap_get_pages */
	u32 missed;  /* requested pages inserted by this thread */
	u32 seen;    /* number of mm_filemap_get_pages events on the mapping */
	u64 pad[2];
};

struct cache_slots {
	struct cache_slot s[NSLOTS];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct cache_slots);
} cache_slots SEC(".maps");

static __always_inline struct cache_slot *my_slot(void)
{
	u32 zero = 0;
	struct cache_slots *all = bpf_map_lookup_elem(&cache_slots, &zero);
	if (!all)
		return 0;
	u32 tid = (u32)bpf_get_current_pid_tgid();
	for (u32 i = 0; i < PROBES; i++) {
		u32 idx = (tid + i) & (NSLOTS - 1);
		struct cache_slot *s = &all->s[idx];
		if (*(volatile u32 *)&s->tid == tid)
			return s;
	}
	return 0;
}

/* The struct address_space of fd in the current task. */
static __always_inline u64 fd_mapping(s32 fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	if (!fdt || fd < 0)
		return 0;
	unsigned int max = BPF_CORE_READ(fdt, max_fds);
	if ((unsigned int)fd >= max)
		return 0;
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *f = 0;
	if (bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]) || !f)
		return 0;
	return (u64)BPF_CORE_READ(f, f_mapping);
}

static __always_inline struct cache_slot *slot_for(u64 mapping)
{
	struct cache_slot *s = my_slot();
	if (!s)
		return 0;
	if (!s->mapping)
		s->mapping = fd_mapping(s->fd);
	if (!s->mapping || s->mapping != mapping)
		return 0;
	return s;
}

static __always_inline int on_add(struct folio *folio)
{
	u64 mapping = (u64)BPF_CORE_READ(folio, mapping);
	struct cache_slot *s = slot_for(mapping);
	if (!s)
		return 0;
	u64 flags = BPF_CORE_READ(folio, flags.f);
	u64 nr = 1;
	if (flags & (1UL << bpf_core_enum_value(enum pageflags, PG_head)))
		nr = BPF_CORE_READ(folio, _nr_pages);
	u64 lo = BPF_CORE_READ(folio, index);
	u64 hi = lo + nr - 1;
	/* Count only the part of the folio the read asked for: readahead
	 * inserts more than that. */
	if (lo < s->first)
		lo = s->first;
	if (hi > s->last)
		hi = s->last;
	if (lo > hi)
		return 0;
	__sync_fetch_and_add(&s->missed, (u32)(hi - lo + 1));
	struct stats *st = get_stats();
	if (st)
		__sync_fetch_and_add(&st->cache_adds, 1);
	return 0;
}

static __always_inline int on_get_pages(struct address_space *mapping)
{
	struct cache_slot *s = slot_for((u64)mapping);
	if (!s)
		return 0;
	s->isize = BPF_CORE_READ(mapping, host, i_size);
	s->seen++;
	return 0;
}

SEC("tp_btf/mm_filemap_add_to_page_cache")
int BPF_PROG(tp_add_to_page_cache, struct folio *folio)
{
	return on_add(folio);
}

SEC("tp_btf/mm_filemap_get_pages")
int BPF_PROG(tp_get_pages, struct address_space *mapping, unsigned long index, unsigned long last_index)
{
	return on_get_pages(mapping);
}

SEC("raw_tp/mm_filemap_add_to_page_cache")
int BPF_PROG(raw_add_to_page_cache, struct folio *folio)
{
	return on_add(folio);
}

SEC("raw_tp/mm_filemap_get_pages")
int BPF_PROG(raw_get_pages, struct address_space *mapping, unsigned long index, unsigned long last_index)
{
	return on_get_pages(mapping);
}
