package attrs

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/aio2/aio2/abi"
)

// Device serves DEVICE for O_DIRECT IO (KindDirect): the time the block
// device spent on the requests the IO caused, and how many there were,
// measured by eBPF programs on block_rq_issue and block_rq_complete.
//
// The join: for each completed request, the program follows every bio of
// the request to the iomap direct IO that submitted it and on to the
// caller's struct kiocb, and records (device, inode, file offset, issue
// time, completion time, and for native AIO the iocb's address and
// aio_data). Device.Begin learns the same (device, inode, offset) from
// fstat and the iocb; Device.End collects the records with that key issued
// after Begin (and, for IOs in flight at the same offset, that iocb's:
// Target.AioObj, AioData). No FIEMAP is needed, merged and split
// requests are attributed correctly, and only filesystems whose direct IO
// goes through iomap (ext4, xfs, btrfs) are joined; for others, and for
// an IO that caused no request (a hole), DEVICE is UNAVAILABLE.
//
// The value is the union of the requests' [issue, complete] intervals (so
// overlapping requests of one IO are not double counted and the value never
// exceeds LATENCY) and the number of requests.
type Device struct{}

// NewDevice returns the DEVICE collector. Its programs load on the first IO
// that asks for DEVICE, once per process.
func NewDevice() *Device { return &Device{} }

// Name implements Collector.
func (*Device) Name() string { return "ebpf-device" }

// Serves implements Collector: DEVICE for O_DIRECT IO.
func (*Device) Serves(k Kind) Mask {
	if k == KindDirect {
		return 1 << abi.AttrDevice
	}
	return 0
}

// Available implements Collector: the programs are loaded (or load now).
func (*Device) Available(id uint16, t *Target) bool {
	if id != abi.AttrDevice || t.Kind != KindDirect {
		return false
	}
	_, err := deviceGroup.get()
	return err == nil
}

// Prepare implements Preparer: it loads and attaches the programs.
func (*Device) Prepare(id uint16) error {
	if id != abi.AttrDevice {
		return nil
	}
	_, err := deviceGroup.get()
	return err
}

// Stamp.Priv slots used by Device.
const (
	privDevState = 0 // devState, and the kernel dev_t above bit 8
	privDevA     = 1 // Begin: inode; End: device ns
	privDevB     = 2 // Begin: Now(); End: requests
)

const (
	devNone  = 0
	devArmed = 1
	devDone  = 2
	devFound = 3
)

// Begin implements Collector: it stamps the time and learns the file's
// identity before io_submit.
func (*Device) Begin(t *Target, s *Stamp) {
	s.Priv[privDevState] = devNone
	if !t.Want.Has(abi.AttrDevice) {
		return
	}
	if _, err := deviceGroup.get(); err != nil {
		return
	}
	id := fileIDOf(t.Fd, false)
	if id == nil {
		return
	}
	s.Priv[privDevA] = id.ino
	s.Priv[privDevB] = uint64(Now())
	s.Priv[privDevState] = uint64(id.dev)<<8 | devArmed
}

// fileID is what the programs know a file by.
type fileID struct {
	dev uint32 // kernel dev_t
	ino uint64
}

// fileIDs caches fstat's answer per fd, so that an IO costs no fstat: the
// fd of a file under IO rarely changes meaning. If it did (closed and
// reused), the stale key matches no record, End sees no request, looks the
// fd up again and retries, so a stale entry costs a lookup, not a wrong
// value, unless the old file, still open elsewhere, was read at the same
// offset at the same moment.
var fileIDs [4096]atomic.Pointer[fileID]

func fileIDOf(fd int32, refresh bool) *fileID {
	cacheable := fd >= 0 && int(fd) < len(fileIDs)
	if cacheable && !refresh {
		if id := fileIDs[fd].Load(); id != nil {
			return id
		}
	}
	var st unix.Stat_t
	if unix.Fstat(int(fd), &st) != nil {
		return nil
	}
	v := fileID{dev: kernelDev(st.Dev), ino: st.Ino}
	if cacheable {
		if old := fileIDs[fd].Load(); old != nil && *old == v {
			return old
		}
	}
	id := new(fileID)
	*id = v
	if cacheable {
		fileIDs[fd].Store(id)
	}
	return id
}

// kernelDev converts a user-space dev_t (new_encode_dev) to the kernel's
// internal one (MKDEV: major << 20 | minor), the form s_dev has.
func kernelDev(d uint64) uint32 {
	return unix.Major(d)<<20 | unix.Minor(d)
}

// End implements Collector: after the IO completed, its requests' records
// are in the ring (the program writes them before the bio ends, hence
// before the completion is visible); collect them.
func (*Device) End(t *Target, s *Stamp) {
	st := s.Priv[privDevState]
	if st&0xff != devArmed {
		return
	}
	g := deviceGroup.v.Load()
	if g == nil {
		return
	}
	key := devKey{dev: uint32(st >> 8), ino: s.Priv[privDevA], pos: t.Offset}
	since, now := int64(s.Priv[privDevB]), Now()
	ns, n := g.collect(key, t.AioObj, t.AioData, since, now)
	if n == 0 {
		// Perhaps the fd cache was stale: ask again.
		if id := fileIDOf(t.Fd, true); id != nil && (id.dev != key.dev || id.ino != key.ino) {
			ns, n = g.collect(devKey{dev: id.dev, ino: id.ino, pos: t.Offset}, t.AioObj, t.AioData, since, now)
		}
	}
	s.Priv[privDevA] = uint64(ns)
	s.Priv[privDevB] = uint64(n)
	if n > 0 {
		s.Priv[privDevState] = devFound
	} else {
		s.Priv[privDevState] = devDone
	}
}

// Append implements Collector.
func (*Device) Append(dst []byte, id uint16, t *Target, s *Stamp) []byte {
	if id != abi.AttrDevice || s.Priv[privDevState] != devFound {
		return abi.AppendAttrStatus(dst, id, abi.AttrUnavailable)
	}
	return abi.AppendAttrDevice(dst, s.Priv[privDevA], uint32(s.Priv[privDevB]))
}

// devKey identifies one IO to the programs: the kernel dev_t and inode of
// the file and the IO's offset.
type devKey struct {
	dev uint32
	ino uint64
	pos int64
}

type devSpan struct {
	issue, complete int64
	kiocb           uint64
	aioObj, aioData uint64 // the native iocb's identity, 0 if not known
}

type devEntry struct {
	spans  []devSpan
	newest int64
}

// deviceProbe is the loaded DEVICE group, shared by every context.
type deviceProbe struct {
	objs    any
	links   []link.Link
	flavour string
	stats   *ebpf.Map
	// aioIdent: the program records each request's native iocb (it was
	// given aio_complete_rw's address), so IOs that carry one are joined
	// by it exactly.
	aioIdent bool

	mu    sync.Mutex
	ring  *bpfRing
	table map[devKey]*devEntry
	free  []*devEntry
	// evictAt is the table size that triggers a sweep of stale entries.
	evictAt int
}

// busyRecordWait bounds how long collect waits for a record another CPU
// is still writing. It is longer than a vCPU is commonly descheduled.
const busyRecordWait = 10 * time.Millisecond

type deviceTP struct {
	Issue    *ebpf.Program `ebpf:"tp_rq_issue"`
	Complete *ebpf.Program `ebpf:"tp_rq_complete"`
	deviceMaps
}

type deviceRaw struct {
	Issue    *ebpf.Program `ebpf:"raw_rq_issue"`
	Complete *ebpf.Program `ebpf:"raw_rq_complete"`
	deviceMaps
}

type deviceMaps struct {
	RqIssue *ebpf.Map `ebpf:"rq_issue"`
	Events  *ebpf.Map `ebpf:"dev_events"`
	Stats   *ebpf.Map `ebpf:"stats_map"`
}

var deviceGroup = lazy[deviceProbe]{load: loadDevice}

func closeAll(cs ...interface{ Close() error }) {
	for _, c := range cs {
		if c != nil {
			_ = c.Close()
		}
	}
}

func loadDevice() (*deviceProbe, error) {
	var tp deviceTP
	var raw deviceRaw
	links, flavour, err := loadGroup("ebpf-device", &tp, &raw,
		func() []*ebpf.Program { return []*ebpf.Program{tp.Issue, tp.Complete} },
		func() []*ebpf.Program { return []*ebpf.Program{raw.Issue, raw.Complete} },
		[]string{"block_rq_issue", "block_rq_complete"},
		func(o any) {
			switch o := o.(type) {
			case *deviceTP:
				closeAll(o.Issue, o.Complete, o.RqIssue, o.Events, o.Stats)
			case *deviceRaw:
				closeAll(o.Issue, o.Complete, o.RqIssue, o.Events, o.Stats)
			}
		})
	if err != nil {
		return nil, err
	}
	m := tp.deviceMaps
	var objs any = &tp
	if strings.HasPrefix(flavour, "raw_tp") {
		m = raw.deviceMaps
		objs = &raw
	}
	ring, err := newBPFRing(m.Events.FD(), int(m.Events.MaxEntries()))
	if err != nil {
		for _, l := range links {
			l.Close()
		}
		closeAll(tp.Issue, tp.Complete, raw.Issue, raw.Complete, m.RqIssue, m.Events, m.Stats)
		return nil, classify("ebpf-device", err)
	}
	return &deviceProbe{
		objs: objs, links: links, flavour: flavour, stats: m.Stats, aioIdent: kernelSyms()["aio_complete_rw"] != 0,
		ring: ring, table: make(map[devKey]*devEntry, 1024), evictAt: 1024,
	}, nil
}

// staleNs is how long an unclaimed record is kept: records of IOs that did
// not ask for DEVICE (or of other processes) are dropped after it.
const staleNs = 2e9

// collect drains the ring into the table and takes the requests of key
// issued at or after since and completed by now: the union of their
// intervals and their count. Two IOs with the same key in flight at once
// (the same file and offset) are told apart by the native iocb that
// carries each (obj, data: Target.AioObj and AioData), which the programs
// record when they know aio_complete_rw's address. Without it (obj 0, or
// records without an identity) they are told apart by their struct kiocb:
// this IO takes the requests of the kiocb that was issued first after
// since, so identical IOs may swap their values, or, if one IO's later
// request was issued before the other's first, each get part of its own.
func (g *deviceProbe) collect(key devKey, obj, data uint64, since, now int64) (ns int64, n int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	// The IO's records were all reserved before its completion was
	// visible, hence before this load of the producer position; a busy
	// record of another request, reserved before them on another CPU,
	// can still hide them for a while. Past the bound it goes on with
	// what it has: the IO may then miss requests.
	_ = g.ring.drainThrough(g.ring.produced(), g.add, Now()+int64(busyRecordWait))
	e := g.table[key]
	if e == nil {
		return 0, 0
	}
	ns, n = e.take(obj, data, obj != 0 && g.aioIdent, since, now)
	if len(e.spans) == 0 {
		delete(g.table, key)
		e.newest = 0
		g.free = append(g.free, e)
	}
	return ns, n
}

// take removes one IO's requests from e and returns the union of their
// intervals and their count: with exact, the requests of native iocb
// (obj, data); otherwise those of the struct kiocb issued first at or
// after since. Either way only requests issued at or after since and
// completed by now, the IO's own window, are candidates.
func (e *devEntry) take(obj, data uint64, exact bool, since, now int64) (ns int64, n int) {
	// Insertion sort by issue time: an entry has few requests.
	sp := e.spans
	for i := 1; i < len(sp); i++ {
		for j := i; j > 0 && sp[j].issue < sp[j-1].issue; j-- {
			sp[j], sp[j-1] = sp[j-1], sp[j]
		}
	}
	// Without the identity, the IO is the kiocb of its window's first
	// request (sp is sorted by issue time).
	var kiocb uint64
	inWindow := func(s *devSpan) bool { return s.issue >= since && s.complete <= now }
	if !exact {
		i := slices.IndexFunc(sp, func(s devSpan) bool { return inWindow(&s) })
		if i < 0 {
			return 0, 0
		}
		kiocb = sp[i].kiocb
	}
	mine := func(s *devSpan) bool {
		if !inWindow(s) {
			return false
		}
		if exact {
			return s.aioObj == obj && s.aioData == data
		}
		return s.kiocb == kiocb
	}
	var curStart, curEnd int64 = -1, -1
	keep := sp[:0]
	for _, s := range sp {
		if !mine(&s) {
			// Another IO's: an earlier one at the same offset, or one
			// in flight beside this one.
			keep = append(keep, s)
			continue
		}
		n++
		if curEnd < 0 || s.issue > curEnd {
			if curEnd >= 0 {
				ns += curEnd - curStart
			}
			curStart, curEnd = s.issue, s.complete
		} else if s.complete > curEnd {
			curEnd = s.complete
		}
	}
	if curEnd >= 0 {
		ns += curEnd - curStart
	}
	e.spans = keep
	return ns, n
}

// add files one ring record; called with mu held.
func (g *deviceProbe) add(b []byte) {
	r := devRecOf(b)
	if r == nil {
		return
	}
	k := devKey{dev: r.Dev, ino: r.Ino, pos: r.Pos}
	e := g.table[k]
	if e == nil {
		if n := len(g.free); n > 0 {
			e = g.free[n-1]
			g.free = g.free[:n-1]
		} else {
			e = &devEntry{spans: make([]devSpan, 0, 4)}
		}
		g.table[k] = e
	}
	e.spans = append(e.spans, devSpan{issue: int64(r.IssueNs), complete: int64(r.CompleteNs), kiocb: r.Kiocb,
		aioObj: r.AioObj, aioData: r.AioData})
	if int64(r.CompleteNs) > e.newest {
		e.newest = int64(r.CompleteNs)
	}
	if len(g.table) >= g.evictAt {
		g.evict(int64(r.CompleteNs))
	}
}

func (g *deviceProbe) evict(now int64) {
	for k, e := range g.table {
		if now-e.newest > staleNs {
			delete(g.table, k)
			e.spans = e.spans[:0]
			e.newest = 0
			g.free = append(g.free, e)
		}
	}
	g.evictAt = max(1024, 2*len(g.table))
}

// close detaches the programs and frees the maps (tests only: the group
// otherwise lives as long as the process).
func (g *deviceProbe) close() {
	for _, l := range g.links {
		l.Close()
	}
	switch o := g.objs.(type) {
	case *deviceTP:
		closeAll(o.Issue, o.Complete, o.RqIssue, o.Events, o.Stats)
	case *deviceRaw:
		closeAll(o.Issue, o.Complete, o.RqIssue, o.Events, o.Stats)
	}
	g.ring.close()
}

// deviceStats reads the programs' counters.
func (g *deviceProbe) readStats() (probeStats, error) {
	var st probeStats
	err := g.stats.Lookup(uint32(0), &st)
	return st, err
}

// DeviceCounters are what the DEVICE programs counted since they loaded.
// The programs see the block requests of every process on the machine,
// so the counters are the machine's, not one context's: take two readings
// and subtract to count a run.
type DeviceCounters struct {
	// Issues and Completes count the runs of the programs on
	// block_rq_issue and block_rq_complete. A requeued request is issued
	// again, so Issues may exceed Completes by more than what is in
	// flight.
	Issues, Completes uint64
	// Records were written to the ring, one per IO per request (see the
	// join); Dropped are those the ring had no room for. An IO whose
	// record was dropped gets UNAVAILABLE, or a count of requests one too
	// low.
	Records, Dropped uint64
	// NoStamp counts completions whose issue time was not found: another
	// request in flight took its slot. Such a request leaves no record.
	NoStamp uint64
}

// Sub returns c minus an earlier reading.
func (c DeviceCounters) Sub(earlier DeviceCounters) DeviceCounters {
	return DeviceCounters{
		Issues: c.Issues - earlier.Issues, Completes: c.Completes - earlier.Completes,
		Records: c.Records - earlier.Records, Dropped: c.Dropped - earlier.Dropped,
		NoStamp: c.NoStamp - earlier.NoStamp,
	}
}

// Counters reads the DEVICE programs' counters. It loads the programs if
// they are not loaded yet, as the first IO that asks for DEVICE would,
// and fails with the reason they cannot (a *FeatureError).
func (*Device) Counters() (DeviceCounters, error) {
	g, err := deviceGroup.get()
	if err != nil {
		return DeviceCounters{}, err
	}
	st, err := g.readStats()
	if err != nil {
		return DeviceCounters{}, err
	}
	return DeviceCounters{Issues: st.Issues, Completes: st.Completes,
		Records: st.DevRecords, Dropped: st.DevDropped, NoStamp: st.NoStamp}, nil
}
