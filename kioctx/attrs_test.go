package kioctx

import (
	"errors"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/aio2/aio2/abi"
	"github.com/aio2/aio2/attrs"
)

func attrMap(t *testing.T, ev abi.Event) (ids []uint16, m map[uint16]abi.Attr) {
	t.Helper()
	m = map[uint16]abi.Attr{}
	it := abi.NewAttrIter(ev.Attrs)
	for {
		a, ok := it.Next()
		if !ok {
			break
		}
		ids = append(ids, a.ID)
		m[a.ID] = a
	}
	if it.Err() != nil {
		t.Fatal(it.Err())
	}
	return ids, m
}

func TestAttributes(t *testing.T) {
	c := newCtx(t, 8, 0, 0)
	f, _ := directFile(t, 8192)
	buf := alignedBuf(t, 4096)
	var reqs []byte
	reqs = abi.AppendAttrReq(reqs, abi.AttrLatency, nil)
	reqs = abi.AppendAttrReq(reqs, 40, nil) // not served
	reqs = abi.AppendAttrReq(reqs, abi.AttrTimestamps, nil)
	reqs = abi.AppendAttrReq(reqs, abi.AttrCPU, nil)
	reqs = abi.AppendAttrReq(reqs, abi.AttrTag, []byte("abc"))
	reqs = abi.AppendAttrReq(reqs, 100, nil) // experimental, unknown
	before := time.Now()
	if _, err := c.Submit([]Iocb{{Opcode: abi.OpPread, Fd: int32(f.Fd()), Buf: buf, Attrs: reqs}}); err != nil {
		t.Fatal(err)
	}
	ev := waitEvents(t, c, 1)[0]
	elapsed := time.Since(before)
	ids, m := attrMap(t, ev)
	want := []uint16{abi.AttrLatency, 40, abi.AttrTimestamps, abi.AttrCPU, abi.AttrTag, 100}
	if len(ids) != len(want) {
		t.Fatalf("attribute ids %v, want %v", ids, want)
	}
	for i := range want {
		if ids[i] != want[i] {
			t.Fatalf("attribute ids %v, want %v (request order)", ids, want)
		}
	}
	lat, _ := m[abi.AttrLatency].U64()
	sub, iss, comp, _ := m[abi.AttrTimestamps].Timestamps()
	if lat == 0 || lat > uint64(elapsed) || lat != comp-sub || !(sub <= iss && iss <= comp) {
		t.Errorf("latency %d, timestamps %d %d %d, elapsed %v", lat, sub, iss, comp, elapsed)
	}
	if _, _, ok := m[abi.AttrCPU].U32Pair(); !ok || m[abi.AttrCPU].Status != abi.AttrOK {
		t.Errorf("cpu %+v", m[abi.AttrCPU])
	}
	if a := m[abi.AttrTag]; a.Status != abi.AttrOK || string(a.Value) != "abc" {
		t.Errorf("tag %+v", a)
	}
	if m[40].Status != abi.AttrUnsupported || m[100].Status != abi.AttrUnsupported {
		t.Errorf("statuses of unknown ids: %d %d", m[40].Status, m[100].Status)
	}

	// IOCB_F_REQUIRE_ATTRS refuses what cannot be served.
	_, err := c.Submit([]Iocb{{Opcode: abi.OpPread, Fd: int32(f.Fd()), Buf: buf, Flags: abi.IocbRequireAttrs, Attrs: abi.AppendAttrReq(nil, 40, nil)}})
	if !errors.Is(err, unix.EOPNOTSUPP) {
		t.Errorf("REQUIRE_ATTRS with an unserved id: %v", err)
	}
	if n, err := c.Submit([]Iocb{{Opcode: abi.OpNoop, Flags: abi.IocbRequireAttrs, Attrs: abi.AppendAttrReq(nil, abi.AttrLatency, nil)}}); n != 1 || err != nil {
		t.Errorf("REQUIRE_ATTRS with a served id: %v", err)
	}
	waitEvents(t, c, 1)
}

// TestSubmitRawRequestsRemembered: SubmitRaw remembers the last
// attribute requests that passed (reqsLocked). Requests that change from
// one record to the next are each checked and served as asked: the same
// ones again, different ones, malformed ones after good ones (refused,
// with the offset of the fault), and the good ones after those.
func TestSubmitRawRequestsRemembered(t *testing.T) {
	c := newCtx(t, 16, 0, 0)
	lat := abi.AppendAttrReq(nil, abi.AttrLatency, nil)
	cpu := abi.AppendAttrReq(nil, abi.AttrCPU, nil)
	badFlags := abi.AppendAttr(nil, abi.AttrLatency, 1, nil)
	badArg := abi.AppendAttrReq(nil, abi.AttrLatency, []byte("x"))
	noop := func(reqs []byte) []byte { return abi.AppendIocb(nil, &abi.Iocb{Opcode: abi.OpNoop, Data: 7}, reqs) }
	for i, step := range []struct {
		reqs []byte
		want []uint16 // nil: refused
	}{
		{lat, []uint16{abi.AttrLatency}},
		{lat, []uint16{abi.AttrLatency}},
		{badFlags, nil},
		{lat, []uint16{abi.AttrLatency}},
		{badArg, nil},
		{cpu, []uint16{abi.AttrCPU}},
		{nil, []uint16{}},
		{lat, []uint16{abi.AttrLatency}},
	} {
		n, err := c.SubmitRaw(noop(step.reqs))
		if step.want == nil {
			var e *abi.Error
			if n != 0 || !errors.As(err, &e) || !errors.Is(err, unix.EINVAL) || e.Off != abi.IocbHeaderBytes {
				t.Fatalf("step %d: malformed requests: %d, %v; want 0 and EINVAL at byte %d", i, n, err, abi.IocbHeaderBytes)
			}
			continue
		}
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		ids, m := attrMap(t, waitEvents(t, c, 1)[0])
		if len(ids) != len(step.want) || (len(ids) == 1 && (ids[0] != step.want[0] || m[ids[0]].Status != abi.AttrOK)) {
			t.Fatalf("step %d: attributes %v %+v, want %v OK", i, ids, m, step.want)
		}
	}
}

func TestAttributesTruncated(t *testing.T) {
	p := abi.Params{Size: abi.ParamsSize, Version: 2, Eventfd: -1, MaxEventBytes: 64}
	c, err := Setup(&p)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Destroy()
	var reqs []byte
	reqs = abi.AppendAttrReq(reqs, abi.AttrLatency, nil)           // 16 bytes: fits in 64-40
	reqs = abi.AppendAttrReq(reqs, abi.AttrTag, make([]byte, 100)) // does not
	c.Submit([]Iocb{{Opcode: abi.OpNoop, Attrs: reqs}})
	ev := waitEvents(t, c, 1)[0]
	ids, _ := attrMap(t, ev)
	if ev.Flags&abi.EventAttrsTruncated == 0 || len(ids) != 1 || ids[0] != abi.AttrLatency {
		t.Fatalf("flags %#x ids %v", ev.Flags, ids)
	}
}

func TestIssueSync(t *testing.T) {
	c := newCtx(t, 8, 0, 0)
	f, _ := directFile(t, 8192)
	buf := alignedBuf(t, 4096)
	copy(buf, "issue sync")
	lat := abi.AppendAttrReq(nil, abi.AttrLatency, nil)
	rec, err := c.IssueSync(&Iocb{Opcode: abi.OpPwrite, Fd: int32(f.Fd()), Buf: buf, Offset: 4096, Data: 4, Attrs: lat}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ev := events(t, rec)[0]
	_, m := attrMap(t, ev)
	if l, _ := m[abi.AttrLatency].U64(); ev.Res != 4096 || ev.Data != 4 || ev.Obj != 0 || l == 0 {
		t.Fatalf("event %+v latency %d", ev, l)
	}
	r := alignedBuf(t, 4096)
	rec, _ = c.IssueSync(&Iocb{Opcode: abi.OpPread, Fd: int32(f.Fd()), Buf: r, Offset: 4096}, rec[:0])
	if ev := events(t, rec)[0]; ev.Res != 4096 || string(r[:10]) != "issue sync" {
		t.Fatalf("read back %+v %q", ev, r[:10])
	}
	// A socket read waits for the peer.
	fds, _ := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	go func() {
		time.Sleep(10 * time.Millisecond)
		unix.Write(fds[1], []byte("late"))
	}()
	sb := make([]byte, 16)
	rec, err = c.IssueSync(&Iocb{Opcode: abi.OpPread, Fd: int32(fds[0]), Buf: sb, Offset: -1}, rec[:0])
	if ev := events(t, rec)[0]; err != nil || ev.Res != 4 || string(sb[:4]) != "late" {
		t.Fatalf("socket read: %+v %v", ev, err)
	}
	// SYSCALL, and its allowlist.
	rec, _ = c.IssueSync(&Iocb{Opcode: abi.OpSyscall, Sysno: unix.SYS_FSYNC, Args: [6]uint64{uint64(f.Fd())}}, rec[:0])
	if ev := events(t, rec)[0]; ev.Res != 0 {
		t.Fatalf("fsync: %+v", ev)
	}
	if _, err := c.IssueSync(&Iocb{Opcode: abi.OpSyscall, Sysno: unix.SYS_EXECVE}, nil); !errors.Is(err, unix.EPERM) {
		t.Fatalf("execve: %v", err)
	}
	if c.Inflight() != 0 {
		t.Fatal("IssueSync went through the ring")
	}
}

// The default engine's page-cache and device attributes: every id asked
// comes back once, with a status (values depend on privilege and on what
// the eBPF collectors find; package attrs tests those). As root, CACHE of a
// buffered read through the pool is measured.
func TestDefaultEngineAttributes(t *testing.T) {
	c := newCtx(t, 8, 0, 0)
	if c.params.Attrs&(1<<abi.AttrCache) == 0 || c.params.Attrs&(1<<abi.AttrDevice) == 0 {
		t.Fatalf("params.attrs %#x lacks CACHE or DEVICE", c.params.Attrs)
	}
	f, _ := directFile(t, 8192)
	g, err := os.CreateTemp(t.TempDir(), "buffered")
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	g.Write(make([]byte, 8192))
	reqs := abi.AppendAttrReq(abi.AppendAttrReq(nil, abi.AttrCache, nil), abi.AttrDevice, nil)
	buf := alignedBuf(t, 4096)
	c.Submit([]Iocb{
		{Opcode: abi.OpPread, Fd: int32(f.Fd()), Buf: buf, Attrs: reqs, Data: 1},
		{Opcode: abi.OpPread, Fd: int32(g.Fd()), Buf: make([]byte, 4096), Attrs: reqs, Data: 2},
	})
	for _, ev := range waitEvents(t, c, 2) {
		ids, m := attrMap(t, ev)
		if len(ids) != 2 || ids[0] != abi.AttrCache || ids[1] != abi.AttrDevice {
			t.Fatalf("event %d: ids %v", ev.Data, ids)
		}
		t.Logf("event %d (res %d): cache %s, device %s", ev.Data, ev.Res, abi.StatusName(m[abi.AttrCache].Status), abi.StatusName(m[abi.AttrDevice].Status))
		if ev.Data == 1 && m[abi.AttrCache].Status == abi.AttrOK {
			t.Errorf("CACHE measured for an O_DIRECT read")
		}
		// A pool worker runs Begin, the read and End on one thread, which
		// the page-cache probe (eBPF, or cachestat) needs.
		if ev.Data == 2 && os.Geteuid() == 0 && m[abi.AttrCache].Status != abi.AttrOK {
			t.Errorf("CACHE of a buffered read through the pool: %s", abi.StatusName(m[abi.AttrCache].Status))
		}
	}
}

func TestIssueSyncCache(t *testing.T) {
	if os.Geteuid() != 0 {
		skipOrFail(t, "not root")
	}
	c := newCtx(t, 8, 0, 0)
	g, err := os.CreateTemp(t.TempDir(), "buffered")
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	g.Write(make([]byte, 8192))
	rec, err := c.IssueSync(&Iocb{Opcode: abi.OpPread, Fd: int32(g.Fd()), Buf: make([]byte, 8192), Attrs: abi.AppendAttrReq(nil, abi.AttrCache, nil)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, m := attrMap(t, events(t, rec)[0])
	if a := m[abi.AttrCache]; a.Status != abi.AttrOK {
		t.Fatalf("CACHE via IssueSync: %s", abi.StatusName(a.Status))
	}
}

// idRecorder is a collector of DEVICE that keeps the native iocb identity
// each IO's Target carried at End, by the IO's Data.
type idRecorder struct {
	mu  sync.Mutex
	ids map[uint64][2]uint64 // aio_data of the event -> AioObj, AioData
}

func (*idRecorder) Name() string { return "id-recorder" }
func (*idRecorder) Serves(k attrs.Kind) attrs.Mask {
	if k == attrs.KindDirect {
		return 1 << abi.AttrDevice
	}
	return 0
}
func (*idRecorder) Available(uint16, *attrs.Target) bool { return true }
func (*idRecorder) Begin(*attrs.Target, *attrs.Stamp)    {}
func (r *idRecorder) End(t *attrs.Target, s *attrs.Stamp) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ids[t.AioData] = [2]uint64{t.AioObj, t.AioData}
}
func (*idRecorder) Append(dst []byte, id uint16, t *attrs.Target, s *attrs.Stamp) []byte {
	return abi.AppendAttrStatus(dst, id, abi.AttrUnavailable)
}

// TestTargetCarriesNativeIocb: a native IO that asks for attributes hands
// the collectors its native iocb as the kernel records it (the address
// io_submit was given and its aio_data, the event's key), which is how
// DEVICE tells apart IOs of the same file and offset in flight at once
// (attrs.TestDeviceTakeSameOffset). Three reads of one offset are in
// flight together; each has its own identity.
func TestTargetCarriesNativeIocb(t *testing.T) {
	rec := &idRecorder{ids: map[uint64][2]uint64{}}
	p := abi.Params{Size: abi.ParamsSize, Version: 2, Eventfd: -1, MaxInflight: 8}
	c, err := Setup(&p, WithEngine(attrs.NewEngine(attrs.Clock{}, rec)))
	if err != nil {
		skipOrFail(t, "native AIO unavailable: %v", err)
	}
	defer c.Destroy()
	f, _ := directFile(t, 4096)
	mem := alignedBuf(t, 3*4096)
	reqs := abi.AppendAttrReq(nil, abi.AttrDevice, nil)
	var cbs []Iocb
	for i := range 3 {
		cbs = append(cbs, Iocb{Opcode: abi.OpPread, Fd: int32(f.Fd()), Buf: mem[i*4096 : (i+1)*4096], Attrs: reqs, Data: uint64(i)})
	}
	if _, err := c.Submit(cbs); err != nil {
		t.Fatal(err)
	}
	objs := map[uint64]bool{}
	for _, ev := range waitEvents(t, c, 3) {
		rec.mu.Lock()
		id, ok := rec.ids[ev.Obj]
		rec.mu.Unlock()
		if !ok {
			t.Fatalf("event %d: no End saw aio_data %#x (the event's key)", ev.Data, ev.Obj)
		}
		if id[0] == 0 || objs[id[0]] {
			t.Errorf("event %d: iocb address %#x (zero, or another IO's)", ev.Data, id[0])
		}
		objs[id[0]] = true
	}
}

// TestLatencyClocks: an IO that wants LATENCY and nothing that must line
// up with CLOCK_MONOTONIC is timed on the TSC once it is calibrated, one
// that also wants TIMESTAMPS on CLOCK_MONOTONIC (so that LATENCY is their
// difference, which TestAttributes checks); either way LATENCY is the
// time the IO took: a socket read answered 20 ms later.
func TestLatencyClocks(t *testing.T) {
	if _, err := attrs.WaitTSC(); err != nil {
		if attrs.CheckTSC() == nil || runtime.GOARCH == "amd64" {
			skipOrFail(t, "no TSC clock here: %v", err) // CI's machine has one
		}
		t.Skip(err)
	}
	c := newCtx(t, 8, 0, 0)
	lat := abi.AppendAttrReq(nil, abi.AttrLatency, nil)
	both := abi.AppendAttrReq(abi.AppendAttrReq(nil, abi.AttrLatency, nil), abi.AttrTimestamps, nil)
	for _, v := range []struct {
		name  string
		reqs  []byte
		ticks bool
	}{{"latency", lat, true}, {"latency,timestamps", both, false}} {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		before := time.Now()
		if _, err := c.Submit([]Iocb{{Opcode: abi.OpPread, Fd: int32(fds[0]), Buf: make([]byte, 8), Offset: -1, Attrs: v.reqs}}); err != nil {
			t.Fatal(err)
		}
		c.mu.Lock()
		ticks, ns := c.subTicks, c.subNs
		c.mu.Unlock()
		if (ticks != 0) != v.ticks || (ns != 0) == v.ticks {
			t.Errorf("%s: submission stamped with ticks %d, ns %d; want the TSC: %v", v.name, ticks, ns, v.ticks)
		}
		time.Sleep(20 * time.Millisecond)
		unix.Write(fds[1], []byte("late"))
		ev := waitEvents(t, c, 1)[0]
		elapsed := time.Since(before)
		unix.Close(fds[0])
		unix.Close(fds[1])
		_, m := attrMap(t, ev)
		l, ok := m[abi.AttrLatency].U64()
		if !ok || ev.Res != 4 || time.Duration(l) < 20*time.Millisecond || time.Duration(l) > elapsed {
			t.Errorf("%s: res %d, LATENCY %v (ok %v), want between 20 ms and %v", v.name, ev.Res, time.Duration(l), ok, elapsed)
		}
		if want := v.ticks; onTSC(attrs.Wanted(v.reqs)) != want {
			t.Errorf("%s: onTSC = %v, want %v (IssueSync decides with it too)", v.name, !want, want)
		}
		// IssueSync, on the same clock: a read answered 20 ms later.
		fds, err = unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			time.Sleep(20 * time.Millisecond)
			unix.Write(fds[1], []byte("late"))
		}()
		before = time.Now()
		rec, err := c.IssueSync(&Iocb{Opcode: abi.OpPread, Fd: int32(fds[0]), Buf: make([]byte, 8), Offset: -1, Attrs: v.reqs}, nil)
		elapsed = time.Since(before)
		unix.Close(fds[0])
		unix.Close(fds[1])
		if err != nil {
			t.Fatal(err)
		}
		_, m = attrMap(t, events(t, rec)[0])
		l, ok = m[abi.AttrLatency].U64()
		if !ok || time.Duration(l) < 20*time.Millisecond || time.Duration(l) > elapsed {
			t.Errorf("%s, IssueSync: LATENCY %v (ok %v), want between 20 ms and %v", v.name, time.Duration(l), ok, elapsed)
		}
	}
}

// TIMESTAMPS keeps submit <= issue <= complete, with issue set, on the
// paths that complete inside Submit: a NOOP, and a pipe read whose data
// is already there (found by review, 2026-11-22: issue was 0 on both).
func TestTimestampsInlineCompletions(t *testing.T) {
	c := newCtx(t, 8, 0, 0)
	ts := abi.AppendAttrReq(nil, abi.AttrTimestamps, nil)
	p := newPipe(t)
	if _, err := unix.Write(p[1], []byte("ready")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Submit([]Iocb{
		{Opcode: abi.OpNoop, Data: 1, Attrs: ts},
		{Opcode: abi.OpPread, Fd: int32(p[0]), Buf: make([]byte, 8), Offset: -1, Data: 2, Attrs: ts},
	}); err != nil {
		t.Fatal(err)
	}
	for _, ev := range waitEvents(t, c, 2) {
		_, m := attrMap(t, ev)
		sub, iss, comp, ok := m[abi.AttrTimestamps].Timestamps()
		if !ok || sub == 0 || iss < sub || comp < iss {
			t.Errorf("event %d: TIMESTAMPS submit %d issue %d complete %d (ok %v); want 0 < submit <= issue <= complete", ev.Data, sub, iss, comp, ok)
		}
	}
}
