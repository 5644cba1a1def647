package attrs

// This file holds every use of unsafe in the package: the getcpu argument,
// and the memory shared with eBPF programs (the DEVICE ring buffer and the
// CACHE slots), which is touched only through sync/atomic because programs
// on other cpus write it concurrently.

import (
	"fmt"
	"os"
	"runtime"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func uintptrOf(p *uint32) uintptr { return uintptr(unsafe.Pointer(p)) }

// Ring buffer record header bits (include/uapi/linux/bpf.h).
const (
	ringbufBusyBit    = 1 << 31
	ringbufDiscardBit = 1 << 30
	ringbufHdrBytes   = 8
)

// bpfRing reads a BPF_MAP_TYPE_RINGBUF map through its own mappings
// (kernel/bpf/ringbuf.c ringbuf_map_mmap_kern): page 0 is consumer_pos,
// the only writable page; page 1 is producer_pos; then the data pages,
// mapped twice so a record never wraps. Reading costs no syscall, which
// is why it does not use cilium/ebpf's ringbuf.Reader (an epoll_wait per
// empty read). Not safe for concurrent use: the caller holds a lock.
type bpfRing struct {
	cons, prod []byte // the two control pages
	data       []byte // 2 * size bytes
	mask       uint64
}

func newBPFRing(fd int, size int) (*bpfRing, error) {
	page := os.Getpagesize()
	cons, err := unix.Mmap(fd, 0, page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("mmap ring consumer page: %w", err)
	}
	ro, err := unix.Mmap(fd, int64(page), page+2*size, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		_ = unix.Munmap(cons)
		return nil, fmt.Errorf("mmap ring data: %w", err)
	}
	return &bpfRing{cons: cons, prod: ro[:page], data: ro[page:], mask: uint64(size - 1)}, nil
}

func (r *bpfRing) consPos() *uint64 { return (*uint64)(unsafe.Pointer(&r.cons[0])) }
func (r *bpfRing) prodPos() *uint64 { return (*uint64)(unsafe.Pointer(&r.prod[0])) }

// drain calls fn for each committed record, in order, and frees their
// space. It stops at the first record still being written (busy). A
// record's bytes are valid only during fn.
func (r *bpfRing) drain(fn func(rec []byte)) {
	cons := atomic.LoadUint64(r.consPos())
	prod := atomic.LoadUint64(r.prodPos())
	for prod-cons >= ringbufHdrBytes {
		off := cons & r.mask
		// The acquire load of len pairs with the kernel's xchg in
		// bpf_ringbuf_commit: once BUSY is clear the record is visible.
		hdr := atomic.LoadUint32(r.hdrAt(cons))
		if hdr&ringbufBusyBit != 0 {
			break
		}
		n := uint64(hdr &^ (ringbufBusyBit | ringbufDiscardBit))
		total := (ringbufHdrBytes + n + 7) &^ 7
		if total > prod-cons || n > r.mask {
			// The kernel never writes this; stop rather than read out
			// of bounds.
			break
		}
		if hdr&ringbufDiscardBit == 0 {
			fn(r.data[off+ringbufHdrBytes : off+ringbufHdrBytes+n])
		}
		cons += total
		atomic.StoreUint64(r.consPos(), cons)
	}
}

// hdrAt is the header of the record at position pos.
func (r *bpfRing) hdrAt(pos uint64) *uint32 {
	return (*uint32)(unsafe.Pointer(&r.data[pos&r.mask]))
}

// produced is the producer position: the end of the last record reserved.
func (r *bpfRing) produced() uint64 { return atomic.LoadUint64(r.prodPos()) }

// drainThrough drains as drain does until every record reserved before
// producer position pos is consumed, waiting for records still being
// written, but not past deadline (a Now value). It reports whether it got
// there. A program commits its record a few hundred nanoseconds after
// reserving it, unless its vCPU is descheduled in between: then its busy
// record hides every committed record behind it, from other CPUs too (the
// consumer cannot pass a busy record). The wait yields the CPU a hundred
// times, then sleeps in 20 us steps.
func (r *bpfRing) drainThrough(pos uint64, fn func(rec []byte), deadline int64) bool {
	for spins := 0; ; spins++ {
		r.drain(fn)
		if atomic.LoadUint64(r.consPos()) >= pos {
			return true
		}
		if Now() > deadline {
			return false
		}
		if spins < 100 {
			runtime.Gosched()
		} else {
			time.Sleep(20 * time.Microsecond)
		}
	}
}

func (r *bpfRing) close() {
	_ = unix.Munmap(r.cons)
	_ = unix.Munmap(r.prod[:cap(r.prod)])
}

// devRecOf views a ring record as the struct the program wrote.
func devRecOf(b []byte) *probeDevRec {
	if len(b) < int(unsafe.Sizeof(probeDevRec{})) {
		return nil
	}
	return (*probeDevRec)(unsafe.Pointer(&b[0]))
}

// slotMem is the mmapped cache_slots array map.
type slotMem struct {
	mem   []byte
	slots *probeCacheSlots
}

func newSlotMem(fd int) (*slotMem, error) {
	size := int(unsafe.Sizeof(probeCacheSlots{}))
	page := os.Getpagesize()
	size = (size + page - 1) &^ (page - 1)
	mem, err := unix.Mmap(fd, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("mmap cache slots: %w", err)
	}
	return &slotMem{mem: mem, slots: (*probeCacheSlots)(unsafe.Pointer(&mem[0]))}, nil
}

func (m *slotMem) close() { _ = unix.Munmap(m.mem) }
