package attrs

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"
)

// Reasons an eBPF-measured attribute is UNAVAILABLE. A *FeatureError wraps
// one of them and the error that led to it, so callers may test with
// errors.Is(err, ErrNoPrivilege) and still see the kernel's errno.
var (
	// ErrUnavailable is wrapped by every reason below.
	ErrUnavailable = errors.New("not available")
	// ErrNoPrivilege: loading eBPF needs CAP_BPF and CAP_PERFMON (or
	// CAP_SYS_ADMIN); the kernel answered EPERM or EACCES.
	ErrNoPrivilege = fmt.Errorf("no privilege for eBPF (needs CAP_BPF and CAP_PERFMON, or root): %w", ErrUnavailable)
	// ErrMemlock: the kernel charges BPF maps to RLIMIT_MEMLOCK (before
	// 5.11, or without memcg accounting) and the limit is too low.
	ErrMemlock = fmt.Errorf("RLIMIT_MEMLOCK too low for eBPF maps: %w", ErrUnavailable)
	// ErrNoBTF: the kernel has no BTF (/sys/kernel/btf/vmlinux), which
	// tp_btf programs and CO-RE relocation need.
	ErrNoBTF = fmt.Errorf("kernel BTF missing: %w", ErrUnavailable)
	// ErrNoTracepoint: a tracepoint the programs attach to does not exist
	// in this kernel.
	ErrNoTracepoint = fmt.Errorf("tracepoint missing: %w", ErrUnavailable)
	// ErrNoSyscall: the kernel lacks a system call (cachestat(2) came in
	// Linux 6.5).
	ErrNoSyscall = fmt.Errorf("system call missing: %w", ErrUnavailable)
	// ErrBPF: any other failure to load or attach.
	ErrBPF = fmt.Errorf("eBPF load failed: %w", ErrUnavailable)
)

// FeatureError says why a feature (an eBPF program group, a syscall) cannot
// be used. It unwraps to its Reason (one of the Err* above) and to Err.
type FeatureError struct {
	Feature string // "ebpf-device", "ebpf-cache", "cachestat"
	Reason  error  // ErrNoPrivilege, ErrMemlock, ...
	Err     error  // what the kernel or the loader said
}

func (e *FeatureError) Error() string {
	return fmt.Sprintf("attrs: %s: %v: %v", e.Feature, e.Reason, e.Err)
}

// Unwrap returns the reason and the underlying error.
func (e *FeatureError) Unwrap() []error { return []error{e.Reason, e.Err} }

func classify(feature string, err error) error {
	var reason error
	var ve *ebpf.VerifierError
	switch {
	case errors.Is(err, btf.ErrNotSupported), errors.Is(err, btf.ErrNotFound) && strings.Contains(err.Error(), "vmlinux"):
		// cilium/ebpf also answers ErrNotSupported for a tp_btf
		// program whose tracepoint the kernel lacks; only the kernel's
		// own BTF tells the two apart.
		switch {
		case !kernelBTF():
			reason = ErrNoBTF
		case errors.Is(err, unix.ENOENT), errors.Is(err, btf.ErrNotFound):
			// tp_btf finds no btf_trace_ type, raw_tp no tracepoint.
			reason = ErrNoTracepoint
		default:
			reason = ErrBPF
		}
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		// cilium/ebpf hints at MEMLOCK on every EPERM from map
		// creation; it is the cause only if the capabilities are there
		// and the limit could not be lifted.
		reason = ErrNoPrivilege
		if hasBPFCaps() && memlockErr != nil {
			reason = ErrMemlock
		}
	case errors.Is(err, unix.ENOMEM):
		// BPF memory is charged to RLIMIT_MEMLOCK only before 5.11 (or
		// without memcg accounting), and prepare lifts the limit where
		// it can; with no limit left, ENOMEM is the memory cgroup's or
		// the kernel's.
		reason = ErrBPF
		if memlockLimited() {
			reason = ErrMemlock
		}
	case errors.Is(err, btf.ErrNotFound), errors.Is(err, unix.ENOENT), errors.Is(err, unix.ESRCH):
		reason = ErrNoTracepoint
	case errors.As(err, &ve):
		reason = ErrBPF
	default:
		reason = ErrBPF
	}
	return &FeatureError{Feature: feature, Reason: reason, Err: err}
}

// retryAfter bounds how often a failed load is retried: a load attempt
// costs milliseconds, and without privilege every IO asking for an eBPF
// attribute would otherwise pay it.
const retryAfter = time.Second

// lazy loads a program group once, on first use, and keeps it for the life
// of the process (every context shares it). A failure is remembered and
// retried no sooner than retryAfter, so privilege granted later (or memory
// freed) is picked up.
type lazy[T any] struct {
	v       atomic.Pointer[T]
	nextTry atomic.Int64 // Now() before which a failed load is not retried
	err     atomic.Pointer[errBox]
	mu      sync.Mutex // serializes loads
	load    func() (*T, error)
}

type errBox struct{ err error }

// get returns the loaded group, loading it if needed; nil and the reason if
// it cannot be loaded. The fast path is one atomic load.
func (l *lazy[T]) get() (*T, error) {
	if v := l.v.Load(); v != nil {
		return v, nil
	}
	if Now() < l.nextTry.Load() {
		return nil, l.lastErr()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if v := l.v.Load(); v != nil {
		return v, nil
	}
	if Now() < l.nextTry.Load() {
		return nil, l.lastErr()
	}
	v, err := l.load()
	if err != nil {
		l.err.Store(&errBox{err})
		l.nextTry.Store(Now() + int64(retryAfter))
		return nil, err
	}
	l.err.Store(nil)
	l.v.Store(v)
	return v, nil
}

func (l *lazy[T]) lastErr() error {
	if b := l.err.Load(); b != nil {
		return b.err
	}
	return ErrUnavailable
}

// reset forgets the group (and any remembered failure) and returns it,
// so a test can close it and measure without it.
func (l *lazy[T]) reset() *T {
	l.mu.Lock()
	defer l.mu.Unlock()
	v := l.v.Swap(nil)
	l.err.Store(nil)
	l.nextTry.Store(0)
	return v
}

// spec returns the embedded collection spec with the kernel addresses
// its programs compare against set.
func probeSpec() (*ebpf.CollectionSpec, error) {
	spec, err := loadProbe()
	if err != nil {
		return nil, err
	}
	// Without these addresses (kallsyms hidden) the program tries every
	// bio with a private pointer, does not follow split bios, and records
	// no native AIO identity; see bpf/attrs.bpf.c.
	syms := kernelSyms()
	for name, sym := range map[string]string{probeVarIomapEndIo: "iomap_dio_bio_end_io", probeVarChainEndIo: "bio_chain_endio",
		probeVarAioRwComplete: "aio_complete_rw"} {
		if v, ok := spec.Variables[name]; ok && syms[sym] != 0 {
			if err := v.Set(syms[sym]); err != nil {
				return nil, err
			}
		}
	}
	return spec, nil
}

// kernelSyms reads the addresses the programs need from /proc/kallsyms
// (some 120,000 lines here) and keeps them for the process once it has
// seen one: a read that found none, because kptr_restrict shows zeros
// without CAP_SYSLOG, is not kept, so that a load after the process
// gained the privilege (a failed load is retried, see lazy) gets the full
// DEVICE: the iomap filter, split bios followed, the native-iocb join.
func kernelSyms() map[string]uint64 {
	symsCache.mu.Lock()
	defer symsCache.mu.Unlock()
	if symsCache.m != nil {
		return symsCache.m
	}
	m := readKallsyms("iomap_dio_bio_end_io", "bio_chain_endio", "aio_complete_rw")
	for _, a := range m {
		if a != 0 {
			symsCache.m = m
			break
		}
	}
	return m
}

var symsCache struct {
	mu sync.Mutex
	m  map[string]uint64
}

// readKallsyms is kallsyms, replaced in tests.
var readKallsyms = kallsyms

// kernelBTF reports whether the kernel's BTF loads. cilium/ebpf reads it
// again on every call; classify calls it only on a failed load.
func kernelBTF() bool {
	_, err := btf.LoadKernelSpec()
	return err == nil
}

// memlockLimited reports whether RLIMIT_MEMLOCK is finite, so that it may
// be what refused a map.
func memlockLimited() bool {
	var r unix.Rlimit
	return unix.Getrlimit(unix.RLIMIT_MEMLOCK, &r) == nil && r.Cur != unix.RLIM_INFINITY
}

// forceRawTP makes loads skip tp_btf, so tests can check the raw_tp
// fallback on a kernel where tp_btf works.
var forceRawTP atomic.Bool

var (
	memlockOnce sync.Once
	memlockErr  error
)

// prepare lifts RLIMIT_MEMLOCK where the kernel still charges BPF memory to
// it (before 5.11); on newer kernels rlimit.RemoveMemlock changes nothing.
func prepare() {
	memlockOnce.Do(func() { memlockErr = rlimit.RemoveMemlock() })
}

// Capability numbers (include/uapi/linux/capability.h).
const (
	capSysAdmin = 21
	capPerfmon  = 38
	capBPF      = 39
)

// hasBPFCaps reports whether the effective set allows loading tracing
// programs: CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN.
func hasBPFCaps() bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return false
	}
	has := func(c uint) bool { return data[c/32].Effective&(1<<(c%32)) != 0 }
	return has(capSysAdmin) || (has(capBPF) && has(capPerfmon))
}

// kallsyms returns the addresses of kernel text symbols; a name is missing
// if /proc/kallsyms does not show it (kptr_restrict shows zeros to the
// unprivileged).
func kallsyms(names ...string) map[string]uint64 {
	out := make(map[string]uint64, len(names))
	f, err := os.Open("/proc/kallsyms")
	if err != nil {
		return out
	}
	defer f.Close()
	want := make(map[string]bool, len(names))
	for _, n := range names {
		want[n] = true
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() && len(out) < len(names) {
		// "ffffffff81766530 T iomap_dio_bio_end_io"
		fields := strings.Fields(sc.Text())
		if len(fields) < 3 || !want[fields[2]] {
			continue
		}
		if addr, err := strconv.ParseUint(fields[0], 16, 64); err == nil && addr != 0 {
			out[fields[2]] = addr
		}
	}
	return out
}

// attachAll attaches progs to their tracepoints: tp_btf programs with
// AttachTracing, raw_tp ones with AttachRawTracepoint (tp names given).
func attachAll(progs []*ebpf.Program, rawNames []string) ([]link.Link, error) {
	var links []link.Link
	for i, p := range progs {
		var l link.Link
		var err error
		if rawNames == nil {
			l, err = link.AttachTracing(link.TracingOptions{Program: p, AttachType: ebpf.AttachTraceRawTp})
		} else {
			l, err = link.AttachRawTracepoint(link.RawTracepointOptions{Name: rawNames[i], Program: p})
		}
		if err != nil {
			for _, l := range links {
				l.Close()
			}
			return nil, err
		}
		links = append(links, l)
	}
	return links, nil
}

// loadGroup loads the programs of one group, trying tp_btf first and
// raw_tp second (raw_tp needs no BTF for attaching, only for CO-RE), with
// the maps in maps. It returns which flavour loaded.
func loadGroup(feature string, tpObj, rawObj any, tpProgs, rawProgs func() []*ebpf.Program, rawNames []string, closeObj func(any)) (links []link.Link, flavour string, err error) {
	prepare()
	spec, err := probeSpec()
	if err != nil {
		return nil, "", classify(feature, err)
	}
	var errTP error
	if forceRawTP.Load() {
		errTP = errors.New("skipped (forceRawTP)")
	} else {
		errTP = spec.LoadAndAssign(tpObj, nil)
	}
	if errTP == nil {
		links, errTP = attachAll(tpProgs(), nil)
		if errTP == nil {
			return links, "tp_btf", nil
		}
		closeObj(tpObj)
	}
	errRaw := spec.LoadAndAssign(rawObj, nil)
	if errRaw == nil {
		links, errRaw = attachAll(rawProgs(), rawNames)
		if errRaw == nil {
			return links, fmt.Sprintf("raw_tp (tp_btf failed: %v)", errTP), nil
		}
		closeObj(rawObj)
	}
	// The tp_btf error is the more telling one: raw_tp fails the same way
	// for privilege, and for a reason of its own only when tp_btf also did.
	return nil, "", classify(feature, fmt.Errorf("tp_btf: %w; raw_tp: %w", errTP, errRaw))
}
