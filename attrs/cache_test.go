package attrs

import (
	"os"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/aio2/aio2/abi"
)

// cacheSources are the CACHE sources to check against ground truth; eBPF
// needs privilege, cachestat(2) Linux 6.5.
func cacheSources(t *testing.T) []CacheSource {
	t.Helper()
	if err := cachestatErr(); err != nil {
		requirePriv(t, "no cachestat(2): %v", err)
	}
	return []CacheSource{CacheBPF, CacheCachestat}
}

// openCold opens the file at p for the test and drops its pages from the
// page cache.
func openCold(t *testing.T, p string) (*os.File, int) {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	fd := int(f.Fd())
	dropCache(t, fd)
	return f, fd
}

func cacheValue(t *testing.T, m map[uint16]abi.Attr) (hit, miss uint32) {
	t.Helper()
	a := m[abi.AttrCache]
	if a.Status != abi.AttrOK {
		t.Fatalf("CACHE status %s", abi.StatusName(a.Status))
	}
	hit, miss, _ = a.U32Pair()
	return hit, miss
}

// TestCacheGroundTruth: a cold read of N pages after POSIX_FADV_DONTNEED
// misses N; the same read again hits N; a half-warm range splits as it was
// warmed (warmed with readahead off, and checked with cachestat).
func TestCacheGroundTruth(t *testing.T) {
	dir := tempDir(t)
	const pages = 256
	ps := os.Getpagesize()
	p := makeFile(t, dir, (pages+64)*ps) // a tail past the range, so readahead has room
	for _, src := range cacheSources(t) {
		t.Run(src.String(), func(t *testing.T) {
			if src == CacheBPF {
				needCache(t)
			}
			e := NewEngine(Clock{}, NewCache(src))
			f, fd := openCold(t, p)
			buf := make([]byte, pages*ps)
			reqs := reqsFor(abi.AttrCache, abi.AttrLatency)

			m, s := bufferedRead(t, e, fd, buf, 0, reqs)
			if got := CacheSourceOf(s); got != src.String() {
				t.Fatalf("source %q, priv %x, attrs %v", got, s.Priv, m)
			}
			if hit, miss := cacheValue(t, m); hit != 0 || miss != pages {
				t.Fatalf("cold: hit %d miss %d, want 0 %d", hit, miss, pages)
			}
			m, _ = bufferedRead(t, e, fd, buf, 0, reqs)
			if hit, miss := cacheValue(t, m); hit != pages || miss != 0 {
				t.Fatalf("warm: hit %d miss %d, want %d 0", hit, miss, pages)
			}

			// Half warm: every other page, read one page at a time with
			// readahead off, so exactly those pages are cached.
			dropCache(t, fd)
			w, err := os.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			if err := unix.Fadvise(int(w.Fd()), 0, 0, unix.FADV_RANDOM); err != nil {
				t.Fatal(err)
			}
			one := make([]byte, ps)
			warm := 0
			for i := 0; i < pages; i += 2 {
				if _, err := unix.Pread(int(w.Fd()), one, int64(i*ps)); err != nil {
					t.Fatal(err)
				}
				warm++
			}
			// The ground truth is what is cached, whatever warming did:
			// large folios could cache more than the pages read. (A skip
			// here also skipped the past-EOF check below.)
			if got := cachedPages(t, fd, 0, uint64(pages*ps)); got != uint64(warm) {
				t.Logf("warming cached %d pages, not %d (large folios despite FADV_RANDOM?)", got, warm)
				warm = int(got)
			}
			m, _ = bufferedRead(t, e, fd, buf, 0, reqs)
			if hit, miss := cacheValue(t, m); hit != uint32(warm) || miss != uint32(pages-warm) {
				t.Fatalf("half warm: hit %d miss %d, want %d %d", hit, miss, warm, pages-warm)
			}

			// A read that runs past end of file counts only the pages
			// that exist.
			dropCache(t, fd)
			st, _ := f.Stat()
			last := st.Size()/int64(ps) - 3
			tail := make([]byte, 8*ps)
			tg := Target{Kind: KindBuffered, Opcode: abi.OpPread, Fd: int32(fd), Offset: last * int64(ps), Nbytes: uint64(len(tail)), Want: 1 << abi.AttrCache}
			var s2 Stamp
			runOnThread(func() {
				s2.Tid = int32(unix.Gettid())
				e.Begin(&tg, &s2)
				n, err := unix.Pread(fd, tail, tg.Offset)
				e.End(&tg, &s2)
				if err != nil || n != 3*ps {
					t.Errorf("tail read: %d %v", n, err)
				}
			})
			out, _ := e.Encode(nil, reqsFor(abi.AttrCache), &tg, &s2, 64)
			if hit, miss := cacheValue(t, attrMap(t, out)); hit != 0 || miss != 3 {
				t.Fatalf("read past EOF: hit %d miss %d, want 0 3", hit, miss)
			}
		})
	}
}

// TestCacheSourcesAgree reads a cold file 4 KiB at a time (so readahead
// brings in pages before they are asked for) and checks that eBPF and
// cachestat(2) give the same answer for every read.
func TestCacheSourcesAgree(t *testing.T) {
	cacheSources(t)
	needCache(t)
	dir := tempDir(t)
	ps := os.Getpagesize()
	const pages = 512
	p := makeFile(t, dir, pages*ps)
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fd := int(f.Fd())
	e := NewEngine(NewCache(CacheBPF))
	buf := make([]byte, ps)
	var hits, misses int
	runOnThread(func() {
		tid := int32(unix.Gettid())
		for i := 0; i < pages; i++ {
			tg := Target{Kind: KindBuffered, Opcode: abi.OpPread, Fd: int32(fd), Offset: int64(i * ps), Nbytes: uint64(ps), Want: 1 << abi.AttrCache}
			s := Stamp{Tid: tid}
			var before, after unix.Cachestat_t
			_ = cachestatRange(&tg, &before)
			e.Begin(&tg, &s)
			if _, err := unix.Pread(fd, buf, tg.Offset); err != nil {
				t.Error(err)
				return
			}
			e.End(&tg, &s)
			_ = cachestatRange(&tg, &after)
			out, _ := e.Encode(nil, reqsFor(abi.AttrCache), &tg, &s, 64)
			a := attrMap(t, out)[abi.AttrCache]
			hit, miss, ok := a.U32Pair()
			if !ok {
				t.Errorf("read %d: CACHE %s", i, abi.StatusName(a.Status))
				return
			}
			if uint64(hit) != before.Cache || uint64(miss) != after.Cache-before.Cache {
				t.Errorf("read %d: ebpf hit %d miss %d, cachestat %d %d", i, hit, miss, before.Cache, after.Cache-before.Cache)
			}
			hits += int(hit)
			misses += int(miss)
		}
	})
	if hits+misses != pages || misses == 0 || hits == 0 {
		t.Fatalf("hits %d misses %d over %d pages", hits, misses, pages)
	}
	t.Logf("cold sequential 4 KiB reads: %d hits (readahead), %d misses", hits, misses)
}

// TestCachePreadv: a PREADV is measured over its whole length, the sum of
// its iovecs (kioctx's Target.Nbytes), by either source: cold, every page
// misses; again, every page hits.
func TestCachePreadv(t *testing.T) {
	dir := tempDir(t)
	const pages = 64
	ps := os.Getpagesize()
	p := makeFile(t, dir, (pages+64)*ps)
	for _, src := range cacheSources(t) {
		t.Run(src.String(), func(t *testing.T) {
			if src == CacheBPF {
				needCache(t)
			}
			e := NewEngine(NewCache(src))
			_, fd := openCold(t, p)
			iov := [][]byte{make([]byte, pages/2*ps), make([]byte, pages/2*ps)}
			tg := Target{Kind: KindBuffered, Opcode: abi.OpPreadv, Fd: int32(fd), Nbytes: uint64(pages * ps), Want: 1 << abi.AttrCache}
			if !e.Collectors()[0].Available(abi.AttrCache, &tg) {
				t.Fatal("CACHE not available for a PREADV of known length")
			}
			for _, want := range [][2]uint32{{0, pages}, {pages, 0}} {
				var s Stamp
				runOnThread(func() {
					s.Tid = int32(unix.Gettid())
					e.Begin(&tg, &s)
					n, err := unix.Preadv(fd, iov, 0)
					e.End(&tg, &s)
					if err != nil || n != pages*ps {
						t.Errorf("preadv: %d %v", n, err)
					}
				})
				out, _ := e.Encode(nil, reqsFor(abi.AttrCache), &tg, &s, 64)
				if hit, miss := cacheValue(t, attrMap(t, out)); hit != want[0] || miss != want[1] {
					t.Fatalf("preadv: hit %d miss %d, want %d %d", hit, miss, want[0], want[1])
				}
			}
		})
	}
}

// TestCacheUnavailable: CACHE is UNAVAILABLE for O_DIRECT IO, for a PREADV
// whose length kioctx does not know (a raw iovec address: Nbytes 0), for
// a write and for a file that is not in the page cache (a pipe); the read
// itself is untouched.
func TestCacheUnavailable(t *testing.T) {
	e := NewEngine(Clock{}, NewCache(CacheAuto))
	reqs := reqsFor(abi.AttrCache)
	for _, tg := range []Target{
		{Kind: KindDirect, Opcode: abi.OpPread, Want: 1 << abi.AttrCache},
		{Kind: KindBuffered, Opcode: abi.OpPreadv, Want: 1 << abi.AttrCache},
		{Kind: KindBuffered, Opcode: abi.OpPwrite, Want: 1 << abi.AttrCache},
	} {
		var s Stamp
		e.Begin(&tg, &s)
		e.End(&tg, &s)
		out, _ := e.Encode(nil, reqs, &tg, &s, 64)
		a := attrMap(t, out)[abi.AttrCache]
		want := uint16(abi.AttrUnavailable)
		if a.Status != want {
			t.Errorf("%v op %d: %s", tg.Kind, tg.Opcode, abi.StatusName(a.Status))
		}
	}
	var pfd [2]int
	if err := unix.Pipe(pfd[:]); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(pfd[0])
	defer unix.Close(pfd[1])
	if _, err := cacheGroup.get(); err == nil {
		src := CacheBPF
		e := NewEngine(NewCache(src))
		unix.Write(pfd[1], []byte("abcd"))
		tg := Target{Kind: KindBuffered, Opcode: abi.OpPread, Fd: int32(pfd[0]), Nbytes: 4, Want: 1 << abi.AttrCache}
		var s Stamp
		runOnThread(func() {
			e.Begin(&tg, &s)
			unix.Read(pfd[0], make([]byte, 4))
			e.End(&tg, &s)
		})
		out, _ := e.Encode(nil, reqs, &tg, &s, 64)
		if a := attrMap(t, out)[abi.AttrCache]; a.Status != abi.AttrUnavailable {
			t.Errorf("%v on a pipe: %s %x", src, abi.StatusName(a.Status), a.Value)
		}
	}
}

func TestCacheBPFHotPathAllocs(t *testing.T) {
	needCache(t)
	dir := tempDir(t)
	p := makeFile(t, dir, 1<<16)
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	e := NewEngine(Clock{}, NewCache(CacheBPF))
	reqs := reqsFor(abi.AttrCache, abi.AttrLatency)
	tg := &Target{Kind: KindBuffered, Opcode: abi.OpPread, Fd: int32(f.Fd()), Nbytes: 4096, Want: Wanted(reqs)}
	s := new(Stamp)
	buf := make([]byte, 4096)
	dst := make([]byte, 0, 128)
	runOnThread(func() {
		tid := int32(unix.Gettid())
		n := testing.AllocsPerRun(200, func() {
			*s = Stamp{Tid: tid, SubmitNs: Now()}
			e.Begin(tg, s)
			unix.Pread(int(tg.Fd), buf, 0)
			e.End(tg, s)
			s.CompleteNs = Now()
			dst, _ = e.Encode(dst[:0], reqs, tg, s, 128)
		})
		if n != 0 {
			t.Errorf("%v allocations per IO", n)
		}
	})
	if a := attrMap(t, dst)[abi.AttrCache]; a.Status != abi.AttrOK {
		t.Fatalf("CACHE %s", abi.StatusName(a.Status))
	}
}

// runOnThread runs fn on a locked OS thread, as kioctx's pool workers run
// Begin, the syscall and End.
func runOnThread(fn func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		fn()
	}()
	<-done
}

// TestCacheLeakedSlot: a Begin whose End never came must not corrupt the
// thread's next measurement.
func TestCacheLeakedSlot(t *testing.T) {
	needCache(t)
	dir := tempDir(t)
	p := makeFile(t, dir, 64*os.Getpagesize())
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fd := int(f.Fd())
	e := NewEngine(NewCache(CacheBPF))
	buf := make([]byte, 16*os.Getpagesize())
	runOnThread(func() {
		tid := int32(unix.Gettid())
		leak := Target{Kind: KindBuffered, Opcode: abi.OpPread, Fd: int32(fd), Offset: 0, Nbytes: 1 << 30, Want: 1 << abi.AttrCache}
		e.Begin(&leak, &Stamp{Tid: tid}) // and no End
		tg := Target{Kind: KindBuffered, Opcode: abi.OpPread, Fd: int32(fd), Offset: 16 * int64(os.Getpagesize()), Nbytes: uint64(len(buf)), Want: 1 << abi.AttrCache}
		s := Stamp{Tid: tid}
		e.Begin(&tg, &s)
		unix.Pread(fd, buf, tg.Offset)
		e.End(&tg, &s)
		out, _ := e.Encode(nil, reqsFor(abi.AttrCache), &tg, &s, 64)
		hit, miss, ok := attrMap(t, out)[abi.AttrCache].U32Pair()
		if !ok || hit != 0 || miss != 16 {
			t.Errorf("after a leaked slot: ok %v hit %d miss %d, want 0 16", ok, hit, miss)
		}
	})
}
