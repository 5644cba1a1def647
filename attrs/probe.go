package attrs

import (
	"fmt"
	"sync"

	"github.com/aio2/aio2/abi"
)

// FeatureStatus is one line of `aio2 features`: whether a source of
// attributes works on this machine, and if not, why.
type FeatureStatus struct {
	// Name is "clock", "ebpf-device", "ebpf-cache" or "cachestat".
	Name string
	// Attrs are the ids the feature measures.
	Attrs Mask
	// OK is true if the feature works here.
	OK bool
	// Detail says how it works (for eBPF: "tp_btf" or "raw_tp").
	Detail string
	// Err is why it does not work: a *FeatureError that unwraps to
	// ErrNoPrivilege, ErrMemlock, ErrNoBTF, ErrNoTracepoint, ErrNoSyscall
	// or ErrBPF.
	Err error
}

func (f FeatureStatus) String() string {
	if f.OK {
		return fmt.Sprintf("%s: ok (%s)", f.Name, f.Detail)
	}
	return fmt.Sprintf("%s: unavailable: %v", f.Name, f.Err)
}

// Probe tries every source of attributes and reports what works. It loads
// the eBPF programs if they are not loaded yet (they then stay loaded for
// the process, as if an IO had asked for them).
func Probe() []FeatureStatus {
	out := []FeatureStatus{{
		Name: "clock", Attrs: clockIDs, OK: true,
		Detail: clockDetail(),
	}}
	dev := FeatureStatus{Name: "ebpf-device", Attrs: 1 << abi.AttrDevice}
	if g, err := deviceGroup.get(); err != nil {
		dev.Err = err
	} else {
		dev.OK, dev.Detail = true, g.flavour+" block_rq_issue, block_rq_complete"
		if g.aioIdent {
			dev.Detail += "; IOs at one offset told apart by native iocb"
		} else {
			dev.Detail += "; IOs at one offset told apart by kiocb only (aio_complete_rw not in /proc/kallsyms)"
		}
	}
	cache := FeatureStatus{Name: "ebpf-cache", Attrs: 1 << abi.AttrCache}
	if g, err := cacheGroup.get(); err != nil {
		cache.Err = err
	} else {
		cache.OK, cache.Detail = true, g.flavour+" mm_filemap_add_to_page_cache, mm_filemap_get_pages"
	}
	cs := FeatureStatus{Name: "cachestat", Attrs: 1 << abi.AttrCache}
	if err := cachestatErr(); err != nil {
		cs.Err = err
	} else {
		cs.OK, cs.Detail = true, "cachestat(2), fallback for CACHE"
	}
	return append(out, dev, cache, cs)
}

var (
	defaultOnce   sync.Once
	defaultEngine *Engine
)

// Default returns the engine with every collector this package has:
// Clock, Cache (eBPF, falling back to cachestat) and Device (eBPF). It is
// shared; eBPF programs load only when an IO first asks for CACHE or
// DEVICE, not here. Without privilege CACHE and DEVICE are still
// supported (in params.attrs) and come back UNAVAILABLE (CACHE from
// cachestat where it works); Probe says why.
func Default() *Engine {
	defaultOnce.Do(func() {
		defaultEngine = NewEngine(Clock{}, NewCache(CacheAuto), NewDevice())
	})
	return defaultEngine
}

func clockDetail() string {
	if _, ok := fastCPU(); ok {
		return "CLOCK_MONOTONIC via vDSO, cpu via RDPID"
	}
	return "CLOCK_MONOTONIC via vDSO, cpu via getcpu(2)"
}
