package attrs

import (
	"errors"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/aio2/aio2/abi"
)

// CacheSource is where CACHE values come from.
type CacheSource uint8

const (
	// CacheAuto uses eBPF where it loads and cachestat(2) otherwise.
	CacheAuto CacheSource = iota
	// CacheBPF uses only the eBPF programs; without them CACHE is
	// UNAVAILABLE.
	CacheBPF
	// CacheCachestat uses only cachestat(2).
	CacheCachestat
)

func (s CacheSource) String() string {
	switch s {
	case CacheAuto:
		return "auto"
	case CacheBPF:
		return "ebpf"
	case CacheCachestat:
		return "cachestat"
	}
	return "unknown"
}

// Cache serves CACHE for buffered reads (KindBuffered, PREAD): how many of
// the pages the read asked for were in the page cache and how many had to
// be read in.
//
// With eBPF, Begin claims a slot shared with the programs (thread id, fd,
// requested page range) and End releases it; in between,
// mm_filemap_add_to_page_cache in that thread counts the pages of each
// inserted folio that fall inside the range of that fd's file: the misses.
// mm_filemap_get_pages confirms that the read went through the page cache
// and gives i_size; the hits are the requested pages up to end of file
// that were not inserted. No syscall is made per IO.
//
// With cachestat(2), Begin counts the range's cached pages (the hits), and
// End counts them again: the pages that appeared are the misses. Two
// syscalls per IO; exact unless another thread changes the cache of the
// same range meanwhile.
//
// PREAD and PREADV are measured over [offset, offset + length); a PREADV
// given as a raw iovec address is UNAVAILABLE, since kioctx does not read
// the caller's array and Target.Nbytes is then 0. A read that does not go
// through the page cache (a character device; pipes and sockets are
// KindPoll and never get here) is UNAVAILABLE from eBPF, which sees no
// mm_filemap_get_pages; cachestat cannot tell and answers 0 hits, 0
// misses.
type Cache struct {
	source CacheSource
}

// NewCache returns a CACHE collector drawing on source.
func NewCache(source CacheSource) *Cache { return &Cache{source: source} }

// Name implements Collector.
func (c *Cache) Name() string { return "cache-" + c.source.String() }

// Serves implements Collector: CACHE for buffered IO.
func (*Cache) Serves(k Kind) Mask {
	if k == KindBuffered {
		return 1 << abi.AttrCache
	}
	return 0
}

// Available implements Collector.
func (c *Cache) Available(id uint16, t *Target) bool {
	if id != abi.AttrCache || !cacheable(t) {
		return false
	}
	return c.ready()
}

// cacheable reports whether CACHE can measure t: a buffered PREAD, or a
// buffered PREADV whose length kioctx knows (a typed iovec array; a raw
// one reads as 0 bytes).
func cacheable(t *Target) bool {
	if t.Kind != KindBuffered {
		return false
	}
	switch t.Opcode {
	case abi.OpPread:
		return true
	case abi.OpPreadv:
		return t.Nbytes > 0
	}
	return false
}

// ready reports whether a source this collector may use works now, eBPF
// first (loading its programs if need be).
func (c *Cache) ready() bool {
	if c.source != CacheCachestat {
		if _, err := cacheGroup.get(); err == nil {
			return true
		}
	}
	return c.source != CacheBPF && cachestatErr() == nil
}

// Prepare implements Preparer: it loads and attaches the programs, unless
// the source is cachestat alone. With CacheAuto, where eBPF cannot serve,
// cachestat may: it fails only if cachestat fails too, with both reasons.
func (c *Cache) Prepare(id uint16) error {
	if id != abi.AttrCache || c.ready() {
		return nil
	}
	var bpfErr, statErr error
	if c.source != CacheCachestat {
		_, bpfErr = cacheGroup.get()
	}
	if c.source != CacheBPF {
		statErr = cachestatErr()
	}
	return errors.Join(bpfErr, statErr)
}

// Stamp.Priv slots used by Cache.
const (
	privCacheState = 3
	privCacheA     = 4 // eBPF: slot index; cachestat: cached pages before
	privCacheB     = 5 // End: hits << 32 | misses
)

// The low byte of Priv[privCacheState] is the state; the next byte the
// source that was armed (cacheBPFArmed or cacheStatArmed), kept after End
// for CacheSourceOf.
const (
	cacheNone = iota
	cacheBPFArmed
	cacheStatArmed
	cacheDone
)

func cacheState(s *Stamp) uint64 { return s.Priv[privCacheState] & 0xff }

func setCacheState(s *Stamp, st uint64) {
	src := s.Priv[privCacheState] >> 8 & 0xff
	if st == cacheBPFArmed || st == cacheStatArmed {
		src = st
	}
	s.Priv[privCacheState] = src<<8 | st
}

// Begin implements Collector. It runs on the thread that will make the
// read, just before it.
func (c *Cache) Begin(t *Target, s *Stamp) {
	s.Priv[privCacheState] = 0
	if !t.Want.Has(abi.AttrCache) || !cacheable(t) || t.Offset < 0 {
		return
	}
	if t.Nbytes == 0 {
		s.Priv[privCacheB] = 0
		setCacheState(s, cacheDone)
		return
	}
	if c.source != CacheCachestat {
		if g, err := cacheGroup.get(); err == nil {
			if i, ok := g.claim(t, s); ok {
				s.Priv[privCacheA] = uint64(i)
				setCacheState(s, cacheBPFArmed)
				return
			}
		}
		if c.source == CacheBPF {
			return
		}
	}
	var cs unix.Cachestat_t
	if cachestatRange(t, &cs) != nil {
		return
	}
	s.Priv[privCacheA] = cs.Cache
	setCacheState(s, cacheStatArmed)
}

// End implements Collector. After a Begin it runs on the same thread,
// just after the read (pool workers are locked to their threads); a
// queued read cancelled before it ran gets an End without a Begin, on
// the Cancel or Destroy caller, which finds no state and does nothing.
func (c *Cache) End(t *Target, s *Stamp) {
	switch cacheState(s) {
	case cacheBPFArmed:
		g := cacheGroup.v.Load()
		hits, misses, ok := g.release(int(s.Priv[privCacheA]), t)
		if !ok {
			setCacheState(s, cacheNone)
			return
		}
		s.Priv[privCacheB] = uint64(hits)<<32 | uint64(misses)
		setCacheState(s, cacheDone)
	case cacheStatArmed:
		var cs unix.Cachestat_t
		if cachestatRange(t, &cs) != nil {
			setCacheState(s, cacheNone)
			return
		}
		before := s.Priv[privCacheA]
		var misses uint64
		if cs.Cache > before {
			misses = cs.Cache - before
		}
		s.Priv[privCacheB] = before<<32 | misses
		setCacheState(s, cacheDone)
	}
}

// Append implements Collector.
func (*Cache) Append(dst []byte, id uint16, t *Target, s *Stamp) []byte {
	if id != abi.AttrCache || cacheState(s) != cacheDone {
		return abi.AppendAttrStatus(dst, id, abi.AttrUnavailable)
	}
	v := s.Priv[privCacheB]
	return abi.AppendAttrU32Pair(dst, id, uint32(v>>32), uint32(v))
}

// CacheSourceOf reports which source measured s's CACHE value after Begin:
// "ebpf", "cachestat", or "" if none was armed. For tests and tools.
func CacheSourceOf(s *Stamp) string {
	switch s.Priv[privCacheState] >> 8 & 0xff {
	case cacheBPFArmed:
		return "ebpf"
	case cacheStatArmed:
		return "cachestat"
	}
	return ""
}

var pageSize = uint64(os.Getpagesize())

func cachestatRange(t *Target, cs *unix.Cachestat_t) error {
	r := unix.CachestatRange{Off: uint64(t.Offset), Len: t.Nbytes}
	return unix.Cachestat(uint(t.Fd), &r, cs, 0)
}

var (
	cachestatOnce sync.Once
	cachestatE    error
)

// cachestatErr reports whether this kernel has cachestat(2) (Linux 6.5):
// ENOSYS means it does not; EBADF, for the invalid fd, means it does.
func cachestatErr() error {
	cachestatOnce.Do(func() {
		var r unix.CachestatRange
		var cs unix.Cachestat_t
		err := unix.Cachestat(^uint(0)>>1, &r, &cs, 0)
		if err == unix.ENOSYS {
			cachestatE = &FeatureError{Feature: "cachestat", Reason: ErrNoSyscall, Err: err}
		}
	})
	return cachestatE
}

// Slot table geometry; must match NSLOTS and PROBES in bpf/attrs.bpf.c.
const (
	cacheSlots  = 256
	cacheProbes = 8
)

// cacheProbe is the loaded CACHE group, shared by every context.
type cacheProbe struct {
	objs    any
	links   []link.Link
	flavour string
	stats   *ebpf.Map
	mem     *slotMem
	// busy counts claims that found no free slot (more than cacheProbes
	// threads hashing alike); those IOs fall back or are UNAVAILABLE.
	busy atomic.Uint64
}

type cacheTP struct {
	Add      *ebpf.Program `ebpf:"tp_add_to_page_cache"`
	GetPages *ebpf.Program `ebpf:"tp_get_pages"`
	cacheMaps
}

type cacheRaw struct {
	Add      *ebpf.Program `ebpf:"raw_add_to_page_cache"`
	GetPages *ebpf.Program `ebpf:"raw_get_pages"`
	cacheMaps
}

type cacheMaps struct {
	Slots *ebpf.Map `ebpf:"cache_slots"`
	Stats *ebpf.Map `ebpf:"stats_map"`
}

var cacheGroup = lazy[cacheProbe]{load: loadCache}

func loadCache() (*cacheProbe, error) {
	var tp cacheTP
	var raw cacheRaw
	links, flavour, err := loadGroup("ebpf-cache", &tp, &raw,
		func() []*ebpf.Program { return []*ebpf.Program{tp.Add, tp.GetPages} },
		func() []*ebpf.Program { return []*ebpf.Program{raw.Add, raw.GetPages} },
		[]string{"mm_filemap_add_to_page_cache", "mm_filemap_get_pages"},
		func(o any) {
			switch o := o.(type) {
			case *cacheTP:
				closeAll(o.Add, o.GetPages, o.Slots, o.Stats)
			case *cacheRaw:
				closeAll(o.Add, o.GetPages, o.Slots, o.Stats)
			}
		})
	if err != nil {
		return nil, err
	}
	m := tp.cacheMaps
	var objs any = &tp
	if strings.HasPrefix(flavour, "raw_tp") {
		m = raw.cacheMaps
		objs = &raw
	}
	mem, err := newSlotMem(m.Slots.FD())
	if err != nil {
		for _, l := range links {
			l.Close()
		}
		closeAll(tp.Add, tp.GetPages, raw.Add, raw.GetPages, m.Slots, m.Stats)
		return nil, classify("ebpf-cache", err)
	}
	return &cacheProbe{objs: objs, links: links, flavour: flavour, stats: m.Stats, mem: mem}, nil
}

// claim publishes t's read to the programs for the calling thread (s.Tid,
// or gettid if kioctx left it 0). The tid is published first (the CAS that
// takes the slot) and the fields written after it: only this thread's
// programs read a slot with its tid, and none of them runs before this
// thread enters the kernel for the read.
func (g *cacheProbe) claim(t *Target, s *Stamp) (int, bool) {
	tid := uint32(s.Tid)
	if tid == 0 {
		tid = uint32(unix.Gettid())
		s.Tid = int32(tid)
	}
	// A slot already holding this tid was leaked by a Begin without End
	// (a thread does one read at a time): take it over, or the programs,
	// which use the first slot with the tid, would count into it.
	idx := -1
	for i := uint32(0); i < cacheProbes && idx < 0; i++ {
		j := int((tid + i) & (cacheSlots - 1))
		if atomic.LoadUint32(&g.mem.slots.S[j].Tid) == tid {
			idx = j
		}
	}
	for i := uint32(0); i < cacheProbes && idx < 0; i++ {
		j := int((tid + i) & (cacheSlots - 1))
		if atomic.CompareAndSwapUint32(&g.mem.slots.S[j].Tid, 0, tid) {
			idx = j
		}
	}
	if idx >= 0 {
		sl := &g.mem.slots.S[idx]
		// No program runs for this tid until this thread enters the
		// kernel for the read, so these stores cannot race with one.
		atomic.StoreInt32(&sl.Fd, t.Fd)
		atomic.StoreUint64(&sl.First, uint64(t.Offset)/pageSize)
		atomic.StoreUint64(&sl.Last, (uint64(t.Offset)+t.Nbytes-1)/pageSize)
		atomic.StoreUint64(&sl.Mapping, 0)
		atomic.StoreInt64(&sl.Isize, 0)
		atomic.StoreUint32(&sl.Missed, 0)
		atomic.StoreUint32(&sl.Seen, 0)
		return idx, true
	}
	g.busy.Add(1)
	return 0, false
}

// release reads slot idx's counts and frees it. ok is false when the read
// did not go through the page cache of that fd (no mm_filemap_get_pages).
func (g *cacheProbe) release(idx int, t *Target) (hits, misses uint32, ok bool) {
	sl := &g.mem.slots.S[idx&(cacheSlots-1)]
	missed := uint64(atomic.LoadUint32(&sl.Missed))
	seen := atomic.LoadUint32(&sl.Seen)
	isize := atomic.LoadInt64(&sl.Isize)
	first := atomic.LoadUint64(&sl.First)
	last := atomic.LoadUint64(&sl.Last)
	atomic.StoreUint32(&sl.Tid, 0)
	if seen == 0 {
		return 0, 0, false
	}
	// Pages past end of file were asked for but do not exist.
	var total uint64
	if isize > 0 {
		if eof := (uint64(isize) - 1) / pageSize; last > eof {
			last = eof
		}
		if last >= first {
			total = last - first + 1
		}
	}
	missed = min(missed, total)
	return uint32(total - missed), uint32(missed), true
}

// close detaches the programs and unmaps the slots (tests only).
func (g *cacheProbe) close() {
	for _, l := range g.links {
		l.Close()
	}
	switch o := g.objs.(type) {
	case *cacheTP:
		closeAll(o.Add, o.GetPages, o.Slots, o.Stats)
	case *cacheRaw:
		closeAll(o.Add, o.GetPages, o.Slots, o.Stats)
	}
	g.mem.close()
}

func (g *cacheProbe) readStats() (probeStats, error) {
	var st probeStats
	err := g.stats.Lookup(uint32(0), &st)
	return st, err
}
