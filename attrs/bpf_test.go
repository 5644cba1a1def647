package attrs

import (
	"errors"
	"fmt"
	"testing"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// classify tells a missing tracepoint from missing BTF: cilium/ebpf
// answers ErrNotSupported for both when a tp_btf program's tracepoint is
// not in the kernel (found by review, 2026-11-22: every such load was
// reported as "kernel BTF missing").
func TestClassify(t *testing.T) {
	if !kernelBTF() {
		t.Fatal("this test needs the kernel's BTF (/sys/kernel/btf/vmlinux)")
	}
	missingTP := fmt.Errorf("tp_btf: %w; raw_tp: %w",
		fmt.Errorf("attach raw_tp no_such_tracepoint: %w", ebpf.ErrNotSupported),
		fmt.Errorf("attach no_such_tracepoint: %w", unix.ENOENT))
	for _, c := range []struct {
		name string
		err  error
		want error
	}{
		{"missing tracepoint", missingTP, ErrNoTracepoint},
		{"not supported, with BTF present", fmt.Errorf("map type: %w", ebpf.ErrNotSupported), ErrBPF},
		{"EPERM", fmt.Errorf("load: %w", unix.EPERM), ErrNoPrivilege},
		{"anything else", errors.New("a failure of no known kind"), ErrBPF},
	} {
		got := classify("ebpf-test", c.err)
		if !errors.Is(got, c.want) || !errors.Is(got, c.err) {
			t.Errorf("%s: classify = %v, want %v wrapping the cause", c.name, got, c.want)
		}
	}
	// ENOMEM is RLIMIT_MEMLOCK's only while that limit is finite.
	got := classify("ebpf-test", fmt.Errorf("map: %w", unix.ENOMEM))
	if want := map[bool]error{true: ErrMemlock, false: ErrBPF}[memlockLimited()]; !errors.Is(got, want) {
		t.Errorf("ENOMEM with RLIMIT_MEMLOCK finite=%v: classify = %v, want %v", memlockLimited(), got, want)
	}
}

// kernelSyms keeps addresses once it has seen one, and reads again while
// kallsyms showed only zeros (kptr_restrict without CAP_SYSLOG), so that
// privilege gained later is not lost for the process.
func TestKernelSymsNotKeptWhileHidden(t *testing.T) {
	symsCache.mu.Lock()
	saved, savedRead := symsCache.m, readKallsyms
	symsCache.m = nil
	symsCache.mu.Unlock()
	defer func() {
		symsCache.mu.Lock()
		symsCache.m, readKallsyms = saved, savedRead
		symsCache.mu.Unlock()
	}()
	reads := 0
	hidden := true
	readKallsyms = func(names ...string) map[string]uint64 {
		reads++
		m := map[string]uint64{}
		for i, n := range names {
			if !hidden {
				m[n] = 0xffffffff81000000 + uint64(i)
			} else {
				m[n] = 0
			}
		}
		return m
	}
	kernelSyms()
	kernelSyms()
	if reads != 2 {
		t.Fatalf("%d reads of kallsyms while it showed zeros, want 2 (one per load)", reads)
	}
	hidden = false
	if m := kernelSyms(); m["aio_complete_rw"] == 0 {
		t.Fatalf("addresses not read once visible: %v", m)
	}
	kernelSyms()
	if reads != 3 {
		t.Fatalf("%d reads of kallsyms, want 3: the visible addresses were not kept", reads)
	}
}
