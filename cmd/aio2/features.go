package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/aio2/aio2/abi"
	"github.com/aio2/aio2/attrs"
	"github.com/aio2/aio2/kioctx"
)

// feature is one line of "aio2 features".
type feature struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// tracepoints are the ones package attrs attaches to, probed one by one.
var tracepoints = []string{"block_rq_issue", "block_rq_complete", "mm_filemap_add_to_page_cache", "mm_filemap_get_pages"}

func cmdFeatures(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("features", "features [--directory=DIR] [--output-format=normal|json]")
	dir := fs.String("directory", os.TempDir(), "directory whose O_DIRECT support and alignment to check")
	format := fs.String("output-format", "normal", "normal or json")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("features: unexpected argument %q", fs.Arg(0))
	}
	if *format != "normal" && *format != "json" {
		return usagef("--output-format=%s: use normal or json", *format)
	}
	if st, err := os.Stat(*dir); err != nil || !st.IsDir() {
		return usagef("--directory=%s is not a directory", *dir)
	}
	var fl []feature
	add := func(name string, ok bool, format string, a ...any) {
		fl = append(fl, feature{Name: name, OK: ok, Detail: fmt.Sprintf(format, a...)})
	}
	var uts unix.Utsname
	if unix.Uname(&uts) == nil {
		add("kernel", true, "%s %s", unix.ByteSliceToString(uts.Sysname[:]), unix.ByteSliceToString(uts.Release[:]))
	}
	probeAIO(add)
	probeDirect(*dir, add)
	probeMemfd(add)
	probeContext(add)
	probeCaps(add)
	probeMemlock(add)
	probeBTF(add)
	if err := attrs.CheckTSC(); err != nil {
		add("TSC clock (aio2 io --clocksource=cpu, LATENCY)", false, "%s: slat, clat, lat and LATENCY use clock_gettime", tscWhy(err))
	} else {
		add("TSC clock (aio2 io --clocksource=cpu, LATENCY)", true, "invariant, and the kernel's clocksource; scaled to CLOCK_MONOTONIC's rate by a 20 ms calibration")
	}
	for _, tp := range tracepoints {
		probeTracepoint(tp, add)
	}
	for _, f := range attrs.Probe() {
		var ids []string
		for id := uint16(1); id < 64; id++ {
			if f.Attrs.Has(id) {
				ids = append(ids, abi.AttrName(id))
			}
		}
		detail := f.Detail
		if !f.OK {
			detail = fmt.Sprint(f.Err)
		}
		add("attrs "+f.Name, f.OK, "%s: %s", strings.Join(ids, ","), detail)
	}
	if *format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(fl)
	}
	for _, f := range fl {
		st := "ok"
		if !f.OK {
			st = "NO"
		}
		fmt.Fprintf(stdout, "%-40s %-3s %s\n", f.Name, st, f.Detail)
	}
	return nil
}

type addFunc func(name string, ok bool, format string, a ...any)

func readInt(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}

// probeAIO makes and destroys a native AIO context and reports how many
// io_event slots remain under fs.aio-max-nr.
func probeAIO(add addFunc) {
	var ctx uintptr
	_, _, e := unix.Syscall(unix.SYS_IO_SETUP, 1, ctxAddr(&ctx), 0)
	if e != 0 {
		hint := ""
		if e == unix.EAGAIN {
			hint = " (fs.aio-max-nr is exhausted: raise /proc/sys/fs/aio-max-nr)"
		}
		add("native AIO (io_setup)", false, "io_setup: %v%s", e, hint)
	} else {
		unix.Syscall(unix.SYS_IO_DESTROY, ctx, 0, 0)
		add("native AIO (io_setup)", true, "io_setup and io_destroy work")
	}
	nr, err1 := readInt("/proc/sys/fs/aio-nr")
	maxNr, err2 := readInt("/proc/sys/fs/aio-max-nr")
	if err1 != nil || err2 != nil {
		add("aio-max-nr headroom", false, "cannot read /proc/sys/fs/aio-nr or aio-max-nr")
		return
	}
	left := maxNr - nr
	per := int64(kioctx.MaxMaxInflight)
	add("aio-max-nr headroom", left >= per, "aio-nr %d of aio-max-nr %d: %d io_events left, room for %d contexts of max_inflight %d (the kernel may reserve up to twice that per context)",
		nr, maxNr, left, left/(2*int64(kioctx.DefaultMaxInflight)), kioctx.DefaultMaxInflight)
}

// probeDirect checks O_DIRECT on dir: open, the alignment statx reports,
// and one aligned write and read.
func probeDirect(dir string, add addFunc) {
	name := "O_DIRECT on " + dir
	f, err := os.CreateTemp(dir, "aio2-features-*")
	if err != nil {
		add(name, false, "cannot create a file there: %v", unwrapPath(err))
		return
	}
	path := f.Name()
	f.Close()
	defer os.Remove(path)
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_DIRECT|unix.O_CLOEXEC, 0)
	if err != nil {
		add(name, false, "open with O_DIRECT: %v (the file system does not support it)", err)
		return
	}
	defer unix.Close(fd)
	mem, off := uint32(4096), uint32(4096)
	how := "not reported by statx; assuming"
	if al, err := kioctx.DIOAlign(fd); err == nil {
		mem, off, how = al.Mem, al.Offset, "statx(STATX_DIOALIGN)"
	}
	buf, err := kioctx.AlignedBuf(4096)
	if err != nil {
		add(name, false, "buffer: %v", err)
		return
	}
	defer kioctx.FreeBuf(buf)
	n := int(max(off, 512))
	if n > len(buf) {
		n = len(buf)
	}
	if _, err := unix.Pwrite(fd, buf[:n], 0); err != nil {
		add(name, false, "aligned O_DIRECT write of %d bytes: %v", n, err)
		return
	}
	if _, err := unix.Pread(fd, buf[:n], 0); err != nil {
		add(name, false, "aligned O_DIRECT read of %d bytes: %v", n, err)
		return
	}
	add(name, true, "memory alignment %d, offset/length alignment %d (%s); --bs must be a multiple of %d", mem, off, how, off)
}

// probeMemfd checks what SETUP_SHARED needs: a memfd with the three seals.
func probeMemfd(add addFunc) {
	fd, err := unix.MemfdCreate("aio2-features", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		add("sealed memfd (SETUP_SHARED)", false, "memfd_create: %v", err)
		return
	}
	defer unix.Close(fd)
	if err := unix.Ftruncate(fd, 8192); err != nil {
		add("sealed memfd (SETUP_SHARED)", false, "ftruncate: %v", err)
		return
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_SEAL); err != nil {
		add("sealed memfd (SETUP_SHARED)", false, "F_ADD_SEALS: %v", err)
		return
	}
	add("sealed memfd (SETUP_SHARED)", true, "memfd_create with F_SEAL_SHRINK|F_SEAL_GROW|F_SEAL_SEAL works")
}

// probeContext sets up an io_setup2 context and reports what it granted.
func probeContext(add addFunc) {
	p := abi.Params{Size: abi.ParamsSize, Version: abi.Version2, Eventfd: -1}
	c, err := kioctx.Setup(&p, kioctx.WithEngine(attrs.Default()))
	if err != nil {
		add("io_setup2 context (kioctx)", false, "%v", err)
		return
	}
	c.Destroy()
	add("io_setup2 context (kioctx)", true, "version %d, ring_bytes %d, max_event_bytes %d, max_inflight %d, features %s, attrs %s",
		p.Version, p.RingBytes, p.MaxEventBytes, p.MaxInflight, strings.Join(featureNames(p.Features), ","), strings.Join(maskNames(p.Attrs), ","))
}

// capNames are the capabilities that matter here, by bit.
var capNames = []struct {
	bit  uint
	name string
	why  string
}{
	{21, "CAP_SYS_ADMIN", "eBPF on older kernels, everything"},
	{39, "CAP_BPF", "loading eBPF programs"},
	{38, "CAP_PERFMON", "tracing programs (tp_btf)"},
	{14, "CAP_IPC_LOCK", "locking memory beyond RLIMIT_MEMLOCK"},
	{24, "CAP_SYS_RESOURCE", "raising RLIMIT_MEMLOCK"},
}

func probeCaps(add addFunc) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		add("capabilities", false, "cannot read /proc/self/status: %v", err)
		return
	}
	defer f.Close()
	var eff uint64
	found := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CapEff:"); ok {
			eff, err = strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			found = err == nil
		}
	}
	if !found {
		add("capabilities", false, "no CapEff line in /proc/self/status")
		return
	}
	for _, c := range capNames {
		has := eff&(1<<c.bit) != 0
		add("capability "+c.name, has, "%s (%s)", map[bool]string{true: "held", false: "not held"}[has], c.why)
	}
}

func probeMemlock(add addFunc) {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_MEMLOCK, &rl); err != nil {
		add("RLIMIT_MEMLOCK", false, "getrlimit: %v", err)
		return
	}
	s := func(v uint64) string {
		if v == unix.RLIM_INFINITY {
			return "unlimited"
		}
		return humanBytes(float64(v))
	}
	// Since Linux 5.11 eBPF memory is charged to the memory cgroup, not to
	// RLIMIT_MEMLOCK; on older kernels a few MiB are needed.
	add("RLIMIT_MEMLOCK", true, "soft %s, hard %s (eBPF maps are charged to the memory cgroup since Linux 5.11)", s(rl.Cur), s(rl.Max))
}

func probeBTF(add addFunc) {
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
		add("kernel BTF", false, "/sys/kernel/btf/vmlinux: %v (tp_btf programs need it; raw_tp is the fallback)", unwrapPath(err))
		return
	}
	add("kernel BTF", true, "/sys/kernel/btf/vmlinux")
}

// probeTracepoint loads a two-instruction tp_btf program for tp and
// attaches it, which is exactly what package attrs needs to work.
func probeTracepoint(tp string, add addFunc) {
	name := "tracepoint " + tp
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		add(name, false, "kernel BTF: %v", err)
		return
	}
	var td *btf.Typedef
	if err := spec.TypeByName("btf_trace_"+tp, &td); err != nil {
		add(name, false, "not in this kernel's BTF: %v", err)
		return
	}
	prog, err := ebpf.NewProgramWithOptions(&ebpf.ProgramSpec{
		Name:       "aio2_probe",
		Type:       ebpf.Tracing,
		AttachType: ebpf.AttachTraceRawTp,
		AttachTo:   tp,
		License:    "GPL",
		Instructions: asm.Instructions{
			asm.Mov.Imm(asm.R0, 0),
			asm.Return(),
		},
	}, ebpf.ProgramOptions{KernelTypes: spec})
	if err != nil {
		why := ""
		if errors.Is(err, unix.EPERM) {
			why = " (needs CAP_BPF and CAP_PERFMON, or root)"
		}
		add(name, false, "load tp_btf: %v%s", err, why)
		return
	}
	defer prog.Close()
	l, err := link.AttachTracing(link.TracingOptions{Program: prog})
	if err != nil {
		add(name, false, "attach tp_btf: %v", err)
		return
	}
	l.Close()
	add(name, true, "tp_btf loads and attaches")
}
